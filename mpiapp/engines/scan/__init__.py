"""The scan engine (docs/scan.md): per symbol, pivots, windows, pre-filter, candidate search, top-k.

API used by the distributed job:

    params = ScanParams.from_config(cfg.scan)
    starts = window_starts(len(series), params)            # planning, splitting long symbols
    part = scan_symbol(series, params, window_range=(w0, w1))
    whole = merge([part_a, part_b, ...])                     # == scan_symbol(series, params)
    live = live_table(high, low, close, params, backend)     # counts in progress at the last bar
"""

from .backends import resolve_backend
from .engine import scan_symbol, symbol_pivots, window_starts
from .live import live_table, outcome_rows
from .params import ScanParams
from .result import PATTERN_FIELDS, WINDOW_FIELDS, SymbolScan, merge, pattern_order, sort_patterns

__all__ = [
    "ScanParams",
    "SymbolScan",
    "merge",
    "resolve_backend",
    "scan_symbol",
    "window_starts",
    "symbol_pivots",
    "pattern_order",
    "sort_patterns",
    "WINDOW_FIELDS",
    "PATTERN_FIELDS",
    "live_table",
    "outcome_rows",
]
