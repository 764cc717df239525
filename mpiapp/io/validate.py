"""Validation of price data before any compute (docs/data.md, "Validation").

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
to UTC and times without an offset are in data.timezone (default UTC). Volume is optional and not
validated (non-numbers -> NaN); a tick volume stands in for a volume with no non-zero value.
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

RULES = (
    RULE_COLUMNS,
    RULE_EMPTY,
    RULE_TIME_PARSE,
    RULE_SORTED,
    RULE_UNIQUE,
    RULE_FINITE,
    RULE_POSITIVE,
    RULE_HIGH,
    RULE_LOW,
    RULE_MIN_BARS,
    RULE_LENGTHS,
    RULE_READABLE,
)


class DataError(ValueError):
    """Bad input data. Attributes: file, symbol, row (int or None), timestamp (str or None), rule.

    ``where`` replaces "row N (timestamp)" when the problem is not at one row ("header", "file").
    """

    def __init__(
        self,
        detail: str,
        *,
        file: str,
        symbol: str | None,
        rule: str,
        row: int | None = None,
        timestamp: str | None = None,
        where: str | None = None,
    ):
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
        return (
            _rebuild,
            (self.detail, self.file, self.symbol, self.rule, self.row, self.timestamp, str(self)),
        )


def _rebuild(detail, file, symbol, rule, row, timestamp, message):
    err = DataError.__new__(DataError)
    ValueError.__init__(err, message)
    err.detail, err.file, err.symbol, err.rule, err.row, err.timestamp = (
        detail,
        file,
        symbol,
        rule,
        row,
        timestamp,
    )
    return err


# --------------------------------------------------------------------------------------------------
# Column names
# --------------------------------------------------------------------------------------------------


def norm(name) -> str:
    """'Adj Close' -> 'adjclose', '<CLOSE>' -> 'close', 'Unnamed: 0' -> 'unnamed0'."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


#: role -> groups of normalised spellings, best group first (Close beats Price beats Adj Close).
ALIASES: dict[str, tuple[tuple[str, ...], ...]] = {
    "time": (
        ("datetime", "timestamp"),
        ("date",),
        ("time", "dt", "day", "tradedate", "tradingday", "gmttime", "localtime", "period"),
        ("unnamed0", ""),
    ),
    "open": (("open", "o", "openprice", "first"),),
    "high": (("high", "h", "highprice", "max"),),
    "low": (("low", "l", "lowprice", "min"),),
    "close": (
        ("close", "c", "closeprice", "last", "closelast", "lastprice"),
        ("price",),
        ("adjclose", "adjustedclose", "adjcloseprice", "adjustedcloseprice", "adjc"),
    ),
    "volume": (("volume", "vol", "v", "volumefrom", "qty", "quantity"), ("tickvolume", "tickvol")),
}
#: a tick volume (MetaTrader's <TICKVOL>, <TICKVOLUME>: ticks per bar) stands in for a real volume
#: that is absent, or present with no non-zero value (MetaTrader 5's <VOL> of a forex symbol)
TICK_VOLUME = ALIASES["volume"][1]
DISPLAY = {"time": "Date", "open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"}


def resolve_columns(columns: Iterable, *, file: str, symbol: str) -> dict[str, str]:
    """Map roles (time, open, high, low, close, volume, and 'clock' for a split date/time pair,
    'tick_volume' for a tick volume beside a real one) to the input's column names. Raises
    DataError(rule 'required columns present')."""
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
                    f"{len(hits)} columns could be {DISPLAY[role]}: {', '.join(map(repr, hits))}; keep one",
                    file=file,
                    symbol=symbol,
                    rule=RULE_COLUMNS,
                    where="header",
                )
            if hits:
                found[role] = hits[0]
                break
    ticks = [c for key in TICK_VOLUME for c in by_norm.get(key, ())]
    if len(ticks) > 1:
        raise DataError(
            f"{len(ticks)} columns could be tick volume: {', '.join(map(repr, ticks))}; keep one",
            file=file,
            symbol=symbol,
            rule=RULE_COLUMNS,
            where="header",
        )
    if ticks and found.get("volume") != ticks[0]:
        found["tick_volume"] = ticks[0]  # the stand-in for an all-zero volume (frame_to_series)
    # a separate date column and time-of-day column: combined as "date time"
    if norm(found.get("time", "")) == "date":
        clock = [c for key in ("time",) for c in by_norm.get(key, ())]
        if clock:
            found["clock"] = clock[0]
    shown = ", ".join(map(str, cols)) if cols else "none"
    missing = [r for r in ("time", "close") if r not in found]
    if missing:
        names = " and ".join(DISPLAY[r] for r in missing)
        spell = "; ".join(
            f"{DISPLAY[r]}: {', '.join(g for grp in ALIASES[r] for g in grp if g)}" for r in missing
        )
        raise DataError(
            f"no {names} column (columns found: {shown}; accepted spellings, any case, "
            f"spaces/underscores ignored: {spell})",
            file=file,
            symbol=symbol,
            rule=RULE_COLUMNS,
            where="header",
        )
    ohl = [r for r in ("open", "high", "low") if r in found]
    if ohl and len(ohl) != 3:
        lack = [DISPLAY[r] for r in ("open", "high", "low") if r not in found]
        raise DataError(
            f"no {' or '.join(lack)} column but {', '.join(DISPLAY[r] for r in ohl)} "
            f"present (columns found: {shown}); give all of Open, High, Low, or none "
            "for a close-only series",
            file=file,
            symbol=symbol,
            rule=RULE_COLUMNS,
            where="header",
        )
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


