"""Does pruning pay on the `train` objective? Fold evaluations saved, and the best value it still finds.

    python bench/hpo_pruning.py                      # 30 trials x 4 seeds, none / median / SHA / hyperband
    python bench/hpo_pruning.py --pruners none median --seeds 0 1 2 3 4 5 6 7   # the goal's figure
    python bench/hpo_pruning.py --folds 10 --warmup 2 --pruners none median

Why a benchmark of its own: the goal (issue 11, item 8) is two-sided — pruning must save >= 40 % of the
fold evaluations *and* leave the best value within the noise of the unpruned search — and the noise
is the seed-to-seed spread of a whole search, so each variant runs as several complete searches.

Setup: `mpiexec -n RANKS python -m mpiapp.hpo --objective train` (async, TPE seeded by the study seed,
LightGBM, its default space, the first `--symbols` embedded series' last `--bars` bars, purged
walk-forward CV with `--folds` folds). One step = one fold of every symbol (the objective reports the
running mean IC after each), so fold evaluations = steps reported x symbols, read from the trials table
(a pruned trial counts the steps it ran, including the one it was pruned at). Each pruner runs once per
study seed; the seeds are the outer loop so a change in the machine's load hits every pruner alike.
Pruners: median (hpo.pruner_startup_trials, hpo.pruner_warmup_steps = --startup, --warmup), Optuna's
successive halving and hyperband at their defaults (min resource from the first trial, reduction 3/4).

Judgement, stated before measuring: over the seeds, a pruner's mean best value is "within the noise"
when |mean_pruned - mean_none| <= 2 x sd_none, sd_none the sample standard deviation (ddof 1) of the
unpruned searches' best values over the same seeds; the goal is met when that holds and the fold
evaluations saved (summed over seeds) are >= 40 %. The difference in standard errors of the two means
is printed beside it, for a stricter reading.

Printed too, from the unpruned runs' journals (pooled over seeds): how well the running value after
fold k ranks the trials' final values (Spearman) — what a pruner bets on — and the fold-to-fold
spread of a trial's IC against the spread of final values across trials.
"""

from __future__ import annotations

import argparse
import os
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
)
PRUNERS = {"none": "none", "median": "median", "sha": "successive_halving", "hyperband": "hyperband"}


def search(a, tmp: str, pruner: str, seed: int) -> dict:
    """One complete search; its trials table's fold evaluations, best value and per-trial steps."""
    from mpiapp.io.results import read_table

    out = os.path.join(tmp, f"{pruner}_{seed}.h5")
    cmd = [
        "mpiexec",
        "-n",
        str(a.ranks),
        "--bind-to",
        "none",
        sys.executable,
        "-m",
        "mpiapp.hpo",
        "--force",
        "--out",
        out,
        "--objective",
        "train",
        "--trials",
        str(a.trials),
        "--set",
        f"hpo.seed={seed}",
        "--set",
        f"hpo.pruner={PRUNERS[pruner]}",
        "--set",
        f"hpo.pruner_startup_trials={a.startup}",
        "--set",
        f"hpo.pruner_warmup_steps={a.warmup}",
        "--set",
        f"hpo.train_symbols={a.symbols}",
        "--set",
        f"hpo.train_bars={a.bars}",
        "--set",
        f"train.cv.n_folds={a.folds}",
        "--set",
        "train.threads_per_model=1",
    ]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    t = read_table(out, "trials")
    done = t["state"] == b"COMPLETE"
    return {
        "folds": int(t["steps"].sum()) * a.symbols,
        "best": float(np.max(t["value"][done])),
        "pruned": int((t["state"] == b"PRUNED").sum()),
        "complete": int(done.sum()),
        "wall": time.perf_counter() - t0,
        "out": out,
    }


