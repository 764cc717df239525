"""Can the train job's defaults find a weak signal that is really there, and stay quiet where none is?

    python bench/train_signal.py                        # AR(1) and random-walk universes, the defaults
    python bench/train_signal.py --before               # ... and the earlier defaults, side by side
    python bench/train_signal.py --before --scan --real # + random walks with scan features, + builtin:sp500stocks
    python bench/train_signal.py --set train.lgbm.num_leaves=2 --only ar1   # another setting
    python bench/train_signal.py --timing --before      # seconds per model and family, before and after
    python bench/train_signal.py --ceiling [--bars 30000]  # what linear forecasts can reach on these series

Universes (written as CSV files of closes, seeded, independent of the train code):
    ar1   --symbols series of --bars daily bars whose one-bar log returns follow r_t = phi r_{t-1} + e_t
          (phi = --phi, e Gaussian, sd(r) = 1 %)
    rw    as many random walks (phi = 0): no signal at all
The oracle IC: the best linear forecast of the h-bar return y_t = r_{t+1} + ... + r_{t+h} given the
past is r_t * (phi + ... + phi^h); its Pearson correlation with y_t is

    rho = (phi + ... + phi^h) / sqrt(h + 2 sum_{k=1..h-1} (h - k) phi^k)

and, the pair being Gaussian, its Spearman correlation (the IC) is (6 / pi) asin(rho / 2)
(Pearson 1907). Printed beside a long simulation (2,000,000 bars) that checks it, and beside the
oracle's IC realised on the very bars the models were tested on ("oracle here", from the CSV closes).

Each setting runs the real job (`mpiexec -n 2 python -m mpiapp.train`, --families all five) on each
universe; per family the figures come from the results file's metrics, baselines and predictions
tables (so an earlier version's file is read the same way): mean out-of-fold IC over symbols, its
Driscoll-Kraay standard error, t and n_eff (mpiapp.engines.train.significance, lag = h - 1), the ratio
to the oracle IC, RMSE over the historical-mean forecast's (mean over symbols) and the share of
symbols below 1. --before runs the earlier defaults (the keys as they were before this measurement,
passed with --set). Goals (issue 25): at the default horizon LightGBM >= 2/3 and ridge >= 0.8 of
the oracle IC on ar1; |t| < 3 for every family on rw, with and without scan features. --timing times
train_unit per family in this process (1 thread, the same units for both settings, interleaved,
median of --repeat rounds).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
ENV = dict(
    os.environ,
    OMPI_ALLOW_RUN_AS_ROOT="1",
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
    OMPI_MCA_rmaps_base_oversubscribe="1",
    OMPI_MCA_btl="vader,self",
    OMPI_MCA_pml="ob1",
    PYTHONPATH=ROOT,
)

FAMILIES = "lgbm,xgb,rf,mlp,ridge"
#: the defaults before this measurement, as overrides of today's keys
BEFORE = [
    "train.lgbm.learning_rate=0.03",
    "train.lgbm.num_leaves=15",
    "train.lgbm.min_data_in_leaf=50",
    "train.lgbm.min_leaf_fraction=0",
    "train.xgb.learning_rate=0.03",
    "train.xgb.max_depth=4",
    "train.xgb.min_child_weight=5",
    "train.xgb.min_child_fraction=0",
    "train.rf.num_leaves=31",
    "train.rf.min_data_in_leaf=20",
    "train.rf.min_leaf_fraction=0",
]
#: early stopping on the inner validation slice, for the measurement in docs/train.md (--early-stopping)
EARLY = [
    "train.lgbm.early_stopping_rounds=50",
    "train.xgb.early_stopping_rounds=50",
    "train.mlp.early_stopping_epochs=5",
    "train.mlp.epochs=40",
]


def oracle_ic(phi: float, h: int) -> tuple[float, float]:
    """(Pearson, Spearman) correlation of the oracle linear forecast with the h-bar return (closed form)."""
    num = sum(phi**j for j in range(1, h + 1))
    rho = num / math.sqrt(h + 2 * sum((h - k) * phi**k for k in range(1, h)))
    return rho, 6 / math.pi * math.asin(rho / 2)


def ar1_returns(rng, n: int, phi: float, sd: float = 0.01) -> np.ndarray:
    from scipy.signal import lfilter

    e = rng.normal(0.0, sd * math.sqrt(1 - phi * phi), n)
    r = lfilter([1.0], [1.0, -phi], e)
    return r


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def simulated_oracle(phi: float, h: int, n: int = 2_000_000, seed: int = 1) -> float:
    r = ar1_returns(np.random.default_rng(seed), n, phi)
    c = np.cumsum(r)
    y = c[h:] - c[:-h]
    return spearman(r[:-h], y)


def write_universe(folder: str, kind: str, symbols: int, bars: int, phi: float, seed: int) -> None:
    """CSV files Date,Close: symbol i's returns from numpy's default_rng((seed, i, kind))."""
    os.makedirs(folder, exist_ok=True)
    days = np.datetime64("2000-01-03") + np.arange(bars)
    for i in range(symbols):
        rng = np.random.default_rng([seed, i, 1 if kind == "ar1" else 0])
        c = 50.0 * np.exp(np.cumsum(ar1_returns(rng, bars, phi if kind == "ar1" else 0.0)))
        with open(os.path.join(folder, f"{kind.upper()}{i:03d}.csv"), "w") as f:
            f.write("Date,Close\n" + "".join(f"{d},{v:.10g}\n" for d, v in zip(days, c)))


def run_job(
    data: str, out: str, sets: list[str], extra: list[str], ranks: int, checkout: str, fams: str
) -> float:
    if checkout != ROOT:  # an earlier checkout has no ridge
        fams = ",".join(f for f in fams.split(",") if f != "ridge")
    cmd = (
        [
            "mpiexec",
            "-n",
            str(ranks),
            sys.executable,
            "-m",
            "mpiapp.train",
            "--data",
            data,
            "--out",
            out,
            "--families",
            fams,
            "--no-progress",
        ]
        + [a for s in sets for a in ("--set", s)]
        + extra
    )
    env = dict(ENV, PYTHONPATH=checkout)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=checkout, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 3):
        sys.exit(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return wall


def figures(path: str, horizon: int, oracle_here: dict | None) -> dict:
    """Per family: mean IC, Driscoll-Kraay se / t / n_eff, RMSE ratio, share below 1, realised oracle."""
    from mpiapp.engines.train import significance as sig
    from mpiapp.engines.train.families import FAMILY_BY_ID
    from mpiapp.io.results import read_table

    m = read_table(path, "metrics")
    b = read_table(path, "baselines")
    p = read_table(path, "predictions")
    prof = read_table(path, "profile")
    names = [n.decode() for n in read_table(path, "symbols")["name"]]
    hm = {
        int(s): v
        for s, v, k, f in zip(b["symbol"], b["rmse"], b["baseline"], b["fold"])
        if k == 1 and f == -1
    }
    out = {}
    for fid in sorted(set(m["family"].tolist())):
        sel = (m["family"] == fid) & (m["fold"] == -1)
        syms = m["symbol"][sel]
        ics = m["ic"][sel]
        ratio = np.array([r / hm[int(s)] for s, r in zip(syms, m["rmse"][sel])])
        parts, orc = [], []
        for s in syms:
            q = (p["family"] == fid) & (p["symbol"] == s)
            order = np.argsort(p["bar"][q], kind="stable")
            u = sig.rank_products(p["yhat"][q][order], p["y"][q][order])
            if np.isfinite(u).all():
                parts.append((p["time"][q][order], sig.to_fixed(sig.centred(u))))
            if oracle_here is not None:
                orc.append(oracle_here[names[int(s)]](p["bar"][q][order], p["y"][q][order]))
        t, v = sig.merge_time_sums(parts)
        se = sig.panel_se(v, len(parts), horizon)
        mean = float(np.nanmean(ics))
        out[FAMILY_BY_ID[fid]] = {
            "symbols": int(syms.size),
            "ic": mean,
            "se": se,
            "t": mean / se,
            "n_eff": 1 / se**2,
            "rmse_ratio": float(ratio.mean()),
            "beats": float(np.mean(ratio < 1)),
            "oracle_here": float(np.mean(orc)) if orc else float("nan"),
        }
    busy = float(np.sum(prof["busy_s"])) if "busy_s" in prof else float("nan")
    models = float(np.sum(prof["models"])) if "models" in prof else float("nan")
    out["_busy_per_model"] = busy / models if models else float("nan")
    return out


def realised_oracle(folder: str, phi: float, h: int) -> dict:
    """{symbol: f(bars, y) -> IC of the oracle forecast r_t on those bars}, from the CSV closes alone."""
    out = {}
    for fn in sorted(os.listdir(folder)):
        c = np.loadtxt(os.path.join(folder, fn), delimiter=",", skiprows=1, usecols=1)
        r = np.diff(np.log(c), prepend=np.nan)

        def f(bars, y, r=r, c=c):
            yy = np.log(c[bars + h] / c[bars])
            assert np.allclose(yy, y, rtol=0, atol=1e-9), "the predictions' y are not the CSV's h-bar returns"
            return spearman(r[bars], y)

        out[fn[:-4]] = f
    return out


def show(title: str, rows: dict, oracle: float | None, wall: float) -> None:
    print(f"\n{title}   (job wall {wall:.1f} s, busy per model {rows['_busy_per_model'] * 1000:.0f} ms)")
    print(
        f"  {'family':<6} {'symbols':>7} {'mean IC':>8} {'± se':>7} {'t':>6} {'n_eff':>7} "
        f"{'IC/oracle':>9} {'RMSE/hist-mean':>14} {'beats hist-mean':>15}"
    )
    for fam, r in rows.items():
        if fam.startswith("_"):
            continue
        rel = f"{r['ic'] / oracle:>9.2f}" if oracle else f"{'—':>9}"
        print(
            f"  {fam:<6} {r['symbols']:>7} {r['ic']:>8.4f} {r['se']:>7.4f} {r['t']:>6.2f} {r['n_eff']:>7,.0f} "
            f"{rel} {r['rmse_ratio']:>14.4f} {r['beats']:>15.0%}"
        )
    here = [
        r["oracle_here"] for k, r in rows.items() if not k.startswith("_") and np.isfinite(r["oracle_here"])
    ]
    if here:
        print(f"  oracle forecast r_t on the same out-of-fold bars: mean IC {here[0]:.4f}")


def timing(a, settings: dict) -> None:
    """Seconds per train_unit, per family and setting, interleaved, 1 thread, medians of a.repeat."""
    from mpiapp import config
    from mpiapp.engines.train import families as fam
    from mpiapp.engines.train.dataset import symbol_data
    from mpiapp.engines.train.params import TrainParams
    from mpiapp.engines.train.unit import train_unit
    from mpiapp.io.sources import open_source

    src = open_source(f"csv:{a.dir}/ar1")
    names = [n for n, _ in src.index()][: a.timing_symbols]
    res: dict = {}
    for rnd in range(a.repeat):
        for label, sets in settings.items():
            params = TrainParams.from_config(config.load(overrides=sets).train)
            for f in params.families:
                t = 0.0
                n = 0
                for nm in names:
                    sd = symbol_data(src.load(nm), params)
                    for k in range(len(sd.folds)):
                        t0 = time.perf_counter()
                        train_unit(sd, (0, fam.FAMILIES[f][0], k), nm, params, 1, "cpu")
                        t += time.perf_counter() - t0
                        n += 1
                res.setdefault((f, label), []).append(t / n)
    print(
        f"\nseconds per model (train_unit, 1 thread, {len(names)} ar1 symbols x 5 folds, median of {a.repeat})"
    )
    labels = list(settings)
    print(
        f"  {'family':<6} "
        + " ".join(f"{x:>9}" for x in labels)
        + ("   after/before" if len(labels) == 2 else "")
    )
    for f in ("lgbm", "xgb", "rf", "mlp", "ridge"):
        v = [statistics.median(res[(f, x)]) if (f, x) in res else float("nan") for x in labels]
        ratio = f"   {v[1] / v[0]:.2f}" if len(v) == 2 and np.isfinite(v[0]) else ""
        print(f"  {f:<6} " + " ".join(f"{x:>9.3f}" for x in v) + ratio)


def ceiling(a) -> None:
    """What a linear forecast can reach on these series, fold by fold as the job does (in process):
    least squares on the one informative feature (ret_1 = r_t) against all features, and the oracle
    coefficient with the fold's training mean as its level; mean IC over the ar1 symbols."""
    from mpiapp import config
    from mpiapp.engines.train.dataset import fold_arrays, symbol_data
    from mpiapp.engines.train.metrics import spearman as ic
    from mpiapp.engines.train.params import TrainParams
    from mpiapp.io.sources import open_source

    params = TrainParams.from_config(config.load(overrides=[f"train.horizon={a.horizon}"]).train)
    src = open_source(f"csv:{a.dir}/ar1")
    beta = sum(a.phi**j for j in range(1, a.horizon + 1))
    res: dict = {}
    for name, _ in src.index():
        sd = symbol_data(src.load(name), params)
        j = sd.ds.names.index("ret_1")
        cols = {
            "OLS on ret_1 alone": [j],
            f"OLS on all {len(sd.ds.names)} features": list(range(len(sd.ds.names))),
        }
        ys, ps = [], {}
        for fold in sd.folds:
            Xtr, ytr, Xte, yte, _ = fold_arrays(sd, fold)
            ys.append(yte)
            for label, c in cols.items():
                A = np.column_stack([np.ones(len(ytr)), Xtr[:, c]])
                coef = np.linalg.lstsq(A, ytr, rcond=None)[0]
                ps.setdefault(label, []).append(coef[0] + Xte[:, c] @ coef[1:])
            ps.setdefault("oracle coefficient, level = training mean", []).append(
                ytr.mean() + beta * Xte[:, j]
            )
            ps.setdefault("oracle forecast r_t (no level)", []).append(beta * Xte[:, j])
        y = np.concatenate(ys)
        for label, parts in ps.items():
            res.setdefault(label, []).append(ic(np.concatenate(parts), y))
    _, spear = oracle_ic(a.phi, a.horizon)
    n = len(res[next(iter(res))])
    print(f"\nlinear ceiling on {n} ar1 symbols x {a.bars} bars (out-of-fold IC, mean over symbols)")
    for label, v in res.items():
        print(f"  {label:<44} {np.mean(v):.4f}   {np.mean(v) / spear:.2f} of the oracle IC")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=20)
    ap.add_argument("--bars", type=int, default=3000)
    ap.add_argument("--phi", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=25)
    ap.add_argument("--horizon", type=int, default=5)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--families", default=FAMILIES, help=f"--families of the job (default {FAMILIES})")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an override for 'after'")
    ap.add_argument("--before", action="store_true", help="also run the earlier defaults (BEFORE)")
    ap.add_argument("--early-stopping", action="store_true", help="also run the defaults with EARLY")
    ap.add_argument(
        "--before-checkout", default=ROOT, help="run 'before' from this checkout (default: this one)"
    )
    ap.add_argument("--only", default="ar1,rw", help="universes: ar1, rw (comma-separated)")
    ap.add_argument(
        "--scan", action="store_true", help="also random walks with scan features (mpiapp.score first)"
    )
    ap.add_argument("--real", action="store_true", help="also builtin:sp500stocks")
    ap.add_argument(
        "--timing", action="store_true", help="seconds per model per family instead of the job runs"
    )
    ap.add_argument(
        "--ceiling", action="store_true", help="what linear forecasts reach, fold by fold, instead"
    )
    ap.add_argument("--timing-symbols", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--dir", default=None, help="keep universes and results here (default: a temporary folder)"
    )
    a = ap.parse_args()
    keep = a.dir is not None
    tmp = a.dir or tempfile.mkdtemp(prefix="train_signal_")
    a.dir = tmp
    h = a.horizon
    pear, spear = oracle_ic(a.phi, h)
    print(
        f"oracle IC, AR(1) phi = {a.phi}, horizon {h}: Spearman {spear:.4f} (Pearson {pear:.4f}); "
        f"simulated over 2,000,000 bars: {simulated_oracle(a.phi, h):.4f}"
    )
    for kind in ("ar1", "rw"):
        if not os.path.isdir(os.path.join(tmp, kind)):
            write_universe(os.path.join(tmp, kind), kind, a.symbols, a.bars, a.phi, a.seed)
    common = [f"train.horizon={h}"]
    settings = {"after": common + a.set}
    if a.before:
        settings = {"before": common + BEFORE, **settings}
    if a.early_stopping:
        settings["early stopping"] = common + EARLY + a.set
    if a.timing:
        timing(a, settings)
        return
    if a.ceiling:
        ceiling(a)
        return
    runs = [(k, f"csv:{os.path.join(tmp, k)}", []) for k in a.only.split(",") if k]
    if a.scan:
        score = os.path.join(tmp, "rw_score.h5")
        if not os.path.exists(score):
            subprocess.run(
                [
                    "mpiexec",
                    "-n",
                    str(a.ranks),
                    sys.executable,
                    "-m",
                    "mpiapp.score",
                    "--data",
                    f"csv:{os.path.join(tmp, 'rw')}",
                    "--out",
                    score,
                    "--no-progress",
                ],
                env=ENV,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
        runs.append(("rw+scan", f"csv:{os.path.join(tmp, 'rw')}", ["--scan", score]))
    if a.real:
        runs.append(("sp500stocks", "builtin:sp500stocks", []))
    for name, data, extra in runs:
        here = realised_oracle(os.path.join(tmp, "ar1"), a.phi, h) if name == "ar1" else None
        for label, sets in settings.items():
            out = os.path.join(tmp, f"{name}_{label}.h5")
            if os.path.exists(out):
                os.remove(out)
            checkout = a.before_checkout if label == "before" else ROOT
            if checkout != ROOT:  # an earlier checkout: its own defaults are 'before'
                sets = common
            wall = run_job(data, out, sets, extra, a.ranks, checkout, a.families)
            show(
                f"{name} — {label} ({'; '.join(sets[1:]) or 'defaults'})",
                figures(out, h, here),
                spear if name == "ar1" else None,
                wall,
            )
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