#: numeric day/month/year dates: 01/02/2000, 1.2.2000, 01-02-00 (either order of day and month)
_DM_RE = r"^\s*(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)"
DATE_FORMATS = ("auto", "dayfirst", "monthfirst")  # or a strftime format such as %d.%m.%Y
_FORMAT_HINT = "set data.date_format to dayfirst, monthfirst or a format such as %d/%m/%Y"


def check_date_format(value: str) -> str:
    """data.date_format: auto, dayfirst, monthfirst or a strftime format (with at least one %)."""
    v = str(value).strip()
    if v.lower() in DATE_FORMATS:
        return v.lower()
    if "%" in v:
        return v
    raise ValueError(
        f"data.date_format = {value!r}: expected auto, dayfirst, monthfirst or a "
        "strftime format such as %d.%m.%Y"
    )


def _day_month_order(s, *, file: str, symbol: str, column: str, setting: str) -> bool | None:
    """For string dates written D/M/Y or M/D/Y (any of / . - as separator): True for day first,
    False for month first, None when no row has that form. Never guesses: a row with a first field
    above 12 means day first, a second field above 12 means month first; both in one column, or
    neither where the two orders give different dates, is refused (unless data.date_format says)."""
    m = s.astype("string").str.extract(_DM_RE)
    hit = m[0].notna().to_numpy()
    if not hit.any():
        return None
    rows = np.flatnonzero(hit)
    a = m[0].to_numpy()[hit].astype(np.int64)
    b = m[2].to_numpy()[hit].astype(np.int64)
    day_rows, month_rows = rows[a > 12], rows[b > 12]

    def err(detail, i):
        return DataError(
            detail, file=file, symbol=symbol, rule=RULE_TIME_PARSE, row=int(i), timestamp=str(s.iloc[i])
        )

    if setting == "dayfirst":
        if month_rows.size:
            raise err(
                f"{column} {str(s.iloc[month_rows[0]])!r} is not day/month/year "
                f"(data.date_format = dayfirst){_more(month_rows.size - 1)}",
                month_rows[0],
            )
        return True
    if setting == "monthfirst":
        if day_rows.size:
            raise err(
                f"{column} {str(s.iloc[day_rows[0]])!r} is not month/day/year "
                f"(data.date_format = monthfirst){_more(day_rows.size - 1)}",
                day_rows[0],
            )
        return False
    if day_rows.size and month_rows.size:
        i, j = int(day_rows[0]), int(month_rows[0])
        raise err(
            f"{column} mixes day-first dates ({str(s.iloc[i])!r}, row {i}) and month-first "
            f"dates ({str(s.iloc[j])!r}, row {j}); {_FORMAT_HINT}",
            max(i, j),
        )
    if day_rows.size:
        return True
    if month_rows.size:
        return False
    amb = rows[a != b]
    if amb.size == 0:  # 01/01, 02/02, ...: both orders give the same dates
        return False
    i = int(amb[0])
    raise err(
        f"{column} {str(s.iloc[i])!r} is ambiguous: day/month/year or month/day/year, and no "
        f"row has a day above 12 to tell; {_FORMAT_HINT}",
        i,
    )


_OFFSET_RE = r"^(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?$"


