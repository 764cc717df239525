"""The optbench JAX backend: parity with NumPy, compilation kept out of the timed steps, sync, memory,
the thread plan reaching XLA, the same cells at -n 1 and -n 2, and a missing JAX as exit 2."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import PY, ROOT, mpi_env, mpiexec_cmd, run
from mpiapp.engines.optbench import backends, cell, jax_backend, memory, parity, problems, recorder, theory
from mpiapp.engines.optbench.grid import BenchParams, Cell
from mpiapp.engines.optbench.optimizers import OPTIMIZERS
from mpiapp.runtime import xla


@pytest.fixture(scope="module")
def k1e3():
    return problems.build("lsq-k1e3-d100", problems.BuildOptions())


@pytest.fixture(scope="module")
def logreg(tmp_path_factory):
    return problems.build("logreg-d30", problems.BuildOptions(cache_dir=str(tmp_path_factory.mktemp("c"))))


@pytest.fixture(scope="module")
def jx():
    return backends.make("jax")


def w0_for(p, seed=0):
    return np.random.default_rng(seed).standard_normal(p.d) / np.sqrt(p.d)


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("batch", [0, 16])
def test_jax_follows_numpy_for_the_first_steps(opt, batch, k1e3, logreg, jx):
    """The quadratic and the logistic problem, full batch and mini-batches: within parity.TOLERANCE."""
    npb = backends.make("numpy")
    for p in (k1e3, logreg):
        hp = theory.hyper(opt, p.L, p.mu, weight_decay=1e-2)
        a = parity.trajectory(npb, npb.data(p), opt, hp, w0_for(p), 20, batch, batch_seed=3)
        b = parity.trajectory(jx, jx.data(p), opt, hp, w0_for(p), 20, batch, batch_seed=3)
        dev = parity.deviation(a, b)
        assert dev <= parity.TOLERANCE, (p.name, opt, batch, dev)
        assert parity.deviation(a[:1], a[1:2]) > 1e-6  # the iterates move: not a vacuous check
        # an independent oracle for the first step: the closed-form gradient, by hand
        g = p.X.T @ (p.X @ a[0] - p.y) / p.n if p.kind == "lsq" else None
        if g is not None and opt == "sgd" and batch == 0:
            assert np.allclose(b[1], a[0] - hp.lr * g, rtol=1e-12, atol=1e-15)


def test_a_jax_cell_off_numpys_trajectory_is_recorded_as_parity_and_not_timed(k1e3, monkeypatch):
    real = jax_backend.step_function

    def off(*a):  # each step 1e-6 longer than the method's: another algorithm, slightly
        f = real(*a)

        def step(w, state, t, X, y, idx=None):
            w2, st, t2 = f(w, state, t, X, y, idx)
            return w2 + 1e-6 * (w2 - w), st, t2

        return step

    monkeypatch.setattr(jax_backend, "step_function", off)
    be, npb = backends.make("jax"), backends.make("numpy")  # a new backend: nothing compiled yet
    p = BenchParams(max_iters=50, parity_steps=5, memory_steps=1)
    c = Cell((0, 0, 0, 0, 0, 0), k1e3.name, "nesterov", "jax", 1.0, 0, 0)
    res = cell.run_cell(p, c, k1e3, be, be.data(k1e3), (npb, npb.data(k1e3)))
    assert res.status == "parity" and res.curve is None and "seconds" not in res.scalars
    assert "jax left numpy's trajectory" in res.message and res.scalars["parity_dev"] > parity.TOLERANCE


class FakeClock:
    """Each step costs 1 unit; compiling a step costs 1e6; every read logs the trace count."""

    def __init__(self):
        self.now, self.reads = 0.0, []

    def __call__(self):
        self.reads.append(jax_backend.TRACES)
        return self.now


@pytest.mark.parametrize("batch", [0, 16])
def test_compilation_happens_in_the_warm_up_never_in_the_timed_steps(batch, k1e3):
    be = backends.make("jax")  # a new backend: nothing compiled yet
    clock = FakeClock()
    compiled, runner = be.compiled, be.runner

    def costly_compile(*a):
        n = len(be._steps)
        out = compiled(*a)
        if len(be._steps) > n:
            clock.now += 1e6
        return out

    def counted_runner(*a):
        r = runner(*a)
        step = r.step

        def one(idx=None):
            step(idx)
            clock.now += 1.0

        r.step = one
        return r

    be.compiled, be.runner = costly_compile, counted_runner
    traces0 = jax_backend.TRACES
    hp = theory.hyper("adam", k1e3.L, k1e3.mu)
    c = recorder.run(
        be,
        be.data(k1e3),
        "adam",
        hp,
        w0_for(k1e3),
        k1e3.f_star,
        recorder.RunSpec(max_steps=40, batch=batch, checkpoints=8, stop_rel=0),
        clock=clock,
    )
    assert c.iteration[-1] == 40
    assert c.time[-1] == 40.0  # the 40 timed steps, and not the 1e6 of compiling
    assert len(set(clock.reads)) == 1 and clock.reads[0] == traces0 + 1  # traced once, before the clock
    assert c.meta["compile_s"] > 0


SYNC = r"""
import json, os
import numpy as np
from mpiapp.engines.optbench import backends, theory

