"""hdf5:FILE — one group per symbol, or a packed table (layouts: docs/data.md, io/convert.py).

Why every dataset is checked before it is read: a dataset of text, records or the wrong shape, a
broken link or a corrupt chunk must become a DataError naming the file, symbol and dataset (or a
SourceError for the layout of the whole file), never an h5py traceback.
"""

from __future__ import annotations

import os

import numpy as np

from ..validate import (
    RULE_COLUMNS,
    RULE_FINITE,
    RULE_LENGTHS,
    RULE_READABLE,
    RULE_TIME_PARSE,
    DataError,
    check_arrays,
    resolve_columns,
)
from .base import Source, SourceError


#: a packed HDF5 file is read in blocks of at least this many rows per column (HDF5Source._packed_values)
PACKED_BLOCK_ROWS = 1 << 16


def _dtype_problem(ds, k, where) -> str | None:
    """What is wrong with the dtype of column k (dataset where/k), or None."""
    kind = ds.dtype.kind
    if k == "time" and kind not in "iu":
        return f"{where}/time has dtype {ds.dtype}; expected int64 nanoseconds since the epoch"
    if k != "time" and kind not in "iuf":
        what = {
            "b": "True/False values",
            "S": "text",
            "U": "text",
            "O": "text or objects",
            "V": "compound records",
            "c": "complex numbers",
        }.get(kind, "not numbers")
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
                    raise SourceError(
                        f"{spec}: /packed has no '{key}' dataset (packed layout: "
                        "symbols, offsets, time, open, high, low, close)"
                    )
            syms = [s.decode() if isinstance(s, bytes) else str(s) for s in g["symbols"][()]]
            offsets = np.asarray(g["offsets"][()], dtype=np.int64)
            total = g["time"].shape[0]
            if (
                offsets.shape != (len(syms) + 1,)
                or offsets[0] != 0
                or offsets[-1] != total
                or np.any(np.diff(offsets) < 0)
            ):
                raise SourceError(
                    f"{spec}: /packed/offsets must be {len(syms) + 1} non-decreasing "
                    f"values from 0 to {total} (the rows of /packed/time)"
                )
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
                shape = (
                    getattr(ds, "shape", None) if isinstance(ds, h5py.Dataset) else type(ds).__name__.lower()
                )
                if ds is not None and shape != (len(syms),):
                    raise SourceError(
                        f"{spec}: /packed/{key} has shape {shape}; expected one flag per symbol "
                        f"({len(syms)}, as /packed/symbols)"
                    )
            self._row = {s: i for i, s in enumerate(syms)}
            self._offsets = offsets
            self._blocks = {}  # column -> (first row, end row, values): see _packed_values
            self._checked = {}  # column -> its dataset, once checked (_packed_dataset)
        else:
            import h5py

            self._row = {
                k: i
                for i, k in enumerate(
                    sorted(
                        k
                        for k in f
                        if isinstance(f.get(k, getlink=True), (h5py.HardLink, h5py.SoftLink))
                        and isinstance(f[k], h5py.Group)
                    )
                )
            }
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
            raise DataError(
                f"cannot open dataset {where}/{key}: {exc}",
                file=self.path,
                symbol=name,
                rule=RULE_READABLE,
                where=f"dataset {where}/{key}",
            ) from None
        if not isinstance(ds, h5py.Dataset):
            raise DataError(
                f"{where}/{key} is a {type(ds).__name__.lower()}, not a dataset",
                file=self.path,
                symbol=name,
                rule=RULE_COLUMNS,
                where=f"dataset {where}/{key}",
            )
        if ds.ndim != 1:
            raise DataError(
                f"{where}/{key} has shape {ds.shape}; expected one value per bar",
                file=self.path,
                symbol=name,
                rule=RULE_LENGTHS,
                where=f"dataset {where}/{key}",
            )
        return ds

    def _values(self, ds, name, key, sel=slice(None)):
        """Read a dataset (selection sel); a corrupt chunk or filter error is a DataError."""
        try:
            return ds[sel]
        except Exception as exc:  # h5py raises OSError, ValueError, TypeError, RuntimeError
            raise DataError(
                f"cannot read dataset {ds.name}: {str(exc).strip()} (a corrupt or truncated file?)",
                file=self.path,
                symbol=name,
                rule=RULE_READABLE,
                where=f"dataset {ds.name}",
            ) from None

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
        return blk[2][a - blk[0] : b - blk[0]].copy()

    def _check_type(self, ds, k, name, where):
        """The dtype of a column, before any data is read."""
        problem = _dtype_problem(ds, k, where)
        if problem:
            raise DataError(
                problem,
                file=self.path,
                symbol=name,
                rule=RULE_TIME_PARSE if k == "time" else RULE_FINITE,
                where=f"dataset {where}/{k}",
            )

    def _time_ns(self, t, ds, name):
        """time as int64 ns. A `units` attribute on the dataset (or `time_units` on the file) of
        s, ms, us or ns is honoured. Without one, ns is assumed, except where every value read as
        ns falls before 1973-03-03 and the magnitude rule of epoch numbers in CSV files (s, ms,
        us) gives dates from 1973-03-03 to 2262: then that unit is used (files written with
        pandas >= 3 hold microseconds), never a series silently read 1,000x off in 1970."""
        if ds.name not in self._units:  # a packed file's time column serves every symbol
            self._units[ds.name] = ds.attrs.get(
                "units", ds.attrs.get("unit", self._f().attrs.get("time_units"))
            )
        unit = self._units[ds.name]
        if isinstance(unit, bytes):
            unit = unit.decode("utf-8", errors="replace")
        if unit is not None:
            word = str(unit).strip().split(" ")[0].lower().replace("µ", "u")
            scale = {"ns": 1, "us": 1000, "ms": 10**6, "s": 10**9}.get(word)
            if scale is None:
                raise DataError(
                    f"{ds.name} has units {str(unit)!r}; expected s, ms, us or ns (since 1970-01-01 UTC)",
                    file=self.path,
                    symbol=name,
                    rule=RULE_TIME_PARSE,
                    where=f"dataset {ds.name}",
                )
            t = np.asarray(t)
            if scale != 1 and t.dtype.kind in "iu" and t.size:
                lim = np.iinfo(np.int64).max // scale
                big = np.flatnonzero(np.abs(t.astype(np.float64)) > lim)
                if big.size:
                    raise DataError(
                        f"time {int(t[big[0]])} {word} is outside the range of "
                        "timestamps (1677-09-21 .. 2262-04-11)",
                        file=self.path,
                        symbol=name,
                        rule=RULE_TIME_PARSE,
                        row=int(big[0]),
                    )
                t = t.astype(np.int64) * scale
            return t
        t = np.asarray(t)
        if t.dtype.kind in "iu" and t.size and 0 < int(t.max()) < 10**17:
            from ..validate import _epoch_unit

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
            raise DataError(
                f"/{name} is not a group", file=self.path, symbol=name, rule=RULE_COLUMNS, where="layout"
            )
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
            flags = {
                k: self._packed_values(self._packed_dataset(g, k, name), name, k, i, i + 1)[0]
                for k in ("has_ohlc", "has_volume")
                if k in g
            }
            has_ohlc = (
                bool(flags["has_ohlc"])
                if "has_ohlc" in flags
                else all(k in g for k in ("open", "high", "low"))
            )
            want_volume = "volume" in g and bool(flags.get("has_volume", True))
        else:
            g = self._group_columns(name)
            sel, where = slice(None), f"/{name}"
            has_ohlc = all(k in g for k in ("open", "high", "low"))
            has_ohlc = bool(g.attrs.get("has_ohlc", has_ohlc))
            want_volume = "volume" in g
        keys = [
            k
            for k in ("time", "open", "high", "low", "close")
            if k in g and (has_ohlc or k in ("time", "close"))
        ]
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
                    raise DataError(
                        f"{where}/{k} has {ds.shape[0]} rows but time has {n_time}",
                        file=self.path,
                        symbol=name,
                        rule=RULE_LENGTHS,
                        where=f"dataset {where}/{k}",
                    )
            cols = {k: self._values(ds, name, k, sel) for k, ds in dsets.items()}
        cols["time"] = self._time_ns(cols["time"], dsets["time"], name)
        volume = cols.pop("volume", None)
        if has_ohlc and not all(k in cols for k in ("open", "high", "low")):
            raise DataError(
                "has_ohlc is set but open/high/low datasets are missing",
                file=self.path,
                symbol=name,
                rule=RULE_COLUMNS,
                where="header",
            )
        return check_arrays(
            name,
            self.path,
            cols["time"],
            cols.get("open"),
            cols.get("high"),
            cols.get("low"),
            cols["close"],
            volume=volume,
            has_ohlc=has_ohlc,
            min_bars=min_bars,
            drop_empty=self.drop_empty_rows,
        )

    def describe(self):
        return super().describe() + f" ({self.layout} layout)"
