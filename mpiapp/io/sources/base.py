"""What every source is: the Source base class (index, load, skip mode), its errors, and the
folder of one file per symbol that the CSV and Parquet sources share.

Why a module of its own: each format (builtin.py, csv.py, parquet.py, hdf5.py, synthetic.py) only says
how to list its symbols, count their bars cheaply and read one; what a job sees (sorted symbols,
cached counts, recorded skips, the min_bars check, never-written input paths) is decided here, once.
"""

from __future__ import annotations

import os

from ..series import Series
from ..validate import (
    RULE_EMPTY,
    RULE_READABLE,
    DataError,
    check_date_format,
    check_timezone,
    resolve_columns,
    too_few_bars,
)


class SourceError(ValueError):
    """The source itself is wrong (bad spec, missing folder or file, unknown symbol, broken HDF5
    layout); the message names the spec and what is expected."""


class Source:
    """Base class. Subclasses implement _names(), _count(name) and _read(name, min_bars)."""

    kind = "?"
    #: data.columns names the columns of header-less files (CSV); data.timezone is the zone of
    #: times without an offset (CSV, Parquet). A source that reads neither refuses a value other
    #: than the default: no setting is silently ignored.
    reads_columns = False
    reads_timezone = False

    def __init__(
        self,
        spec: str,
        *,
        skip_bad: bool = False,
        min_bars: int = 1,
        date_format: str = "auto",
        drop_empty_rows: bool = False,
        columns=(),
        timezone: str = "UTC",
    ):
        self.spec = spec
        self.skip_bad = bool(skip_bad)
        self.min_bars = int(min_bars)
        try:
            self.date_format = check_date_format(date_format)
            self.timezone = check_timezone(timezone)
        except ValueError as exc:
            raise SourceError(f"{spec}: {exc}") from None
        self.drop_empty_rows = bool(drop_empty_rows)
        self.columns = _checked_names(spec, columns)
        if self.columns and not self.reads_columns:
            raise SourceError(
                f"{spec}: data.columns names the columns of CSV files without a header "
                f"line; {self.kind} data has its own names (set data.columns: [])"
            )
        if self.timezone != "UTC" and not self.reads_timezone:
            raise SourceError(
                f"{spec}: data.timezone = {timezone!r} is the zone of CSV and Parquet "
                f"times without an offset; {self.kind} times are UTC (set data.timezone: "
                "UTC)"
            )
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


def _checked_names(spec: str, columns) -> tuple[str, ...]:
    """data.columns as a tuple of names: text, each once, naming a time and a close column (as a
    header would: validate.ALIASES); empty means "the files have a header"."""
    if columns is None:
        return ()
    if isinstance(columns, str) or not all(isinstance(c, str) and c.strip() for c in columns):
        raise SourceError(
            f"{spec}: data.columns = {columns!r}: expected a list of column names, "
            "e.g. [Date, Time, Open, High, Low, Close, Volume]"
        )
    names = tuple(c.strip() for c in columns)
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise SourceError(f"{spec}: data.columns = {list(names)} names {', '.join(twice)} twice")
    if names:
        try:
            resolve_columns(names, file="data.columns", symbol=None)
        except DataError as err:
            raise SourceError(f"{spec}: data.columns = {list(names)}: {err.detail}") from None
    return names


def _fresh(s: Series) -> Series:
    """A copy with writable arrays (every source hands out its own, writable arrays: one dtype
    signature for compiled kernels, and no caller can change a cached series)."""
    o = s.open.copy()
    if s.has_ohlc:
        h, lo, c = s.high.copy(), s.low.copy(), s.close.copy()
    else:
        h = lo = c = o
    return Series(
        s.symbol,
        s.time.copy(),
        o,
        h,
        lo,
        c,
        s.origin,
        s.has_ohlc,
        None if s.volume is None else s.volume.copy(),
        s.dropped_rows,
    )


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
                raise SourceError(
                    f"{spec}: two files for symbol {stem!r}: "
                    f"{os.path.basename(self._paths[stem])} and {entry}"
                )
            self._paths[stem] = os.path.join(folder, entry)
        if not self._paths:
            raise SourceError(f"{spec}: no {'/'.join('*' + s for s in self.suffixes)} files in {folder!r}")

    def _names(self):
        return sorted(self._paths)

    def _file(self, name):
        return self._paths[name]

    def _regular(self, name) -> str:
        """The symbol's path, if it is a regular file (a folder, a pipe or a device named like a
        data file is a DataError, before anything opens it and waits)."""
        path = self._paths[name]
        if not os.path.isfile(path):
            what = (
                "a folder"
                if os.path.isdir(path)
                else "missing"
                if not os.path.lexists(path)
                else "not a regular file (a pipe, device or broken link)"
            )
            raise DataError(
                f"is {what}, not a data file" if what != "missing" else "the file has gone",
                file=path,
                symbol=name,
                rule=RULE_READABLE,
                where="file",
            )
        return path


def _checked_count(cols, n, path, name) -> int:
    """The index-time checks of a one-file-per-symbol source: columns present, at least one bar."""
    if not cols:
        raise DataError("the file is empty", file=path, symbol=name, rule=RULE_EMPTY, where="file")
    resolve_columns(cols, file=path, symbol=name)
    if n == 0:
        raise DataError("no bars (header only)", file=path, symbol=name, rule=RULE_EMPTY, where="file")
    return n
