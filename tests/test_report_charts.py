"""The charts of `mpiapp.report --plot`, read back from the matplotlib figures themselves: every
figure is caught as it is saved (Figure.savefig wrapped) and its axes' labels, titles, texts, legend
entries and line data are compared with the results file read with h5py (and Optuna's own study), not
with the code that draws them. Small runs of each job, one per module fixture."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from unittest import mock

import h5py
import numpy as np
import pytest

from conftest import PY, mpi_env, mpiexec_cmd, run


def describe(fig) -> dict:
    """What a reader sees on a figure: per axes its labels, title, texts and legend, and its lines."""
    axes = []
    for ax in fig.axes:
        leg = ax.get_legend()
        axes.append(
            {
                "xlabel": ax.get_xlabel(),
                "ylabel": ax.get_ylabel(),
                "title": ax.get_title(),
                "texts": [t.get_text() for t in ax.texts],
                "legend": [t.get_text() for t in leg.get_texts()] if leg else [],
                "lines": {
                    ln.get_label(): (np.asarray(ln.get_xdata()), np.asarray(ln.get_ydata()))
                    for ln in ax.get_lines()
                },
            }
        )
    sup = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return {"axes": axes, "suptitle": sup}


@contextmanager
def figures():
    """{file name: describe(figure)} of every figure saved inside the block."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    seen, orig = {}, Figure.savefig

    def spy(self, fname, *a, **k):
        seen[os.path.basename(str(fname))] = describe(self)
        return orig(self, fname, *a, **k)

    with mock.patch.object(Figure, "savefig", spy):
        yield seen


def raw(path, table) -> dict:
    with h5py.File(path, "r") as f:
        g = f[table]
        return {c.decode(): g[c.decode()][:] for c in g.attrs["columns"]}


def job(n, name, out, *args, timeout=400):
    r = run(
        mpiexec_cmd(n, PY, "-m", f"mpiapp.{name}", "--out", str(out), "--no-progress", *args),
        timeout=timeout,
        env=mpi_env(),
    )
    assert r.returncode == 0, r.output[-3000:]
    return out


# --- optbench --------------------------------------------------------------------------------------------
OPT = [
    "--problems",
    "lsq-k1e3-d30",
    "--optimizers",
    "sgd,momentum",
    "--backends",
    "numpy",
    "--set",
    "optbench.batch_sizes=[0]",
    "--set",
    "optbench.repeats=3",
    "--set",
    "optbench.max_iters=100",
    "--set",
    "optbench.checkpoints=100",
    "--set",
    "optbench.targets=[0.05, 1.0e-12]",
    "--set",
    "optbench.bootstrap=200",
    "--set",
    "runtime.threads_per_rank=1",
    "--set",
    "optbench.cache=false",
]


@pytest.fixture(scope="module")
def optbench(tmp_path_factory):
    from mpiapp.engines.optbench import report

    d = tmp_path_factory.mktemp("optbench")
    path = job(2, "optbench", d / "o.h5", *OPT)
    with figures() as seen:
        written = report.plot(str(path), str(d / "png"))
    return str(path), seen, written


def test_optbench_writes_its_chart_set(optbench):
    _, seen, written = optbench
    names = ["curves_lsq-k1e3-d30.png", "time_to_target.png", "profile.png", "memory.png"]
    assert sorted(os.path.basename(f) for f in written) == sorted(names)
    assert sorted(seen) == sorted(names)


