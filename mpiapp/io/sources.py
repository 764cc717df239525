"""Data sources: one spec string -> a Source that lists symbols cheaply and loads validated Series.

Specs (``data.source``):

    builtin:NAME[,NAME…]   real series shipped inside installed packages (see BUILTIN); builtin:all;
                           builtin:sp500stocks (20 stocks, skfolio)
    csv:DIR                one CSV file per symbol (*.csv, *.csv.gz); the file stem is the symbol
    parquet:DIR            one Parquet file per symbol (*.parquet, *.pq)
    hdf5:FILE              one group per symbol, or a packed table (layouts: docs/data.md, convert.py)
    synthetic:N            N seeded synthetic symbols with planted impulses (synthetic.py)

A bare path also works (a folder of .csv or .parquet files, or a .h5/.hdf5 file).

How the job uses a Source: rank 0 calls ``index()`` (cheap: headers, line counts, dataset shapes)
to plan; every rank calls ``load(name)`` for its own symbols only (any subset, any order, each
symbol deterministic). ``load`` validates (validate.py) and raises DataError; with ``skip_bad`` the
failure is also recorded in ``skipped`` and the symbol disappears from later ``index()`` calls, and
``try_load`` returns None instead of raising. ``index(full=True)`` loads and validates everything
(exact, not cheap); so is ``index()`` with drop_empty_rows (data.drop_empty_rows), as dropped rows
are known only by reading. Problems visible cheaply (missing columns, empty file, too few bars) are
caught by ``index()`` already.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import synthetic as _syn
from .series import Series
from .validate import ALIASES as _ALIASES
from .validate import (RULE_COLUMNS, RULE_EMPTY, RULE_FINITE, RULE_LENGTHS, RULE_READABLE,
                       RULE_TIME_PARSE, DataError,
                       check_arrays, check_date_format, frame_to_series, norm, resolve_columns,
                       too_few_bars)


class SourceError(ValueError):
    """The source itself is wrong (bad spec, missing folder or file, unknown symbol, broken HDF5
    layout); the message names the spec and what is expected."""


class Source:
    """Base class. Subclasses implement _names(), _count(name) and _read(name, min_bars)."""

    kind = "?"

    def __init__(self, spec: str, *, skip_bad: bool = False, min_bars: int = 1,
                 date_format: str = "auto", drop_empty_rows: bool = False):
        self.spec = spec
        self.skip_bad = bool(skip_bad)
        self.min_bars = int(min_bars)
        try:
            self.date_format = check_date_format(date_format)
        except ValueError as exc:
            raise SourceError(f"{spec}: {exc}") from None
        self.drop_empty_rows = bool(drop_empty_rows)
        #: symbol -> input rows dropped for having no price (data.drop_empty_rows), once loaded
        self.dropped: dict[str, int] = {}
        self.skipped: list[tuple[str, str]] = []
        self.errors: dict[str, DataError] = {}
        self._counts: dict[str, int] = {}
        self._full: set[str] = set()

    # -- subclass hooks ------------------------------------------------------------------------
    def _names(self) -> list[str]:
        raise NotImplementedError

    def _count(self, name: str) -> int:
        """Bars of one symbol, cheaply; may raise DataError for problems visible without reading."""
        return len(self._read(name, 1))

    def _read(self, name: str, min_bars: int) -> Series:
        raise NotImplementedError

    # -- public API ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every symbol of the source (sorted), including any that were skipped."""
        return list(self._names())

    def index(self, full: bool = False) -> list[tuple[str, int]]:
        """[(symbol, n_bars)] sorted by symbol, without skipped symbols. Cheap unless full=True."""
        out = []
        for name in self._names():
            if name in self.errors:
                continue
            try:
                if full and name not in self._full:
                    self._counts[name] = len(self.load(name))
                elif name not in self._counts:
                    # rows dropped for having no price are known only by reading: exact count
                    n = len(self._read(name, 1)) if self.drop_empty_rows else self._count(name)
                    if n < self.min_bars:
                        raise too_few_bars(n, self.min_bars, file=self._file(name), symbol=name)
                    self._counts[name] = n
            except DataError as err:
                self._fail(name, err)
                continue
            out.append((name, self._counts[name]))
        return out

    def load(self, name: str) -> Series:
        """The validated Series of one symbol. Raises DataError (recorded as a skip in skip mode)."""
        if name in self.errors:
            raise self.errors[name]
        self._check_name(name)
        try:
            s = self._read(name, self.min_bars)
        except DataError as err:
            self._fail(name, err)
            raise
        self._counts[name] = len(s)
        self._full.add(name)
        if s.dropped_rows:
            self.dropped[name] = s.dropped_rows
        return s

    def try_load(self, name: str) -> Series | None:
        """load(); in skip mode a bad symbol gives None (and a recorded skip) instead of an error."""
        try:
            return self.load(name)
        except DataError:
            if self.skip_bad:
                return None
            raise

    def input_paths(self) -> list[str]:
        """The files this source reads (none for builtin and synthetic data): never to be written."""
        paths = {self._file(n) for n in self._names()} if self.kind in ("csv", "parquet", "hdf5") else set()
        return sorted(paths)

    def describe(self) -> str:
        n = len(self._names())
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return f"{self.spec}: {n} symbol{'s' * (n != 1)}{skipped}"

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"

    # -- helpers -------------------------------------------------------------------------------
    def _file(self, name: str) -> str:
        return self.spec

    def _fail(self, name: str, err: DataError) -> None:
        if not self.skip_bad:
            raise err
        if name not in self.errors:
            self.errors[name] = err
            self.skipped.append((name, str(err)))

    def _check_name(self, name: str) -> None:
        if name not in self._name_set():
            known = self._names()
            shown = ", ".join(known[:8]) + (" …" if len(known) > 8 else "")
            raise SourceError(f"{self.spec}: no symbol {name!r} (symbols: {shown or 'none'})")

    def _name_set(self) -> set:
        if getattr(self, "_nameset", None) is None:
            self._nameset = set(self._names())
        return self._nameset


