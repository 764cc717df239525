"""Node-shared symbol arrays (runtime.shm, io.store); run under mpiexec at 1, 2 and 4 ranks by
tests/test_mpi_suite.py."""

import numpy as np
import pytest

from mpiapp import config
from mpiapp.io.series import Series
from mpiapp.io.store import SymbolStore
from mpiapp.io.validate import DataError
from mpiapp.runtime import comm as comm_mod
from mpiapp.runtime import errors, profile, start
from mpiapp.runtime.shm import NodeArrays


@pytest.fixture(scope="module")
def rt():
    return start(config.load())


def _series(i: int, n: int, ohlc: bool = True) -> Series:
    rng = np.random.default_rng(i)
    c = 100 + np.cumsum(rng.normal(size=n)) ** 2 / 10 + 1
    t = np.arange(n, dtype=np.int64) * 86_400_000_000_000
    if not ohlc:
        return Series(f"S{i}", t, c, c, c, c, "test", False, None, 0)
    return Series(f"S{i}", t, c * 1.001, c * 1.01, c * 0.99, c, "test", True, c * 1000, i % 3)


class _Source:
    """Symbol i has `lengths[i]` bars; the index may say otherwise (`index_bars`)."""

    def __init__(self, lengths, closeonly=(), bad=()):
        self.lengths, self.closeonly, self.bad = lengths, set(closeonly), set(bad)

    def load(self, name):
        i = int(name[1:])
        if i in self.bad:
            raise DataError("bad on purpose", file="test", symbol=name, rule="test")
        return _series(i, self.lengths[i], ohlc=i not in self.closeonly)


def test_reserved_slots_take_arrays_and_refuse_what_does_not_fit(rt):
    node = comm_mod.node_comm(rt.comm)
    me = node.Get_rank()
    a = np.arange(10, dtype=np.float64) + me
    w = NodeArrays(node=node, reserve={("k", me): 2 * 128, ("small", me): 8})
    assert w.put(("k", me), {"x": a, "y": a, "z": a[::-1]})  # x and y are one object: stored once
    assert not w.put(("small", me), {"x": a})  # 80 bytes do not fit 8
    assert not w.put(("none", me), {"x": a})  # no slot
    w.share()
    for r in range(node.Get_size()):
        v = w[("k", r)]
        assert np.array_equal(v["x"], np.arange(10.0) + r) and np.array_equal(
            v["z"], (np.arange(10.0) + r)[::-1]
        )
        assert v["x"].ctypes.data == v["y"].ctypes.data and not v["x"].flags.writeable
        assert ("small", r) not in w
    w.free()


@pytest.mark.parametrize("fields", [None, ("time", "high", "low", "close")])
def test_shared_store_equals_private_store(rt, fields):
    # symbol 3 is longer than the index says (spills to a second window), 5 is close-only
    lengths = [50 + 7 * i for i in range(9)]
    index = [(f"S{i}", lengths[i] - (9 if i == 3 else 0)) for i in range(9)]
    src = _Source(lengths, closeonly=[5])
    kw = dict(skip_bad=False, timers=profile.Timers(), comm=rt.comm, fields=fields)
    shared = SymbolStore(src, index, shared=True, **kw)
    shared.preload(None)
    own = SymbolStore(src, index, shared=False, **kw)
    for s in range(9):
        a, b = shared.get(s), own.get(s)
        assert b.symbol == a.symbol == f"S{s}" and a.has_ohlc == (s != 5) and a.dropped_rows == b.dropped_rows
        for f in ("time", "open", "high", "low", "close", "volume"):
            x, y = getattr(a, f), getattr(b, f)
            dropped = fields is not None and f not in fields
            assert (x is None) == (y is None) == (dropped or (f == "volume" and s == 5)), (s, f)
            if x is not None:
                assert np.array_equal(x, y) and np.array_equal(x, getattr(_series(s, lengths[s], s != 5), f))
    shared.release()


def test_shared_store_bad_symbol_stops_every_rank_and_frees_the_window(rt):
    index = [(f"S{i}", 40) for i in range(6)]
    src = _Source([40] * 6, bad=[4])
    store = SymbolStore(src, index, skip_bad=False, shared=True, timers=profile.Timers(), comm=rt.comm)
    with pytest.raises(errors.JobError, match="symbol S4: bad on purpose"):
        store.preload(None)
    skip = SymbolStore(src, index, skip_bad=True, shared=True, timers=profile.Timers(), comm=rt.comm)
    skip.preload(None)
    assert set(skip.skipped) == {4} and skip.get(4) is None and len(skip.get(5)) == 40
    skip.release()


def test_node_communicators_are_freed(rt, monkeypatch):
    """Every communicator split for node-shared memory is freed: by the store's release (spilled
    symbols included: symbol 3 is longer than the index says), when bad input stops its preload,
    and by NodeArrays that split its own."""
    MPI = comm_mod.mpi()
    split, real = [], comm_mod.node_comm

    def recorded(comm=None):
        split.append(real(comm))
        return split[-1]

    monkeypatch.setattr(comm_mod, "node_comm", recorded)
    index = [(f"S{i}", 40 - (9 if i == 3 else 0)) for i in range(6)]
    kw = dict(shared=True, timers=profile.Timers(), comm=rt.comm)
    store = SymbolStore(_Source([40] * 6), index, skip_bad=False, **kw)
    store.preload(None)
    assert len(store.get(3)) == 40
    store.release()
    bad = SymbolStore(_Source([40] * 6, bad=[4]), index, skip_bad=False, **kw)
    with pytest.raises(errors.JobError):
        bad.preload(None)
    own = NodeArrays({("a", rt.rank): {"x": np.arange(3.0)}})
    assert np.array_equal(own[("a", 0)]["x"], np.arange(3.0))
    own.free()
    assert len(split) == 3 and all(c == MPI.COMM_NULL for c in split)
