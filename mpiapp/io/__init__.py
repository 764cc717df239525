"""Input/output: price data sources (validated Series), synthetic universes, HDF5 conversion.

Results files and checkpoints live here too (their own modules, later issues).
"""

from .series import Series
from .sources import (BUILTIN, BUILTIN_ALL, Source, SourceError, open_from_config, open_source)
from .synthetic import Impulse
from .validate import DataError

__all__ = ["Series", "Source", "SourceError", "DataError", "Impulse", "open_source",
           "open_from_config", "BUILTIN", "BUILTIN_ALL"]
