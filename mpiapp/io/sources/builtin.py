"""builtin:NAME — real daily series shipped inside installed packages (arch, backtesting, skfolio).

Why the disk cache: parsing a builtin file means importing pandas and reading text (about 1 s per
process, on every rank that reads one), for data that never changes; the parsed arrays are kept as
an .npz file (see the comment above _cache_dirs).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..series import Series
from ..validate import frame_to_series, too_few_bars
from .base import Source, SourceError, _fresh


#: name -> (symbol, package, file inside the package, fallback loader, column renames, description)
BUILTIN: dict[str, tuple] = {
    "sp500": (
        "SP500",
        "arch",
        "data/sp500/sp500.csv.gz",
        "arch.data.sp500:load",
        {},
        "S&P 500 index, daily OHLCV, 1999-01-04 .. 2018-12-31 (arch)",
    ),
    "nasdaq": (
        "NASDAQ",
        "arch",
        "data/nasdaq/nasdaq.csv.gz",
        "arch.data.nasdaq:load",
        {},
        "NASDAQ Composite, daily OHLCV, 1999-01-04 .. 2018-12-31 (arch)",
    ),
    "wti": (
        "WTI",
        "arch",
        "data/wti/wti.csv.gz",
        "arch.data.wti:load",
        {"DCOILWTICO": "Close"},
        "WTI crude oil spot (FRED DCOILWTICO), daily close only, 1986-01-02 .. 2019-01-03 (arch)",
    ),
    "vix": (
        "VIX",
        "arch",
        "data/vix/vix.csv.gz",
        "arch.data.vix:load",
        {"vix": "Close"},
        "CBOE VIX (FRED VIXCLS), daily close only, 2014-01-03 .. 2019-01-03 (arch)",
    ),
    "goog": (
        "GOOG",
        "backtesting",
        "test/GOOG.csv",
        "backtesting.test:GOOG",
        {},
        "Alphabet (GOOG), daily OHLCV, 2004-08-19 .. 2013-03-01 (backtesting)",
    ),
    "eurusd": (
        "EURUSD",
        "backtesting",
        "test/EURUSD.csv",
        "backtesting.test:EURUSD",
        {},
        "EUR/USD, hourly OHLCV, 2017-04-19 .. 2018-02-07 (backtesting)",
    ),
    "btcusd": (
        "BTCUSD",
        "backtesting",
        "test/BTCUSD.csv",
        "backtesting.test:BTCUSD",
        {},
        "BTC/USD, monthly OHLCV, 2012-01 .. 2024-12, 156 bars (backtesting; not in 'all')",
    ),
}
#: builtin:all — every builtin series long enough for the default 500-bar window.
BUILTIN_ALL = ("sp500", "nasdaq", "wti", "vix", "goog", "eurusd")

#: builtin:sp500stocks — a second universe: 20 S&P 500 stocks from one file of the skfolio package,
#: daily adjusted closes (close only), 1990-01-02 .. 2022-12-28; each is also builtin:<ticker>.
SP500_STOCKS = (
    "AAPL",
    "AMD",
    "BAC",
    "BBY",
    "CVX",
    "GE",
    "HD",
    "JNJ",
    "JPM",
    "KO",
    "LLY",
    "MRK",
    "MSFT",
    "PEP",
    "PFE",
    "PG",
    "RRC",
    "UNH",
    "WMT",
    "XOM",
)
for _t in SP500_STOCKS:
    BUILTIN[_t.lower()] = (
        _t,
        "skfolio",
        "datasets/data/sp500_dataset.csv.gz",
        "skfolio.datasets:load_sp500_dataset",
        {_t: "Close"},
        f"{_t}, daily adjusted close only, 1990-01-02 .. 2022-12-28 (skfolio S&P 500 data set)",
    )


def _package_dir(pkg: str) -> Path | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec(pkg)  # locates without importing the (heavy) package
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@lru_cache(maxsize=None)
def _builtin_frame(key: str):
    """The raw DataFrame of one builtin series: its file read directly (fast, no heavy import),
    else the package's own loader. Missing observations (FRED '.'/NaN) are dropped."""
    import pandas as pd

    symbol, pkg, rel, loader, renames, _ = BUILTIN[key]
    path = _builtin_path(key)
    if path is not None:
        df = pd.read_csv(path, index_col=0)
        df.index.name = df.index.name or "Date"
    else:
        import importlib

        mod_name, attr = loader.split(":")
        try:
            obj = getattr(importlib.import_module(mod_name), attr)
        except ImportError as exc:
            raise SourceError(f"builtin:{key}: needs the '{pkg}' package ({exc}); pip install {pkg}")
        df = obj() if callable(obj) else obj.copy()
        df.index.name = df.index.name or "Date"
    df = df.rename(columns=renames)
    for col in df.columns:
        df[col] = pd.to_numeric(df[col], errors="coerce")
    before = len(df)
    df = df[df["Close"].notna()].reset_index()
    df.attrs["dropped_rows"] = before - len(df)
    return df


