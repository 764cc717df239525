"""csv:DIR — one CSV file per symbol (*.csv, *.csv.gz); the file stem is the symbol.

Why so careful with the first lines: index() must be cheap (the header and a line count, never the
whole parse), and a file that is not a price table (binary, one huge line, a multi-row yfinance
header, a truncated gzip) must become a DataError naming it in bounded memory. Files without a
header line (MetaTrader 4's history export) are named by data.columns; without that key, a first
line that is data is said to be so, naming the key.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib

from ..validate import ALIASES as _ALIASES
from ..validate import (
    RULE_COLUMNS,
    RULE_EMPTY,
    RULE_READABLE,
    DataError,
    frame_to_series,
    norm,
    resolve_columns,
)
from .base import _checked_count, _FolderSource


def _sniff_sep(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


#: a CSV line longer than this is not a price row (a binary file, a file without line ends)
MAX_LINE = 1 << 20
#: bytes of the start of a CSV file checked for NUL bytes (a binary or UTF-16 file) before reading
HEAD_BYTES = 1 << 16


ALIASES_TIME = _ALIASES["time"]


class _CSVHead:
    """What the first lines of a CSV file say: separator, column names, how many header lines
    (1, or 2-3 for the multi-row header recent yfinance writes, or 0 where data.columns names the
    columns) and the line numbers of the extra ones."""

    def __init__(self, sep, columns, skip, ticker=None, headerless=False):
        self.sep, self.columns, self.skip, self.ticker = sep, columns, skip, ticker
        self.headerless = headerless


#: the example given where a header line is missing: MetaTrader 4's history export
MT4_COLUMNS = "[Date, Time, Open, High, Low, Close, Volume]"
_DATE_LIKE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
        return True
    except ValueError:
        return False


def _looks_like_data(fields) -> bool:
    """A first line of values, not names: it starts with a date, or most of its fields are numbers."""
    vals = [f for f in fields if f]
    return bool(vals) and (bool(_DATE_LIKE.match(vals[0])) or 2 * sum(map(_is_number, vals)) >= len(vals))


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
        raise DataError(
            f"a multi-row header (yfinance: Price / Ticker rows) with {len(tickers)} "
            f"tickers ({', '.join(tickers[:5])}{' …' if len(tickers) > 5 else ''}); "
            "save one ticker per file",
            file=path,
            symbol=name,
            rule=RULE_COLUMNS,
            where="header",
        )
    skip = [lines[1][0]]
    index_name = "Date"
    if len(lines) > 2:
        _, third = _split(lines[2][1], sep)
        if (
            third
            and third[0]
            and not any(third[1:])
            and norm(third[0]) in {k for g in ALIASES_TIME for k in g}
        ):
            skip.append(lines[2][0])
            index_name = third[0]
    columns = [index_name] + first[1:]
    return _CSVHead(sep, columns, skip, tickers[0] if tickers else None)


class CSVSource(_FolderSource):
    kind = "csv"
    suffixes = (".csv", ".csv.gz")
    reads_columns = True
    reads_timezone = True

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
                raise DataError(
                    f"not a text file: a NUL byte in line {no + 1} (a binary file, or "
                    "UTF-16 text: save it as UTF-8 CSV)",
                    file=path,
                    symbol=name,
                    rule=RULE_READABLE,
                    where="file",
                )
            if len(line) > MAX_LINE:
                raise DataError(
                    f"line {no + 1} is longer than {MAX_LINE >> 20} MiB: not a CSV price file",
                    file=path,
                    symbol=name,
                    rule=RULE_READABLE,
                    where="file",
                )
            yield no, line
            no += 1

    def _guarded(self, path, name, work):
        """Run work(); a read error of the file (truncated gzip, I/O error) is a DataError."""
        try:
            return work()
        except DataError:
            raise
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
            what = (
                "a truncated or corrupt gzip file"
                if path.lower().endswith(".gz") and not isinstance(exc, UnicodeDecodeError)
                else "cannot read"
            )
            raise DataError(
                f"{what}: {str(exc).strip() or type(exc).__name__}",
                file=path,
                symbol=name,
                rule=RULE_READABLE,
                where="file",
            ) from None

    def _head(self, path, name) -> _CSVHead | None:
        """The header of the file, reading only its first lines (bounded). None: empty file."""
        self._regular(name)

        def work():
            with self._open(path) as fh:
                start = fh.read(HEAD_BYTES)
                if b"\0" in start:
                    k = start.index(b"\0")
                    raise DataError(
                        f"not a text file: a NUL byte at byte {k} (a binary file, or "
                        "UTF-16 text: save it as UTF-8 CSV)",
                        file=path,
                        symbol=name,
                        rule=RULE_READABLE,
                        where="file",
                    )
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
        if self.columns:
            return self._headerless(lines, path, name)
        multi = _multiheader(lines, path, name)
        if multi is not None:
            return multi
        sep, cols = _split(lines[0][1])
        if _looks_like_data(cols):
            try:
                resolve_columns(cols, file=path, symbol=name)
            except DataError:
                shown = ", ".join(cols[:8]) + (", …" if len(cols) > 8 else "")
                raise DataError(
                    f"no header line: line {lines[0][0] + 1} is data ({shown}); name the "
                    f"columns with data.columns, e.g. {MT4_COLUMNS} for a MetaTrader 4 "
                    "export",
                    file=path,
                    symbol=name,
                    rule=RULE_COLUMNS,
                    where="header",
                ) from None
        return _CSVHead(sep, cols, [])

    def _headerless(self, lines, path, name) -> _CSVHead:
        """The head of a file named by data.columns: its first line must be data with one field per
        name (a header line, or another count of fields, is refused naming the key)."""
        no, first = lines[0]
        sep, fields = _split(first)
        names = list(self.columns)
        if not _looks_like_data(fields):
            try:
                resolve_columns(fields, file=path, symbol=name)
                is_header = True
            except DataError:
                is_header = False
            if is_header:
                raise DataError(
                    f"line {no + 1} is a header ({', '.join(fields)}), but data.columns = "
                    f"{names} says the files have none: remove the header line, or set "
                    "data.columns: []",
                    file=path,
                    symbol=name,
                    rule=RULE_COLUMNS,
                    where="header",
                )
        if len(fields) != len(names):
            raise DataError(
                f"line {no + 1} has {len(fields)} fields ({', '.join(fields)}) but "
                f"data.columns names {len(names)} ({', '.join(names)})",
                file=path,
                symbol=name,
                rule=RULE_COLUMNS,
                where="header",
            )
        return _CSVHead(sep, names, [], headerless=True)

    def _count(self, name):
        path = self._paths[name]
        head = self._head(path, name)
        if head is None:
            raise DataError("the file is empty", file=path, symbol=name, rule=RULE_EMPTY, where="file")

        def work():
            n = 0
            with self._open(path) as fh:
                for _, line in self._lines(fh, path, name):
                    if line.strip():
                        n += 1
            return n

        n = self._guarded(path, name, work) - (0 if head.headerless else 1) - len(head.skip)
        return _checked_count(head.columns, n, path, name)

    def _read(self, name, min_bars):
        import pandas as pd

        path = self._paths[name]
        head = self._head(path, name)
        if head is None:
            raise DataError("the file is empty", file=path, symbol=name, rule=RULE_EMPTY, where="file")
        named = {"header": None, "names": list(head.columns), "index_col": False} if head.headerless else {}
        try:
            df = pd.read_csv(
                path,
                sep=head.sep,
                skipinitialspace=True,
                encoding="utf-8-sig",
                skiprows=head.skip or None,
                **named,
            )
        except pd.errors.EmptyDataError:
            raise DataError(
                "the file is empty", file=path, symbol=name, rule=RULE_EMPTY, where="file"
            ) from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, zlib.error, ValueError) as exc:
            raise DataError(
                f"not a readable CSV file: {str(exc).strip()}",
                file=path,
                symbol=name,
                rule=RULE_READABLE,
                where="file",
            ) from None
        if head.skip:
            df.columns = head.columns[: len(df.columns)] + list(df.columns[len(head.columns) :])
        df.columns = [str(c).strip() for c in df.columns]
        return frame_to_series(
            df,
            symbol=name,
            origin=path,
            min_bars=min_bars,
            date_format=self.date_format,
            drop_empty_rows=self.drop_empty_rows,
            timezone=self.timezone,
        )