# ==================================================================================================
# builtin
# ==================================================================================================

#: name -> (symbol, package, file inside the package, fallback loader, column renames, description)
BUILTIN: dict[str, tuple] = {
    "sp500": ("SP500", "arch", "data/sp500/sp500.csv.gz", "arch.data.sp500:load", {},
              "S&P 500 index, daily OHLCV, 1999-01-04 .. 2018-12-31 (arch)"),
    "nasdaq": ("NASDAQ", "arch", "data/nasdaq/nasdaq.csv.gz", "arch.data.nasdaq:load", {},
               "NASDAQ Composite, daily OHLCV, 1999-01-04 .. 2018-12-31 (arch)"),
    "wti": ("WTI", "arch", "data/wti/wti.csv.gz", "arch.data.wti:load", {"DCOILWTICO": "Close"},
            "WTI crude oil spot (FRED DCOILWTICO), daily close only, 1986-01-02 .. 2019-01-03 (arch)"),
    "vix": ("VIX", "arch", "data/vix/vix.csv.gz", "arch.data.vix:load", {"vix": "Close"},
            "CBOE VIX (FRED VIXCLS), daily close only, 2014-01-03 .. 2019-01-03 (arch)"),
    "goog": ("GOOG", "backtesting", "test/GOOG.csv", "backtesting.test:GOOG", {},
             "Alphabet (GOOG), daily OHLCV, 2004-08-19 .. 2013-03-01 (backtesting)"),
    "eurusd": ("EURUSD", "backtesting", "test/EURUSD.csv", "backtesting.test:EURUSD", {},
               "EUR/USD, hourly OHLCV, 2017-04-19 .. 2018-02-07 (backtesting)"),
    "btcusd": ("BTCUSD", "backtesting", "test/BTCUSD.csv", "backtesting.test:BTCUSD", {},
               "BTC/USD, monthly OHLCV, 2012-01 .. 2024-12, 156 bars (backtesting; not in 'all')"),
}
#: builtin:all — every builtin series long enough for the default 500-bar window.
BUILTIN_ALL = ("sp500", "nasdaq", "wti", "vix", "goog", "eurusd")

#: builtin:sp500stocks — a second universe: 20 S&P 500 stocks from one file of the skfolio package,
#: daily adjusted closes (close only), 1990-01-02 .. 2022-12-28; each is also builtin:<ticker>.
SP500_STOCKS = ("AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO", "LLY", "MRK", "MSFT",
                "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM")
for _t in SP500_STOCKS:
    BUILTIN[_t.lower()] = (_t, "skfolio", "datasets/data/sp500_dataset.csv.gz",
                           "skfolio.datasets:load_sp500_dataset", {_t: "Close"},
                           f"{_t}, daily adjusted close only, 1990-01-02 .. 2022-12-28 (skfolio S&P 500 data set)")


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
        lines = [super().describe()] + [f"  {BUILTIN[k][0]:7s} {BUILTIN[k][5]}"
                                        for k in sorted(self.keys, key=lambda k: BUILTIN[k][0])]
        return "\n".join(lines)


def _builtin_series(key: str, min_bars: int) -> Series:
    s = _builtin_cached(key)
    if len(s) < min_bars:
        raise too_few_bars(len(s), min_bars, file=f"builtin:{key}", symbol=s.symbol)
    return _fresh(s)


def _fresh(s: Series) -> Series:
    """A copy with writable arrays (every source hands out its own, writable arrays: one dtype
    signature for compiled kernels, and no caller can change a cached series)."""
    o = s.open.copy()
    if s.has_ohlc:
        h, lo, c = s.high.copy(), s.low.copy(), s.close.copy()
    else:
        h = lo = c = o
    return Series(s.symbol, s.time.copy(), o, h, lo, c, s.origin, s.has_ohlc,
                  None if s.volume is None else s.volume.copy(), s.dropped_rows)


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
_PARSER_FILES = (Path(__file__), Path(__file__).with_name("validate.py"), Path(__file__).with_name("series.py"))


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
            return Series(str(a["symbol"]), a["time"], o, h, lo, c, f"builtin:{key}", has_ohlc,
                          a["volume"] if "volume" in a else None, int(a["dropped_rows"]))  # fmt: skip
        except Exception:  # a truncated or foreign file: parse again (and replace it)
            continue
    return None


