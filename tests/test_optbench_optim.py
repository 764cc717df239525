"""optbench optimizers, backends, recorder and memory: theory bounds, parity, timing rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mpiapp.engines.optbench import backends, memory, parity, problems, recorder, theory
from mpiapp.engines.optbench.optimizers import OPTIMIZERS, STATE_MULTIPLE

OPTS = problems.BuildOptions()


@pytest.fixture(scope="module")
def k1e3():
    return problems.build("lsq-k1e3-d100", OPTS)


@pytest.fixture(scope="module")
def logreg(tmp_path_factory):
    return problems.build("logreg-d30", problems.BuildOptions(cache_dir=str(tmp_path_factory.mktemp("c"))))


def w0_for(p, seed=0):
    return np.random.default_rng(seed).standard_normal(p.d) / np.sqrt(p.d)


def test_nesterov_within_its_theoretical_iteration_bound(k1e3):
    bound = theory.nesterov_iterations(1e3, 1e-6)
    # independent evaluation of the bound: smallest k with 2 (1 - 1/sqrt(kappa))^k <= 1e-6
    q = 1 - 1 / math.sqrt(1e3)
    assert 2 * q**bound <= 1e-6 < 2 * q ** (bound - 1)
    assert bound <= math.ceil(math.sqrt(1e3) * math.log(2e6))
    be = backends.make("numpy")
    c = recorder.run(
        be,
        be.data(k1e3),
        "nesterov",
        theory.hyper("nesterov", k1e3.L, k1e3.mu),
        w0_for(k1e3),
        k1e3.f_star,
        recorder.RunSpec(max_steps=bound, checkpoints=200, stop_rel=0),
    )
    assert c.iteration[-1] == bound
    assert c.rel[-1] <= 1e-6
    _, it = c.to_target(1e-6)
    assert it <= bound


def test_gradient_descent_obeys_its_rate(k1e3):
    be = backends.make("numpy")
    c = recorder.run(
        be,
        be.data(k1e3),
        "sgd",
        theory.hyper("sgd", k1e3.L, k1e3.mu),
        w0_for(k1e3),
        k1e3.f_star,
        recorder.RunSpec(max_steps=300, stop_rel=0),
    )
    assert np.all(c.rel <= theory.gd_bound(c.iteration, 1e3) * (1 + 1e-9))
    assert np.all(np.diff(c.subopt) <= 0)  # GD with step 1/L is monotone


def test_heavy_ball_optimal_momentum_on_a_quadratic(k1e3):
    """Polyak's constants: the asymptotic rate ((sqrt(k)-1)/(sqrt(k)+1))^2 per step on f."""
    hp = theory.hyper("momentum", k1e3.L, k1e3.mu)
    rk = math.sqrt(1e3)
    assert hp.momentum == pytest.approx(((rk - 1) / (rk + 1)) ** 2)
    assert hp.lr == pytest.approx(4 / (1 + math.sqrt(1e-3)) ** 2)
    be = backends.make("numpy")
    c = recorder.run(
        be,
        be.data(k1e3),
        "momentum",
        hp,
        w0_for(k1e3),
        k1e3.f_star,
        recorder.RunSpec(max_steps=400, stop_rel=1e-12),
    )
    _, it = c.to_target(1e-6)
    # heavy ball's bound (with a polynomial prefactor from the repeated eigenvalue) vs plain GD's
    assert it < theory.nesterov_iterations(1e3, 1e-6) < math.log(1e-6) / math.log(1 - 1e-3)


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("batch", [0, 16])
def test_numpy_torch_parity_first_20_steps(opt, batch, k1e3, logreg):
    for p in (k1e3, logreg):
        hp = theory.hyper(opt, p.L, p.mu, weight_decay=1e-2)
        trajs = []
        for name in ("numpy", "torch"):
            be = backends.make(name)
            trajs.append(parity.trajectory(be, be.data(p), opt, hp, w0_for(p), 20, batch, batch_seed=3))
        dev = parity.deviation(*trajs)
        assert dev <= parity.TOLERANCE, (p.name, opt, batch, dev)
        assert parity.deviation(trajs[0][:1], trajs[0][1:2]) > 1e-6  # the iterates move: not a vacuous check


def test_parity_detects_a_different_update(k1e3):
    be = backends.make("numpy")
    dd = be.data(k1e3)
    hp = theory.hyper("nesterov", k1e3.L, k1e3.mu)
    a = parity.trajectory(be, dd, "nesterov", hp, w0_for(k1e3), 20)
    b = parity.trajectory(be, dd, "momentum", hp, w0_for(k1e3), 20)
    assert parity.deviation(a, b) > 1e3 * parity.TOLERANCE


def test_adamw_decay_is_decoupled(k1e3):
    """AdamW with weight decay 0 is Adam; with decay it shrinks w before the Adam step."""
    be = backends.make("numpy")
    dd = be.data(k1e3)
    w0 = w0_for(k1e3)
    adam = parity.trajectory(be, dd, "adam", theory.hyper("adam", 1, 1), w0, 5)
    adamw0 = parity.trajectory(be, dd, "adamw", theory.hyper("adamw", 1, 1, weight_decay=0.0), w0, 5)
    assert np.array_equal(adam, adamw0)
    adamw = parity.trajectory(be, dd, "adamw", theory.hyper("adamw", 1, 1, weight_decay=0.5), w0, 1)
    # first Adam step moves every coordinate by lr * g/|g| (bias-corrected, eps negligible)
    g = dd.X.T @ (dd.X @ w0 - dd.y) / k1e3.n
    expected = w0 * (1 - 1e-2 * 0.5) - 1e-2 * g / (np.abs(g) + 1e-8)
    assert np.allclose(adamw[1], expected, rtol=1e-12, atol=1e-15)