def test_optbench_curves_are_the_median_over_the_seeds(optbench):
    path, seen, _ = optbench
    c = raw(path, "curves")
    opt = ["sgd", "momentum"].index("sgd")
    m = (c["optimizer"] == opt) & (c["point"] > 0)
    seeds = sorted(set(c["seed"][m].tolist()))
    assert len(seeds) == 3
    per_seed = []
    for s in seeds:
        ms = m & (c["seed"] == s)
        order = np.argsort(c["point"][ms])
        per_seed.append((c["iteration"][ms][order], c["rel_subopt"][ms][order]))
    assert all(np.array_equal(per_seed[0][0], it) for it, _ in per_seed)  # the same checkpoints
    median = np.median(np.array([v for _, v in per_seed]), axis=0)
    assert not np.allclose(median, per_seed[0][1])  # the check can fail: seed 0 alone is not the median
    fig = seen["curves_lsq-k1e3-d30.png"]
    x, y = fig["axes"][0]["lines"]["sgd/numpy/full"]
    assert np.array_equal(x, per_seed[0][0]) and np.allclose(y, np.maximum(median, 1e-17), rtol=1e-12)
    assert "median of 3 seeds" in fig["suptitle"] and "bootstrap" in fig["suptitle"]
    assert fig["axes"][0]["xlabel"] == "iteration" and fig["axes"][1]["xlabel"].startswith("time (s")


def _seconds(label: str) -> float:
    m = re.fullmatch(r"([0-9.]+) (µs|ms|s)", label)
    assert m, label
    return float(m.group(1)) * {"µs": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]


def test_optbench_time_to_target_labels_read_as_durations(optbench):
    path, seen, _ = optbench
    s = raw(path, "summary")
    axes = [a for a in seen["time_to_target.png"]["axes"] if a["title"].startswith("median time")]
    assert len(axes) == 2
    for ax, tg in zip(axes, ("0.05", "1e-12")):
        assert f"suboptimality {tg} " in ax["title"]
        labels = [t for t in ax["texts"] if not t.startswith("empty")]
        med = s[f"time_to_{tg}_med"]
        assert labels.count("missed") == int(np.sum(~np.isfinite(med)))
        got = sorted(_seconds(t) for t in labels if t != "missed")
        want = sorted(float(v) for v in med if np.isfinite(v))
        assert np.allclose(got, want, rtol=0.01), (got, want)  # three significant digits
        assert ax["xlabel"] == "problem" and ax["ylabel"]
    assert np.isfinite(s["time_to_0.05_med"]).any()


def test_optbench_profile_by_iterations_beside_time_and_empty_panels_say_so(optbench):
    path, seen, _ = optbench
    s = raw(path, "summary")
    assert not np.any(s["hits_1e-12"]) and np.any(s["hits_0.05"])  # no seed reached 1e-12, some 0.05
    axes = seen["profile.png"]["axes"]
    assert [a["xlabel"].split(" ")[1] for a in axes] == ["(time", "(iterations", "(time", "(iterations"]
    for a in axes:
        empty = [t for t in a["texts"] if t.startswith("empty")]
        if "1e-12" in a["title"]:
            assert empty == ["empty: no solver reached 1e-12 on any problem (full batch)"], a
            assert not a["legend"]
        else:
            assert not empty and a["legend"], a
    it = axes[1]
    assert sorted(it["legend"]) == ["momentum", "sgd"]  # by optimizer: the backends run the same iterates
    # rho at tau = 1: the solvers with the fewest median iterations on the problem
    its = {
        o: float(s["iters_to_0.05_med"][s["optimizer"] == k][0]) for k, o in enumerate(("sgd", "momentum"))
    }
    best = min(its.values())
    for o, v in its.items():
        assert it["lines"][o][1][0] == (1.0 if v == best else 0.0), (o, its)


