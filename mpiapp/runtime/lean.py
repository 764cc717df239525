"""Import a library in a job process without the optional modules it probes for and the job never uses.

Why: some libraries import every optional integration that happens to be installed, at import time.
`import lightgbm` and `import xgboost` pull in scikit-learn, pandas and dask for their scikit-learn
estimators and DataFrame input (2.0 of the 2.5 s the import costs here, scipy.stats alone 1.0 s);
Numba's CPU target imports `scipy.linalg` the first time a compiled function is loaded, to find out
whether `np.dot` & co. can use BLAS (0.25–0.45 s), and its typing context imports `cffi` (with
pycparser and its regular expressions: 0.3 s) to type CFFI functions. Every rank pays this at every start, and the jobs
use none of it: they hand NumPy arrays to the Booster API, and the scan kernels do no linear algebra
and call no CFFI function.

`import_without(name, optional)` makes the `optional` modules unimportable for the duration of the
import only (a `None` entry in `sys.modules` makes `import x` raise ImportError, which is how these
libraries detect an absent extra), then removes the entries: those modules import normally
afterwards. A module already imported is left alone (the library then sees it, as usual). Only the
jobs' entry points call this, never the public helpers (`load_model`), so a user's own session keeps
the libraries' full behaviour.
"""

from __future__ import annotations

import importlib
import sys

#: what the tree libraries (lightgbm, xgboost) probe for at import and the jobs never use
TREE_EXTRAS = ("sklearn", "pandas", "dask", "pyarrow", "datatable", "cffi", "graphviz", "matplotlib")
#: what Numba imports at its first compiled-function load: scipy to look for BLAS (numba.np.arraymath),
#: cffi to type CFFI functions (numba.core.typing.cffi_utils); the scan needs neither
NUMBA_EXTRAS = ("scipy", "cffi")


def import_without(name: str, optional: tuple):
    """Import module `name` with the `optional` modules blocked while it imports; returns the module.

    A module already in sys.modules is returned as it is. Raises ImportError when `name` is absent."""
    if name in sys.modules:
        return sys.modules[name]
    blocked = [m for m in optional if m not in sys.modules]
    for m in blocked:
        sys.modules[m] = None  # type: ignore[assignment]
    try:
        return importlib.import_module(name)
    finally:
        for m in blocked:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]


def import_numba_kernels():
    """Numba, with its CPU target's array maths and its CFFI typing loaded without scipy and cffi
    (NUMBA_EXTRAS); call after the thread plan set NUMBA_NUM_THREADS. Returns numba.np.arraymath."""
    import_without("numba.core.typing.cffi_utils", NUMBA_EXTRAS)
    return import_without("numba.np.arraymath", NUMBA_EXTRAS)
