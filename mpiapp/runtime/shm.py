"""Arrays stored once per node in an MPI-3 shared-memory window instead of once per rank.

Each rank of the node contributes the arrays it loaded (its share of the work of reading) to its
own segment of one `Win.Allocate_shared` window; after a barrier every rank of the node maps every
segment (`Shared_query`) as read-only NumPy views. Memory per node = one copy of the data.

Why slots can be reserved before the arrays exist: a rank that loads its share first and copies it
afterwards holds two copies at the peak, and the freed private copies stay in the process (small
arrays come from the heap, which seldom shrinks). Reserving each key's bytes up front (from sizes
known in advance, such as an index's bar counts) lets a rank copy each array into the window as it
is loaded and drop it at once; `put` says when arrays do not fit their slot, and the caller keeps
those for a second, exactly sized window.
"""

from __future__ import annotations

import numpy as np

from . import comm as _comm

_ALIGN = 64


def padded(nbytes: int) -> int:
    """Bytes an array of `nbytes` takes in a window (rounded up to the 64-byte alignment)."""
    return -(-int(nbytes) // _ALIGN) * _ALIGN


class NodeArrays:
    """Collective over the node communicator.

    `NodeArrays({key: {name: array}}, node_comm)`: shares the arrays at once. Or reserve first:
    `NodeArrays(node=node_comm, reserve={key: bytes})`, then `put(key, {name: array})` per key as it
    is loaded (before `share()`), then `share()` (collective). After sharing, `self[key]` on any rank
    of the node is {name: read-only view}. The same array object under two names of one key is
    stored once.
    """

    def __init__(self, mine: dict | None = None, node=None, *, reserve: dict | None = None):
        MPI = _comm.mpi()
        self._own_node = node is None  # a communicator split here is freed here
        self.node = node if node is not None else _comm.node_comm()
        if reserve is None:
            reserve = {
                key: sum(padded(np.asarray(a).nbytes) for a in _unique(arrays).values())
                for key, arrays in (mine or {}).items()
            }
        self._slots, offset = {}, 0
        for key, nbytes in reserve.items():
            self._slots[key] = (offset, padded(nbytes))
            offset += padded(nbytes)
        self.win = MPI.Win.Allocate_shared(max(offset, 1), 1, comm=self.node)
        self._buf = np.frombuffer(self.win.tomemory(), dtype=np.uint8)
        self._layout: dict = {}
        self.views: dict = {}
        if mine is not None:
            for key, arrays in mine.items():
                if not self.put(key, arrays):
                    raise AssertionError(f"shared arrays of {key!r} do not fit their own size")
            self.share()

    def put(self, key, arrays: dict) -> bool:
        """Copy {name: array} into the slot reserved for `key` in this rank's segment (before share).

        Returns False (and copies nothing) when `key` has no slot or the arrays need more bytes.
        """
        if self._buf is None:
            raise RuntimeError("NodeArrays.put after share()")
        if key not in self._slots or key in self._layout:
            return False
        off, size = self._slots[key]
        arrays = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
        uniq = _unique(arrays)
        if sum(padded(a.nbytes) for a in uniq.values()) > size:
            return False
        entry, at = {}, {}
        for name, a in arrays.items():
            first = next(n for n, b in uniq.items() if b is a)
            if first not in at:
                at[first] = off
                self._buf[off : off + a.nbytes] = a.reshape(-1).view(np.uint8)
                off += padded(a.nbytes)
            entry[name] = (at[first], a.dtype.str, a.shape)
        self._layout[key] = entry
        return True

    def share(self) -> None:
        """Collective over the node: map every rank's filled slots as read-only views."""
        self._buf = None
        self.node.Barrier()
        for r, lay in enumerate(self.node.allgather(self._layout)):
            mem, _ = self.win.Shared_query(r)
            seg = np.frombuffer(mem, dtype=np.uint8)
            for key, entry in lay.items():
                d = {}
                for name, (off, dt, shape) in entry.items():
                    n = int(np.prod(shape)) * np.dtype(dt).itemsize
                    v = seg[off : off + n].view(dt).reshape(shape)
                    v.flags.writeable = False
                    d[name] = v
                self.views[key] = d

    def __getitem__(self, key):
        return self.views[key]

    def __contains__(self, key):
        return key in self.views

    def keys(self):
        return self.views.keys()

    def free(self) -> None:
        """Collective over the node."""
        if self.win is not None:
            self.views = {}
            self._buf = None
            self.node.Barrier()
            self.win.Free()
            self.win = None
            if self._own_node:
                self.node.Free()


def _unique(arrays: dict) -> dict:
    """{name: array} without the names whose array object already appeared under an earlier name."""
    out, seen = {}, []
    for name, a in arrays.items():
        if not any(a is b for b in seen):
            out[name] = a
            seen.append(a)
    return out
