"""The JAX backend: one compiled step per (problem shape, optimizer, hyper-parameters, batch size).

A step is the gradient of problem.grad and the update of optimizers.update, both traced with
xp = jax.numpy into one function (mini-batch rows gathered inside it) and compiled ahead of time
with jax.jit(...).lower(...).compile() when the first runner of that step is built — in the cell's
parity check or the recorder's warm-up, never in timed steps: a compiled executable cannot
retrace, it raises on arguments of another shape. `compile_s` is the seconds that trace, lowering
and compilation took, measured once per process and step (the seeds of a grid point share a step).
The parameters, the optimizer state and the step counter are donated to the step, so XLA updates
them in place.

Float64 throughout (`jax_enable_x64`): suboptimality is measured down to 1e-12 against exact optima.
`sync()` blocks until the last step's outputs are ready (jax.block_until_ready): JAX dispatches
asynchronously (on a GPU, and on the CPU when the plan gives the rank more than one thread).
Threads: runtime/xla.py applies the rank's plan before the client exists. Device: the rank's GPU
(local rank modulo the GPUs JAX sees) with the CUDA build, else the CPU.
"""

from __future__ import annotations

import time

import numpy as np

from . import optimizers
from . import problem as obj

#: how many times a step function was traced (tests check that none happens in timed steps)
TRACES = 0


def _count_trace() -> None:
    global TRACES
    TRACES += 1


def step_function(kind: str, l2: float, optimizer: str, hp, jnp):
    """The pure step (w, state, t, X, y[, idx]) -> (w, state, t + 1) of one optimizer on one
    objective; idx (b,) selects the mini-batch rows (absent for a full-batch step)."""

    def step(w, state, t, X, y, idx=None):
        _count_trace()  # runs while tracing only
        if idx is not None:
            X, y = X[idx], y[idx]
        g = obj.grad(kind, X, y, w, l2, jnp)
        t = t + 1
        w, state = optimizers.update(optimizer, hp, t, w, g, state, jnp)
        return w, state, t

    return step


class JaxBackend:
    """jax.numpy arrays on one device; steps compiled with jax.jit (module docstring).

    plan: the rank's runtime.threads.ThreadPlan (None: one thread on this process's first CPU).
    Raises BackendUnavailable (backends.py) when JAX is not installed."""

    name = "jax"

    def __init__(self, plan=None):
        from ...runtime import xla
        from .backends import BackendUnavailable

        threads, cpus, local_rank = (
            (1, None, 0) if plan is None else (plan.threads, plan.cpus, plan.local_rank)
        )
        try:
            jax = xla.import_jax(threads, cpus, local_rank)
        except ImportError as exc:
            raise BackendUnavailable(f"jax: not installed ({exc}); pip install 'mpiapp[jax]'") from None
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)  # before any array of this backend exists
        self.jax, self.xp = jax, jnp
        self.version = jax.__version__
        devs = jax.devices()
        self.dev = devs[local_rank % len(devs)] if devs[0].platform != "cpu" else devs[0]
        self.device_index = int(self.dev.id)
        self.device = "cpu" if self.dev.platform == "cpu" else f"cuda:{self.dev.id}"
        self._steps: dict = {}
        self._pending = ()

    def put(self, a):
        return self.jax.device_put(np.asarray(a, dtype=np.float64), self.dev)

    def get(self, a) -> np.ndarray:
        return np.asarray(a)

    def sync(self) -> None:
        """Block until the outputs of the last step (of any runner of this backend) are computed."""
        live = [a for a in self._pending if not a.is_deleted()]
        if live:
            self.jax.block_until_ready(live)

    def data(self, p):
        from .backends import DeviceData

        return DeviceData(p.kind, p.l2, self.put(p.X), self.put(p.y), self.put(p.X_test), self.put(p.y_test))

    def runner(self, dd, optimizer: str, hp, w0) -> "JaxRunner":
        return JaxRunner(self, dd, optimizer, hp, w0)

    def scalar(self, a) -> float:
        return float(a)

    def compiled(self, dd, optimizer: str, hp, args: tuple):
        """(executable, compile seconds) of the step for these arguments, built on first use."""
        rows = None if len(args) == 5 else int(args[5].shape[0])
        key = (dd.kind, float(dd.l2), optimizer, hp, tuple(dd.X.shape), rows)
        if key not in self._steps:
            fn = step_function(dd.kind, dd.l2, optimizer, hp, self.xp)
            t0 = time.perf_counter()
            exe = self.jax.jit(fn, donate_argnums=(0, 1, 2)).lower(*args).compile()
            self._steps[key] = (exe, time.perf_counter() - t0)
        return self._steps[key]

    def device_memory(self) -> dict:
        """jax_live: bytes of every live JAX array on this device now (JAX's own accounting, any
        device: the data of the problems held there, the live runners' parameters, state and step
        counters); jax_peak: the device allocator's peak bytes in use since the process started, -1
        where the device keeps no statistics (the CPU)."""
        live = sum(int(a.nbytes) for a in self.jax.live_arrays() if self.dev in a.devices())
        stats = self.dev.memory_stats() or {}
        return {"jax_live": int(live), "jax_peak": int(stats.get("peak_bytes_in_use", -1))}


class JaxRunner:
    """One optimisation run on the JAX backend: parameters, state and step counter on the device.
    compile_s: the compile seconds of the step this runner last used (nan before its first step)."""

    def __init__(self, be: JaxBackend, dd, optimizer: str, hp, w0):
        be.sync()  # an earlier runner's last step is finished and no longer held by the backend
        be._pending = ()
        w = np.array(w0, dtype=np.float64, copy=True)
        self.be, self.dd, self.optimizer, self.hp = be, dd, optimizer, hp
        self.w = be.jax.device_put(w, be.dev)
        self.state = tuple(be.jax.device_put(a, be.dev) for a in optimizers.init(optimizer, w, np))
        self.t = be.jax.device_put(np.zeros((), dtype=np.int64), be.dev)
        self.compile_s = float("nan")
        self._exe: dict = {}

    def step(self, idx=None) -> None:
        dd = self.dd
        args = (self.w, self.state, self.t, dd.X, dd.y) + (() if idx is None else (idx,))
        mode = None if idx is None else len(idx)
        exe = self._exe.get(mode)
        if exe is None:  # the backend compiles a step once; the recorder's warm-up step gets here first
            exe, self.compile_s = self.be.compiled(dd, self.optimizer, self.hp, args)
            self._exe[mode] = exe
        self.w, self.state, self.t = exe(*args)
        self.be._pending = (self.w, self.t, *self.state)

    def params(self):
        return self.w

    def state_bytes(self) -> int:
        return int(sum(a.nbytes for a in self.state))

    def param_bytes(self) -> int:
        return int(self.w.nbytes)
