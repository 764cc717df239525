"""Choosing the scan backend: numpy (reference), numba, cupy, or auto."""

from __future__ import annotations

import functools
import logging

log = logging.getLogger("mpiapp.scan")

BACKENDS = ("auto", "numpy", "numba", "cupy")
#: "xp-numpy": the cupy backend's array-module code run with numpy (CI, tests); not a config value
INTERNAL = ("xp-numpy",)


def cupy_status() -> tuple[bool, str]:
    """(usable, reason)."""
    try:
        import cupy  # noqa: F401
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        return False, f"cupy is not importable ({type(exc).__name__}: {exc})"
    try:
        ok = bool(cupy.cuda.is_available())
    except Exception as exc:
        return False, f"cupy.cuda.is_available() failed ({type(exc).__name__}: {exc})"
    if not ok:
        return False, "cupy is installed but cupy.cuda.is_available() is False (no usable GPU)"
    return True, "cupy.cuda.is_available() is True"


@functools.lru_cache(maxsize=None)
def resolve_backend(name: str) -> tuple[str, str]:
    """(backend actually used, reason). auto: cupy when a GPU is usable, else numba. Logged once."""
    if name not in BACKENDS + INTERNAL:
        raise ValueError(f"scan backend must be one of {', '.join(BACKENDS)}; got {name!r}")
    if name == "auto":
        ok, why = cupy_status()
        chosen, reason = ("cupy", f"auto: {why}") if ok else ("numba", f"auto: numba, because {why}")
    elif name == "cupy":
        ok, why = cupy_status()
        if not ok:
            raise RuntimeError(f"scan.backend=cupy was asked for but {why}; use auto or numba")
        chosen, reason = "cupy", why
    else:
        chosen, reason = name, "requested"
    # a choice made for the user is worth a line; an explicit name is not
    (log.info if name == "auto" else log.debug)("scan backend: %s (%s)", chosen, reason)
    return chosen, reason


def array_module(backend: str):
    """The xp of an array-module backend."""
    if backend == "cupy":
        import cupy

        return cupy
    import numpy

    return numpy
