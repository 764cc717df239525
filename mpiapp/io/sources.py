"""Data sources: one spec string -> a Source that lists symbols cheaply and loads validated Series.

Specs (``data.source``):

    builtin:NAME[,NAME…]   real series shipped inside installed packages (see BUILTIN); builtin:all
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
(exact, not cheap). Problems visible cheaply (missing columns, empty file, too few bars) are caught
by ``index()`` already.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import synthetic as _syn
from .series import Series
from .validate import (RULE_COLUMNS, RULE_EMPTY, RULE_READABLE, DataError, check_arrays,
                       frame_to_series, resolve_columns, too_few_bars)


class SourceError(ValueError):
    """The source itself is wrong (bad spec, missing folder or file, unknown symbol, broken HDF5
    layout); the message names the spec and what is expected."""


class Source:
    """Base class. Subclasses implement _names(), _count(name) and _read(name, min_bars)."""

    kind = "?"

    def __init__(self, spec: str, *, skip_bad: bool = False, min_bars: int = 1):
        self.spec = spec
        self.skip_bad = bool(skip_bad)
        self.min_bars = int(min_bars)
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
                    n = self._count(name)
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
    base = _package_dir(pkg)
    path = base / rel if base is not None else None
    if path is not None and path.is_file():
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
    df = df[df["Close"].notna()]
    return df.reset_index()


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
                  None if s.volume is None else s.volume.copy())


@lru_cache(maxsize=None)
def _builtin_cached(key: str) -> Series:
    s = frame_to_series(_builtin_frame(key), symbol=BUILTIN[key][0], origin=f"builtin:{key}")
    for a in (s.time, s.open, s.high, s.low, s.close, s.volume):
        if a is not None:
            a.setflags(write=False)
    return s


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


class CSVSource(_FolderSource):
    kind = "csv"
    suffixes = (".csv", ".csv.gz")

    def _open(self, path, mode="rb"):
        return gzip.open(path, mode) if path.lower().endswith(".gz") else open(path, mode)

    def _count(self, name):
        path = self._paths[name]
        try:
            with self._open(path) as fh:
                header, n = None, 0
                for line in fh:
                    if not line.strip():
                        continue
                    if header is None:
                        header = line
                    else:
                        n += 1
        except OSError as exc:
            raise DataError(f"cannot read: {exc}", file=path, symbol=name, rule=RULE_READABLE,
                            where="file") from None
        if header is None:
            raise DataError("the file is empty", file=path, symbol=name, rule=RULE_EMPTY,
                            where="file")
        text = header.decode("utf-8-sig", errors="replace").rstrip("\r\n")
        cols = next(csv.reader(io.StringIO(text), delimiter=_sniff_sep(text)))
        return _checked_count([c.strip() for c in cols], n, path, name)

    def _read(self, name, min_bars):
        import pandas as pd

        path = self._paths[name]
        try:
            with self._open(path) as fh:
                first = b""
                for line in fh:
                    if line.strip():
                        first = line
                        break
            sep = _sniff_sep(first.decode("utf-8-sig", errors="replace"))
            df = pd.read_csv(path, sep=sep, skipinitialspace=True, encoding="utf-8-sig")
        except pd.errors.EmptyDataError:
            raise DataError("the file is empty", file=path, symbol=name, rule=RULE_EMPTY,
                            where="file") from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
            raise DataError(f"not a readable CSV file: {str(exc).strip()}", file=path, symbol=name,
                            rule=RULE_READABLE, where="file") from None
        df.columns = [str(c).strip() for c in df.columns]
        return frame_to_series(df, symbol=name, origin=path, min_bars=min_bars)


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
        path = self._paths[name]
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

        path = self._paths[name]
        try:
            df = pd.read_parquet(path)
        except Exception as exc:
            raise DataError(f"not a readable Parquet file: {exc}", file=path, symbol=name,
                            rule=RULE_READABLE, where="file") from None
        return frame_to_series(df, symbol=name, origin=path, min_bars=min_bars)


# ==================================================================================================
# hdf5
# ==================================================================================================

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
            self._row = {s: i for i, s in enumerate(syms)}
            self._offsets = offsets
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

    def _group_columns(self, name):
        g = self._f()[name]
        have = [k for k in ("time", "open", "high", "low", "close", "volume") if k in g]
        resolve_columns(have, file=self.path, symbol=name)
        return g

    def _count(self, name):
        if self.layout == "packed":
            i = self._row[name]
            return int(self._offsets[i + 1] - self._offsets[i])
        return int(self._group_columns(name)["time"].shape[0])

    def _read(self, name, min_bars):
        f = self._f()
        if self.layout == "packed":
            g = f["packed"]
            i = self._row[name]
            a, b = int(self._offsets[i]), int(self._offsets[i + 1])
            has_ohlc = bool(g["has_ohlc"][i]) if "has_ohlc" in g else all(
                k in g for k in ("open", "high", "low"))
            cols = {k: g[k][a:b] for k in ("time", "open", "high", "low", "close")
                    if k in g and (has_ohlc or k in ("time", "close"))}
            volume = None
            if "volume" in g and (bool(g["has_volume"][i]) if "has_volume" in g else True):
                volume = g["volume"][a:b]
        else:
            g = self._group_columns(name)
            has_ohlc = all(k in g for k in ("open", "high", "low"))
            has_ohlc = bool(g.attrs.get("has_ohlc", has_ohlc))
            cols = {k: g[k][()] for k in ("time", "open", "high", "low", "close")
                    if k in g and (has_ohlc or k in ("time", "close"))}
            volume = g["volume"][()] if "volume" in g else None
        if has_ohlc and not all(k in cols for k in ("open", "high", "low")):
            raise DataError("has_ohlc is set but open/high/low datasets are missing",
                            file=self.path, symbol=name, rule=RULE_COLUMNS, where="header")
        return check_arrays(name, self.path, cols["time"], cols.get("open"), cols.get("high"),
                            cols.get("low"), cols["close"], volume=volume, has_ohlc=has_ohlc,
                            min_bars=min_bars)

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


def open_source(spec: str, *, seed: int = 0, skip_bad: bool = False, min_bars: int = 1,
                synthetic_bars: int = 2000, plant_rate: float = 1.0, noise: float = 0.1) -> Source:
    """A Source for a spec string (see the module docstring). Raises SourceError for a bad spec."""
    spec = str(spec).strip()
    kind, sep, arg = spec.partition(":")
    kw = {"skip_bad": skip_bad, "min_bars": min_bars}
    if not sep or kind not in KINDS:
        p = Path(spec)
        if p.is_dir():
            has_csv = any(e.lower().endswith((".csv", ".csv.gz")) for e in os.listdir(p))
            return open_source(("csv:" if has_csv else "parquet:") + spec, seed=seed,
                               skip_bad=skip_bad, min_bars=min_bars)
        if p.is_file() and p.suffix.lower() in (".h5", ".hdf5", ".he5"):
            return open_source("hdf5:" + spec, skip_bad=skip_bad, min_bars=min_bars)
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
            elif key in BUILTIN:
                keys.append(key)
            else:
                raise SourceError(f"data source {spec!r}: no builtin series {part.strip()!r}; "
                                  f"choose from all, {', '.join(BUILTIN)}")
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


def open_from_config(cfg) -> Source:
    """open_source from a loaded config (mpiapp.config.load()): data.* keys, min_bars =
    scan.window_bars (a symbol must hold at least one window)."""
    d = cfg.data
    return open_source(d.source, seed=d.seed, skip_bad=d.skip_bad_symbols,
                       min_bars=cfg.scan.window_bars, synthetic_bars=d.synthetic_bars,
                       plant_rate=d.synthetic_plant_rate, noise=d.synthetic_noise)
