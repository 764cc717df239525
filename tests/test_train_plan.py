"""Planning the train units: (symbol, family, fold) in order, costs, short symbols as recorded skips."""

import pytest

from mpiapp import config
from mpiapp.engines.train.job import SKIP, make_units, short_reason
from mpiapp.engines.train.params import TrainParams


def _params(*sets):
    return TrainParams.from_config(config.load(overrides=list(sets)).train)


def test_units_cover_every_symbol_family_and_fold_once():
    p = _params("train.families=[lgbm,mlp]", "train.cv.n_folds=4")
    units, skips = make_units([("A", 3000), ("B", 250), ("C", 5000)], p)
    keys = [u.key for u in units]
    assert [u.uid for u in units] == list(range(len(units)))
    assert keys.count((1, SKIP, SKIP)) == 1 and set(skips) == {1}
    trained = [k for k in keys if k[1] != SKIP]
    assert len(trained) == len(set(trained)) == 2 * 3 * 4  # the two families and the ridge baseline
    assert {k[1] for k in trained} == {0, 3, 4}  # family ids: lgbm 0, mlp 3, ridge 4
    # later walk-forward folds train on more samples, so they cost more; longer symbols cost more
    cost = {u.key: u.cost for u in units}
    assert cost[(0, 0, 3)] > cost[(0, 0, 0)] and cost[(2, 0, 0)] > cost[(0, 0, 0)]
    assert cost[(1, SKIP, SKIP)] == 0


def test_short_reason_names_the_keys_and_numbers():
    p = _params("train.cv.n_folds=5", "train.cv.min_train=200")
    why = short_reason(1000, p)
    assert (
        "1000 bars give 796 samples" in why and "train.cv.n_folds = 5" in why and "needs at least 1230" in why
    )
    assert short_reason(1500, p) is None
    assert short_reason(250, _params("train.min_bars=300")) == "250 bars < train.min_bars = 300"


def test_threads_per_model_policy():
    assert _params().model_threads(4) == 4  # 0: the rank's budget
    assert _params("train.threads_per_model=1").model_threads(4) == 1
    assert _params("train.threads_per_model=8").model_threads(2) == 2  # capped by the budget


def test_bad_mlp_widths_are_a_config_error():
    with pytest.raises(config.ConfigError, match="train.mlp.hidden"):
        config.load(overrides=["train.mlp.hidden=[16, 0]"])


@pytest.mark.parametrize("bad", ["[]", "[0.1, 0]", "[-1]", "[true]", "[abc]"])
def test_bad_ridge_penalties_are_a_config_error(bad):
    with pytest.raises(config.ConfigError, match="train.ridge.penalties"):
        config.load(overrides=[f"train.ridge.penalties={bad}"])
