"""Runtime collectives; run under mpiexec at 1, 2 and 4 ranks by tests/test_mpi_suite.py."""

import os

import numpy as np
import pytest

from mpiapp import config
from mpiapp.runtime import comm as comm_mod
from mpiapp.runtime import dynamic, errors, partition, profile, start, threads


@pytest.fixture(scope="module")
def rt():
    return start(config.load())


def test_world_is_a_duplicate(rt):
    MPI = comm_mod.mpi()
    assert rt.comm != MPI.COMM_WORLD
    assert MPI.Comm.Compare(rt.comm, MPI.COMM_WORLD) == MPI.CONGRUENT
    assert rt.size == MPI.COMM_WORLD.Get_size()


def test_thread_level_is_the_requested_one(rt):
    assert comm_mod.thread_level_name() in ("funneled", "serialized", "multiple")


@pytest.mark.parametrize("strategy", partition.STRATEGIES)
def test_scatter_plan_covers_every_unit_once(rt, strategy):
    rng = np.random.default_rng(7)
    costs = rng.exponential(size=37) if rt.rank == 0 else None  # only the root's copy counts
    mine = partition.scatter_plan(costs, strategy, comm=rt.comm)
    everything = np.concatenate(rt.comm.allgather(mine))
    assert sorted(everything.tolist()) == list(range(37))


def test_work_counter_mode_is_detected_alike_on_every_rank(rt):
    assert rt.work_counter in dynamic.MODES
    assert rt.comm.allgather(rt.work_counter) == [rt.work_counter] * rt.size
    assert dynamic.mode() == rt.work_counter and dynamic.why()


@pytest.mark.parametrize("mode", dynamic.MODES)
def test_counters_count_every_add_once_in_both_modes(rt, mode):
    with dynamic.Counters(2, comm=rt.comm, mode_=mode) as c:
        firsts = [c.fetch_add(0, 1) for _ in range(5)]
        for _ in range(7):
            c.add(1, 2)
        if c.needs_serving:
            c.serve()
    allv = sorted(sum(rt.comm.allgather(firsts), []))
    assert allv == list(range(5 * rt.size))  # every fetch-and-add saw a different value
    with dynamic.Counters(1, comm=rt.comm, mode_=mode) as c:
        c.add(0, rt.rank + 1)
        rt.comm.Barrier()
        end = c.free()  # the final values (rank 0), after every add in flight arrived
    if rt.rank == 0:
        assert int(end[0]) == rt.size * (rt.size + 1) // 2
    else:
        assert end is None


@pytest.mark.parametrize("mode", dynamic.MODES)
@pytest.mark.parametrize("chunk", [1, 3])
def test_dynamic_claim_hands_out_every_unit_once(rt, chunk, mode, monkeypatch):
    monkeypatch.setattr(dynamic, "_mode", mode)
    order = list(range(53))[::-1]
    got = []
    for u in dynamic.claim(order, comm=rt.comm, chunk=chunk):
        got.append(u)
        if rt.rank == 0:  # a slow rank 0 must not stall the others' claims
            sum(range(20_000))
    everything = sum(rt.comm.allgather(got), [])
    assert sorted(everything) == list(range(53))
    assert len(everything) == len(set(everything))


def test_thread_plan_is_enforced_in_the_libraries(rt):
    import numba
    from threadpoolctl import threadpool_info

    p = rt.thread_plan
    seen = rt.enforce()
    total = sum(rt.comm.allgather(p.threads if p.local_rank >= 0 else 0))
    ncpu = len(os.sched_getaffinity(0) | set().union(*rt.comm.allgather(set(os.sched_getaffinity(0)))))
    # ranks x threads never exceeds the node's CPUs, except that every rank runs >= 1 thread
    assert total <= max(p.node_cpus, rt.size)
    assert p.node_cpus <= ncpu
    if rt.size <= p.node_cpus:
        assert total <= p.node_cpus
    assert numba.get_num_threads() == p.threads == seen["numba"]
    for info in threadpool_info():
        assert info["num_threads"] == p.threads, info

    @numba.njit(parallel=True)
    def ids(n):
        out = np.empty(n, dtype=np.int64)
        for i in numba.prange(n):
            out[i] = numba.get_thread_id()
        return out

    assert len(set(ids(50_000).tolist())) <= p.threads


def test_agree_raises_the_same_error_everywhere(rt):
    err = "bad input on rank 1" if rt.rank == min(1, rt.size - 1) else None
    with pytest.raises(errors.JobError, match="bad input on rank 1"):
        errors.agree(err, comm=rt.comm)
    errors.agree(None, comm=rt.comm)  # nobody failed: no error


def test_profile_gather_has_a_row_per_rank(rt):
    t = profile.Timers()
    with t.phase("busy"):
        sum(range(1000 * (rt.rank + 1)))
    rows = profile.gather(t, comm=rt.comm)
    if rt.rank == 0:
        assert [r["rank"] for r in rows] == list(range(rt.size))
        assert all(r["busy_s"] > 0 for r in rows)
        assert "load imbalance" in profile.table(rows)
    else:
        assert rows is None


def test_thread_plan_is_collective_and_consistent(rt):
    p = threads.plan(0, comm=rt.comm)
    assert p == rt.thread_plan