def check_timezone(value: str) -> str:
    """data.timezone: UTC, an IANA zone name (Europe/Athens, America/New_York) or a fixed offset
    (+02:00, UTC-05:00). Returns the canonical text; raises ValueError naming the key."""
    v = str(value).strip()
    if v.upper() in ("UTC", "Z", "GMT"):
        return "UTC"
    m = re.match(_OFFSET_RE, v, flags=re.IGNORECASE)
    if m and int(m.group(2)) <= 14 and int(m.group(3) or 0) < 60:
        return f"{m.group(1)}{int(m.group(2)):02d}:{int(m.group(3) or 0):02d}"
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(v)
        return v
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        pass
    raise ValueError(
        f"data.timezone = {value!r}: not a time zone; expected UTC, an IANA name such as "
        "Europe/London or America/New_York, or a fixed offset such as +02:00"
    )


def _tzinfo(name: str):
    """The tzinfo of a checked data.timezone (a fixed offset, or a zoneinfo zone with its DST)."""
    import datetime
    import zoneinfo

    m = re.match(_OFFSET_RE, name)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
        return datetime.timezone(datetime.timedelta(minutes=-minutes if m.group(1) == "-" else minutes))
    return zoneinfo.ZoneInfo(name)


def _naive_rows(s, fmt, dayfirst) -> np.ndarray:
    """Which rows of a text time column carry no UTC offset (their wall-clock time is in
    data.timezone). One parse without utc=True tells for a column of one kind; a column that mixes
    offsets (or offsets and none) is told row by row."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            whole = pd.to_datetime(s, format=fmt, dayfirst=dayfirst)
            if pd.api.types.is_datetime64_any_dtype(whole.dtype):
                return np.full(len(s), getattr(whole.dtype, "tz", None) is None)
        except (ValueError, TypeError, OverflowError):
            pass

        def naive(v):
            try:
                return pd.Timestamp(v).tzinfo is None
            except (ValueError, TypeError, OverflowError):
                return True

        return np.fromiter((naive(v) for v in s), dtype=bool, count=len(s))


def _localize(idx, naive: np.ndarray, timezone: str, s, *, file, symbol, column):
    """idx (UTC, naive rows read as if UTC) with the naive rows' wall-clock times taken in
    `timezone` instead. A wall-clock time that the zone skips (clocks moved forward) or repeats
    without the file saying which (clocks moved back, once) is refused with its row."""
    import pandas as pd

    if not naive.any():
        return idx
    tz = _tzinfo(timezone)
    wall = idx[naive].tz_localize(None)
    rows = np.flatnonzero(naive)
    try:
        local = wall.tz_localize(tz, ambiguous="infer", nonexistent="raise")
    except Exception:  # the zone's AmbiguousTimeError / NonExistentTimeError, a failed inference
        gone = wall.tz_localize(tz, ambiguous=np.ones(len(wall), dtype=bool), nonexistent="NaT")
        if gone.isna().any():
            i = int(rows[np.flatnonzero(gone.isna())[0]])
            raise DataError(
                f"{column} {str(s.iloc[i])!r} does not exist in {timezone} (the clocks "
                f"moved forward over it; data.timezone){_more(int(gone.isna().sum()) - 1)}",
                file=file,
                symbol=symbol,
                rule=RULE_TIME_PARSE,
                row=i,
                timestamp=str(s.iloc[i]),
            ) from None
        twice = wall.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").isna()
        i = int(rows[np.flatnonzero(twice)[0]]) if twice.any() else int(rows[0])
        raise DataError(
            f"{column} {str(s.iloc[i])!r} is ambiguous in {timezone} (the hour repeated "
            "when the clocks moved back, and the file's order does not tell which; "
            "data.timezone: a fixed offset such as +02:00 has no such hours)",
            file=file,
            symbol=symbol,
            rule=RULE_TIME_PARSE,
            row=i,
            timestamp=str(s.iloc[i]),
        ) from None
    out = idx.copy()
    values = out.asi8.copy()
    values[naive] = local.tz_convert("UTC").as_unit(idx.unit).asi8
    return pd.DatetimeIndex(values.view(f"M8[{idx.unit}]")).tz_localize("UTC")


#: the range a timestamp in nanoseconds holds
_TS_MIN, _TS_MAX = "1677-09-21 00:12:43.145224193", "2262-04-11 23:47:16.854775807"


def _out_of_range(value) -> bool:
    """A value that is a timestamp, but outside what int64 nanoseconds hold."""
    import pandas as pd

    try:
        t = pd.Timestamp(value)
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        return True
    except (ValueError, TypeError):
        return False
    if t is pd.NaT:
        return False
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return not (pd.Timestamp(_TS_MIN) <= t <= pd.Timestamp(_TS_MAX))


def _range_error(column, value, *, file, symbol, row, more=0) -> DataError:
    return DataError(
        f"{column} {str(value)!r} is outside the range of timestamps "
        f"({_TS_MIN[:10]} .. {_TS_MAX[:10]}){_more(more)}",
        file=file,
        symbol=symbol,
        rule=RULE_TIME_PARSE,
        row=row,
        timestamp=str(value),
    )


def parse_times(
    raw, *, file: str, symbol: str, column: str = "Date", date_format: str = "auto", timezone: str = "UTC"
) -> np.ndarray:
    """Raw timestamps (pandas Series / array of str, datetime, int or float) -> int64 ns (UTC).

    date_format (data.date_format): auto (infer; numeric day/month dates decided by the data, an
    ambiguous column refused), dayfirst, monthfirst, or a strftime format for string dates.
    timezone (data.timezone, checked by check_timezone): the zone of wall-clock times that carry no
    offset (text without one, YYYYMMDD numbers, naive datetimes); times with an offset keep it, epoch
    numbers are UTC by definition.
    """
    import pandas as pd

    s = pd.Series(raw).reset_index(drop=True)
    fmt_used = None
    local = timezone != "UTC"
    naive = None  # rows whose wall-clock time is in `timezone` (None: none, or the zone is UTC)
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        parsed = s
        if local and not isinstance(s.dtype, pd.DatetimeTZDtype):
            naive = np.ones(len(s), dtype=bool)
    elif pd.api.types.is_bool_dtype(s.dtype):
        raise DataError(
            f"{column} {str(s.iloc[0])!r} is not a timestamp (a column of True/False)",
            file=file,
            symbol=symbol,
            rule=RULE_TIME_PARSE,
            row=0,
            timestamp=str(s.iloc[0]),
        )
    elif pd.api.types.is_numeric_dtype(s.dtype):
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        finite = vals[np.isfinite(vals)]
        if (
            finite.size and np.all(finite == np.round(finite)) and finite.min() >= 1e7 and finite.max() < 3e7
        ):  # YYYYMMDD integers
            txt = pd.Series(
                np.where(np.isfinite(vals), np.nan_to_num(vals).astype(np.int64).astype(str), None)
            )
            parsed = pd.to_datetime(txt, format="%Y%m%d", errors="coerce", utc=True)
            if local:
                naive = np.ones(len(s), dtype=bool)
        else:
            unit = _epoch_unit(finite)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    parsed = pd.to_datetime(s, unit=unit, errors="coerce", utc=True)
                except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
                    parsed = pd.Series([pd.NaT] * len(s), dtype="datetime64[ns, UTC]")
                    for i, v in enumerate(vals):
                        try:
                            parsed.iloc[i] = pd.to_datetime(v, unit=unit, utc=True)
                        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
                            if np.isfinite(v):
                                raise _range_error(
                                    column, s.iloc[i], file=file, symbol=symbol, row=i
                                ) from None
            lost = np.flatnonzero(parsed.isna().to_numpy() & np.isfinite(vals))
            if lost.size:  # a finite number that is no timestamp: beyond the range
                raise _range_error(
                    column,
                    s.iloc[int(lost[0])],
                    file=file,
                    symbol=symbol,
                    row=int(lost[0]),
                    more=lost.size - 1,
                )
    elif date_format not in DATE_FORMATS:  # an explicit strftime format
        fmt_used = date_format
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(s.astype("string"), utc=True, format=date_format, errors="coerce")
        if local:
            naive = _naive_rows(s.astype("string"), date_format, False)
    else:
        dayfirst = _day_month_order(s, file=file, symbol=symbol, column=column, setting=date_format) or False
        parsed = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for fmt in (None, "ISO8601"):
                try:
                    parsed = pd.to_datetime(s, utc=True, format=fmt, dayfirst=dayfirst)
                    break
                except (ValueError, TypeError, OverflowError):
                    continue
            if parsed is None:
                fmt = "mixed"
                parsed = pd.to_datetime(s, utc=True, errors="coerce", dayfirst=dayfirst)
                if not parsed.isna().any():  # pragma: no cover - mixed formats, all parse alone
                    parsed = pd.to_datetime(s, utc=True, errors="coerce", format="mixed", dayfirst=dayfirst)
        if local and not parsed.isna().any():
            naive = _naive_rows(s, fmt, dayfirst)
    if parsed.isna().any():
        bad = np.flatnonzero(parsed.isna().to_numpy())
        i = int(bad[0])
        more = _more(bad.size - 1)
        value = s.iloc[i]
        if pd.isna(value) or str(value).strip() == "":
            detail = f"{column} is missing{more}"
            shown = "missing"
        elif fmt_used is None and _out_of_range(value):
            raise _range_error(column, value, file=file, symbol=symbol, row=i, more=bad.size - 1)
        else:
            hint = f" with data.date_format = {fmt_used!r}" if fmt_used else ""
            detail = f"{column} {str(value)!r} does not parse as a timestamp{hint}{more}"
            shown = str(value)
        raise DataError(detail, file=file, symbol=symbol, rule=RULE_TIME_PARSE, row=i, timestamp=shown)
    idx = pd.DatetimeIndex(parsed)
    if naive is not None:
        idx = _localize(
            idx if idx.tz is not None else idx.tz_localize("UTC"),
            naive,
            timezone,
            s,
            file=file,
            symbol=symbol,
            column=column,
        )
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    try:
        ns = idx.as_unit("ns")
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        out = np.flatnonzero((idx < pd.Timestamp(_TS_MIN)) | (idx > pd.Timestamp(_TS_MAX)))
        i = int(out[0]) if out.size else 0
        raise _range_error(column, s.iloc[i], file=file, symbol=symbol, row=i, more=out.size - 1) from None
    return np.asarray(ns.asi8, dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------------

#: texts that mean "no value" in a price column (pandas reads most of these as NaN already)
MISSING_TEXT = ("nan", "na", "n/a", "null", "none", "#n/a", "-")


def parse_prices(raw, *, file: str, symbol: str, column: str, times: np.ndarray | None = None) -> np.ndarray:
    """Raw prices -> float64; a non-number raises DataError(rule 'finite prices')."""
    import pandas as pd

    s = pd.Series(raw).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s.dtype):  # True/False are not prices (numpy would say 1.0/0.0)
        bad = np.flatnonzero(s.notna().to_numpy())
        out = None
    elif pd.api.types.is_numeric_dtype(s.dtype):
        if np.iscomplexobj(s.to_numpy()):
            bad = np.arange(len(s))
        else:
            return s.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        is_bool = s.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
        num = pd.to_numeric(s.where(~is_bool), errors="coerce")
        out = num.to_numpy(dtype=np.float64, na_value=np.nan)
        text = s.astype(str).str.strip()
        bad = np.flatnonzero(
            is_bool
            | (
                np.isnan(out)
                & s.notna().to_numpy()
                & (text != "").to_numpy()
                & ~text.str.lower().isin(MISSING_TEXT).to_numpy()
            )
        )
    if bad.size:
        i = int(bad[0])
        more = _more(bad.size - 1)
        raise DataError(
            f"{column} {str(s.iloc[i])!r} is not a number{more}",
            file=file,
            symbol=symbol,
            rule=RULE_FINITE,
            row=i,
            timestamp=None if times is None else fmt_time(times[i]),
        )
    return out


#: a number with a decimal comma (12,5; 1.234,5) / with thousands commas (1,234.5)
_EU_NUMBER = r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?"
_US_NUMBER = r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"


def separated_numbers(raw, *, file: str, symbol: str, column: str, times=None, strict=True):
    """A text column of numbers written with a decimal comma (European: 1.234,56 or 12,5) or with
    thousands commas (1,234.56), as plain number text; any other column unchanged. Decided per
    column: when every comma could be either (1,234 with no other hint) the column is refused
    (strict) or left as it is; never a silent 1,234 -> 1.234."""
    import pandas as pd

    s = pd.Series(raw).reset_index(drop=True)
    if not (s.dtype == object or isinstance(s.dtype, pd.StringDtype)):
        return s
    text = s.astype("string").str.strip()
    missing = (s.isna() | (text == "") | text.str.lower().isin(MISSING_TEXT)).to_numpy(dtype=bool)
    vals = text[~missing]
    if vals.empty or not vals.str.contains(",", regex=False).any():
        return s
    eu = bool(vals.str.fullmatch(_EU_NUMBER).all())
    us = bool(vals.str.fullmatch(_US_NUMBER).all())
    if eu and us:
        if not strict:
            return s
        i = int(
            np.flatnonzero(~missing & text.str.contains(",", regex=False).fillna(False).to_numpy(dtype=bool))[
                0
            ]
        )
        raise DataError(
            f"{column} {str(s.iloc[i])!r} is ambiguous: a decimal comma or a thousands "
            "separator (no value in the column tells which); write decimals with a "
            "point",
            file=file,
            symbol=symbol,
            rule=RULE_FINITE,
            row=i,
            timestamp=None if times is None else fmt_time(times[i]),
        )
    if eu:
        conv = vals.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    elif us:
        conv = vals.str.replace(",", "", regex=False)
    else:
        return s
    out = s.astype(object).copy()
    out[~missing] = conv.astype(object).to_numpy()
    return out


def _more(k: int) -> str:
    """'; 3 more rows likewise' for further offending rows."""
    return f"; {k} more {'row' if k == 1 else 'rows'} likewise" if k > 0 else ""


def _num(x: float) -> str:
    return repr(float(x))


def _price_array(name: str, a, *, file: str, symbol: str) -> np.ndarray:
    """A price column as float64; anything but real numbers (text, True/False, compound records,
    complex numbers) is refused with a DataError, not converted."""
    a = np.asarray(a)
    if a.dtype.kind not in "iuf":
        what = {
            "b": "True/False values",
            "S": "text",
            "U": "text",
            "O": "objects (text?)",
            "V": "compound records",
            "c": "complex numbers",
        }.get(a.dtype.kind, "not numbers")
        raise DataError(
            f"{name} holds {what} (dtype {a.dtype}); expected numbers",
            file=file,
            symbol=symbol,
            rule=RULE_FINITE,
            where=f"{name} column",
        )
    return np.ascontiguousarray(a, dtype=np.float64)


def empty_rows(*prices) -> np.ndarray:
    """Rows where every given price column is missing (NaN): the rows data.drop_empty_rows drops."""
    mask = None
    for a in prices:
        if a is not None:
            m = np.isnan(np.asarray(a, dtype=np.float64))
            mask = m if mask is None else mask & m
    return np.zeros(0, dtype=bool) if mask is None else mask


def check_arrays(
    symbol: str,
    origin: str,
    time,
    open_,
    high,
    low,
    close,
    *,
    volume=None,
    has_ohlc: bool = True,
    min_bars: int = 1,
    row_offset: int = 0,
    rows: np.ndarray | None = None,
    drop_empty: bool = False,
    dropped: int = 0,
) -> Series:
    """Check parsed arrays against the rules; return the Series or raise DataError.

    time: int64 ns. Prices: float64 (integer and float arrays are converted; text, booleans and
    records are refused). For has_ohlc False only close is used (open = high = low = close).
    rows: the input row of each array element (for messages, after rows were dropped);
    drop_empty: drop rows whose prices are all missing first (data.drop_empty_rows), counted in
    Series.dropped_rows (plus ``dropped`` already dropped by the caller).
    """
    file = origin
    time = np.asarray(time)
    if time.dtype.kind not in "iu":
        raise DataError(
            f"time has dtype {time.dtype}; expected int64 nanoseconds since the epoch",
            file=file,
            symbol=symbol,
            rule=RULE_TIME_PARSE,
            where="time column",
        )
    if time.dtype.kind == "u" and time.size and int(time.max()) > np.iinfo(np.int64).max:
        raise DataError(
            "time holds values beyond int64 nanoseconds",
            file=file,
            symbol=symbol,
            rule=RULE_TIME_PARSE,
            where="time column",
        )
    time = np.ascontiguousarray(time, dtype=np.int64)
    close = _price_array("Close", close, file=file, symbol=symbol)
    if has_ohlc:
        cols = {
            "Open": _price_array("Open", open_, file=file, symbol=symbol),
            "High": _price_array("High", high, file=file, symbol=symbol),
            "Low": _price_array("Low", low, file=file, symbol=symbol),
            "Close": close,
        }
    else:
        cols = {"Close": close}
    if time.ndim != 1:
        raise DataError(
            f"time has shape {time.shape}; expected one value per bar",
            file=file,
            symbol=symbol,
            rule=RULE_LENGTHS,
            where="columns",
        )
    n = time.shape[0]
    for name, a in cols.items():
        if a.shape != (n,):
            raise DataError(
                f"{name} has shape {a.shape} but time has {n} rows",
                file=file,
                symbol=symbol,
                rule=RULE_LENGTHS,
                where="columns",
            )
    if volume is not None:
        volume = np.asarray(volume)
        try:
            volume = np.ascontiguousarray(volume, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(
                f"Volume has dtype {volume.dtype}; expected numbers",
                file=file,
                symbol=symbol,
                rule=RULE_LENGTHS,
                where="Volume column",
            ) from None
        if volume.shape != (n,):
            raise DataError(
                f"Volume has shape {volume.shape} but time has {n} rows",
                file=file,
                symbol=symbol,
                rule=RULE_LENGTHS,
                where="columns",
            )
    if rows is None:
        rows = np.arange(n, dtype=np.int64) + row_offset
    if drop_empty:
        keep = ~empty_rows(*cols.values())
        if not keep.all():
            dropped += int((~keep).sum())
            time, rows = time[keep], rows[keep]
            cols = {k: a[keep] for k, a in cols.items()}
            close = cols["Close"]
            volume = None if volume is None else volume[keep]
            n = time.shape[0]

    def fail(rule, bad, detail_of):
        i = int(bad[0])
        more = _more(bad.size - 1)
        raise DataError(
            detail_of(i) + more,
            file=file,
            symbol=symbol,
            rule=rule,
            row=int(rows[i]),
            timestamp=fmt_time(time[i]),
        )

    if n == 0:
        raise DataError("no bars", file=file, symbol=symbol, rule=RULE_EMPTY, where="file")
    d = np.diff(time)
    back = np.flatnonzero(d <= 0)
    if back.size:
        i = int(back[0]) + 1
        if d[i - 1] < 0:
            fail(
                RULE_SORTED,
                np.flatnonzero(d < 0) + 1,
                lambda i: (
                    f"timestamp {fmt_time(time[i])} is earlier than row {rows[i - 1]} "
                    f"({fmt_time(time[i - 1])})"
                ),
            )
        fail(
            RULE_UNIQUE,
            np.flatnonzero(d == 0) + 1,
            lambda i: f"timestamp {fmt_time(time[i])} repeats row {rows[i - 1]}",
        )
    # finite, then positive: report the earliest row over all columns
    for rule, bad_of, say in (
        (
            RULE_FINITE,
            lambda a: ~np.isfinite(a),
            lambda name, v: f"{name} is missing" if np.isnan(v) else f"{name} {_num(v)} is not finite",
        ),
        (RULE_POSITIVE, lambda a: a <= 0, lambda name, v: f"{name} {_num(v)} is not positive"),
    ):
        mask = np.zeros(n, dtype=bool)
        for a in cols.values():
            mask |= bad_of(a)
        bad = np.flatnonzero(mask)
        if bad.size:

            def detail(i, bad_of=bad_of, say=say, rule=rule):
                text = "; ".join(say(name, a[i]) for name, a in cols.items() if bad_of(a[i : i + 1])[0])
                if rule == RULE_FINITE and not drop_empty and all(np.isnan(a[i]) for a in cols.values()):
                    text += " (a row with no price: data.drop_empty_rows=true drops such rows)"
                return text

            fail(rule, bad, detail)
    if has_ohlc:
        o, h, l, c = cols["Open"], cols["High"], cols["Low"], close
        bad = np.flatnonzero(h < np.maximum(o, c))
        if bad.size:
            fail(
                RULE_HIGH,
                bad,
                lambda i: (
                    f"High {_num(h[i])} < "
                    + (f"Close {_num(c[i])}" if c[i] >= o[i] else f"Open {_num(o[i])}")
                ),
            )
        bad = np.flatnonzero(l > np.minimum(o, c))
        if bad.size:
            fail(
                RULE_LOW,
                bad,
                lambda i: (
                    f"Low {_num(l[i])} > " + (f"Close {_num(c[i])}" if c[i] <= o[i] else f"Open {_num(o[i])}")
                ),
            )
    if n < min_bars:
        raise DataError(
            f"{n} bars ({fmt_time(time[0])} .. {fmt_time(time[-1])}), fewer than "
            f"min_bars {min_bars} (one scan window, scan.window_bars)",
            file=file,
            symbol=symbol,
            rule=RULE_MIN_BARS,
            where="whole series",
        )
    if has_ohlc:
        return Series(
            symbol, time, cols["Open"], cols["High"], cols["Low"], close, origin, True, volume, dropped
        )
    return Series(symbol, time, close, close, close, close, origin, False, volume, dropped)


def too_few_bars(n: int, min_bars: int, *, file: str, symbol: str) -> DataError:
    """The min_bars error for a cheap count (index() before the data are read)."""
    return DataError(
        f"{n} bars, fewer than min_bars {min_bars} (one scan window, scan.window_bars)",
        file=file,
        symbol=symbol,
        rule=RULE_MIN_BARS,
        where="whole series",
    )


def frame_to_series(
    df,
    *,
    symbol: str,
    origin: str,
    min_bars: int = 1,
    date_format: str = "auto",
    drop_empty_rows: bool = False,
    timezone: str = "UTC",
) -> Series:
    """A pandas DataFrame as read from a file (any column spelling; a datetime index is taken as the
    time column when no time column exists) -> validated Series.

    drop_empty_rows (data.drop_empty_rows): rows with no price at all (every price cell empty, NaN
    or a word such as null) are dropped first and counted in Series.dropped_rows; messages still
    give the row numbers of the input. timezone (data.timezone): see parse_times. Volume: the
    volume column, or the tick volume where that holds no non-zero value (TICK_VOLUME).
    """
    import pandas as pd

    if not any(norm(c) in {k for g in ALIASES["time"] for k in g} for c in df.columns) and (
        isinstance(df.index, pd.DatetimeIndex) or df.index.name is not None
    ):
        df = df.reset_index(names=df.index.name or "Date")
    roles = resolve_columns(df.columns, file=origin, symbol=symbol)
    if len(df) == 0:
        raise DataError("no bars (header only)", file=origin, symbol=symbol, rule=RULE_EMPTY, where="file")
    rows = np.arange(len(df), dtype=np.int64)
    dropped = 0
    if drop_empty_rows:
        empty = np.ones(len(df), dtype=bool)
        for r in ("open", "high", "low", "close"):
            if r in roles:
                col = df[roles[r]]
                text = col.astype(str).str.strip().str.lower()
                empty &= (col.isna() | (text == "") | text.isin(MISSING_TEXT)).to_numpy()
        if empty.any():
            dropped = int(empty.sum())
            df, rows = df.loc[~empty], rows[~empty]
            if len(df) == 0:
                raise DataError(
                    f"no bars: all {dropped} rows have no price (data.drop_empty_rows)",
                    file=origin,
                    symbol=symbol,
                    rule=RULE_EMPTY,
                    where="file",
                )
    tcol = df[roles["time"]]
    tname = str(roles["time"]) or "Date"
    if "clock" in roles:
        tcol = tcol.astype(str).str.strip() + " " + df[roles["clock"]].astype(str).str.strip()
        tname = f"{roles['time']} + {roles['clock']}"
    try:
        time = parse_times(
            tcol, file=origin, symbol=symbol, column=tname, date_format=date_format, timezone=timezone
        )
        price = {
            r: parse_prices(
                separated_numbers(df[roles[r]], file=origin, symbol=symbol, column=DISPLAY[r], times=time),
                file=origin,
                symbol=symbol,
                column=DISPLAY[r],
                times=time,
            )
            for r in ("open", "high", "low", "close")
            if r in roles
        }
    except DataError as err:
        if dropped and err.row is not None:  # the input's row number, not the position after drops
            raise _at_row(err, int(rows[err.row])) from None
        raise

    def volume_of(col):
        vol = separated_numbers(df[col], file=origin, symbol=symbol, column="Volume", strict=False)
        return pd.to_numeric(vol, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)

    volume = volume_of(roles["volume"]) if "volume" in roles else None
    if volume is not None and "tick_volume" in roles and not np.any(np.nan_to_num(volume) != 0):
        ticks = volume_of(roles["tick_volume"])
        if np.any(np.nan_to_num(ticks) != 0):
            volume = ticks
    has_ohlc = "open" in price
    return check_arrays(
        symbol,
        origin,
        time,
        price.get("open"),
        price.get("high"),
        price.get("low"),
        price["close"],
        volume=volume,
        has_ohlc=has_ohlc,
        min_bars=min_bars,
        rows=rows,
        dropped=dropped,
    )


def _at_row(err: DataError, row: int) -> DataError:
    return DataError(
        err.detail, file=err.file, symbol=err.symbol, rule=err.rule, row=row, timestamp=err.timestamp
    )