class BuiltinSource(Source):
    kind = "builtin"

    def __init__(self, spec: str, keys: list[str], **kw):
        super().__init__(spec, **kw)
        self.keys = keys
        self._by_symbol = {BUILTIN[k][0]: k for k in keys}

    def _names(self):
        return sorted(self._by_symbol)

    def _file(self, name):
        return f"builtin:{self._by_symbol[name]}"

    def _read(self, name, min_bars):
        return _builtin_series(self._by_symbol[name], min_bars)

    def describe(self):
        lines = [super().describe()] + [
            f"  {BUILTIN[k][0]:7s} {BUILTIN[k][5]}" for k in sorted(self.keys, key=lambda k: BUILTIN[k][0])
        ]
        return "\n".join(lines)


def _builtin_series(key: str, min_bars: int) -> Series:
    s = _builtin_cached(key)
    if len(s) < min_bars:
        raise too_few_bars(len(s), min_bars, file=f"builtin:{key}", symbol=s.symbol)
    return _fresh(s)


@lru_cache(maxsize=None)
def _builtin_cached(key: str) -> Series:
    import dataclasses

    path = _builtin_path(key)
    s = _cache_read(key, path) if path is not None else None
    if s is None:
        df = _builtin_frame(key)
        s = frame_to_series(df, symbol=BUILTIN[key][0], origin=f"builtin:{key}")
        s = dataclasses.replace(s, dropped_rows=int(df.attrs.get("dropped_rows", 0)))
        if path is not None:
            _cache_write(key, path, s)
    for a in (s.time, s.open, s.high, s.low, s.close, s.volume):
        if a is not None:
            a.setflags(write=False)
    return s


def _builtin_path(key: str) -> Path | None:
    """The package file a builtin series is parsed from (None: only the package's loader has it)."""
    _, pkg, rel, *_ = BUILTIN[key]
    base = _package_dir(pkg)
    path = base / rel if base is not None else None
    return path if path is not None and path.is_file() else None


# --- parsed builtin series, cached on disk ----------------------------------------------------------
# Why: parsing a builtin file means importing pandas and reading text (about 1 s per process, on every
# rank that reads one), for data that never changes. The validated arrays are kept in an .npz file,
# in the package's __pycache__ folder (as Numba keeps its compiled kernels), else ~/.cache/mpiapp;
# its name carries a hash of the data file's path, size and mtime and of the parsing code's files,
# so a changed package or parser is parsed again. Nothing is cached where neither folder is writable;
# an unreadable cache file is parsed again and replaced.
_CACHE_VERSION = 1
_IO = Path(__file__).resolve().parent.parent
_PARSER_FILES = (Path(__file__), _IO / "validate.py", _IO / "series.py")


def _cache_dirs() -> list[Path]:
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [Path(__file__).with_name("__pycache__"), Path(home) / "mpiapp"]


def _cache_name(key: str, path: Path) -> str:
    import hashlib

    h = hashlib.blake2b(digest_size=10)
    for f in (path,) + _PARSER_FILES:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(f"{_CACHE_VERSION}|{np.__version__}".encode())
    return f"builtin-{key}-{h.hexdigest()}.npz"


def _cache_read(key: str, path: Path) -> Series | None:
    try:
        name = _cache_name(key, path)
    except OSError:
        return None
    for d in _cache_dirs():
        f = d / name
        if not f.is_file():
            continue
        try:
            with np.load(f, allow_pickle=False) as z:
                a = {k: z[k] for k in z.files}
            has_ohlc = bool(a["has_ohlc"])
            c = a["close"]
            o, h, lo = (a["open"], a["high"], a["low"]) if has_ohlc else (c, c, c)
            return Series(
                str(a["symbol"]),
                a["time"],
                o,
                h,
                lo,
                c,
                f"builtin:{key}",
                has_ohlc,
                a["volume"] if "volume" in a else None,
                int(a["dropped_rows"]),
            )
        except Exception:  # a truncated or foreign file: parse again (and replace it)
            continue
    return None


def _cache_write(key: str, path: Path, s: Series) -> None:
    import tempfile

    try:
        name = _cache_name(key, path)
    except OSError:
        return
    arrays = {
        "time": s.time,
        "close": s.close,
        "symbol": np.array(s.symbol),
        "has_ohlc": np.array(s.has_ohlc),
        "dropped_rows": np.array(s.dropped_rows, dtype=np.int64),
    }
    if s.has_ohlc:
        arrays.update(open=s.open, high=s.high, low=s.low)
    if s.volume is not None:
        arrays["volume"] = s.volume
    for d in _cache_dirs():
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.savez(fh, **arrays)
                os.replace(tmp, d / name)  # atomic: a concurrent reader sees the old file or the new
            except BaseException:
                os.unlink(tmp)
                raise
            return
        except OSError:
            continue
