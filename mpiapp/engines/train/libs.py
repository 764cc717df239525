"""Import the tree libraries for a job process without their optional scikit-learn / pandas / dask glue.

Why: `import lightgbm` (and `import xgboost`) probe for scikit-learn, pandas and dask and import every
one that is installed, for their scikit-learn estimators and DataFrame input. Here that is 2.0 of the
2.5 s the import costs (scipy.stats alone 1.0 s, through scikit-learn), paid by every rank at every
start, and it loads scikit-learn's own bundled libgomp beside the system one. The jobs hand NumPy
arrays to the Booster API and use none of that glue.

`lean_import(name)` makes those optional modules unimportable for the duration of the import only
(a `None` entry in `sys.modules` makes `import x` raise ImportError, which is how the libraries detect
an absent extra), then removes the entries again: scikit-learn and pandas import normally afterwards.
A module already imported is left alone (the library then sees it, as usual). Only the jobs' entry
points call this; the public `load_model` helpers import the libraries the ordinary way, so a user's
session keeps LightGBM's and XGBoost's scikit-learn API.
"""

from __future__ import annotations

import importlib
import sys

#: optional integrations the tree libraries probe for at import time and the jobs never use
OPTIONAL = ("sklearn", "pandas", "dask", "pyarrow", "datatable", "cffi", "graphviz", "matplotlib")


def lean_import(name: str):
    """Import module `name` (lightgbm | xgboost) with OPTIONAL blocked while it imports; returns the module.

    A module already in sys.modules is returned as it is. Raises ImportError when `name` is absent."""
    if name in sys.modules:
        return sys.modules[name]
    blocked = [m for m in OPTIONAL if m not in sys.modules]
    for m in blocked:
        sys.modules[m] = None  # type: ignore[assignment]
    try:
        return importlib.import_module(name)
    finally:
        for m in blocked:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]