class Plan:  # two threads: XLA's CPU dispatch is asynchronous
    threads, local_rank, cpus = 2, 0, tuple(sorted(os.sched_getaffinity(0)))

be = backends.make("jax", 0, Plan())
rng = np.random.default_rng(0)
X = rng.standard_normal((4000, 1000))
dd = backends.DeviceData("lsq", 0.0, be.put(X), be.put(rng.standard_normal(4000)), be.put(X[:0]), be.put(X[:0, 0]))
r = be.runner(dd, "momentum", theory.Hyper(lr=1e-6, momentum=0.5), np.zeros(1000))
r.step()
be.sync()
for _ in range(30):  # ~0.2 s of matrix-vector products, dispatched in microseconds
    r.step()
before = r.params().is_ready()
be.sync()
print(json.dumps({"before": before, "after": r.params().is_ready() and all(a.is_ready() for a in r.state)}))
"""


def test_sync_waits_for_the_dispatched_steps():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("asynchronous CPU dispatch needs a two-thread plan, so two CPUs")
    p = subprocess.run(
        [PY, "-c", SYNC],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert p.returncode == 0, p.stderr[-2000:]
    d = json.loads(p.stdout.strip().splitlines()[-1])
    assert d["before"] is False  # the steps were still running when the loop returned: a real test
    assert d["after"] is True


def test_memory_is_jax_accounting_of_the_device_buffers(k1e3):
    be = backends.make("jax")
    dd = be.data(k1e3)
    for opt, mult in (("sgd", 1), ("adam", 3)):
        m = memory.measure(be, dd, opt, theory.hyper(opt, k1e3.L, k1e3.mu), w0_for(k1e3), 3, None)
        # the problem's four arrays, the parameters and state (d float64 each) and the int64 step counter
        assert m["jax_live"] >= k1e3.nbytes() + mult * 8 * k1e3.d + 8
        assert m["param_bytes"] == 8 * k1e3.d and m["state_ok"]
        if be.device == "cpu":
            assert m["jax_peak"] == -1  # the CPU client keeps no allocator statistics: not measurable
        else:
            assert m["jax_peak"] >= m["jax_live"]  # the allocator holds at least the live arrays
        assert m["tracemalloc_peak"] == -1  # tracemalloc does not see XLA's buffers: not faked


def test_numpy_and_the_job_plumbing_do_not_import_jax():
    code = (
        "import sys\nfrom mpiapp.engines.optbench import backends, engine, job, cell, grid\n"
        "b = backends.make('numpy')\nassert 'jax' not in sys.modules, 'jax imported'\nprint('ok')"
    )
    p = subprocess.run(
        [PY, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr[-2000:]


# --- the thread plan reaches XLA ------------------------------------------------------------------


def test_pool_cpus_gives_ranks_sharing_a_mask_disjoint_cpus():
    assert xla.pool_cpus((0, 1, 2, 3), 0, 2) == (0, 1) and xla.pool_cpus((0, 1, 2, 3), 1, 2) == (2, 3)
    assert xla.pool_cpus((0, 1), 2, 1) == (0,) and xla.pool_cpus((0, 1), 3, 1) == (1,)  # oversubscribed
    assert xla.pool_cpus((4, 5), 1, 2) == (4, 5)  # a rank bound to its own CPUs keeps them
    assert xla.pool_cpus((7,), 1, 4) == (7,)  # never more CPUs than the mask
    with pytest.raises(ValueError):
        xla.pool_cpus((), 0, 1)


def test_xla_flags_keep_the_users_and_add_one_thread():
    assert xla.xla_flags(1, "") == "--xla_cpu_multi_thread_eigen=false"
    assert (
        xla.xla_flags(1, "--xla_dump_to=/tmp/d") == "--xla_dump_to=/tmp/d --xla_cpu_multi_thread_eigen=false"
    )
    assert xla.xla_flags(1, "--xla_cpu_multi_thread_eigen=true") == "--xla_cpu_multi_thread_eigen=true"
    assert xla.xla_flags(2, "--a") == "--a"


PIN = r"""
import json, os, sys
from mpiapp.runtime import xla
def masks():
    out = {}
    for t in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{t}/status") as fh:
            out[t] = [l.split()[1] for l in fh if l.startswith("Cpus_allowed_list")][0]
    return out
before = masks()
mine = tuple(sorted(os.sched_getaffinity(0)))
jax = xla.import_jax(1, mine, 1)
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np
x = jnp.asarray(np.ones((1500, 1500)))
s = float(jax.jit(lambda x: (jnp.tanh(x) @ x).sum())(x))
after = masks()
print(json.dumps({"main": after[str(os.getpid())], "new": sorted({v for k, v in after.items() if k not in before}),
                  "n_new": len(set(after) - set(before)), "flags": os.environ["XLA_FLAGS"],
                  "pool": list(xla.pinned()["pool"]), "mine": list(mine), "sum": s}))
