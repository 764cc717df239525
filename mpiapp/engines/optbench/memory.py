"""Memory of one run, measured apart from timing (a short separate run; never inside the timed one).

Figures (bytes; -1 where the source does not exist on this machine):
- peak_rss: the process's peak resident set (Linux VmHWM, reset before the run through
  /proc/self/clear_refs where the kernel allows it; else psutil's current RSS after the run);
- rss_delta: psutil RSS after the run minus before;
- tracemalloc_peak: peak of Python-level allocations during the run, NumPy arrays included
  (NumPy reports its buffers to tracemalloc); torch and CuPy buffers are not seen by it;
- torch_allocated / torch_reserved: torch.cuda peak allocated / reserved on a GPU;
- cupy_pool_used / cupy_pool_total: CuPy's default memory pool after the run;
- nvml_process: this process's GPU memory according to NVML (nvidia-ml-py), where present;
- jax_live: bytes of the live JAX arrays on the backend's device after the run (JAX's own accounting
  of its buffers: the problem's data, parameters, state, and whatever else the process holds there);
- jax_peak: the JAX device allocator's peak bytes in use (since the process started: JAX cannot reset
  it) where the device keeps statistics (GPUs), -1 on the CPU;
- param_bytes, state_bytes: the parameters and the optimizer state vectors; `state_multiple`
  = (param_bytes + state_bytes) / param_bytes, checked against optimizers.STATE_MULTIPLE.
"""

from __future__ import annotations

import os
import tracemalloc

import numpy as np

from .optimizers import STATE_MULTIPLE

FIELDS = (
    "peak_rss",
    "rss_delta",
    "tracemalloc_peak",
    "torch_allocated",
    "torch_reserved",
    "cupy_pool_used",
    "cupy_pool_total",
    "nvml_process",
    "jax_live",
    "jax_peak",
    "param_bytes",
    "state_bytes",
)


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _vm_hwm() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return -1


def _nvml_process_bytes(device_index: int) -> int:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            h = pynvml.nvmlDeviceGetHandleByIndex(device_index)
            for pr in pynvml.nvmlDeviceGetComputeRunningProcesses(h):
                if pr.pid == os.getpid():
                    return int(pr.usedGpuMemory or 0)
            return 0
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVML library, no driver, or no GPU: not measurable here
        return -1


def measure(be, dd, optimizer, hp, w0, steps: int = 3, batch_rows=None) -> dict:
    """Run `steps` steps and return the figures of the module docstring plus `state_multiple`
    and `state_ok` (the measured multiple equals STATE_MULTIPLE[optimizer])."""
    import psutil

    proc = psutil.Process()
    out = dict.fromkeys(FIELDS, -1)
    torch_cuda = be.name == "torch" and str(be.device).startswith("cuda")
    if torch_cuda:
        be.torch.cuda.reset_peak_memory_stats(be.device)
    reset = _reset_peak_rss()
    rss0 = proc.memory_info().rss
    tracing = be.name == "numpy"
    if tracing:
        tracemalloc.start()
    try:
        r = be.runner(dd, optimizer, hp, w0)
        for _ in range(steps):
            r.step(batch_rows)
        be.sync()
    finally:
        if tracing:
            out["tracemalloc_peak"] = int(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    rss1 = proc.memory_info().rss
    out["rss_delta"] = int(rss1 - rss0)
    hwm = _vm_hwm() if reset else -1
    out["peak_rss"] = int(hwm if hwm > 0 else rss1)
    if torch_cuda:
        out["torch_allocated"] = int(be.torch.cuda.max_memory_allocated(be.device))
        out["torch_reserved"] = int(be.torch.cuda.max_memory_reserved(be.device))
    if be.name == "cupy":
        pool = be.xp.get_default_memory_pool()
        out["cupy_pool_used"], out["cupy_pool_total"] = int(pool.used_bytes()), int(pool.total_bytes())
    if be.name == "jax":
        out.update(be.device_memory())
    if be.name == "cupy" or str(be.device).startswith("cuda"):
        out["nvml_process"] = _nvml_process_bytes(int(getattr(be, "device_index", 0)))
    out["param_bytes"], out["state_bytes"] = r.param_bytes(), r.state_bytes()
    mult = (out["param_bytes"] + out["state_bytes"]) / out["param_bytes"]
    out["state_multiple"] = float(mult)
    out["state_ok"] = bool(np.isclose(mult, STATE_MULTIPLE[optimizer]))
    return out
