"""Arrays stored once per node in an MPI-3 shared-memory window instead of once per rank.

Each rank of the node contributes the arrays it loaded (its share of the work of reading) to its
own segment of one `Win.Allocate_shared` window; after a barrier every rank of the node maps every
segment (`Shared_query`) as read-only NumPy views. Memory per node = one copy of the data.
"""

from __future__ import annotations

import numpy as np

from . import comm as _comm

_ALIGN = 64


class NodeArrays:
    """Collective over the node communicator: `NodeArrays({key: {name: array}}, node_comm)`.

    After construction, `self[key]` on any rank of the node is {name: read-only view}.
    """

    def __init__(self, mine: dict, node=None):
        MPI = _comm.mpi()
        self.node = node if node is not None else _comm.node_comm()
        layout, offset = {}, 0
        for key, arrays in mine.items():
            entry = {}
            for name, a in arrays.items():
                a = np.ascontiguousarray(a)
                entry[name] = (offset, a.dtype.str, a.shape)
                offset += -(-a.nbytes // _ALIGN) * _ALIGN
            layout[key] = entry
        self.win = MPI.Win.Allocate_shared(max(offset, 1), 1, comm=self.node)
        buf = np.frombuffer(self.win.tomemory(), dtype=np.uint8)
        for key, arrays in mine.items():
            for name, a in arrays.items():
                off, dt, shape = layout[key][name]
                a = np.ascontiguousarray(a)
                buf[off : off + a.nbytes] = a.view(np.uint8).reshape(-1)
        self.node.Barrier()
        self.views: dict = {}
        for r, lay in enumerate(self.node.allgather(layout)):
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
            self.node.Barrier()
            self.win.Free()
            self.win = None
