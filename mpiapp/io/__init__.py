"""Input/output, below the runtime: what is read and what is written, never how ranks share the work.

Read: price data sources (sources/: a spec string -> validated Series), synthetic universes with
their ground truth, the symbol store (store.py: each symbol read once per node), content hashes of
inputs (fingerprint.py), conversion to HDF5 (convert.py). Written: the HDF5 results files of every
job (results.py), their symbols and skipped tables (symbols.py) and fixed-width text (text.py).
Checkpoints are the engine's that writes them (engines/ddp/checkpoint.py).
"""

from .series import Series
from .sources import BUILTIN, BUILTIN_ALL, Source, SourceError, open_from_config, open_source
from .synthetic import Impulse
from .validate import DataError

__all__ = [
    "Series",
    "Source",
    "SourceError",
    "DataError",
    "Impulse",
    "open_source",
    "open_from_config",
    "BUILTIN",
    "BUILTIN_ALL",
]
