"""HDF5 results files written by every rank at once.

Two modes, one content:
- mpio: h5py built against parallel HDF5 — every rank opens the file with driver="mpio"; each
  append gathers the row counts, gives each rank its offset (exclusive scan), resizes the datasets
  together (collective) and each rank writes its own rows (independent I/O into chunks allocated at
  the resize; `collective=True` makes it one collective write).
- gather: serial h5py (or output.hdf5_mpi=off) — rows are gathered to rank 0, which writes alone.
The mode used is recorded in the file's attributes (`hdf5_mode`, `hdf5_mode_note`).

A table is a group with one 1-D resizable dataset per column (fixed-width types only: parallel
HDF5 cannot write variable-length strings; text columns are fixed-width UTF-8, as wide as their
longest value). Rows appended by rank r come after those of ranks < r. Chunks are sized from the
rows a table is expected to hold (at most CHUNK_ROWS rows and CHUNK_BYTES bytes), so a small result
makes a small file. An array is one 2-D dataset grown by rows the same way (ddp's feature matrix X,
the ledger's per-unit state), and rank 0 may rewrite whole rows of it in place (`set_rows`).

Reading back is serial and needs no MPI (report, `mpiapp.results`, tests): `read_table`,
`read_attrs`, and `identify`, which says what a file is (empty, not HDF5, damaged, or whose job's)
without trusting it.
"""

from __future__ import annotations

import numpy as np

from ..runtime import comm as _comm

CHUNK_ROWS = 16384  # most rows per chunk of a column of 8 bytes or more
CHUNK_BYTES = 1 << 20  # most bytes per chunk of one column
SMALL_CHUNK_BYTES = (
    128 << 10
)  # chunk bytes of narrow columns (1-4 bytes): a byte column's chunk holds 128 KiB
GROWING_ROWS = (
    1024  # fewest chunk rows of a table whose final size is unknown (the .partial file's raw tables)
)
GROWING_BYTES = 64 << 10  # ... and its chunk bytes: 8,192 rows of 8 bytes, 65,536 of 1 byte (model blobs)


