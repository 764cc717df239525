"""The ddp job's pure parts: sample order, split and purge, shares, precision, schedule, metrics."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpiapp import config
from mpiapp.engines.ddp import checkpoint, evaluate, order, precision, split
from mpiapp.engines.ddp.params import DDPParams
from mpiapp.engines.ddp.trainer import schedule_factor
from mpiapp.runtime import torch_dist


@given(st.integers(1, 3000), st.integers(1, 70), st.integers(0, 2**31 - 1), st.integers(0, 50))
@settings(max_examples=60, deadline=None)
def test_epoch_order_is_a_permutation(n, block, seed, epoch):
    s = order.EpochOrder(n, block, seed, epoch).samples(np.arange(n))
    assert np.array_equal(np.sort(s), np.arange(n))


def test_epoch_order_keeps_blocks_together_and_changes_with_the_epoch():
    n, K = 1000, 32
    a = order.EpochOrder(n, K, 7, 0).samples(np.arange(n))
    # positions of one block map into one block of samples
    for q in range(n // K):
        assert len(set(a[q * K : (q + 1) * K] // K)) == 1
    assert set(a[(n // K) * K :] // K) == {n // K}  # the partial block stays last
    b = order.EpochOrder(n, K, 7, 1).samples(np.arange(n))
    c = order.EpochOrder(n, K, 8, 0).samples(np.arange(n))
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(a, order.EpochOrder(n, K, 7, 0).samples(np.arange(n)))


@pytest.mark.parametrize("ranks", [1, 2, 3, 4, 7])
def test_the_global_batch_is_the_same_at_any_rank_count(ranks):
    """The ranks' shares of every micro-batch put together are the positions of the global batch."""
    o = order.EpochOrder(5000, 16, 3, 2)
    for step in range(3):
        for acc in (1, 2, 3):
            mine = []
            for p0, p1 in order.micro_batches(step, 96, acc):
                for r in range(ranks):
                    a, b = order.even_part(p0, p1, ranks, r)
                    mine.append(o.samples(np.arange(a, b)))
            want = o.samples(np.arange(step * 96, (step + 1) * 96))
            assert np.array_equal(np.concatenate(mine), want)


def test_sample_index_maps_samples_to_rows_and_segments():
    ix = order.SampleIndex([0, 100, 300], [50, 100, 330])
    assert ix.n == 80
    assert list(ix.rows([0, 49, 50, 79])) == [0, 49, 300, 329]
    assert ix.segments(10, 70) == [(10, 50, 10), (50, 70, 300)]


def _params(**kw):
    cfg = config.load([], [f"ddp.{k}={v}" for k, v in kw.items()])
    return DDPParams.from_config(cfg.ddp)


def test_cut_days_from_shares_and_dates():
    counts = np.ones(100, dtype=np.int64)  # one sample a day, days 1000..1099
    v, t = split.cut_days(1000, counts, _params(validation_share=0.2, test_share=0.1))
    assert (v, t) == (1070, 1090)  # 70 days before validation, 90 before test
    d = _params(validation_from="1972-10-01", test_from="1972-12-01")
    v, t = split.cut_days(900, np.ones(200, dtype=np.int64), d)
    assert split.date_of_day(v) == "1972-10-01" and split.date_of_day(t) == "1972-12-01"
    with pytest.raises(ValueError, match="empty"):
        split.cut_days(1000, counts, _params(validation_from="2030-01-01", test_from="2031-01-01"))