def _cache_write(key: str, path: Path, s: Series) -> None:
    import tempfile

    try:
        name = _cache_name(key, path)
    except OSError:
        return
    arrays = {"time": s.time, "close": s.close, "symbol": np.array(s.symbol),
              "has_ohlc": np.array(s.has_ohlc), "dropped_rows": np.array(s.dropped_rows, dtype=np.int64)}
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


# ==================================================================================================
# csv / parquet folders
# ==================================================================================================

def _sniff_sep(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


class _FolderSource(Source):
    suffixes: tuple[str, ...] = ()

    def __init__(self, spec: str, folder: str, **kw):
        super().__init__(spec, **kw)
        self.folder = folder
        if not os.path.isdir(folder):
            raise SourceError(f"{spec}: folder {folder!r} not found")
        self._paths: dict[str, str] = {}
        for entry in sorted(os.listdir(folder)):
            low = entry.lower()
            suffix = next((s for s in self.suffixes if low.endswith(s)), None)
            if suffix is None or entry.startswith("."):
                continue
            stem = entry[: -len(suffix)]
            if stem in self._paths:
                raise SourceError(f"{spec}: two files for symbol {stem!r}: "
                                  f"{os.path.basename(self._paths[stem])} and {entry}")
            self._paths[stem] = os.path.join(folder, entry)
        if not self._paths:
            raise SourceError(f"{spec}: no {'/'.join('*' + s for s in self.suffixes)} files in "
                              f"{folder!r}")

    def _names(self):
        return sorted(self._paths)

    def _file(self, name):
        return self._paths[name]

    def _regular(self, name) -> str:
        """The symbol's path, if it is a regular file (a folder, a pipe or a device named like a
        data file is a DataError, before anything opens it and waits)."""
        path = self._paths[name]
        if not os.path.isfile(path):
            what = "a folder" if os.path.isdir(path) else "missing" if not os.path.lexists(path) \
                else "not a regular file (a pipe, device or broken link)"
            raise DataError(f"is {what}, not a data file" if what != "missing" else
                            "the file has gone", file=path, symbol=name, rule=RULE_READABLE,
                            where="file")
        return path


#: a CSV line longer than this is not a price row (a binary file, a file without line ends)
MAX_LINE = 1 << 20
#: bytes of the start of a CSV file checked for NUL bytes (a binary or UTF-16 file) before reading
HEAD_BYTES = 1 << 16


ALIASES_TIME = _ALIASES["time"]


class _CSVHead:
    """What the first lines of a CSV file say: separator, column names, how many header lines
    (1, or 2-3 for the multi-row header recent yfinance writes) and their line numbers."""

    def __init__(self, sep, columns, skip, ticker=None):
        self.sep, self.columns, self.skip, self.ticker = sep, columns, skip, ticker


def _split(line: bytes, sep: str | None = None):
    text = line.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    sep = sep or _sniff_sep(text)
    return sep, [c.strip() for c in next(csv.reader(io.StringIO(text), delimiter=sep), [])]


def _multiheader(lines, path, name):
    """yfinance >= 0.2.51 saves `Price,Close,High,...` / `Ticker,AAPL,AAPL,...` / `Date,,,...`:
    the column names are the first row, the second names the ticker of each column, the third
    (optional) names the index. Returns a _CSVHead, or None for an ordinary one-row header."""
    if len(lines) < 2:
        return None
    sep, first = _split(lines[0][1])
    if not first or norm(first[0]) != "price":
        return None
    _, second = _split(lines[1][1], sep)
    if not second or norm(second[0]) != "ticker":
        return None
    tickers = sorted({c for c in second[1:] if c})
    if len(tickers) > 1:
        raise DataError(f"a multi-row header (yfinance: Price / Ticker rows) with {len(tickers)} "
                        f"tickers ({', '.join(tickers[:5])}{' …' if len(tickers) > 5 else ''}); "
                        "save one ticker per file", file=path, symbol=name, rule=RULE_COLUMNS,
                        where="header")
    skip = [lines[1][0]]
    index_name = "Date"
    if len(lines) > 2:
        _, third = _split(lines[2][1], sep)
        if third and third[0] and not any(third[1:]) and \
                norm(third[0]) in {k for g in ALIASES_TIME for k in g}:
            skip.append(lines[2][0])
            index_name = third[0]
    columns = [index_name] + first[1:]
    return _CSVHead(sep, columns, skip, tickers[0] if tickers else None)


class CSVSource(_FolderSource):
    kind = "csv"
    suffixes = (".csv", ".csv.gz")

    def _open(self, path, mode="rb"):
        return gzip.open(path, mode) if path.lower().endswith(".gz") else open(path, mode)

    def _lines(self, fh, path, name):
        """(line number, bytes) of each line, at most MAX_LINE bytes read at a time: a file that
        is one huge line, or binary, costs bounded memory and gets a DataError."""
        no = 0
        while True:
            line = fh.readline(MAX_LINE + 1)
            if not line:
                return
            if b"\0" in line:
                raise DataError(f"not a text file: a NUL byte in line {no + 1} (a binary file, or "
                                "UTF-16 text: save it as UTF-8 CSV)", file=path, symbol=name,
                                rule=RULE_READABLE, where="file")
            if len(line) > MAX_LINE:
                raise DataError(f"line {no + 1} is longer than {MAX_LINE >> 20} MiB: not a CSV "
                                "price file", file=path, symbol=name, rule=RULE_READABLE,
                                where="file")
            yield no, line
            no += 1

    def _guarded(self, path, name, work):
        """Run work(); a read error of the file (truncated gzip, I/O error) is a DataError."""
        try:
            return work()
        except DataError:
            raise
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
            what = "a truncated or corrupt gzip file" if path.lower().endswith(".gz") and \
                not isinstance(exc, UnicodeDecodeError) else "cannot read"
            raise DataError(f"{what}: {str(exc).strip() or type(exc).__name__}", file=path,
                            symbol=name, rule=RULE_READABLE, where="file") from None

    def _head(self, path, name) -> _CSVHead | None:
        """The header of the file, reading only its first lines (bounded). None: empty file."""
        self._regular(name)

        def work():
            with self._open(path) as fh:
                start = fh.read(HEAD_BYTES)
                if b"\0" in start:
                    k = start.index(b"\0")
                    raise DataError(f"not a text file: a NUL byte at byte {k} (a binary file, or "
                                    "UTF-16 text: save it as UTF-8 CSV)", file=path, symbol=name,
                                    rule=RULE_READABLE, where="file")
                fh.seek(0)
                lines = []
                for no, line in self._lines(fh, path, name):
                    if line.strip():
                        lines.append((no, line))
                        if len(lines) == 3:
                            break
                return lines
        lines = self._guarded(path, name, work)
        if not lines:
            return None
        multi = _multiheader(lines, path, name)
        if multi is not None:
            return multi
        sep, cols = _split(lines[0][1])
        return _CSVHead(sep, cols, [])

    def _count(self, name):
        path = self._paths[name]
        head = self._head(path, name)
        if head is None:
            raise DataError("the file is empty", file=path, symbol=name, rule=RULE_EMPTY,
                            where="file")

        def work():
            n = 0
            with self._open(path) as fh:
                for _, line in self._lines(fh, path, name):
                    if line.strip():
                        n += 1
            return n
        n = self._guarded(path, name, work) - 1 - len(head.skip)
        return _checked_count(head.columns, n, path, name)

    def _read(self, name, min_bars):
        import pandas as pd

        path = self._paths[name]
        head = self._head(path, name)
        if head is None:
            raise DataError("the file is empty", file=path, symbol=name, rule=RULE_EMPTY,
                            where="file")
        try:
            df = pd.read_csv(path, sep=head.sep, skipinitialspace=True, encoding="utf-8-sig",
                             skiprows=head.skip or None)
        except pd.errors.EmptyDataError:
            raise DataError("the file is empty", file=path, symbol=name, rule=RULE_EMPTY,
                            where="file") from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, zlib.error,
                ValueError) as exc:
            raise DataError(f"not a readable CSV file: {str(exc).strip()}", file=path, symbol=name,
                            rule=RULE_READABLE, where="file") from None
        if head.skip:
            df.columns = head.columns[:len(df.columns)] + list(df.columns[len(head.columns):])
        df.columns = [str(c).strip() for c in df.columns]
        return frame_to_series(df, symbol=name, origin=path, min_bars=min_bars,
                               date_format=self.date_format, drop_empty_rows=self.drop_empty_rows)


