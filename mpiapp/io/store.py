"""The symbol store: each rank's symbols, read once (per node), validated before any compute.

Why: a job's units name symbols; a rank should read only the symbols its units need, a node should
hold one copy of them (MPI-3 shared memory, runtime.shm) rather than one per rank, and bad input must
stop every rank together (or be skipped and recorded) before compute starts — never halfway through.
Loading itself is the source's own (`Source.load`); the store only decides who reads what.

Every symbol read is hashed (BLAKE2b of its arrays): a resumed job compares the hashes with those of
the interrupted run and refuses changed data. `open_for_job` is the one way a job sets its store up
(preload, then the hashes recorded as the job's inputs); `get(s, record=...)` records a symbol read
later, on claim. Each copy of a symbol records the host that loaded it,
and the profile table's `store_host` column says, per rank, whose copies it read (with shared memory:
its own node's copy, one per host).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from ..runtime import comm as comm_mod
from ..runtime import errors, sync
from .series import Series
from .validate import DataError

FIELDS = ("time", "open", "high", "low", "close")


def open_for_job(ctx, src, index, needed, *, fields=None) -> "SymbolStore":
    """Collective: the symbol store of a job whose units name symbols, set up the one way: a
    SymbolStore over `index` ([(name, bars)], the plan's, the same on every rank) with the job's
    data.skip_bad_symbols and work.shared_memory, the symbols of `needed` preloaded (ids; None: any,
    as when units are claimed dynamically), and the content hash of every symbol read passed to
    ctx.record_input (on a resume, of every symbol of the index: the resume compares them all).

    ctx: the job's context (work.Context: cfg, comm, timers, resuming, record_input); fields: as
    SymbolStore. Raises errors.JobError (every rank, exit 2) for bad input unless skip mode."""
    store = SymbolStore(
        src,
        index,
        skip_bad=ctx.cfg.data.skip_bad_symbols,
        shared=ctx.cfg.work.shared_memory,
        timers=ctx.timers,
        comm=ctx.comm,
        fields=fields,
    )
    store.preload(needed)
    for name, d in (store.digest_all() if ctx.resuming else dict(store.digests)).items():
        ctx.record_input(name, d)
    return store


def digest(series: Series) -> str:
    """Content hash of a series' arrays (hex, 32 characters)."""
    h = hashlib.blake2b(digest_size=16)
    for f in FIELDS + ("volume",):
        a = getattr(series, f)
        if a is not None:
            h.update(f.encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class SymbolStore:
    """Symbols of `index` ([(name, bars)], the same on every rank) from an opened source.

    skip_bad: a symbol failing validation is skipped and recorded (`skipped`) instead of ending the
    job; shared: node-shared arrays; timers: a runtime Timers (time spent reading counts as "read");
    fields: the Series arrays the job reads (names of FIELDS and "volume"; None: all). The others are
    dropped once a symbol is read and hashed: `get` gives them as None (close-only series keep
    open = high = low = close when asked for).
    """

    def __init__(self, src, index, *, skip_bad: bool, shared: bool, timers, comm=None, fields=None):
        self.src, self.index, self.skip_bad, self.shared_on = src, index, skip_bad, shared
        self.fields = tuple(FIELDS + ("volume",) if fields is None else fields)
        unknown = set(self.fields) - set(FIELDS + ("volume",))
        if unknown or "time" not in self.fields:
            raise ValueError(
                f"SymbolStore fields {self.fields}: need 'time', and only names of {FIELDS + ('volume',)}"
            )
        self.timers, self.comm = timers, comm_mod.world(comm)
        self.cache: dict[int, Series] = {}
        self.skipped: dict[int, str] = {}
        self.digests: dict[str, str] = {}
        self.dropped: dict[int, int] = {}  # input rows with no price, dropped (data.drop_empty_rows)
        self.shared = None
        self._node = None  # the node communicator of the shared windows (freed by release)
        self.meta: dict[int, tuple] = {}
        self._hosts_read: set[str] = set()  # hosts whose copies this rank read (profile column store_host)

    def _load(self, s: int):
        """(series, None), or (None, message) for bad input that ends the job, or (None, None) if skipped."""
        name = self.index[s][0]
        with self.timers.phase("read"):
            try:
                ser = self.src.load(name)
            except DataError as exc:
                if not self.skip_bad:
                    return None, str(exc)
                self.skipped[s] = str(exc)
                return None, None
        self.digests[name] = digest(ser)
        if ser.dropped_rows:
            self.dropped[s] = int(ser.dropped_rows)
        return self._trim(ser), None

    def _trim(self, ser: Series) -> Series:
        """The series with the arrays the job does not read set to None (memory: open and volume
        are a third of an OHLCV symbol, unread by the scan)."""
        drop = {f: None for f in ("open", "high", "low", "close", "volume") if f not in self.fields}
        return dataclasses.replace(ser, **drop) if drop else ser

    def _arrays(self, ser: Series) -> dict:
        return {f: getattr(ser, f) for f in self.fields if getattr(ser, f) is not None}

    def preload(self, needed) -> None:
        """Collective: read and validate the symbols this rank needs (ids; None: any, as when units
        are claimed dynamically). Bad input on any rank ends every rank with errors.JobError (exit 2)
        naming it, unless skip_bad."""
        if self.shared_on:
            self._preload_shared(needed)
        else:
            self._preload_own(needed)
        for d in sync.allgather(self.skipped, comm=self.comm):
            self.skipped.update(d)

    def _check(self, problems) -> None:
        errors.agree("\n".join(problems) or None, comm=self.comm)

    def _preload_own(self, needed) -> None:
        problems = []
        if needed is None:  # dynamic without shared memory: validate a share now, load on claim
            for s in range(sync.rank(self.comm), len(self.index), self.comm.Get_size()):
                _, err = self._load(s)
                problems += [err] if err else []
        else:
            for s in sorted(set(needed)):
                ser, err = self._load(s)
                if err:
                    problems.append(err)
                elif ser is not None:
                    self.cache[s] = ser
        self._check(problems)

    def _preload_shared(self, needed) -> None:
        from ..runtime.shm import NodeArrays, padded

        node = self._node = comm_mod.node_comm(self.comm)
        want = sorted(set().union(*sync.allgather(set(needed) if needed is not None else {-1}, comm=node)))
        if -1 in want:
            want = list(range(len(self.index)))
        mine = want[node.Get_rank() :: node.Get_size()]
        # Slots sized from the index's bar counts (time int64, prices float64: 8 bytes a bar each), so
        # each symbol goes into the window as soon as it is read and its private copy is dropped. A
        # symbol that does not fit its slot (its bar count differs from the index's) waits for a
        # second window of exactly its size.
        main = NodeArrays(
            node=node, reserve={s: len(self.fields) * padded(8 * int(self.index[s][1])) for s in mine}
        )
        windows = [main]
        problems, spill = [], {}
        try:
            for s in mine:
                ser, err = self._load(s)
                if err:
                    problems.append(err)
                elif ser is not None:
                    here = comm_mod.hostname()
                    self.meta[s] = (ser.symbol, ser.origin, ser.has_ohlc, ser.dropped_rows, here)
                    arrays = self._arrays(ser)
                    if not main.put(s, arrays):
                        spill[s] = arrays
                    del ser, arrays
            self._check(problems)
        except errors.JobError:
            main.free()
            self._node = None
            node.Free()
            raise
        main.share()
        if node.allreduce(len(spill)):
            windows.append(NodeArrays(spill, node))
        del spill
        self.shared = windows
        for d in sync.allgather(self.meta, comm=node):
            self.meta.update(d)
        for d in sync.allgather(self.skipped, comm=node):
            self.skipped.update(d)

    def digest_all(self) -> dict:
        """Collective: the content hash of every symbol of the index, each read by one rank (resume check).

        Symbols this rank already holds are not read again; unreadable ones are left out (the
        preload already reported or skipped them).
        """
        mine = {}
        for s in range(sync.rank(self.comm), len(self.index), self.comm.Get_size()):
            name = self.index[s][0]
            if name in self.digests:
                mine[name] = self.digests[name]
                continue
            try:
                with self.timers.phase("read"):
                    mine[name] = digest(self.src.load(name))
            except DataError:
                pass
        return mine

    def get(self, s: int, record=None) -> Series | None:
        """Symbol `s` (None if skipped). Loads it now if it was not preloaded (dynamic claiming).

        record: a ctx.record_input of the unit that reads it; a symbol this rank read (and hashed)
        has its content hash passed to it (a later resume compares it)."""
        ser = self._get(s)
        if record is not None and ser is not None and ser.symbol in self.digests:
            record(ser.symbol, self.digests[ser.symbol])
        return ser

    def _get(self, s: int) -> Series | None:
        if s in self.skipped:
            return None
        if self.shared is not None:
            v = next((w[s] for w in self.shared if s in w), None)
            if v is None:
                raise KeyError(f"symbol {s} was not loaded on this node")
            name, origin, has_ohlc, dropped, host = self.meta[s]
            self._read_from(host)
            return Series(
                name,
                v["time"],
                v.get("open"),
                v.get("high"),
                v.get("low"),
                v.get("close"),
                origin,
                has_ohlc,
                v.get("volume"),
                dropped,
            )
        if s not in self.cache:
            ser, err = self._load(s)
            if err:
                raise ValueError(err)
            if ser is None:
                return None
            self.cache[s] = ser
        self._read_from(comm_mod.hostname())
        return self.cache[s]

    def _read_from(self, host: str) -> None:
        """Note that this rank read a copy loaded on `host` (the profile's store_host column)."""
        if host not in self._hosts_read:
            self._hosts_read.add(host)
            self.timers.label("store_host", ",".join(sorted(self._hosts_read)))

    def release(self) -> None:
        """Collective when shared: free the node's shared-memory windows and their communicator."""
        if self.shared is not None:
            for w in self.shared:
                w.free()
            self.shared = None
        if self._node is not None:
            self._node.Free()
            self._node = None

    def dropped_all(self) -> dict:
        """Collective: every rank's dropped-row counts {id: rows} (symbols with none are left out)."""
        merged = {}
        for d in sync.allgather(self.dropped, comm=self.comm):
            merged.update(d)
        return merged

    def skipped_all(self) -> dict:
        """Collective: every rank's skipped symbols {id: reason}."""
        merged = {}
        for d in sync.allgather(self.skipped, comm=self.comm):
            merged.update(d)
        return merged