def test_checkpoints_and_batches():
    c = recorder.checkpoint_iters(1000, 30)
    assert c[0] == 0 and c[1] == 1 and c[-1] == 1000 and np.all(np.diff(c) > 0)
    ratios = c[2:] / c[1:-1]
    assert ratios[c[1:-1] >= 10].max() < 1.4  # geometric spacing (integers force 1 -> 2 at the start)
    b = recorder.Batches(10, 3, seed=1)
    epoch = np.concatenate([b.next() for _ in range(3)])
    assert len(set(epoch.tolist())) == 9  # without replacement within an epoch


class CountingClock:
    """A fake clock: each step costs 1 unit, each evaluation 1000, and it logs syncs and reads."""

    def __init__(self):
        self.now, self.log = 0.0, []

    def __call__(self):
        self.log.append("read")
        return self.now


def test_timer_excludes_evaluation_and_warmup_and_syncs_before_reads(k1e3):
    clock = CountingClock()
    inner = backends.make("numpy")

    class Spy:
        name, xp = "numpy", np

        def sync(self):
            clock.log.append("sync")

        def scalar(self, a):
            clock.now += 1000.0  # evaluation is expensive: must not show in the timed total
            return float(a)

        def runner(self, dd, opt, hp, w0):
            r = inner.runner(dd, opt, hp, w0)
            step = r.step

            def counted(idx=None):
                clock.now += 1.0
                step(idx)

            r.step = counted
            return r

    spy = Spy()
    c = recorder.run(
        spy,
        inner.data(k1e3),
        "sgd",
        theory.hyper("sgd", 1, 1e-3),
        w0_for(k1e3),
        k1e3.f_star,
        recorder.RunSpec(max_steps=50, stop_rel=0),
        clock=clock,
    )
    assert c.iteration[-1] == 50
    assert np.array_equal(c.time, c.iteration.astype(float))  # steps only; warm-up step not counted
    reads = [i for i, e in enumerate(clock.log) if e == "read"]
    assert reads and all(clock.log[i - 1] == "sync" for i in reads)


def test_divergence_is_detected(k1e3):
    be = backends.make("numpy")
    c = recorder.run(
        be,
        be.data(k1e3),
        "sgd",
        theory.hyper("sgd", 1.0, 1e-3, scale=2.5),
        w0_for(k1e3),
        k1e3.f_star,
        recorder.RunSpec(max_steps=2000),
    )
    assert c.status == "diverged" and c.iteration[-1] < 2000
    assert c.to_target(1e-3) == (math.inf, math.inf)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_optimizer_state_against_the_model(backend, opt, k1e3):
    be = backends.make(backend)
    m = memory.measure(be, be.data(k1e3), opt, theory.hyper(opt, 1, 1e-3), w0_for(k1e3), steps=2)
    assert m["param_bytes"] == 8 * k1e3.d
    assert m["state_multiple"] == STATE_MULTIPLE[opt] and m["state_ok"]
    assert m["peak_rss"] > 0
    if backend == "numpy":
        assert m["tracemalloc_peak"] >= 8 * k1e3.d * (STATE_MULTIPLE[opt] - 1)
    assert m["cupy_pool_used"] == -1 and m["torch_allocated"] == -1  # no GPU here: not measurable, not 0


def test_cupy_without_gpu_is_unavailable():
    if backends.cupy_usable():
        pytest.skip("a GPU is present")
    with pytest.raises(backends.BackendUnavailable):
        backends.make("cupy")


@pytest.mark.gpu
def test_cupy_parity_with_numpy(k1e3):
    if not backends.cupy_usable():
        pytest.skip("no GPU")
    for opt in OPTIMIZERS:
        hp = theory.hyper(opt, k1e3.L, k1e3.mu, weight_decay=1e-2)
        trajs = [
            parity.trajectory(be, be.data(k1e3), opt, hp, w0_for(k1e3), 20)
            for be in (backends.make("numpy"), backends.make("cupy"))
        ]
        assert parity.deviation(*trajs) <= parity.TOLERANCE


def test_configured_momentum_and_betas_replace_the_theory_values_and_change_the_cache_key(k1e3):
    from mpiapp.engines.optbench import cache, cell, grid

    p = grid.BenchParams(problems=("lsq-k1e3-d100",), optimizers=("nesterov", "adam", "sgd"))
    cs = grid.cells(p)
    nest, adam, sgd = (next(c for c in cs if c.optimizer == o) for o in ("nesterov", "adam", "sgd"))
    theory_m = cell.hyper_for(p, nest, k1e3).momentum
    q = grid.BenchParams(**{**p.__dict__, "momentum": 0.5, "adam_betas": (0.8, 0.99)})
    assert cell.hyper_for(q, nest, k1e3).momentum == 0.5 != theory_m
    assert cell.hyper_for(q, adam, k1e3).betas == (0.8, 0.99)
    assert cell.hyper_for(p, adam, k1e3).betas == (0.9, 0.999)
    assert cell.hyper_for(q, sgd, k1e3) == cell.hyper_for(p, sgd, k1e3)  # sgd has neither
    env = {"threads": 1}
    assert cache.cell_key(p, nest, "d", env) != cache.cell_key(q, nest, "d", env)
