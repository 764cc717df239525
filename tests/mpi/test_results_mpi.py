"""The HDF5 results file written by every rank (io.results.ResultsFile), in both modes (mpio:
each rank writes its rows; gather: rank 0 writes them all); run under mpiexec at 1, 2 and 4 ranks
by tests/test_mpi_suite.py.

The oracle is the rows each rank was given, written down here: a table holds rank 0's rows, then
rank 1's, ..., whatever the rank count, a rank with no rows included; read back serially with h5py.
"""

import os
import shutil
import tempfile

import h5py
import numpy as np
import pytest

from mpiapp import config
from mpiapp.io.results import ResultsFile, decode_text, read_attrs, read_table
from mpiapp.runtime import start

MODES = ["mpio", "gather"] if h5py.get_config().mpi else ["gather"]


@pytest.fixture(scope="module")
def rt():
    return start(config.load())


@pytest.fixture
def folder(rt):
    """One temporary folder, the same on every rank (made by rank 0)."""
    path = rt.comm.bcast(tempfile.mkdtemp(prefix="results_mpi_") if rt.rank == 0 else None, root=0)
    yield path
    rt.comm.Barrier()
    if rt.rank == 0:
        shutil.rmtree(path, ignore_errors=True)


def given(rank: int, batch: int) -> dict:
    """The rows rank `rank` appends in batch `batch`: 0-3 of them (rank 0 has none in batch 0)."""
    n = (rank * 3 + batch) % 4
    ids = np.array([1000 * rank + 100 * batch + k for k in range(n)], dtype=np.int64)
    return {
        "id": ids,
        "x": np.sqrt(ids.astype(np.float64)),
        "name": np.array([f"r{rank}-é{k}".encode() for k in range(n)], dtype="S8"),
    }


@pytest.mark.parametrize("collective", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_rows_of_every_rank_come_in_rank_order(rt, folder, mode, collective):
    size, path = rt.comm.Get_size(), os.path.join(folder, "t.h5")
    out = ResultsFile(path, mode, comm=rt.comm, note="test")
    out.create_table("t", [("id", "i8"), ("x", "f8"), ("name", "S8")])
    firsts = [out.append("t", given(rt.rank, b), collective=collective) for b in range(2)]
    out.close()
    rt.comm.Barrier()  # in gather mode rank 0 may still be closing the file it alone has open
    # where each rank's rows start: after every row of the batches before, then of the ranks before
    counts = [[len(given(r, b)["id"]) for r in range(size)] for b in range(2)]
    assert firsts == [sum(counts[0][: rt.rank]), sum(counts[0]) + sum(counts[1][: rt.rank])]
    want = [given(r, b) for b in range(2) for r in range(size)]
    got = read_table(path, "t")
    assert list(got) == ["id", "x", "name"]
    assert np.array_equal(got["id"], np.concatenate([w["id"] for w in want]))
    assert np.array_equal(got["x"], np.sqrt(got["id"].astype(np.float64)))
    assert list(decode_text(got["name"])) == [f"r{i // 1000}-é{(i % 100)}" for i in got["id"]]
    assert read_attrs(path)["hdf5_mode"] == mode


@pytest.mark.parametrize("mode", MODES)
def test_a_table_split_over_the_ranks_is_the_same_file_at_any_rank_count(rt, folder, mode):
    """Ids 0..N-1 split in blocks over the ranks (at 4 ranks the last block is empty) read back as
    0..N-1: the file does not depend on the rank count."""
    size, path, total = rt.comm.Get_size(), os.path.join(folder, "s.h5"), 6
    per = -(-total // size)
    ids = np.arange(rt.rank * per, min(total, (rt.rank + 1) * per), dtype=np.int64)
    out = ResultsFile(path, mode, comm=rt.comm)
    out.create_table("s", [("id", "i8"), ("sq", "f4")], rows_hint=total)
    out.append("s", {"id": ids, "sq": (ids**2).astype(np.float32)})
    assert out.nrows("s") == (total if mode == "mpio" or rt.rank == 0 else 0)
    out.close()
    rt.comm.Barrier()  # in gather mode rank 0 may still be closing the file it alone has open
    got = read_table(path, "s")
    assert np.array_equal(got["id"], np.arange(total)) and np.array_equal(got["sq"], np.arange(total) ** 2)


@pytest.mark.parametrize("mode", MODES)
def test_array_rows_in_rank_order_and_rows_rewritten_in_place(rt, folder, mode):
    size, path = rt.comm.Get_size(), os.path.join(folder, "a.h5")
    mine = np.full((rt.rank + 1, 3), float(rt.rank))  # rank r: r + 1 rows of r
    out = ResultsFile(path, mode, comm=rt.comm)
    out.create_array("X", (0, 3), np.float64, chunk=2)
    first = out.append_array("X", mine)
    assert first == sum(r + 1 for r in range(rt.rank))
    total = size * (size + 1) // 2
    again = sorted({0, total - 1})  # the first row and the last (one row at -n 1)
    if rt.rank == 0:
        out.set_rows("X", again, -np.ones((len(again), 3)))
    out.close()
    rt.comm.Barrier()  # in gather mode rank 0 may still be closing the file it alone has open
    want = np.concatenate([np.full((r + 1, 3), float(r)) for r in range(size)])
    want[again] = -1.0
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["X"][:], want)
