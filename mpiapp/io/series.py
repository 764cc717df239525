"""The one in-memory form every data source returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Series:
    """One symbol's validated bars.

    time is int64 nanoseconds since the epoch (datetime64[ns] viewed as int64), strictly increasing.
    open/high/low/close are float64, finite and positive. Close-only sources set open = high = low =
    close and has_ohlc = False, so pivots fall back to the close. A job's symbol store
    (io.store.SymbolStore, its `fields`) may hand out a series without the arrays the job does not
    read: those are None.
    """

    symbol: str
    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    origin: str  # file path or builtin name, for error messages
    has_ohlc: bool = True
    volume: np.ndarray | None = None
    dropped_rows: int = 0  # input rows with no price at all, dropped (data.drop_empty_rows)

    def __len__(self) -> int:
        return int(self.time.shape[0])

    @property
    def dates(self) -> np.ndarray:
        return self.time.view("datetime64[ns]")