def _checked_count(cols, n, path, name) -> int:
    """The index-time checks of a one-file-per-symbol source: columns present, at least one bar."""
    if not cols:
        raise DataError("the file is empty", file=path, symbol=name, rule=RULE_EMPTY, where="file")
    resolve_columns(cols, file=path, symbol=name)
    if n == 0:
        raise DataError("no bars (header only)", file=path, symbol=name, rule=RULE_EMPTY, where="file")
    return n


class ParquetSource(_FolderSource):
    kind = "parquet"
    suffixes = (".parquet", ".pq")

    def _count(self, name):
        path = self._regular(name)
        try:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path)
            schema = meta.schema_arrow
            n = meta.metadata.num_rows
        except Exception as exc:  # pyarrow raises many kinds
            raise DataError(f"not a readable Parquet file: {exc}", file=path, symbol=name,
                            rule=RULE_READABLE, where="file") from None
        import pyarrow as pa

        cols = []
        for field in schema:
            if field.name.startswith("__index_level_") and pa.types.is_timestamp(field.type):
                cols.append("Date")
            else:
                cols.append(field.name)
        return _checked_count(cols, n, path, name)

    def _read(self, name, min_bars):
        import pandas as pd

        path = self._regular(name)
        try:
            df = pd.read_parquet(path)
        except Exception as exc:
            raise DataError(f"not a readable Parquet file: {exc}", file=path, symbol=name,
                            rule=RULE_READABLE, where="file") from None
        return frame_to_series(df, symbol=name, origin=path, min_bars=min_bars,
                               date_format=self.date_format, drop_empty_rows=self.drop_empty_rows)


