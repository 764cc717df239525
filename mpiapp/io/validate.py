"""Validation of price data before any compute (DESIGN §4.4, §5 "Data").

Every source turns its raw input into a :class:`~mpiapp.io.series.Series` through this module, so
every source obeys the same rules and reports failures the same way: a :class:`DataError` naming the
file, the symbol, the row (0-based position of the bar in the input, header not counted; for a CSV
file the line number is row + 2) with its timestamp, and the rule broken, e.g.::

    prices/AAPL.csv: symbol AAPL, row 17 (2003-02-04): High 10.2 < Close 10.5 (rule: High >= max(Open, Close))

Rules, checked in this order (the first broken rule is reported, at its first offending row, with a
count of further offending rows):

    readable file              the file opens and parses as CSV / Parquet / HDF5
    required columns present   a time column and a close column; Open/High/Low all or none
    columns of equal length    (HDF5) every dataset of a symbol has as many rows as time
    non-empty file             the file has a header and at least one bar
    timestamps parse           every timestamp is present and parses
    timestamps sorted          strictly increasing: sorted ascending ...
    timestamps unique          ... and no timestamp repeated
    finite prices              every price is a number, not NaN/inf/missing
    positive prices            every price > 0
    High >= max(Open, Close)
    Low <= min(Open, Close)
    at least min_bars bars     enough bars for one window (the scan passes scan.window_bars)

Column names are matched case-insensitively after dropping everything but letters and digits
("Adj Close" == "adj_close" == "AdjClose"); see ``ALIASES``. Close is preferred over Adj Close
when both are present. A file with no Open/High/Low is close-only (has_ohlc False, open = high =
low = close). Timestamps: strings in any format pandas infers (ISO 8601 recommended), integers
YYYYMMDD, or epoch numbers (seconds, ms, us or ns, chosen by magnitude); time zones are converted
to UTC and naive times are taken as UTC. Volume is optional and not validated (non-numbers -> NaN).
"""

from __future__ import annotations

import re
import warnings
from typing import Iterable

import numpy as np

from .series import Series

# Rule names (the text after "rule:" in every message).
RULE_COLUMNS = "required columns present"
RULE_EMPTY = "non-empty file"
RULE_TIME_PARSE = "timestamps parse"
RULE_SORTED = "timestamps sorted"
RULE_UNIQUE = "timestamps unique"
RULE_FINITE = "finite prices"
RULE_POSITIVE = "positive prices"
RULE_HIGH = "High >= max(Open, Close)"
RULE_LOW = "Low <= min(Open, Close)"
RULE_MIN_BARS = "at least min_bars bars"
RULE_LENGTHS = "columns of equal length"
RULE_READABLE = "readable file"

RULES = (RULE_COLUMNS, RULE_EMPTY, RULE_TIME_PARSE, RULE_SORTED, RULE_UNIQUE, RULE_FINITE,
         RULE_POSITIVE, RULE_HIGH, RULE_LOW, RULE_MIN_BARS, RULE_LENGTHS, RULE_READABLE)


class DataError(ValueError):
    """Bad input data. Attributes: file, symbol, row (int or None), timestamp (str or None), rule.

    ``where`` replaces "row N (timestamp)" when the problem is not at one row ("header", "file").
    """

    def __init__(self, detail: str, *, file: str, symbol: str | None, rule: str,
                 row: int | None = None, timestamp: str | None = None, where: str | None = None):
        self.detail = detail
        self.file = str(file)
        self.symbol = symbol
        self.rule = rule
        self.row = None if row is None else int(row)
        self.timestamp = timestamp
        parts = [f"symbol {symbol}"] if symbol is not None else []
        if row is not None:
            parts.append(f"row {row} ({timestamp})" if timestamp is not None else f"row {row}")
        elif where:
            parts.append(where)
        loc = ", ".join(parts)
        super().__init__(f"{self.file}: {loc + ': ' if loc else ''}{detail} (rule: {rule})")

    def __reduce__(self):  # picklable (it may travel between MPI ranks)
        return (_rebuild, (self.detail, self.file, self.symbol, self.rule, self.row, self.timestamp,
                           str(self)))


def _rebuild(detail, file, symbol, rule, row, timestamp, message):
    err = DataError.__new__(DataError)
    ValueError.__init__(err, message)
    err.detail, err.file, err.symbol, err.rule, err.row, err.timestamp = (
        detail, file, symbol, rule, row, timestamp)
    return err


# --------------------------------------------------------------------------------------------------
# Column names
# --------------------------------------------------------------------------------------------------

