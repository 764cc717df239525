import itertools

import numpy as np
import pytest

from mpiapp.runtime.partition import STRATEGIES, imbalance, loads, plan


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_unit_exactly_once_for_1_to_70_ranks(strategy):
    rng = np.random.default_rng(1)
    for n_units in (0, 1, 5, 64, 257):
        costs = rng.lognormal(sigma=1.5, size=n_units)
        for nranks in range(1, 71):
            plans = plan(costs, nranks, strategy)
            assert len(plans) == nranks
            flat = np.concatenate(plans) if plans else np.array([])
            assert sorted(flat.tolist()) == list(range(n_units)), (n_units, nranks)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_plans_are_identical_across_runs(strategy):
    costs = np.random.default_rng(3).exponential(size=300)
    a = plan(costs, 17, strategy)
    b = plan(costs.copy(), 17, strategy)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_lpt_within_graham_list_bound():
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 400))
        m = int(rng.integers(1, 71))
        costs = rng.pareto(1.5, size=n) + 0.01
        mk = loads(costs, plan(costs, m, "lpt")).max()
        assert mk <= costs.sum() / m + (1 - 1 / m) * costs.max() + 1e-9


def _optimal_makespan(costs, m):
    best = np.inf
    for assign in itertools.product(range(m), repeat=len(costs)):
        ld = np.zeros(m)
        for c, r in zip(costs, assign):
            ld[r] += c
        best = min(best, ld.max())
    return best


def test_lpt_within_four_thirds_of_optimal():
    rng = np.random.default_rng(11)
    for _ in range(60):
        m = int(rng.integers(2, 4))
        costs = rng.integers(1, 20, size=int(rng.integers(m + 1, 8))).astype(float)
        mk = loads(costs, plan(costs, m, "lpt")).max()
        assert mk <= (4 / 3 - 1 / (3 * m)) * _optimal_makespan(costs, m) + 1e-9


def test_lpt_balances_better_than_block_on_skewed_costs():
    costs = np.sort(np.random.default_rng(2).lognormal(sigma=2, size=500))
    assert imbalance(loads(costs, plan(costs, 8, "lpt"))) < imbalance(loads(costs, plan(costs, 8, "block")))
    assert imbalance(loads(costs, plan(costs, 8, "lpt"))) < 1.05


def test_bad_inputs():
    with pytest.raises(ValueError, match="nranks"):
        plan([1.0], 0)
    with pytest.raises(ValueError, match="strategy"):
        plan([1.0], 2, "random")
    with pytest.raises(ValueError, match="non-negative"):
        plan([1.0, -2.0], 2)