# ==================================================================================================
# hdf5
# ==================================================================================================

#: a packed HDF5 file is read in blocks of at least this many rows per column (HDF5Source._packed_values)
PACKED_BLOCK_ROWS = 1 << 16


def _dtype_problem(ds, k, where) -> str | None:
    """What is wrong with the dtype of column k (dataset where/k), or None."""
    kind = ds.dtype.kind
    if k == "time" and kind not in "iu":
        return f"{where}/time has dtype {ds.dtype}; expected int64 nanoseconds since the epoch"
    if k != "time" and kind not in "iuf":
        what = {"b": "True/False values", "S": "text", "U": "text", "O": "text or objects",
                "V": "compound records", "c": "complex numbers"}.get(kind, "not numbers")
        return f"{where}/{k} holds {what} (dtype {ds.dtype}); expected numbers"
    return None


class HDF5Source(Source):
    """Layouts (docs/data.md):

    groups:  /<SYMBOL>/time (int64 ns since 1970 UTC), /<SYMBOL>/open, high, low, close (float64),
             optional /<SYMBOL>/volume; attribute has_ohlc (default: open/high/low all present).
    packed:  /packed/symbols (n, UTF-8 strings), /packed/offsets (n+1, int64: symbol i is rows
             offsets[i]:offsets[i+1]), /packed/time, open, high, low, close (total rows), optional
             /packed/volume, /packed/has_ohlc (n, bool), /packed/has_volume (n, bool).
    A file with a /packed group is read as packed; otherwise every top-level group is a symbol.
    """

    kind = "hdf5"

    def __init__(self, spec: str, path: str, **kw):
        super().__init__(spec, **kw)
        self.path = path
        if not os.path.isfile(path):
            raise SourceError(f"{spec}: file {path!r} not found")
        self._h5 = None
        self._units = {}  # time dataset -> its units attribute (_time_ns)
        f = self._f()
        self.layout = "packed" if "packed" in f else "groups"
        if self.layout == "packed":
            g = f["packed"]
            for key in ("symbols", "offsets", "time", "close"):
                if key not in g:
                    raise SourceError(f"{spec}: /packed has no '{key}' dataset (packed layout: "
                                      "symbols, offsets, time, open, high, low, close)")
            syms = [s.decode() if isinstance(s, bytes) else str(s) for s in g["symbols"][()]]
            offsets = np.asarray(g["offsets"][()], dtype=np.int64)
            total = g["time"].shape[0]
            if offsets.shape != (len(syms) + 1,) or offsets[0] != 0 or offsets[-1] != total or \
                    np.any(np.diff(offsets) < 0):
                raise SourceError(f"{spec}: /packed/offsets must be {len(syms) + 1} non-decreasing "
                                  f"values from 0 to {total} (the rows of /packed/time)")
            if len(set(syms)) != len(syms):
                raise SourceError(f"{spec}: /packed/symbols repeats a name")
            import h5py

            for key in ("time", "open", "high", "low", "close", "volume"):  # shared by every symbol:
                ds = g.get(key)  # a wrong type is the file's problem, said once
                problem = _dtype_problem(ds, key, "/packed") if isinstance(ds, h5py.Dataset) else None
                if problem:
                    raise SourceError(f"{spec}: {problem}")
            for key in ("has_ohlc", "has_volume"):  # one flag per symbol
                ds = g.get(key)
                shape = getattr(ds, "shape", None) if isinstance(ds, h5py.Dataset) else type(ds).__name__.lower()
                if ds is not None and shape != (len(syms),):
                    raise SourceError(f"{spec}: /packed/{key} has shape {shape}; expected one flag per symbol "
                                      f"({len(syms)}, as /packed/symbols)")
            self._row = {s: i for i, s in enumerate(syms)}
            self._offsets = offsets
            self._blocks = {}  # column -> (first row, end row, values): see _packed_values
            self._checked = {}  # column -> its dataset, once checked (_packed_dataset)
        else:
            import h5py

            self._row = {k: i for i, k in enumerate(sorted(
                k for k in f if isinstance(f.get(k, getlink=True), (h5py.HardLink, h5py.SoftLink))
                and isinstance(f[k], h5py.Group)))}
        if not self._row:
            raise SourceError(f"{spec}: no symbols in {path!r} (no top-level groups, no /packed)")

    def _f(self):
        if self._h5 is None:
            import h5py

            try:
                self._h5 = h5py.File(self.path, "r")
            except OSError as exc:
                raise SourceError(f"{self.spec}: cannot open {self.path!r} as HDF5: {exc}") from None
        return self._h5

    def close(self):
        if self._h5 is not None:
            try:
                self._h5.close()
            finally:
                self._h5 = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _names(self):
        return sorted(self._row)

    def _file(self, name):
        return self.path

    def _dataset(self, g, key, name, where):
        """A dataset of a symbol, checked before reading: a 1-D dataset (not a group, a scalar, a
        broken link). Problems are DataErrors naming the file, symbol and dataset."""
        import h5py

        try:
            ds = g[key]
        except Exception as exc:  # a dangling link, an unreadable object header
            raise DataError(f"cannot open dataset {where}/{key}: {exc}", file=self.path,
                            symbol=name, rule=RULE_READABLE, where=f"dataset {where}/{key}") from None
        if not isinstance(ds, h5py.Dataset):
            raise DataError(f"{where}/{key} is a {type(ds).__name__.lower()}, not a dataset",
                            file=self.path, symbol=name, rule=RULE_COLUMNS,
                            where=f"dataset {where}/{key}")
        if ds.ndim != 1:
            raise DataError(f"{where}/{key} has shape {ds.shape}; expected one value per bar",
                            file=self.path, symbol=name, rule=RULE_LENGTHS,
                            where=f"dataset {where}/{key}")
        return ds

    def _values(self, ds, name, key, sel=slice(None)):
        """Read a dataset (selection sel); a corrupt chunk or filter error is a DataError."""
        try:
            return ds[sel]
        except Exception as exc:  # h5py raises OSError, ValueError, TypeError, RuntimeError
            raise DataError(f"cannot read dataset {ds.name}: {str(exc).strip()} (a corrupt or "
                            "truncated file?)", file=self.path, symbol=name, rule=RULE_READABLE,
                            where=f"dataset {ds.name}") from None

    def _packed_dataset(self, g, key, name):
        """_dataset of a packed column, done once per file (the columns are shared by every symbol;
        their types were checked at open); a failure names the symbol being read and is not
        remembered."""
        ds = self._checked.get(key)
        if ds is None:
            ds = self._checked[key] = self._dataset(g, key, name, "/packed")
        return ds

    def _packed_values(self, ds, name, key, a, b):
        """Rows a..b-1 of a packed column, read PACKED_BLOCK_ROWS rows at a time: symbols are read
        in file order, and one h5py read per symbol and column costs more than the data (about
        0.5 ms each). A block that fails to read is retried as the symbol's own rows, so a corrupt
        chunk is named for the symbol whose rows hold it."""
        blk = self._blocks.get(key)
        if blk is None or not (blk[0] <= a and b <= blk[1]):
            hi = min(int(ds.shape[0]), max(b, a + PACKED_BLOCK_ROWS))
            try:
                vals = ds[a:hi]
            except Exception:
                return self._values(ds, name, key, slice(a, b))
            blk = self._blocks[key] = (a, hi, vals)
        return blk[2][a - blk[0]: b - blk[0]].copy()

    def _check_type(self, ds, k, name, where):
        """The dtype of a column, before any data is read."""
        problem = _dtype_problem(ds, k, where)
        if problem:
            raise DataError(problem, file=self.path, symbol=name,
                            rule=RULE_TIME_PARSE if k == "time" else RULE_FINITE,
                            where=f"dataset {where}/{k}")

    def _time_ns(self, t, ds, name):
        """time as int64 ns. A `units` attribute on the dataset (or `time_units` on the file) of
        s, ms, us or ns is honoured. Without one, ns is assumed, except where every value read as
        ns falls before 1973-03-03 and the magnitude rule of epoch numbers in CSV files (s, ms,
        us) gives dates from 1973-03-03 to 2262: then that unit is used (files written with
        pandas >= 3 hold microseconds), never a series silently read 1,000x off in 1970."""
        if ds.name not in self._units:  # a packed file's time column serves every symbol
            self._units[ds.name] = ds.attrs.get("units", ds.attrs.get("unit", self._f().attrs.get("time_units")))
        unit = self._units[ds.name]
        if isinstance(unit, bytes):
            unit = unit.decode("utf-8", errors="replace")
        if unit is not None:
            word = str(unit).strip().split(" ")[0].lower().replace("µ", "u")
            scale = {"ns": 1, "us": 1000, "ms": 10**6, "s": 10**9}.get(word)
            if scale is None:
                raise DataError(f"{ds.name} has units {str(unit)!r}; expected s, ms, us or ns "
                                "(since 1970-01-01 UTC)", file=self.path, symbol=name,
                                rule=RULE_TIME_PARSE, where=f"dataset {ds.name}")
            t = np.asarray(t)
            if scale != 1 and t.dtype.kind in "iu" and t.size:
                lim = np.iinfo(np.int64).max // scale
                big = np.flatnonzero(np.abs(t.astype(np.float64)) > lim)
                if big.size:
                    raise DataError(f"time {int(t[big[0]])} {word} is outside the range of "
                                    "timestamps (1677-09-21 .. 2262-04-11)", file=self.path,
                                    symbol=name, rule=RULE_TIME_PARSE, row=int(big[0]))
                t = t.astype(np.int64) * scale
            return t
        t = np.asarray(t)
        if t.dtype.kind in "iu" and t.size and 0 < int(t.max()) < 10**17:
            from .validate import _epoch_unit

            alt = _epoch_unit(t.astype(np.float64))
            scale = {"s": 10**9, "ms": 10**6, "us": 1000, "ns": 1}[alt]
            lo, hi = int(t.min()), int(t.max())
            if scale != 1 and 10**17 <= lo * scale and hi * scale < np.iinfo(np.int64).max:
                return t.astype(np.int64) * scale
        return t

    def _group_columns(self, name):
        import h5py

        g = self._f()[name]
        if not isinstance(g, h5py.Group):
            raise DataError(f"/{name} is not a group", file=self.path, symbol=name,
                            rule=RULE_COLUMNS, where="layout")
        have = [k for k in ("time", "open", "high", "low", "close", "volume") if k in g]
        resolve_columns(have, file=self.path, symbol=name)
        return g

    def _count(self, name):
        if self.layout == "packed":
            i = self._row[name]
            return int(self._offsets[i + 1] - self._offsets[i])
        g = self._group_columns(name)
        return int(self._dataset(g, "time", name, f"/{name}").shape[0])

    def _read(self, name, min_bars):
        f = self._f()
        if self.layout == "packed":
            g = f["packed"]
            i = self._row[name]
            a, b = int(self._offsets[i]), int(self._offsets[i + 1])
            sel, where = slice(a, b), "/packed"
            flags = {k: self._packed_values(self._packed_dataset(g, k, name), name, k, i, i + 1)[0]
                     for k in ("has_ohlc", "has_volume") if k in g}
            has_ohlc = bool(flags["has_ohlc"]) if "has_ohlc" in flags else all(
                k in g for k in ("open", "high", "low"))
            want_volume = "volume" in g and bool(flags.get("has_volume", True))
        else:
            g = self._group_columns(name)
            sel, where = slice(None), f"/{name}"
            has_ohlc = all(k in g for k in ("open", "high", "low"))
            has_ohlc = bool(g.attrs.get("has_ohlc", has_ohlc))
            want_volume = "volume" in g
        keys = [k for k in ("time", "open", "high", "low", "close")
                if k in g and (has_ohlc or k in ("time", "close"))]
        if self.layout == "packed":
            dsets = {k: self._packed_dataset(g, k, name) for k in keys}
            if want_volume:
                dsets["volume"] = self._packed_dataset(g, "volume", name)
            cols = {k: self._packed_values(ds, name, k, a, b) for k, ds in dsets.items()}
        else:
            dsets = {k: self._dataset(g, k, name, where) for k in keys}
            if want_volume:
                dsets["volume"] = self._dataset(g, "volume", name, where)
            for k, ds in dsets.items():  # the type, before any data is read
                self._check_type(ds, k, name, where)
            n_time = dsets["time"].shape[0]
            for k, ds in dsets.items():
                if ds.shape[0] != n_time:
                    raise DataError(f"{where}/{k} has {ds.shape[0]} rows but time has {n_time}",
                                    file=self.path, symbol=name, rule=RULE_LENGTHS,
                                    where=f"dataset {where}/{k}")
            cols = {k: self._values(ds, name, k, sel) for k, ds in dsets.items()}
        cols["time"] = self._time_ns(cols["time"], dsets["time"], name)
        volume = cols.pop("volume", None)
        if has_ohlc and not all(k in cols for k in ("open", "high", "low")):
            raise DataError("has_ohlc is set but open/high/low datasets are missing",
                            file=self.path, symbol=name, rule=RULE_COLUMNS, where="header")
        return check_arrays(name, self.path, cols["time"], cols.get("open"), cols.get("high"),
                            cols.get("low"), cols["close"], volume=volume, has_ohlc=has_ohlc,
                            min_bars=min_bars, drop_empty=self.drop_empty_rows)

    def describe(self):
        return super().describe() + f" ({self.layout} layout)"


