"""Purged walk-forward and purged k-fold: no training label meets a test interval or its embargo."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpiapp.engines.train.cv import CVSpec, FoldError, make_folds, min_samples, purge_mask


def _violations(bars, horizon, embargo, fold):
    """Training samples whose label interval [t+1, t+h] meets [a, z + h + embargo] (a, z: test bars),
    or which are test samples themselves. Written apart from cv.py, from the definition."""
    a, z = bars[fold.test[0]], bars[fold.test[-1]]
    bad = []
    for i in fold.train:
        t = bars[i]
        if a <= t <= z or (t + horizon >= a and t + 1 <= z + horizon + embargo):
            bad.append(int(t))
    return bad


@settings(max_examples=150, deadline=None)
@given(
    m=st.integers(60, 600),
    horizon=st.integers(1, 15),
    embargo=st.integers(0, 20),
    n_folds=st.integers(2, 6),
    scheme=st.sampled_from(["walk_forward", "kfold"]),
    window=st.sampled_from(["expanding", "rolling"]),
    train_bars=st.integers(10, 400),
    gaps=st.integers(0, 3),
    seed=st.integers(0, 10**6),
)
def test_no_training_label_meets_a_test_interval_or_its_embargo(
    m, horizon, embargo, n_folds, scheme, window, train_bars, gaps, seed
):
    rng = np.random.default_rng(seed)
    bars = np.cumsum(1 + rng.integers(0, gaps + 1, m)) + 199  # samples may skip bars
    spec = CVSpec(
        scheme=scheme,
        n_folds=n_folds,
        window=window,
        train_bars=train_bars,
        embargo_bars=embargo,
        min_train=1,
    )
    try:
        folds = make_folds(bars, horizon, spec)
    except FoldError:
        return
    tested = np.concatenate([f.test for f in folds])
    assert np.all(np.diff(tested) == 1)  # contiguous test blocks in time order
    for f in folds:
        assert _violations(bars, horizon, embargo, f) == []
        if scheme == "walk_forward":
            assert bars[f.train].max() < bars[f.test[0]]
        # nothing removed beyond the rule: every excluded candidate violates it
        cand = np.setdiff1d(np.arange(m), f.test)
        if scheme == "walk_forward":
            cand = cand[cand < f.test[0]]
            if window == "rolling":
                cand = cand[-train_bars:]
        removed = np.setdiff1d(cand, f.train)
        assert removed.size == f.n_purged + f.n_embargoed


def test_walk_forward_counts_by_hand():
    bars = np.arange(200, 320)  # 120 samples, 6 blocks of 20
    folds = make_folds(bars, 5, CVSpec(n_folds=5, embargo_bars=3, min_train=10))
    f0 = folds[0]
    assert f0.test_bar_range == (220, 239)
    # training candidates 200..219; label [t+1, t+5] meets bar 220 for t >= 215: 5 purged
    assert f0.n_purged == 5 and f0.n_embargoed == 0 and f0.train_bar_range == (200, 214)
    assert [f.test_bar_range[0] for f in folds] == [220, 240, 260, 280, 300]


def test_kfold_embargo_after_the_test_block():
    bars = np.arange(0, 100)
    folds = make_folds(bars, 4, CVSpec(scheme="kfold", n_folds=4, embargo_bars=6, min_train=10))
    f1 = folds[1]  # tests 25..49; test interval [25, 53]; forbidden up to 59
    assert f1.test_bar_range == (25, 49)
    kept = set(bars[f1.train].tolist())
    assert 20 in kept and 21 not in kept  # 21 + 4 = 25 meets the test block: purged
    assert 52 not in kept and 53 not in kept and 58 not in kept  # purged (52), embargoed (53..58)
    assert 59 in kept  # label [60, 63] is past the embargo
    assert f1.n_embargoed == 6
    # t = 53 has label [54, 57] inside (53, 59]: embargoed, not purged; t = 59 -> [60, 63]: kept
    pur, emb = purge_mask(np.array([49, 52, 53, 58, 59]), 4, 25, 49, 6)
    assert pur.tolist() == [True, True, False, False, False]
    assert emb.tolist() == [False, False, True, True, False]


def test_too_short_for_the_folds():
    with pytest.raises(FoldError, match="min_train"):
        make_folds(np.arange(100), 5, CVSpec(n_folds=5, min_train=50))
    assert min_samples(CVSpec(n_folds=5, min_train=50), 5) > 100
