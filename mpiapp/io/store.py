"""The symbol store: each rank's symbols, read once (per node), validated before any compute.

Why: a job's units name symbols; a rank should read only the symbols its units need, a node should
hold one copy of them (MPI-3 shared memory, runtime.shm) rather than one per rank, and bad input must
stop every rank together (or be skipped and recorded) before compute starts — never halfway through.
Loading itself is the source's own (`Source.load`); the store only decides who reads what.

Every symbol read is hashed (BLAKE2b of its arrays): a resumed job compares the hashes with those of
the interrupted run and refuses changed data.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..runtime import comm as comm_mod
from ..runtime import errors, sync
from .series import Series
from .validate import DataError

FIELDS = ("time", "open", "high", "low", "close")


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
    job; shared: node-shared arrays; timers: a runtime Timers (time spent reading counts as "read").
    """

    def __init__(self, src, index, *, skip_bad: bool, shared: bool, timers, comm=None):
        self.src, self.index, self.skip_bad, self.shared_on = src, index, skip_bad, shared
        self.timers, self.comm = timers, comm_mod.world(comm)
        self.cache: dict[int, Series] = {}
        self.skipped: dict[int, str] = {}
        self.digests: dict[str, str] = {}
        self.dropped: dict[int, int] = {}  # input rows with no price, dropped (data.drop_empty_rows)
        self.shared = None
        self.meta: dict[int, tuple] = {}

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
        return ser, None

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
        from ..runtime.shm import NodeArrays

        node = comm_mod.node_comm(self.comm)
        want = sorted(set().union(*sync.allgather(set(needed) if needed is not None else {-1}, comm=node)))
        if -1 in want:
            want = list(range(len(self.index)))
        problems, loaded = [], {}
        for s in want[node.Get_rank() :: node.Get_size()]:
            ser, err = self._load(s)
            if err:
                problems.append(err)
            elif ser is not None:
                loaded[s] = ser
        self._check(problems)
        arrays = {s: {f: getattr(ser, f) for f in FIELDS + (("volume",) if ser.volume is not None else ())}
                  for s, ser in loaded.items()}  # fmt: skip
        meta = {s: (ser.symbol, ser.origin, ser.has_ohlc, ser.dropped_rows) for s, ser in loaded.items()}
        for d in sync.allgather(meta, comm=node):
            self.meta.update(d)
        self.shared = NodeArrays(arrays, node)
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

    def get(self, s: int) -> Series | None:
        """Symbol `s` (None if skipped). Loads it now if it was not preloaded (dynamic claiming)."""
        if s in self.skipped:
            return None
        if self.shared is not None:
            v = self.shared[s]
            name, origin, has_ohlc, dropped = self.meta[s]
            return Series(name, v["time"], v["open"], v["high"], v["low"], v["close"], origin, has_ohlc,
                          v.get("volume"), dropped)  # fmt: skip
        if s not in self.cache:
            ser, err = self._load(s)
            if err:
                raise ValueError(err)
            if ser is None:
                return None
            self.cache[s] = ser
        return self.cache[s]

    def release(self) -> None:
        """Collective when shared: free the node's shared-memory window."""
        if self.shared is not None:
            self.shared.free()
            self.shared = None

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