# ==================================================================================================
# synthetic
# ==================================================================================================

class SyntheticSource(Source):
    kind = "synthetic"

    def __init__(self, spec: str, n: int, *, seed=0, bars=2000, plant_rate=1.0, noise=0.1, **kw):
        super().__init__(spec, **kw)
        self.n, self.seed, self.bars = int(n), int(seed), int(bars)
        self.plant_rate, self.noise = float(plant_rate), float(noise)
        self._list = [_syn.symbol_name(i, self.n) for i in range(self.n)]

    def _names(self):
        return self._list

    def _name_set(self):
        return self

    def __contains__(self, name):  # O(1) membership without building a set of N names
        try:
            _syn.symbol_index(name, self.n)
            return True
        except KeyError:
            return False

    def _count(self, name):
        return self.bars

    def _gen(self, name):
        return _syn.generate(self.seed, _syn.symbol_index(name, self.n), self.bars,
                             self.plant_rate, self.noise, self.n)

    def _read(self, name, min_bars):
        s, _ = self._gen(name)
        s = check_arrays(s.symbol, s.origin, s.time, s.open, s.high, s.low, s.close,
                         volume=s.volume, has_ohlc=True, min_bars=min_bars)
        return _fresh(s)

    def truth(self, name: str) -> tuple:
        """The impulses planted in one symbol (synthetic.Impulse: direction, t0..t5, p0..p5)."""
        self._check_name(name)
        return self._gen(name)[1]

    def describe(self):
        return (f"{super().describe()} (seed {self.seed}, {self.bars} bars each, "
                f"{self.plant_rate:g} planted impulses per 1,000 bars, noise {self.noise:g})")