# --- score -----------------------------------------------------------------------------------------------
def _bars(path, close, start="2001-01-01"):
    dates = np.datetime64(start) + np.arange(len(close))
    rows = ["Date,Open,High,Low,Close"] + [f"{t},{c},{c * 1.01},{c * 0.99},{c}" for t, c in zip(dates, close)]
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def score(tmp_path_factory):
    """GOOD: a random walk; FLAT: one that stands still for 400 bars (windows skipped as flat); SHORT: too
    few bars (skipped, with its reason); scanned with a small null for p- and q-values."""
    from mpiapp.engines.scan import report

    d = tmp_path_factory.mktemp("score")
    csv = d / "csv"
    csv.mkdir()
    rng = np.random.default_rng(3)
    _bars(csv / "GOOD.csv", 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 900))))
    flat = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 900)))
    flat[300:700] = flat[299]  # no move at all for 400 bars: the windows inside are skipped
    _bars(csv / "FLAT.csv", flat)
    _bars(csv / "SHORT.csv", 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 40))))
    path = job(
        2,
        "score",
        d / "s.h5",
        "--data",
        f"csv:{csv}",
        "--set",
        "scan.window_bars=300",
        "--set",
        "data.skip_bad_symbols=true",
        "--set",
        "scan.null_samples=4",
    )
    with figures() as seen:
        written = report.plot(str(path), str(d / "png"), top_n=4)
    return str(path), seen, written


def _names(path):
    with h5py.File(path, "r") as f:
        return [x.decode() for x in f["symbols/name"][:]]


def test_score_draws_primaries_only_with_axis_labels_known_bar_and_p_q(score):
    path, seen, written = score
    p = raw(path, "patterns")
    names = _names(path)
    primary = np.flatnonzero(p["group"] == np.arange(len(p["group"])))
    assert len(primary) < len(p["group"])  # the check can fail: there are alternatives to leave out
    tops = sorted(f for f in seen if f.startswith("top"))
    assert len(tops) == min(4, len(primary))
    best = primary[np.argsort(-p["score"][primary], kind="stable")][: len(tops)]
    for f, i in zip(tops, best):
        ax = seen[f]["axes"][0]
        sym = names[p["symbol"][i]]
        assert f.startswith(f"top{tops.index(f) + 1:02d}_{sym}_")
        assert ax["xlabel"] == "date" and ax["ylabel"] == f"price ({sym})"
        assert (
            f"S={p['score'][i]:.3f}" in ax["title"]
            and f"{int(p['n_alternatives'][i])} alternative" in ax["title"]
        )
        known = [lab for lab in ax["legend"] if lab.endswith("(known_bar)")]
        assert len(known) == 1 and re.fullmatch(r"known from \d{4}-\d\d-\d\d \(known_bar\)", known[0]), ax[
            "legend"
        ]
        box = [t for t in ax["texts"] if t.startswith("p")]
        if np.isfinite(p["p_value"][i]):
            assert box == [f"p = {p['p_value'][i]:.3g} (null)\nq = {p['q_value'][i]:.3g} (false discovery)"]
        else:
            assert box == ["p, q: not computed (scan.null_samples = 0)"]
    assert any(np.isfinite(p["p_value"][best]))  # the check can fail: some drawn pattern has a p-value


def test_score_overview_says_where_patterns_were_found_and_why_windows_were_skipped(score):
    path, seen, written = score
    assert "overview.png" in [os.path.basename(f) for f in written]
    ax = seen["overview.png"]["axes"][0]
    w = raw(path, "windows")
    names = _names(path)
    sym = {n: i for i, n in enumerate(names)}
    flat = w["skipped_flat"][w["symbol"] == sym["FLAT"]].astype(bool)
    assert flat.any()  # the check can fail: some of FLAT's windows were skipped
    skipped_texts = [t for t in ax["texts"] if "windows skipped" in t]
    assert f"{int(flat.sum())} of {len(flat)} windows skipped" in "\n".join(skipped_texts)
    good = w["symbol"] == sym["GOOD"]
    assert f"0 of {int(good.sum())} windows skipped" in "\n".join(skipped_texts)
    assert any(t.startswith("SHORT: no windows (") for t in ax["texts"]), ax["texts"]
    assert [lab for lab in ax["legend"] if lab.startswith("window: skipped")], ax["legend"]
    assert (
        "window: pattern kept" in ax["legend"]
        and ax["xlabel"].startswith("date")
        and ax["ylabel"] == "symbol"
    )