"""


def test_xla_threads_stay_on_the_ranks_planned_cpu():
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        pytest.skip("needs two CPUs to see a narrowed pool")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)
    p = subprocess.run([PY, "-c", PIN], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    d = json.loads(p.stdout.strip().splitlines()[-1])
    cpu = str(mine[1])  # local rank 1, one thread: the second CPU of the mask
    assert d["pool"] == [mine[1]] and d["n_new"] > 0
    assert d["new"] == [cpu], d  # every thread XLA made, its pools included, runs on that CPU only
    assert d["main"] == xla_cpu_list(mine)  # the rank itself keeps its whole mask
    assert d["flags"] == "--xla_cpu_multi_thread_eigen=false"
    assert d["sum"] == pytest.approx(1500 * 1500 * 1500 * math.tanh(1.0))


def xla_cpu_list(cpus):
    from mpiapp.runtime.threads import cpu_list

    return cpu_list(cpus)


# --- the job under mpiexec --------------------------------------------------------------------------

GRID = [
    "--no-progress",
    "--problems",
    "lsq-k1e3-d30,logreg-d10",
    "--optimizers",
    ",".join(OPTIMIZERS),
    "--backends",
    "numpy,jax",
    "--set",
    "optbench.batch_sizes=[0, 8]",
    "--set",
    "optbench.repeats=1",
    "--set",
    "optbench.max_iters=60",
    "--set",
    "optbench.checkpoints=12",
    "--set",
    "optbench.bootstrap=100",
    "--set",
    "runtime.threads_per_rank=1",
    "--set",
    "optbench.cache=false",
]
SAME = (
    "problem",
    "optimizer",
    "backend",
    "step",
    "batch",
    "seed",
    "status",
    "lr",
    "momentum",
    "parity_dev",
    "iterations",
    "f0_gap",
    "final_rel",
    "min_rel",
    "iters_to_0.001",
    "iters_to_1e-06",
    "state_multiple",
    "state_ok",
    "param_bytes",
    "state_bytes",
)
CURVE_SAME = (
    "problem",
    "optimizer",
    "backend",
    "batch",
    "seed",
    "point",
    "iteration",
    "subopt",
    "grad_norm",
    "test_loss",
)


def test_jax_cells_are_the_same_at_1_and_2_ranks(tmp_path):
    from mpiapp.io.results import read_table

    outs = []
    for n in (1, 2):
        out = tmp_path / f"n{n}" / "ob.h5"
        r = run(mpiexec_cmd(n, PY, "-m", "mpiapp.optbench", "--out", str(out), *GRID), timeout=600)
        assert r.returncode == 0, r.output
        outs.append((read_table(out, "cells"), read_table(out, "curves")))
    (c1, u1), (c2, u2) = outs
    for c in SAME:
        assert np.array_equal(c1[c], c2[c], equal_nan=True), c
    for c in CURVE_SAME:
        assert np.array_equal(u1[c], u2[c], equal_nan=True), c
    jax_rows = c1["backend"] == 1
    assert jax_rows.sum() == 2 * 5 * 2
    assert not np.any(np.isin(c1["status"][jax_rows], (cell.STATUS["failed"], cell.STATUS["parity"])))
    assert np.all(c1["parity_dev"][jax_rows] <= parity.TOLERANCE)
    assert np.all(c1["compile_s"][jax_rows] > 0) and np.all(np.isnan(c1["compile_s"][~jax_rows]))
    assert np.all(c1["jax_live"][jax_rows] > 0) and np.all(c1["jax_live"][~jax_rows] == -1)
    # JAX's run is NumPy's run: the same status and, where it did not diverge, the same final
    # suboptimality to rounding, cell by cell
    key = ("problem", "optimizer", "batch", "seed")
    ref = {tuple(int(c1[k][i]) for k in key): i for i in np.nonzero(~jax_rows)[0]}
    for i in np.nonzero(jax_rows)[0]:
        j = ref[tuple(int(c1[k][i]) for k in key)]
        assert c1["status"][i] == c1["status"][j]
        if c1["status"][j] != cell.STATUS["diverged"]:
            assert c1["final_rel"][i] == pytest.approx(c1["final_rel"][j], rel=1e-6, abs=1e-13)


def test_a_missing_jax_is_exit_2_with_one_line(tmp_path):
    fake = tmp_path / "site" / "jax"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'jaxlib'\")\n")
    env = mpi_env({"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])})
    out = tmp_path / "x.h5"
    r = run(
        mpiexec_cmd(
            2,
            PY,
            "-m",
            "mpiapp.optbench",
            "--out",
            str(out),
            "--no-progress",
            "--problems",
            "lsq-k1e3-d30",
            "--backends",
            "numpy,jax",
        ),
        timeout=120,
        env=env,
    )
    assert r.returncode == 2, r.output
    assert "JAX does not import here (No module named 'jaxlib')" in r.stderr and "Traceback" not in r.output
    assert not out.exists() and not (tmp_path / "x.h5.partial").exists()