# ==================================================================================================
# entry points
# ==================================================================================================

KINDS = ("builtin", "csv", "parquet", "hdf5", "synthetic")


def spec_path(spec: str) -> str | None:
    """The folder or file a source spec reads from (csv:DIR, parquet:DIR, hdf5:FILE, or a bare path);
    None for builtin and synthetic data. Pure: touches nothing."""
    spec = str(spec).strip()
    kind, sep, arg = spec.partition(":")
    if sep and kind in KINDS:
        return arg or None if kind in ("csv", "parquet", "hdf5") else None
    return spec or None


def open_source(spec: str, *, seed: int = 0, skip_bad: bool = False, min_bars: int = 1,
                synthetic_bars: int = 2000, plant_rate: float = 1.0, noise: float = 0.1,
                date_format: str = "auto", drop_empty_rows: bool = False) -> Source:
    """A Source for a spec string (see the module docstring). Raises SourceError for a bad spec.

    date_format (data.date_format) and drop_empty_rows (data.drop_empty_rows): see docs/data.md.
    """
    spec = str(spec).strip()
    kind, sep, arg = spec.partition(":")
    kw = {"skip_bad": skip_bad, "min_bars": min_bars, "date_format": date_format,
          "drop_empty_rows": drop_empty_rows}
    if not sep or kind not in KINDS:
        p = Path(spec)
        if p.is_dir():
            has_csv = any(e.lower().endswith((".csv", ".csv.gz")) for e in os.listdir(p))
            return open_source(("csv:" if has_csv else "parquet:") + spec, seed=seed, **kw)
        if p.is_file() and p.suffix.lower() in (".h5", ".hdf5", ".he5"):
            return open_source("hdf5:" + spec, **kw)
        raise SourceError(f"data source {spec!r}: expected builtin:NAME|all, csv:DIR, parquet:DIR, "
                          "hdf5:FILE or synthetic:N (or an existing folder / .h5 file)")
    if not arg:
        raise SourceError(f"data source {spec!r}: nothing after '{kind}:'")
    if kind == "builtin":
        keys = []
        for part in arg.split(","):
            key = part.strip().lower()
            if key == "all":
                keys.extend(BUILTIN_ALL)
            elif key == "sp500stocks":
                keys.extend(t.lower() for t in SP500_STOCKS)
            elif key in BUILTIN:
                keys.append(key)
            else:
                raise SourceError(f"data source {spec!r}: no builtin series {part.strip()!r}; "
                                  f"choose from all, sp500stocks, {', '.join(BUILTIN)}")
        return BuiltinSource(spec, sorted(set(keys)), **kw)
    if kind == "csv":
        return CSVSource(spec, arg, **kw)
    if kind == "parquet":
        return ParquetSource(spec, arg, **kw)
    if kind == "hdf5":
        return HDF5Source(spec, arg, **kw)
    try:
        n = int(arg)
        if n < 1:
            raise ValueError
    except ValueError:
        raise SourceError(f"data source {spec!r}: synthetic:N needs a positive integer N") from None
    return SyntheticSource(spec, n, seed=seed, bars=synthetic_bars, plant_rate=plant_rate,
                           noise=noise, **kw)


def open_from_config(cfg, min_bars: int | None = None) -> Source:
    """open_source from a loaded config (mpiapp.config.load()): every data.* key; min_bars: shorter
    symbols are skipped at indexing (default scan.window_bars: a symbol must hold one scan window; the
    jobs that judge length themselves pass 1)."""
    d = cfg.data
    return open_source(d.source, seed=d.seed, skip_bad=d.skip_bad_symbols,
                       min_bars=cfg.scan.window_bars if min_bars is None else min_bars,
                       synthetic_bars=d.synthetic_bars,
                       plant_rate=d.synthetic_plant_rate, noise=d.synthetic_noise,
                       date_format=d.date_format, drop_empty_rows=d.drop_empty_rows)