@given(st.integers(30, 400), st.integers(1, 20), st.data())
@settings(max_examples=60, deadline=None)
def test_no_label_reaches_the_next_split(m, h, data):
    """Purge: a train label ends before the validation cut, a validation label before the test cut;
    splits follow each other in time; every row is in one split or purged."""
    day = split.NS_PER_DAY
    gaps = np.array(data.draw(st.lists(st.integers(1, 3), min_size=m + h, max_size=m + h)))
    t_all = np.cumsum(gaps) * day
    time, label_end = t_all[:m], t_all[h : m + h]
    v = int(data.draw(st.integers(int(t_all[0] // day), int(t_all[m - 1] // day))))
    t = v + int(data.draw(st.integers(1, 60)))
    r = split.symbol_ranges(time, label_end, v, t)
    tr, va, te = r["train"], r["validation"], r["test"]
    assert np.all(label_end[tr[0] : tr[1]] < v * day)
    assert np.all(time[va[0] : va[1]] >= v * day) and np.all(label_end[va[0] : va[1]] < t * day)
    assert np.all(time[te[0] : te[1]] >= t * day)
    assert tr[1] <= va[0] or va[0] == va[1]
    kept = (tr[1] - tr[0]) + (va[1] - va[0]) + (te[1] - te[0])
    assert kept + r["purged"] == m
    # nothing removed that did not have to be: the row after the train range reaches the cut
    if tr[1] < m and time[tr[1]] < v * day:
        assert label_end[tr[1]] >= v * day


def test_precision_choice():
    assert precision.choose("auto", "cpu", {"avx2"})[0] == "fp32"
    assert precision.choose("auto", "cpu", {"avx512_bf16"})[0] == "bf16"
    assert precision.choose("auto", "cuda:0", set(), cuda_bf16=True)[0] == "bf16"
    assert precision.choose("auto", "cuda:0", set(), cuda_bf16=False)[0] == "fp16"
    assert "no native bf16" in precision.choose("bf16", "cpu", set())[1]
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        precision.choose("fp16", "cpu", {"avx512_bf16"})


def test_backend_and_device_choice():
    assert torch_dist.choose("auto", "auto", [0, 0], 0, 1) == ("gloo", "cpu")
    assert torch_dist.choose("auto", "auto", [2, 2], 2, 1) == ("nccl", "cuda:1")
    assert torch_dist.choose("auto", "auto", [1, 1], 1, 3) == ("nccl", "cuda:0")  # one visible GPU per rank
    assert torch_dist.choose("auto", "cpu", [2, 2], 2, 0) == ("gloo", "cpu")
    assert torch_dist.choose("auto", "auto", [2, 0], 2, 0) == ("gloo", "cpu")  # not every rank has one
    with pytest.raises(ValueError, match="every rank"):
        torch_dist.choose("nccl", "auto", [1, 0], 1, 0)


def test_schedule_warms_up_then_decays_to_zero():
    f = [schedule_factor(s, 100, 10, "cosine") for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[-1] < 0.01
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert schedule_factor(50, 100, 10, "constant") == 1.0


def test_metrics_from_sums_equal_numpy():
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    p = 0.3 * y + rng.normal(size=500)
    s = dict(
        zip(
            evaluate.SUMS,
            [
                500,
                ((p - y) ** 2).sum(),
                p.sum(),
                y.sum(),
                (p * p).sum(),
                (y * y).sum(),
                (p * y).sum(),
                (np.sign(p) == np.sign(y)).sum(),
                500,
                (y**2).sum(),
                (y > 0).sum(),
            ],
        )
    )
    m = evaluate.metrics(s)
    assert m["ic"] == pytest.approx(np.corrcoef(p, y)[0, 1], rel=1e-10)
    assert m["hit_rate"] == pytest.approx(np.mean(np.sign(p) == np.sign(y)))
    assert m["loss"] == pytest.approx(np.mean((p - y) ** 2))
    assert math.isnan(evaluate.metrics(dict.fromkeys(evaluate.SUMS, 0.0))["ic"])


def test_resume_refuses_changed_keys_but_not_free_ones():
    a = {"ddp.batch_size": 512, "ddp.threads": 0, "runtime.log_level": "info", "data.source": "builtin:all"}
    b = dict(a, **{"ddp.batch_size": 256, "ddp.threads": 2, "runtime.log_level": "debug"})
    assert checkpoint.config_differences(a, b) == ["ddp.batch_size: 512 -> 256"]


@pytest.mark.parametrize(
    "bad, msg",
    [
        ("ddp.hidden=[]", "ddp.hidden"),
        ("ddp.validation_from=2020-13-01", "ddp.validation_from"),
        ("ddp.test_share=0.5", "leaves less than 10 %"),
        ("ddp.precision=fp8", "ddp.precision"),
    ],
)
def test_bad_ddp_config_is_refused(bad, msg):
    extra = ["ddp.validation_share=0.45"] if "test_share" in bad else []
    with pytest.raises(config.ConfigError, match=msg):
        config.load([], [bad] + extra)


def test_setup_problems():
    from mpiapp.engines.ddp.trainer import setup_problem

    ok = {"train": 1000, "validation": 100, "test": 100}
    assert setup_problem(_params(batch_size=64), ok, 4) is None
    assert "fewer than ddp.batch_size" in setup_problem(_params(batch_size=2000), ok, 1)
    assert "leaves a rank without samples" in setup_problem(
        _params(batch_size=6, accumulation_steps=2), ok, 4
    )
    assert "cannot hold one shuffle block" in setup_problem(
        _params(model="tcn", lookback=64, shuffle_block=32, buffer_rows=1024), ok, 1
    )
    assert "validation split has no samples" in setup_problem(_params(), dict(ok, validation=0), 1)


@pytest.mark.parametrize("name", ["mlp", "tcn", "gru"])
def test_models_are_causal_and_train(name):
    """Each model maps (batch, window, F) to (batch,) and learns a target of the last bars (60 Adam
    steps halve the loss); the MLP uses the last bar alone."""
    import torch

    from mpiapp.engines.ddp.models import build

    torch.manual_seed(0)
    m = build(name, 5, [8, 8], torch)
    x = torch.randn(64, 6, 5)
    y = x[:, -1, 0] - 0.5 * x[:, -2, 1] if name != "mlp" else x[:, -1, 0]
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        first = first if first is not None else float(loss.detach())
        loss.backward()
        opt.step()
    assert m(x).shape == (64,)
    assert float(loss.detach()) < 0.5 * first
    if name == "mlp":  # the MLP sees the last bar only
        x2 = x.clone()
        x2[:, :-1] += 1.0
        assert torch.equal(m(x), m(x2))