def test_window_classes_follow_the_flat_reason_bits():
    from mpiapp.engines.scan.report import WINDOW_CLASSES, window_classes

    w = {
        "flat_reason": [0, 0, 0, 1, 2, 4, 5, 6],
        "skipped_flat": [0, 0, 0, 1, 1, 1, 1, 1],
        "truncated": [0, 0, 1, 0, 0, 0, 0, 0],
        "kept": [2, 0, 1, 0, 0, 0, 0, 0],
    }
    got = [WINDOW_CLASSES[c][0] for c in window_classes(w)]
    assert got == [
        "pattern kept",
        "no valid count",
        "truncated (budget)",
        "skipped: volatility",
        "skipped: range",
        "skipped: pivots",
        "skipped: several reasons",
        "skipped: several reasons",
    ]


# --- train -----------------------------------------------------------------------------------------------
TRAIN_FAST = [
    "--families",
    "lgbm,ridge",
    "--set",
    "train.lgbm.n_estimators=15",
    "--set",
    "train.cv.n_folds=3",
    "--set",
    "train.cv.min_train=100",
    "--set",
    "train.horizon=5",
]


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    """Four random walks (more than the three fold diagrams drawn once), their closes kept here."""
    from mpiapp.engines.train import report

    d = tmp_path_factory.mktemp("train")
    csv = d / "csv"
    csv.mkdir()
    closes = {}
    for i, name in enumerate(("AAA", "BBB", "CCC", "DDD")):
        closes[name] = 100 * np.exp(np.cumsum(np.random.default_rng(10 + i).normal(0, 0.01, 900)))
        _bars(csv / f"{name}.csv", closes[name])
    path = job(2, "train", d / "t.h5", "--data", f"csv:{csv}", *TRAIN_FAST)
    with figures() as seen:
        written = report.plot(str(path), str(d / "png"))
    return str(path), seen, written, closes


def test_train_writes_every_symbols_fold_diagram_and_its_charts(train):
    _, seen, written, closes = train
    names = sorted(
        ["ic_per_symbol.png", "equity.png", "ic_over_time.png", "deciles.png", "importance.png"]
        + [f"folds_{s}.png" for s in closes]
    )
    assert sorted(os.path.basename(f) for f in written) == names and sorted(seen) == names
    for s in closes:
        assert seen[f"folds_{s}.png"]["axes"][0]["xlabel"] == "date"


def test_train_book_and_buy_and_hold_from_the_raw_bars(train):
    path, seen, _, closes = train
    p = raw(path, "predictions")
    names = _names(path)
    by_title = {a["title"].split(":")[0]: a for a in seen["equity.png"]["axes"] if a["title"]}
    h = 5
    for sid, name in enumerate(names):
        ax = by_title[name]
        assert ax["xlabel"] == "date (entry bar)" and ax["ylabel"] == "cumulative log return"
        sel = np.flatnonzero((p["symbol"] == sid) & (p["family"] == 0))
        bars = np.sort(p["bar"][sel])
        c = closes[name]
        y = np.log(c[bars + h] / c[bars])  # the target, from the bars written above
        _, hold = ax["lines"]["buy and hold"]
        assert np.allclose(hold, np.cumsum(y / h), rtol=1e-9, atol=1e-12)
        sel = sel[np.argsort(p["bar"][sel], kind="stable")]
        book = np.cumsum(np.sign(p["yhat"][sel]) * y / h)
        ((label, (_, got)),) = [(k, v) for k, v in ax["lines"].items() if k.startswith("lgbm (turnover ")]
        assert np.allclose(got, book, rtol=1e-9, atol=1e-12)
        turn = np.mean(np.abs(np.diff(np.sign(p["yhat"][sel])))) / 2
        assert label == f"lgbm (turnover {turn:.2f})"


