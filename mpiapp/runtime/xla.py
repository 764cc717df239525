"""JAX and XLA on the CPU under the rank's thread plan, imported only when a job asks for JAX.

XLA's CPU client reads no thread-count variable: OMP_NUM_THREADS, threadpoolctl and `XLA_FLAGS
--intra_op_parallelism_threads` do not reach it (the last is refused as an unknown flag by jaxlib
0.10), and it sizes its intra-op thread pools from the CPUs the process may run on when the client is
created (the affinity mask, tsl's NumSchedulableCPUs). So the plan is applied in two ways, before the
client exists:

- the calling thread's affinity is narrowed to the rank's `pool_cpus` while JAX is imported and its
  CPU client created, then restored: the pools get `threads` workers, and the workers, which inherit
  the mask of the thread that created them, stay on those CPUs for the life of the process
  (measured: 17 threads on all of a 2-CPU mask against 13 when narrowed to one CPU, every pool thread
  then listing only that CPU in /proc/self/task/*/status);
- with one thread, `--xla_cpu_multi_thread_eigen=false` in `XLA_FLAGS` keeps matrix products and
  element-wise kernels off the pool, and CPU dispatch is made synchronous
  (`jax_cpu_enable_async_dispatch` off): a computation runs on the calling thread instead of a
  worker running beside Python, which would be a second busy thread. It is also faster there: a
  d = 100 Adam step took 36-49 us synchronous against 88-108 us asynchronous on one CPU (same runs,
  a loaded 2-core machine), each asynchronous step paying a hand-over between two threads.

`XLA_PYTHON_CLIENT_PREALLOCATE=false` (unless set) stops the GPU client from taking 75 % of the GPU
at start, which ranks sharing a GPU could not survive and which would hide what a run really uses.
"""

from __future__ import annotations

import os
import sys

_state: dict = {}

SINGLE_THREAD_FLAG = "--xla_cpu_multi_thread_eigen=false"


def pool_cpus(cpus, local_rank: int, threads: int) -> tuple:
    """The CPUs this rank's XLA pool may use: `threads` of its own mask, starting at local_rank *
    threads (modulo the mask), so ranks sharing one mask (launched with --bind-to none) get disjoint
    CPUs while a rank bound to its own CPUs keeps them. Pure; `cpus` is the rank's affinity."""
    cpus = sorted(cpus)
    if not cpus:
        raise ValueError("a rank with no CPUs in its affinity mask")
    threads = max(1, min(int(threads), len(cpus)))
    start = (int(local_rank) * threads) % len(cpus)
    return tuple(sorted({cpus[(start + i) % len(cpus)] for i in range(threads)}))


def xla_flags(threads: int, current: str = "") -> str:
    """XLA_FLAGS for a rank running `threads` threads: the user's flags kept, the single-thread flag
    added when one thread is planned and the user did not choose xla_cpu_multi_thread_eigen."""
    current = (current or "").strip()
    if threads > 1 or "xla_cpu_multi_thread_eigen" in current:
        return current
    return f"{current} {SINGLE_THREAD_FLAG}".strip()


def import_jax(threads: int = 1, cpus=None, local_rank: int = 0):
    """The jax module, imported and its default client created under the plan (module docstring).
    The first call decides; later calls return the same module (`pinned()` says what the pool got).
    Raises ImportError when JAX is not installed."""
    if "jax" in _state:
        return _state["jax"]
    mine = tuple(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else ()
    want = pool_cpus(cpus if cpus else mine or (0,), local_rank, threads)
    already = _client_exists()
    os.environ["XLA_FLAGS"] = xla_flags(threads, os.environ.get("XLA_FLAGS", ""))
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    narrowed = bool(mine) and not already and set(want) <= set(mine) and set(want) != set(mine)
    if narrowed:
        os.sched_setaffinity(0, want)
    try:
        import jax

        _set(jax, "jax_cpu_enable_async_dispatch", threads > 1)
        jax.devices()  # creates the client, its thread pools with it
    finally:
        if narrowed:
            os.sched_setaffinity(0, mine)
    _state.update(jax=jax, pool=want if narrowed or set(want) == set(mine) else mine, late=already)
    return jax


def _set(jax, option: str, value) -> None:
    try:
        jax.config.update(option, value)
    except AttributeError:  # a JAX without that option: its default stands
        pass


def _client_exists() -> bool:
    """True when JAX was imported and its clients (with their pools) already created elsewhere."""
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # a JAX without that helper: assume the worst
        return True


def pinned() -> dict:
    """What the first import_jax did: {"pool": CPUs of XLA's pool, "late": JAX's client existed before
    (its pools may then span the whole mask)}; {} before any import."""
    return {k: v for k, v in _state.items() if k != "jax"}