def chunk_rows(dtype, rows_hint: int | None) -> int:
    """Rows per chunk for a column of `dtype` expected to hold about `rows_hint` rows (None: growing).

    Chunks are sized in bytes, not rows: every commit resizes and writes each column, and a 1-byte
    column (model blobs: hundreds of KB per unit) in 1,024-row chunks made thousands of chunks per
    commit; measured at -n 2, that made each commit 3-5x slower.
    """
    size = max(1, np.dtype(dtype).itemsize)
    per_byte = max(1, CHUNK_BYTES // size)
    if rows_hint is None:
        return int(min(max(GROWING_ROWS, GROWING_BYTES // size), per_byte))
    return int(max(1, min(rows_hint, max(CHUNK_ROWS, SMALL_CHUNK_BYTES // size), per_byte)))


def _disk_dtype(dt):
    """Text (numpy 'S') columns are stored as fixed-width UTF-8 strings; the rest as given."""
    import h5py

    dt = np.dtype(dt)
    if dt.kind == "S":
        return h5py.string_dtype("utf-8", dt.itemsize or 1)
    return dt


def choose_mode(requested: str = "auto") -> tuple[str, str]:
    """('mpio' | 'gather', why)."""
    import h5py

    if requested == "off":
        return "gather", "output.hdf5_mpi=off: rows gathered to rank 0, which writes the file"
    if not h5py.get_config().mpi:
        return "gather", "h5py was built without MPI (serial HDF5): rows gathered to rank 0"
    return "mpio", "h5py with MPI: collective writes (driver=mpio)"


def _attr_value(v):
    if isinstance(v, str):
        return np.bytes_(v.encode())  # fixed-length: safe in parallel HDF5
    return v


class ResultsFile:
    """An HDF5 file opened by all ranks of `comm` (collective open, append, close)."""

    def __init__(self, path, mode: str, comm=None, create: bool = True, note: str = ""):
        import h5py

        self.comm = _comm.world(comm)
        self.rank = self.comm.Get_rank()
        self.mode = mode
        self.path = str(path)
        flag = "w" if create else "r+"
        if mode == "mpio":
            self.f = h5py.File(self.path, flag, driver="mpio", comm=self.comm)
        elif self.rank == 0:
            self.f = h5py.File(self.path, flag)
        else:
            self.f = None
        self._columns: dict[str, list[str]] = {}
        self.comm.Barrier()
        if create:
            self.set_attrs({"hdf5_mode": mode, "hdf5_mode_note": note})

    # --- attributes -------------------------------------------------------------------------
    def set_attrs(self, attrs: dict, group: str = "/") -> None:
        """Collective; every rank passes the same values (rank 0's are the ones written)."""
        attrs = self.comm.bcast(attrs, root=0)
        if self.f is not None:
            g = self.f[group]
            for k, v in attrs.items():
                g.attrs[k] = _attr_value(v)

    # --- tables -----------------------------------------------------------------------------
    def create_table(
        self, name: str, columns: list[tuple[str, object]], rows_hint: int | None = None
    ) -> None:
        """Collective: an empty table with these (column, dtype) pairs.

        rows_hint: the rows it will hold (chunks are sized from it); None for a growing table.
        """
        if self.f is None:
            return
        g = self.f.create_group(name)
        for col, dt in columns:
            # fill_time=never: parallel HDF5 allocates a chunk when a resize reaches it and, by default,
            # writes fill values into it collectively; every row appended is written at once anyway
            # (a reader of a .partial file trusts only rows its flushed commit records point at)
            g.create_dataset(
                col,
                shape=(0,),
                maxshape=(None,),
                dtype=_disk_dtype(dt),
                chunks=(chunk_rows(dt, rows_hint),),
                fill_time="never",
            )
        g.attrs["columns"] = np.array([c.encode() for c, _ in columns])

    def columns(self, name: str) -> list[str]:
        """Collective in gather mode (rank 0 reads, then broadcasts); cached per table."""
        if name not in self._columns:
            cols = None
            if self.f is not None:
                cols = [c.decode() for c in self.f[name].attrs["columns"]]
            self._columns[name] = cols if self.mode == "mpio" else self.comm.bcast(cols, root=0)
        return self._columns[name]

    def nrows(self, name: str) -> int:
        """Rows of table `name`: read by every rank in mpio mode (the same after each collective
        resize), by rank 0 in gather mode (others get 0: only rank 0 writes there)."""
        if self.f is None:
            return 0
        g = self.f[name]
        return int(g[next(iter(g.keys()))].shape[0]) if len(g) else 0

    def append(self, name: str, rows: dict, collective: bool = False) -> int:
        """Collective: append this rank's rows (dict column -> 1-D array; may be empty).

        Returns the global row index of this rank's first row. In mpio mode the datasets are resized
        together (collective metadata), then each rank writes its one contiguous range per column on its
        own (collective=False, the default: no rank waits on another per column; measured at -n 2 a
        commit's writes took half the time, the train finalize's ~half) or in a collective write
        (collective=True: MPI-IO aggregation, for many small scattered pieces per rank).
        """
        cols = self.columns(name)
        n = _length(rows, cols)
        counts = self.comm.allgather(n)
        base = self.nrows(name) if self.mode == "mpio" else self.comm.bcast(self.nrows(name), root=0)
        mine = base + sum(counts[: self.rank])
        total = base + sum(counts)
        if self.mode == "mpio":
            g = self.f[name]
            for c in cols:
                ds = g[c]
                if sum(counts):
                    ds.resize((total,))
                if not collective:
                    if n:
                        ds[mine : mine + n] = np.asarray(rows[c], dtype=ds.dtype)
                    continue
                with ds.collective:
                    if n:
                        ds[mine : mine + n] = np.asarray(rows[c], dtype=ds.dtype)
                    else:
                        _write_nothing(ds)
        else:
            pieces = self.comm.gather({c: np.asarray(rows[c]) for c in cols} if n else None, root=0)
            if self.rank == 0:
                g = self.f[name]
                for c in cols:
                    parts = [p[c] for p in pieces if p is not None]
                    ds = g[c]
                    ds.resize((total,))
                    if parts:
                        ds[base:total] = np.concatenate(parts).astype(
                            ds.dtype
                        )  # a copy keeps the UTF-8 marking
        return mine

    def create_array(
        self, name: str, shape: tuple, dtype, chunk: int = 4096, rows_hint: int | None = None
    ) -> None:
        """Collective: a 2-D array (filled with zeros), chunked by rows, that can grow in rows.

        Chunks hold at most `chunk` rows, and no more than the rows it will hold (`rows_hint`, else its
        initial rows; at least 1).
        """
        if self.f is not None:
            rows = max(1, min(max(shape[0] if rows_hint is None else rows_hint, 1), chunk))
            self.f.create_dataset(
                name,
                shape=shape,
                maxshape=(None,) + tuple(shape[1:]),
                dtype=np.dtype(dtype),
                chunks=(rows,) + tuple(shape[1:]),
                fillvalue=0,
            )

    def grow_array(self, name: str, rows: int) -> None:
        """Collective: resize array `name` to `rows` rows (new rows are zeros)."""
        if self.f is not None:
            ds = self.f[name]
            ds.resize((rows,) + ds.shape[1:])

    def append_array(self, name: str, values) -> int:
        """Collective: append this rank's rows (2-D, may have 0 rows) to array `name`, after the rows
        of the ranks before it. Returns the global index of this rank's first row."""
        values = np.asarray(values)
        n = int(values.shape[0])
        counts = self.comm.allgather(n)
        base = None
        if self.rank == 0:
            base = int(self.f[name].shape[0])
        base = self.comm.bcast(base, root=0)
        mine, total = base + sum(counts[: self.rank]), base + sum(counts)
        if self.mode == "mpio":
            ds = self.f[name]
            ds.resize((total,) + ds.shape[1:])
            with ds.collective:
                if n:
                    ds[mine : mine + n] = values.astype(ds.dtype, copy=False)
                else:
                    _write_nothing(ds)
        else:
            pieces = self.comm.gather(values if n else None, root=0)
            if self.rank == 0:
                ds = self.f[name]
                ds.resize((total,) + ds.shape[1:])
                parts = [p for p in pieces if p is not None]
                if parts:
                    ds[base:total] = np.concatenate(parts).astype(ds.dtype, copy=False)
        return mine

    def set_rows(self, name: str, index, values) -> None:
        """Rank 0 only (independent write, no metadata change): array rows `index` := `values`.

        Each row is written whole, so a process killed meanwhile leaves every row old or new.
        """
        ds = self.f[name]
        index = np.asarray(index, dtype=np.int64)
        values = np.asarray(values, dtype=ds.dtype)
        order = np.argsort(index)
        index, values = index[order], values[order]
        # runs of consecutive rows: one slice write each (h5py fancy writes are slow)
        breaks = np.flatnonzero(np.diff(index) != 1) + 1
        for a, b in zip(np.concatenate(([0], breaks)), np.concatenate((breaks, [len(index)]))):
            if b > a:
                ds[index[a] : index[a] + (b - a)] = values[a:b]

    def read(self, name: str, start: int = 0, stop: int | None = None, columns=None) -> dict:
        """Rows [start, stop) of a table, on the calling rank (independent read; mpio or rank 0).

        In gather mode only rank 0 has the file open: use `read_root` + bcast there.
        """
        if self.f is None:
            raise RuntimeError("read on a rank without the file open (gather mode): use rank 0")
        g = self.f[name]
        cols = columns or [c.decode() for c in g.attrs["columns"]]
        return {c: g[c][start:stop] for c in cols}

    def read_ranges(self, name: str, ranges, gap: int = 1 << 16) -> dict:
        """Rows of several [start, start + count) ranges, concatenated in ascending start order.

        Nearby ranges (at most `gap` rows apart) are coalesced into one read per column: a few large
        reads instead of thousands of small ones.
        """
        g = self.f[name]
        cols = [c.decode() for c in g.attrs["columns"]]
        ranges = sorted((int(a), int(a) + int(c)) for a, c in ranges if c > 0)
        if not ranges:
            return {c: g[c][0:0] for c in cols}
        spans, cur = [], [ranges[0]]
        for r in ranges[1:]:
            if r[0] - cur[-1][1] <= gap:
                cur.append(r)
            else:
                spans.append(cur)
                cur = [r]
        spans.append(cur)
        parts = {c: [] for c in cols}
        for span in spans:
            lo, hi = span[0][0], max(b for _, b in span)
            take = np.concatenate([np.arange(a - lo, b - lo) for a, b in span])
            for c in cols:
                parts[c].append(g[c][lo:hi][take])
        return {c: np.concatenate(v) for c, v in parts.items()}

    def flush(self) -> None:
        if self.f is not None:
            self.f.flush()

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def _write_nothing(ds) -> None:
    """Take part in a collective write with an empty selection (a rank with no rows must still call)."""
    import h5py

    fs = ds.id.get_space()
    fs.select_none()
    ms = h5py.h5s.create_simple((1,))
    ms.select_none()
    ds.id.write(ms, fs, np.empty(1, dtype=ds.dtype), dxpl=ds._dxpl)


def _length(rows: dict, cols: list[str]) -> int:
    if not rows:
        return 0
    lens = {len(rows[c]) for c in cols}
    if len(lens) != 1:
        raise ValueError(f"columns of unequal length: { {c: len(rows[c]) for c in cols} }")
    return lens.pop()


def read_table(path, name: str) -> dict:
    """A whole table from a finished file, serially (for report/load and tests).

    Text columns come back as numpy bytes ('S'); decode them as UTF-8 (`decode_text`).
    """
    import h5py

    with h5py.File(path, "r") as f:
        g = f[name]
        cols = [c.decode() for c in g.attrs["columns"]]
        return {c: g[c][:] for c in cols}


def decode_text(values) -> np.ndarray:
    """Fixed-width UTF-8 bytes -> str (an object array); a cut multi-byte character is replaced."""
    return np.array([v.decode("utf-8", errors="replace") for v in values], dtype=object)


def read_attrs(path) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}


class ReportError(ValueError):
    """The file cannot be reported on (not HDF5, not a results file, an unfinished run); the
    message is one line naming the file."""


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def identify(path) -> tuple[str, str | None]:
    """What the file at `path` is, read without trusting it: (state, job).

    state: "empty" (0 bytes), "foreign" (no HDF5 signature), "damaged" (an HDF5 signature that h5py
    cannot open: cut short by a kill, or overwritten), "blank" (an HDF5 file holding nothing: a run
    killed as it created it), or "hdf5"; job: the file's `job` attribute (None when it has none).
    The file is opened read-only without HDF5's file locking (a reader must not fail on, or block,
    a file another process has open). Raises OSError when the file cannot be read at all.
    """
    import os

    if os.path.getsize(path) == 0:
        return "empty", None
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head != HDF5_SIGNATURE:
        return "foreign", None
    import h5py

    try:
        with h5py.File(path, "r", locking=False) as f:
            job = f.attrs.get("job")
            if job is None:
                return ("blank" if not len(f.keys()) and not len(f.attrs) else "hdf5"), None
            return "hdf5", job.decode() if isinstance(job, bytes) else str(job)
    except OSError:
        return "damaged", None
