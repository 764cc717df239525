"""A job whose rank FAIL_RANK raises mid-way while the others wait in a collective.

argv: fail_rank out_dir. Each rank first opens its own HDF5 file and registers it to be closed on
abort; the test then checks the failing rank's file was closed cleanly (its data readable).
"""

import sys
import time

import h5py

from mpiapp import config
from mpiapp.runtime import errors, start


def step(rank: int, fail_rank: int, i: int) -> None:
    if rank == fail_rank and i == 3:
        raise RuntimeError(f"deliberate failure in step {i}")


def main():
    fail_rank, out = int(sys.argv[1]), sys.argv[2]
    rt = start(config.load())
    f = h5py.File(f"{out}/rank{rt.rank}.h5", "w")
    errors.on_abort(f.close)
    f["written_before_failure"] = list(range(10))
    for i in range(6):
        step(rt.rank, fail_rank, i)
        rt.comm.allreduce(i)  # the others wait here for the failed rank
        time.sleep(0.05)
    f.close()
    print(f"rank {rt.rank} finished")


main()