def fold_values(out: str, study: str = "mpiapp") -> np.ndarray:
    """(complete trials, folds): each fold's mean IC over the symbols, recovered from the running means
    the objective reported (fold k = (k+1) m_k - k m_(k-1)), read from the journal."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.load_study(study_name=study, storage=JournalStorage(JournalFileBackend(out[:-3] + ".journal")))
    rows = []
    for t in s.get_trials(deepcopy=False):
        if t.state.name == "COMPLETE":
            m = np.array([t.intermediate_values[k] for k in sorted(t.intermediate_values)])
            k = np.arange(len(m))
            rows.append((k + 1) * m - k * np.concatenate([[0.0], m[:-1]]))
    return np.array(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--pruners", nargs="+", default=list(PRUNERS), choices=list(PRUNERS))
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--symbols", type=int, default=4, help="hpo.train_symbols")
    ap.add_argument("--bars", type=int, default=1500, help="hpo.train_bars")
    ap.add_argument("--folds", type=int, default=5, help="train.cv.n_folds (= steps)")
    ap.add_argument("--startup", type=int, default=3, help="median pruner: hpo.pruner_startup_trials")
    ap.add_argument("--warmup", type=int, default=0, help="median pruner: hpo.pruner_warmup_steps")
    a = ap.parse_args()
    if "none" not in a.pruners:
        a.pruners = ["none", *a.pruners]
    t0 = time.perf_counter()
    print(f"{os.cpu_count()} CPUs, load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"train objective (lgbm, default space, TPE), {a.trials} trials, -n {a.ranks} async, {a.symbols} "
        f"symbols x last {a.bars} bars, {a.folds} folds = {a.folds} steps; median pruner: {a.startup} startup "
        f"trials, {a.warmup} warm-up steps; seeds {' '.join(map(str, a.seeds))}",
        flush=True,
    )
    runs: dict = {p: [] for p in a.pruners}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"  {'pruner':<10} {'seed':>4} {'folds':>6} {'pruned':>6} {'best':>9} {'wall s':>7}")
        for seed in a.seeds:
            for p in a.pruners:
                r = search(a, tmp, p, seed)
                runs[p].append(r)
                print(
                    f"  {p:<10} {seed:>4} {r['folds']:>6} {r['pruned']:>6} {r['best']:>9.5f} {r['wall']:>7.1f}",
                    flush=True,
                )
        folds = np.concatenate([fold_values(r["out"]) for r in runs["none"]])
    full = a.trials * a.folds * a.symbols * len(a.seeds)
    f_none = sum(r["folds"] for r in runs["none"])
    b_none = np.array([r["best"] for r in runs["none"]])
    m0, s0 = b_none.mean(), b_none.std(ddof=1) if len(b_none) > 1 else float("nan")
    print(
        "\nrule: goal met when fold evaluations saved >= 40 % and |mean best - unpruned mean best| <= 2 sd of "
        "the unpruned best over seeds (ddof 1)"
    )
    print(
        f"  {'pruner':<10} {'saved':>7} {'best mean +- sd':>20} {'diff/sd':>8} {'diff/se':>8}  within  goal"
    )
    for p in a.pruners:
        b = np.array([r["best"] for r in runs[p]])
        saved = 1 - sum(r["folds"] for r in runs[p]) / f_none
        sd = b.std(ddof=1) if len(b) > 1 else float("nan")
        diff = b.mean() - m0
        se = np.sqrt(s0**2 / len(b_none) + sd**2 / len(b))
        within = bool(abs(diff) <= 2 * s0)
        print(
            f"  {p:<10} {saved:>7.1%} {b.mean():>11.5f} +- {sd:.5f} {diff / s0:>8.2f} {diff / se if se else 0:>8.2f}"
            f"  {str(within):<6}  {within and saved >= 0.40}"
        )
    print(f"  (unpruned: {f_none} fold evaluations = {full} expected)")
    if len(folds) > 2:
        from scipy.stats import spearmanr

        final = folds.mean(axis=1)
        print(
            "  what a pruner bets on (unpruned trials pooled over seeds, n=%d): Spearman of the running IC after "
            "fold k with the final value: %s"
            % (
                len(final),
                " ".join(
                    f"k={k} {spearmanr(folds[:, : k + 1].mean(axis=1), final)[0]:.2f}"
                    for k in range(folds.shape[1])
                ),
            )
        )
        # trial x fold interaction: what differs between trials at the same fold beyond their parameters'
        # lasting effect (the fold's own level, common to every trial, cancels in a pruner's comparison)
        r = folds - folds.mean(axis=0) - folds.mean(axis=1)[:, None] + folds.mean()
        k = folds.shape[1]
        noise = (r**2).sum() / ((len(folds) - 1) * (k - 1)) / k  # variance of a trial's value from fold noise
        total = final.var(ddof=1)
        print(
            f"  final values across trials: sd {np.sqrt(total):.5f}; of which fold-level noise (trial x fold "
            f"interaction / {k} folds) sd {np.sqrt(noise):.5f}: the parameters explain "
            f"{max(0.0, 1 - noise / total):.0%} of the variance of a trial's value"
        )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"({time.perf_counter() - t0:.0f} s)  rerun: python bench/hpo_pruning.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