# --- ddp -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    from mpiapp.engines.ddp import report

    d = tmp_path_factory.mktemp("ddp")
    path = job(
        2,
        "ddp",
        d / "d.h5",
        "--data",
        "synthetic:6",
        "--set",
        "data.synthetic_bars=1200",
        "--set",
        "ddp.batch_size=64",
        "--set",
        "ddp.precision=fp32",
        "--set",
        "ddp.hidden=[16]",
        "--set",
        "ddp.patience=0",
        "--set",
        "ddp.warmup_steps=4",
        "--set",
        "ddp.epochs=4",
        "--set",
        f"ddp.features_path={d / 'store.h5'}",
    )
    with figures() as seen:
        written = report.plot(str(path), str(d / "png"))
    return str(path), seen, written


def test_ddp_writes_its_chart_set(ddp):
    _, seen, written = ddp
    names = ["loss.png", "metrics.png", "lr.png", "symbols.png", "throughput.png"]
    assert [os.path.basename(f) for f in written] == names and sorted(seen) == sorted(names)


def test_ddp_per_symbol_test_ic_beside_the_ridge(ddp):
    path, seen, _ = ddp
    m = raw(path, "metrics")
    test = np.flatnonzero((m["split"] == b"test") & (m["symbol"] >= 0))
    assert len(test) > 1
    bars, spread = seen["symbols.png"]["axes"]
    assert bars["xlabel"].startswith("test IC") and bars["ylabel"] == "symbol"
    order = test[np.argsort(m["ic"][test], kind="stable")]
    x, y = bars["lines"]["ridge IC (baseline)"]
    assert np.array_equal(x, m["ridge_ic"][order]) and np.array_equal(y, np.arange(len(order)))
    pooled = np.flatnonzero((m["split"] == b"test") & (m["symbol"] == -1))[0]
    assert f"mean over symbols {m['ic'][pooled]:+.4f}" in bars["legend"]
    assert spread["title"] == f"spread of the per-symbol test ICs ({len(test)} symbols)"
    # and the loss panel marks the ridge's pooled loss of each split
    split = seen["loss.png"]["axes"][1]
    for which in ("validation", "test"):
        row = np.flatnonzero((m["split"] == which.encode()) & (m["symbol"] == -1))[0]
        assert set(split["lines"][f"{which} ridge baseline"][1].tolist()) == {m["ridge_loss"][row]}


def test_ddp_results_load_names_the_symbols_of_predictions_and_metrics(ddp):
    from mpiapp import results

    path, _, _ = ddp
    m = raw(path, "metrics")
    named = {int(i): n.decode() for i, n in zip(m["symbol"], m["name"]) if i >= 0}
    pred = results.load(path, "predictions")
    codes = raw(path, "predictions")["symbol"]
    assert pred["symbol"].dtype == "category" and str(pred["time"].dtype) == "datetime64[ns, UTC]"
    got = pred["symbol"].astype(str).to_numpy()
    for i, n in named.items():
        assert set(got[codes == i]) == {n}


def test_ddp_loss_train_on_its_own_axis_validation_and_test_beside_their_baselines(ddp):
    path, seen, _ = ddp
    s, e = raw(path, "steps"), raw(path, "epochs")
    with h5py.File(path, "r") as f:
        best = int(f.attrs["best_epoch"])
    train, split = seen["loss.png"]["axes"]
    assert train["xlabel"] == "optimizer step" and train["ylabel"].startswith("train loss")
    x, y = train["lines"]["per step"]
    assert np.array_equal(x, s["step"]) and np.array_equal(y, s["loss"])
    smooth = next(v for k, v in train["lines"].items() if k.startswith("smoothed"))[1]
    assert np.std(np.diff(smooth)) < np.std(np.diff(s["loss"]))  # smoothed
    assert split["xlabel"] == "epoch" and "loss" in split["ylabel"]
    for which in ("validation", "test"):
        assert np.array_equal(split["lines"][which][1], e[f"{which}_loss"])
        assert np.array_equal(split["lines"][f"{which} baseline (training mean)"][1], e[f"{which}_base_loss"])
    bx, _ = split["lines"][f"best epoch ({best})"]
    assert set(np.asarray(bx, dtype=float).tolist()) == {float(best)}
    assert not any(
        k.startswith(("per step", "smoothed")) for k in split["lines"]
    )  # train loss on its own axis