def norm(name) -> str:
    """'Adj Close' -> 'adjclose', '<CLOSE>' -> 'close', 'Unnamed: 0' -> 'unnamed0'."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


#: role -> groups of normalised spellings, best group first (Close beats Price beats Adj Close).
ALIASES: dict[str, tuple[tuple[str, ...], ...]] = {
    "time": (("datetime", "timestamp"), ("date",), ("time", "dt", "day", "tradedate", "tradingday",
             "gmttime", "localtime", "period"), ("unnamed0", "")),
    "open": (("open", "o", "openprice", "first"),),
    "high": (("high", "h", "highprice", "max"),),
    "low": (("low", "l", "lowprice", "min"),),
    "close": (("close", "c", "closeprice", "last", "closelast", "lastprice"), ("price",),
              ("adjclose", "adjustedclose", "adjcloseprice", "adjustedcloseprice", "adjc")),
    "volume": (("volume", "vol", "v", "tickvolume", "volumefrom", "qty", "quantity"),),
}
DISPLAY = {"time": "Date", "open": "Open", "high": "High", "low": "Low", "close": "Close",
           "volume": "Volume"}


def resolve_columns(columns: Iterable, *, file: str, symbol: str) -> dict[str, str]:
    """Map roles (time, open, high, low, close, volume, and 'clock' for a split date/time pair) to
    the input's column names. Raises DataError(rule 'required columns present')."""
    cols = list(columns)
    by_norm: dict[str, list] = {}
    for c in cols:
        by_norm.setdefault(norm(c), []).append(c)
    found: dict[str, str] = {}
    for role, groups in ALIASES.items():
        for group in groups:
            hits = [c for key in group for c in by_norm.get(key, ())]
            if len(hits) > 1 and not (role == "time" and group == ("datetime", "timestamp")):
                raise DataError(
                    f"{len(hits)} columns could be {DISPLAY[role]}: {', '.join(map(repr, hits))}; "
                    "keep one", file=file, symbol=symbol, rule=RULE_COLUMNS, where="header")
            if hits:
                found[role] = hits[0]
                break
    # a separate date column and time-of-day column: combined as "date time"
    if norm(found.get("time", "")) == "date":
        clock = [c for key in ("time",) for c in by_norm.get(key, ())]
        if clock:
            found["clock"] = clock[0]
    shown = ", ".join(map(str, cols)) if cols else "none"
    missing = [r for r in ("time", "close") if r not in found]
    if missing:
        names = " and ".join(DISPLAY[r] for r in missing)
        spell = "; ".join(f"{DISPLAY[r]}: {', '.join(g for grp in ALIASES[r] for g in grp if g)}"
                          for r in missing)
        raise DataError(f"no {names} column (columns found: {shown}; accepted spellings, any case, "
                        f"spaces/underscores ignored: {spell})",
                        file=file, symbol=symbol, rule=RULE_COLUMNS, where="header")
    ohl = [r for r in ("open", "high", "low") if r in found]
    if ohl and len(ohl) != 3:
        lack = [DISPLAY[r] for r in ("open", "high", "low") if r not in found]
        raise DataError(f"no {' or '.join(lack)} column but {', '.join(DISPLAY[r] for r in ohl)} "
                        f"present (columns found: {shown}); give all of Open, High, Low, or none "
                        "for a close-only series", file=file, symbol=symbol, rule=RULE_COLUMNS,
                        where="header")
    return found


# --------------------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------------------

def fmt_time(ns: int) -> str:
    """2003-02-04 for midnight, else 2003-02-04 15:30:00 (or with fractional seconds)."""
    t = np.datetime64(int(ns), "ns")
    if ns % 86_400_000_000_000 == 0:
        return str(t.astype("datetime64[D]"))
    s = str(t.astype("datetime64[s]")).replace("T", " ")
    return s if ns % 1_000_000_000 == 0 else str(t).replace("T", " ")


def _epoch_unit(values: np.ndarray) -> str:
    m = float(np.nanmax(np.abs(values))) if values.size else 0.0
    return "s" if m < 1e11 else "ms" if m < 1e14 else "us" if m < 1e17 else "ns"


