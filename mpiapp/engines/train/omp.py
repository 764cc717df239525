"""Which OpenMP runtimes the process has loaded, and whether two different ones share it.

LightGBM and XGBoost link an OpenMP runtime; so may numba, scikit-learn and torch. Two copies of
the same runtime (two libgomp) coexist; GNU libgomp next to LLVM libomp or Intel libiomp in one
process can oversubscribe cores or crash (each has its own thread pool and its own idea of
OMP_NUM_THREADS). Read through threadpoolctl after the libraries are imported.
"""

from __future__ import annotations

#: threadpoolctl's `prefix` -> runtime family
_FAMILY = {"libgomp": "GNU", "libomp": "LLVM", "libiomp": "Intel", "vcomp": "MSVC"}


def openmp_runtimes(info=None) -> list[dict]:
    """[{'family', 'prefix', 'filepath', 'num_threads'}] of the OpenMP runtimes loaded now.

    info: threadpoolctl.threadpool_info() output (read when None)."""
    if info is None:
        from threadpoolctl import threadpool_info

        info = threadpool_info()
    out = []
    for i in info:
        if i.get("user_api") != "openmp":
            continue
        out.append(
            {
                "family": _FAMILY.get(i.get("prefix", ""), i.get("prefix", "?")),
                "prefix": i.get("prefix", ""),
                "filepath": i.get("filepath", ""),
                "num_threads": int(i.get("num_threads", 0)),
            }
        )
    return out


def mixed_warning(runtimes: list[dict]) -> str | None:
    """A warning when runtimes of different families (GNU with LLVM/Intel) are loaded together."""
    fams = sorted({r["family"] for r in runtimes})
    if len(fams) < 2:
        return None
    paths = "; ".join(f"{r['family']}: {r['filepath']}" for r in runtimes)
    return (
        f"{len(fams)} different OpenMP runtimes in one process ({', '.join(fams)}): thread pools may "
        f"oversubscribe the cores or crash; install the libraries against one runtime ({paths})"
    )