def test_ddp_ic_hit_rate_and_learning_rate(ddp):
    path, seen, _ = ddp
    s, e = raw(path, "steps"), raw(path, "epochs")
    ic, hit = seen["metrics.png"]["axes"]
    assert ic["ylabel"].startswith("IC") and hit["ylabel"].startswith("hit rate")
    assert np.array_equal(ic["lines"]["test IC"][1], e["test_ic"])
    assert np.array_equal(hit["lines"]["test baseline (majority sign)"][1], e["test_base_hit_rate"])
    lr = seen["lr.png"]["axes"][0]
    assert lr["ylabel"] == "learning rate"
    ((x, y),) = [v for k, v in lr["lines"].items() if not k.startswith("_")]
    assert np.array_equal(x, s["step"]) and np.array_equal(y, s["lr"])
    assert y[0] < y[3]  # the warm-up can be seen


# --- hpo -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hpo(tmp_path_factory):
    from mpiapp.engines.hpo import report

    d = tmp_path_factory.mktemp("hpo")
    path = job(
        2,
        "hpo",
        d / "h.h5",
        "--objective",
        "scan",
        "--trials",
        "8",
        "--set",
        "hpo.scan_symbols=2",
        "--set",
        "hpo.scan_bars=600",
    )
    with figures() as seen:
        written, skipped = report.charts(str(path), str(d / "png"))
    return str(path), seen, written, skipped


def test_hpo_writes_optunas_charts_with_the_objective_named(hpo):
    import optuna
    import yaml

    path, seen, written, skipped = hpo
    names = [
        f"hpo_{c}.png"
        for c in ("history", "importances", "intermediate_values", "parallel_coordinate", "slice", "contour")
    ]
    names.append("hpo_holdout.png")
    assert not skipped and [os.path.basename(f) for f in written] == names
    with h5py.File(path, "r") as f:
        text = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in f.attrs.items()}
    cfg = yaml.safe_load(text["config"])
    journal, study_name = text["journal"], text["study"]
    w = cfg["hpo"]["scan_false_alarm_weight"]
    named = f"scan objective (maximized):\nrecall - {w:g} x false alarms per 1,000 bars"
    assert seen["hpo_history.png"]["axes"][0]["ylabel"] == named
    assert seen["hpo_slice.png"]["axes"][0]["ylabel"] == named
    assert seen["hpo_intermediate_values.png"]["axes"][0]["ylabel"].startswith(named)
    assert named.replace("\n", " ") in seen["hpo_parallel_coordinate.png"]["axes"][0]["title"]
    # the contour of the two most important parameters, as Optuna ranks them
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    study = optuna.load_study(study_name=study_name, storage=JournalStorage(JournalFileBackend(journal)))
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    top = list(optuna.importance.get_param_importances(study, evaluator=evaluator))[:2]
    contour = seen["hpo_contour.png"]["axes"][0]
    assert [contour["xlabel"], contour["ylabel"]] == sorted(top) or [
        contour["xlabel"],
        contour["ylabel"],
    ] == top
    assert any(a["ylabel"] == named for a in seen["hpo_contour.png"]["axes"])  # the colour bar


def test_hpo_holdout_values_beside_the_search_values(hpo):
    path, seen, _, _ = hpo
    h = raw(path, "holdout")
    ax = seen["hpo_holdout.png"]["axes"][0]
    assert ax["ylabel"].startswith("scan objective (maximized):")
    roles = [r.decode() for r in h["role"]]
    assert "best" in roles and "defaults" in roles
    # the bar labels: search values, then held-out values, as the table has them (3 significant digits)
    want = [f"{v:.3g}" for v in h["search_value"]] + [f"{v:.3g}" for v in h["holdout_value"]]
    assert [t for t in ax["texts"]] == want, ax["texts"]