def parse_times(raw, *, file: str, symbol: str, column: str = "Date") -> np.ndarray:
    """Raw timestamps (pandas Series / array of str, datetime, int or float) -> int64 ns (UTC)."""
    import pandas as pd

    s = pd.Series(raw).reset_index(drop=True)
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        parsed = s
    elif pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        finite = vals[np.isfinite(vals)]
        if finite.size and np.all(finite == np.round(finite)) and finite.min() >= 1e7 \
                and finite.max() < 3e7:  # YYYYMMDD integers
            txt = pd.Series(np.where(np.isfinite(vals), np.nan_to_num(vals).astype(np.int64)
                                     .astype(str), None))
            parsed = pd.to_datetime(txt, format="%Y%m%d", errors="coerce", utc=True)
        else:
            unit = _epoch_unit(finite)
            parsed = pd.to_datetime(s, unit=unit, errors="coerce", utc=True)
    else:
        parsed = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for fmt in (None, "ISO8601"):
                try:
                    parsed = pd.to_datetime(s, utc=True, format=fmt)
                    break
                except (ValueError, TypeError, OverflowError):
                    continue
            if parsed is None:
                parsed = pd.to_datetime(s, utc=True, errors="coerce")
                if not parsed.isna().any():  # pragma: no cover - mixed formats, all parse alone
                    parsed = pd.to_datetime(s, utc=True, errors="coerce", format="mixed")
    if parsed.isna().any():
        bad = np.flatnonzero(parsed.isna().to_numpy())
        i = int(bad[0])
        more = _more(bad.size - 1)
        value = s.iloc[i]
        if pd.isna(value) or str(value).strip() == "":
            detail = f"{column} is missing{more}"
            shown = "missing"
        else:
            detail = f"{column} {str(value)!r} does not parse as a timestamp{more}"
            shown = str(value)
        raise DataError(detail, file=file, symbol=symbol, rule=RULE_TIME_PARSE, row=i,
                        timestamp=shown)
    idx = pd.DatetimeIndex(parsed)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return np.asarray(idx.as_unit("ns").asi8, dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------------

def parse_prices(raw, *, file: str, symbol: str, column: str, times: np.ndarray | None = None
                 ) -> np.ndarray:
    """Raw prices -> float64; a non-number raises DataError(rule 'finite prices')."""
    import pandas as pd

    s = pd.Series(raw).reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    num = pd.to_numeric(s, errors="coerce")
    out = num.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(np.isnan(out) & s.notna().to_numpy()
                         & (s.astype(str).str.strip() != "").to_numpy()
                         & ~s.astype(str).str.strip().str.lower().isin(["nan", "na", "n/a"]).to_numpy())
    if bad.size:
        i = int(bad[0])
        more = _more(bad.size - 1)
        raise DataError(f"{column} {str(s.iloc[i])!r} is not a number{more}", file=file,
                        symbol=symbol, rule=RULE_FINITE, row=i,
                        timestamp=None if times is None else fmt_time(times[i]))
    return out


def _more(k: int) -> str:
    """'; 3 more rows likewise' for further offending rows."""
    return f"; {k} more {'row' if k == 1 else 'rows'} likewise" if k > 0 else ""


def _num(x: float) -> str:
    return repr(float(x))


def check_arrays(symbol: str, origin: str, time, open_, high, low, close, *, volume=None,
                 has_ohlc: bool = True, min_bars: int = 1, row_offset: int = 0) -> Series:
    """Check parsed arrays against the rules; return the Series or raise DataError.

    time: int64 ns. Prices: float64 (anything numeric is converted). For has_ohlc False only close
    is used (open = high = low = close).
    """
    file = origin
    time = np.ascontiguousarray(time)
    if not np.issubdtype(time.dtype, np.integer):
        raise DataError(f"time has dtype {time.dtype}; expected int64 nanoseconds since the epoch",
                        file=file, symbol=symbol, rule=RULE_TIME_PARSE, where="time column")
    time = time.astype(np.int64, copy=False)
    close = np.ascontiguousarray(close, dtype=np.float64)
    if has_ohlc:
        cols = {"Open": np.ascontiguousarray(open_, dtype=np.float64),
                "High": np.ascontiguousarray(high, dtype=np.float64),
                "Low": np.ascontiguousarray(low, dtype=np.float64), "Close": close}
    else:
        cols = {"Close": close}
    n = time.shape[0]
    for name, a in cols.items():
        if a.shape != (n,):
            raise DataError(f"{name} has shape {a.shape} but time has {n} rows", file=file,
                            symbol=symbol, rule=RULE_LENGTHS, where="columns")
    if volume is not None:
        volume = np.ascontiguousarray(volume, dtype=np.float64)
        if volume.shape != (n,):
            raise DataError(f"Volume has shape {volume.shape} but time has {n} rows", file=file,
                            symbol=symbol, rule=RULE_LENGTHS, where="columns")

    def fail(rule, rows, detail_of):
        i = int(rows[0])
        more = _more(rows.size - 1)
        raise DataError(detail_of(i) + more, file=file, symbol=symbol, rule=rule,
                        row=i + row_offset, timestamp=fmt_time(time[i]))

    if n == 0:
        raise DataError("no bars", file=file, symbol=symbol, rule=RULE_EMPTY, where="file")
    d = np.diff(time)
    back = np.flatnonzero(d <= 0)
    if back.size:
        i = int(back[0]) + 1
        if d[i - 1] < 0:
            fail(RULE_SORTED, np.flatnonzero(d < 0) + 1,
                 lambda i: f"timestamp {fmt_time(time[i])} is earlier than row {i - 1 + row_offset} "
                           f"({fmt_time(time[i - 1])})")
        fail(RULE_UNIQUE, np.flatnonzero(d == 0) + 1,
             lambda i: f"timestamp {fmt_time(time[i])} repeats row {i - 1 + row_offset}")
    # finite, then positive: report the earliest row over all columns
    for rule, bad_of, say in (
            (RULE_FINITE, lambda a: ~np.isfinite(a),
             lambda name, v: f"{name} is missing" if np.isnan(v) else f"{name} {_num(v)} is not finite"),
            (RULE_POSITIVE, lambda a: a <= 0, lambda name, v: f"{name} {_num(v)} is not positive")):
        mask = np.zeros(n, dtype=bool)
        for a in cols.values():
            mask |= bad_of(a)
        rows = np.flatnonzero(mask)
        if rows.size:
            def detail(i, bad_of=bad_of, say=say):
                return "; ".join(say(name, a[i]) for name, a in cols.items() if bad_of(a[i:i + 1])[0])
            fail(rule, rows, detail)
    if has_ohlc:
        o, h, l, c = cols["Open"], cols["High"], cols["Low"], close
        rows = np.flatnonzero(h < np.maximum(o, c))
        if rows.size:
            fail(RULE_HIGH, rows, lambda i: f"High {_num(h[i])} < "
                 + (f"Close {_num(c[i])}" if c[i] >= o[i] else f"Open {_num(o[i])}"))
        rows = np.flatnonzero(l > np.minimum(o, c))
        if rows.size:
            fail(RULE_LOW, rows, lambda i: f"Low {_num(l[i])} > "
                 + (f"Close {_num(c[i])}" if c[i] <= o[i] else f"Open {_num(o[i])}"))
    if n < min_bars:
        raise DataError(f"{n} bars ({fmt_time(time[0])} .. {fmt_time(time[-1])}), fewer than "
                        f"min_bars {min_bars} (one scan window, scan.window_bars)", file=file,
                        symbol=symbol, rule=RULE_MIN_BARS, where="whole series")
    if has_ohlc:
        return Series(symbol, time, cols["Open"], cols["High"], cols["Low"], close, origin, True,
                      volume)
    return Series(symbol, time, close, close, close, close, origin, False, volume)


def too_few_bars(n: int, min_bars: int, *, file: str, symbol: str) -> DataError:
    """The min_bars error for a cheap count (index() before the data are read)."""
    return DataError(f"{n} bars, fewer than min_bars {min_bars} (one scan window, "
                     "scan.window_bars)", file=file, symbol=symbol, rule=RULE_MIN_BARS,
                     where="whole series")


def frame_to_series(df, *, symbol: str, origin: str, min_bars: int = 1) -> Series:
    """A pandas DataFrame as read from a file (any column spelling; a datetime index is taken as the
    time column when no time column exists) -> validated Series."""
    import pandas as pd

    if not any(norm(c) in {k for g in ALIASES["time"] for k in g} for c in df.columns) and (
            isinstance(df.index, pd.DatetimeIndex) or df.index.name is not None):
        df = df.reset_index(names=df.index.name or "Date")
    roles = resolve_columns(df.columns, file=origin, symbol=symbol)
    if len(df) == 0:
        raise DataError("no bars (header only)", file=origin, symbol=symbol, rule=RULE_EMPTY,
                        where="file")
    tcol = df[roles["time"]]
    tname = str(roles["time"]) or "Date"
    if "clock" in roles:
        tcol = tcol.astype(str).str.strip() + " " + df[roles["clock"]].astype(str).str.strip()
        tname = f"{roles['time']} + {roles['clock']}"
    time = parse_times(tcol, file=origin, symbol=symbol, column=tname)
    price = {r: parse_prices(df[roles[r]], file=origin, symbol=symbol, column=DISPLAY[r], times=time)
             for r in ("open", "high", "low", "close") if r in roles}
    volume = None
    if "volume" in roles:
        volume = pd.to_numeric(df[roles["volume"]], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)
    has_ohlc = "open" in price
    return check_arrays(symbol, origin, time, price.get("open"), price.get("high"), price.get("low"),
                        price["close"], volume=volume, has_ohlc=has_ohlc, min_bars=min_bars)
