"""`python -m mpiapp info`: what this job would run on — versions, MPI, HDF5, threads, GPUs, per rank,
and per host: its ranks, CPUs, the work counter's mode and the interface that leads to rank 0."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import platform
import sys

from . import __version__, exits

DISTRIBUTIONS = (
    "numpy",
    "mpi4py",
    "h5py",
    "numba",
    "llvmlite",
    "pyyaml",
    "torch",
    "lightgbm",
    "xgboost",
    "xgboost-cpu",
    "optuna",
    "scikit-learn",
    "threadpoolctl",
    "psutil",
    "tqdm",
    "matplotlib",
    "pandas",
    "pyarrow",
    "arch",
    "backtesting",
    "cupy-cuda12x",
    "nvidia-ml-py",
    "jax",
    "jaxlib",
)


def versions() -> dict:
    out = {"python": platform.python_version(), "mpiapp": __version__}
    for d in DISTRIBUTIONS:
        try:
            out[d] = md.version(d)
        except md.PackageNotFoundError:
            if d not in ("xgboost", "xgboost-cpu"):
                out[d] = "not installed"
    return out


def hdf5_facts() -> dict:
    import h5py

    return {"h5py_mpi": bool(h5py.get_config().mpi), "hdf5": h5py.version.hdf5_version}


def numba_facts() -> dict:
    """Threading layer and thread count, found by running a tiny parallel kernel."""
    import numba
    import numpy as np

    @numba.njit(parallel=True, cache=False)
    def _ids(n):
        out = np.empty(n, dtype=np.int64)
        for i in numba.prange(n):
            out[i] = numba.get_thread_id()
        return out

    used = len(set(_ids(10_000).tolist()))
    return {
        "numba_threading_layer": numba.threading_layer(),
        "numba_threads": numba.get_num_threads(),
        "numba_threads_used": used,
    }


def gpu_facts() -> dict:
    """GPUs seen through CuPy or NVML; 'none' when neither finds one (never an error)."""
    import importlib.util

    if importlib.util.find_spec("cupy") is not None:
        try:
            import cupy

            if cupy.cuda.is_available():
                n = cupy.cuda.runtime.getDeviceCount()
                names = [cupy.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(n)]
                return {"gpus": names, "gpu_via": "cupy"}
        except Exception as exc:  # a broken driver is information, not a crash
            return {"gpus": "none", "gpu_note": f"cupy: {exc}"}
    if importlib.util.find_spec("pynvml") is not None:
        try:
            import pynvml

            pynvml.nvmlInit()
            n = pynvml.nvmlDeviceGetCount()
            names = [pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i)) for i in range(n)]
            return {"gpus": [x.decode() if isinstance(x, bytes) else x for x in names], "gpu_via": "nvml"}
        except Exception as exc:
            return {"gpus": "none", "gpu_note": f"nvml: {exc}"}
    return {"gpus": "none"}


def _interface(rt) -> str:
    """Collective: this rank's interface and address toward rank 0 (the address ddp's rendezvous uses)."""
    from .runtime import netif

    try:
        addr = netif.rendezvous_address(rt.comm)
    except RuntimeError as exc:
        return f"none ({exc})"
    try:
        name, local = netif.route_to(addr)
    except OSError as exc:
        return f"no route to {addr} ({exc.strerror})"
    return f"{name or '?'} {local}"


def hosts_of(rows: list[dict], counter: str) -> list[dict]:
    """One row per host (in order of first rank): host, ranks, cpus, work_counter, interface. Pure."""
    out: dict[str, dict] = {}
    for r in rows:
        h = out.setdefault(
            r["host"],
            {
                "host": r["host"],
                "ranks": [],
                "cpus": r["node_cpus"],
                "work_counter": counter,
                "interface": r["interface"],
            },
        )
        h["ranks"].append(r["rank"])
    return [{**h, "ranks": ",".join(map(str, h["ranks"]))} for h in out.values()]


def collect(rt) -> tuple[dict, list[dict]]:
    """(job-wide facts from rank 0, one row per rank). Collective."""
    from .runtime import comm as comm_mod
    from .runtime import dynamic

    import numba  # noqa: F401  (imported after the thread plan set NUMBA_NUM_THREADS)

    seen = rt.enforce()
    row = {
        "rank": rt.rank,
        "host": comm_mod.hostname(),
        "pid": os.getpid(),
        "cpus": rt.thread_plan.as_dict()["cpus"],
        "threads": rt.thread_plan.threads,
        "node_cpus": rt.thread_plan.node_cpus,
        "ranks_on_node": rt.thread_plan.local_size,
        "blas_threads": ",".join(f"{api}={n}" for api, n in seen["threadpoolctl"]) or "-",
        **numba_facts(),
        "interface": _interface(rt),
    }
    rows = rt.comm.gather(row, root=0)
    facts = {}
    if rt.rank == 0:
        facts = {
            "ranks": rt.size,
            "launched_by": "mpi launcher" if comm_mod.launched_by_mpi() else "singleton",
            "work_counter": rt.work_counter,
            "work_counter_why": dynamic.why(),
            **{f"mpi_{k}": v for k, v in comm_mod.library().items()},
            **hdf5_facts(),
            **gpu_facts(),
            "versions": versions(),
            "executable": sys.executable,
        }
        facts["hosts"] = hosts_of(rows, rt.work_counter)
    return facts, rows


def render(facts: dict, rows: list[dict]) -> str:
    lines = [f"mpiapp {facts['versions']['mpiapp']} on {facts['ranks']} rank(s) ({facts['launched_by']})", ""]
    for k in (
        "mpi_vendor",
        "mpi_vendor_version",
        "mpi_library_version",
        "mpi_standard",
        "mpi_thread_level",
        "mpi_mpi4py",
        "work_counter",
        "work_counter_why",
        "h5py_mpi",
        "hdf5",
        "gpus",
        "gpu_via",
        "gpu_note",
    ):
        if k in facts:
            v = facts[k]
            lines.append(f"  {k:<22} {', '.join(v) if isinstance(v, list) else v}")
    lines += ["", "versions:"]
    lines += [f"  {k:<22} {v}" for k, v in facts["versions"].items()]
    lines += ["", "hosts:"]
    lines += _table(facts["hosts"], ["host", "ranks", "cpus", "work_counter", "interface"])
    lines += ["", "ranks:"]
    cols = [
        "rank",
        "host",
        "pid",
        "cpus",
        "threads",
        "node_cpus",
        "ranks_on_node",
        "blas_threads",
        "numba_threading_layer",
        "numba_threads",
        "numba_threads_used",
    ]
    lines += _table(rows, cols)
    return "\n".join(lines)


def _table(rows: list[dict], cols: list[str]) -> list[str]:
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    out = ["  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    return out + ["  " + "  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)) for r in rows]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="mpiapp info", description=__doc__)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    ap.add_argument("--config", action="append", default=[], metavar="FILE")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    args = ap.parse_args(argv)

    from .cli import load_config
    from .runtime import start

    cfg = load_config("info", args, stops=False)  # a config error: one line (rank 0), exit 2
    if cfg is None:
        return exits.USAGE
    rt = start(cfg)
    facts, rows = collect(rt)
    if rt.rank == 0:
        print(json.dumps({**facts, "per_rank": rows}, indent=1) if args.json else render(facts, rows))
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
