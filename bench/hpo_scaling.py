"""Throughput of the MPI search against Optuna's own several-process recipe, measured in one run.

    python bench/hpo_scaling.py --samplers tpe     # 200 trials: -n 1, -n 2 (async), -n 2 prefetch 0,
    python bench/hpo_scaling.py --samplers random  # and the reference; 5 interleaved repeats
    python bench/hpo_scaling.py --pruning --trials 0   # fold evaluations saved by pruning (scan objective;
                                                       # the train objective: bench/hpo_pruning.py)

Objective (`objective` below): CPU-bound numpy work whose size grows with |x| (about 10 to 60 ms a
trial on the project's machines; sorts, not sleeps), seed 0, no pruning. Trials/s is the number of
trials divided by the span from the first trial's start to the last trial's end, read from the journal
with Optuna itself for every run. Busy share: each rank's seconds evaluating / the study loop's wall
seconds (profile table). Rank 0's overhead: its owner thread's CPU seconds (asking, telling,
answering) as a share of the loop. Reference: two processes running `study.optimize` on one study in
one JournalFileBackend file (Optuna's documented way to use several processes), 100 trials each.
Variants: "-n 1" and "-n 2" at the defaults (hpo.prefetch=1: a group other than rank 0's holds its
next trial while it computes; hpo.ask_ahead=0), "-n 2 prefetch 0" (rank 0 hears the result, tells and
asks before the group gets its next trial).

Ranks are bound one to a core (`--bind core`, the default: adding a rank adds a core, as on a cluster
node; rank 0's owner thread shares its rank's core), or not bound (`--bind none`; then -n 1 may run its
asks on the second core). The reference's two processes are not bound.

Noise: the machines are shared and their load moves. Each variant runs --repeats times; in repeat i
the variants run in an order rotated by i (so no variant always runs first or after the same one);
ratios are taken within a repeat (runs minutes apart never share a ratio) and the median over repeats
is reported beside the ratio of the medians; the 1-minute load average before each run is printed.
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
SPACE = {"x": {"type": "float", "low": -3.0, "high": 3.0}, "y": {"type": "float", "low": -3.0, "high": 3.0}}


def work(x: float, seed: int) -> float:
    """CPU work growing with |x|: sorts of 1 + 2|x| blocks of 200,000 random numbers."""
    rng = np.random.default_rng(seed)
    acc = 0.0
    for _ in range(1 + int(round(2 * abs(x)))):
        acc += float(np.sort(rng.random(200_000))[1000])
    return acc


def value(x: float, y: float, seed: int) -> float:
    return (x - 1.0) ** 2 + (y + 0.5) ** 2 + 1e-6 * work(x, seed)


def objective(params, ctx):
    """The mpiapp.hpo objective (MODULE:FUNCTION)."""
    return value(params["x"], params["y"], ctx.seed)


REFERENCE = r"""
import sys, numpy as np, optuna
sys.path.insert(0, {root!r})
from bench.hpo_scaling import value
from optuna.storages.journal import JournalFileBackend, JournalStorage
optuna.logging.set_verbosity(optuna.logging.WARNING)
storage = JournalStorage(JournalFileBackend({journal!r}))
study = optuna.create_study(study_name="ref", storage=storage, load_if_exists=True,
                            sampler={sampler})
def f(trial):
    return value(trial.suggest_float("x", -3.0, 3.0), trial.suggest_float("y", -3.0, 3.0), trial.number)
study.optimize(f, n_trials={n})
"""


def rate(journal: str, study: str) -> tuple[float, int]:
    """(trials/s from the first start to the last end, complete trials), read with Optuna."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.load_study(study_name=study, storage=JournalStorage(JournalFileBackend(journal)))
    t = [x for x in s.get_trials() if x.state.name == "COMPLETE"]
    span = (max(x.datetime_complete for x in t) - min(x.datetime_start for x in t)).total_seconds()
    return len(t) / span, len(t)


def run_hpo(n: int, out: str, trials: int, sampler: str, sets: tuple = (), bind: str = "core") -> dict:
    space = out + ".space.yaml"
    import yaml

    with open(space, "w") as f:
        yaml.safe_dump(SPACE, f)
    cmd = [
        "mpiexec",
        "-n",
        str(n),
        "--bind-to",
        bind,
        sys.executable,
        "-m",
        "mpiapp.hpo",
        "--force",
        "--out",
        out,
        "--objective",
        "bench/hpo_scaling.py:objective",
        "--space",
        space,
        "--trials",
        str(trials),
        "--set",
        f"hpo.sampler={sampler}",
    ] + [x for kv in sets for x in ("--set", kv)]
    load = os.getloadavg()[0]
    p = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    from mpiapp.io.results import read_table

    prof = read_table(out, "profile")
    tps, done = rate(out[:-3] + ".journal", "mpiapp")
    return {
        "tps": tps,
        "done": done,
        "busy": prof["busy_s"] / prof["loop_s"],
        "load": load,
        "overhead": float(prof["overhead_s"][0] / prof["loop_s"][0]),
    }


def run_reference(tmp: str, trials: int, sampler: str, procs: int = 2, tag=0) -> dict:
    journal = os.path.join(tmp, f"ref_{sampler}_{tag}.journal")
    smp = (
        "optuna.samplers.TPESampler(seed=0, constant_liar=True)"
        if sampler == "tpe"
        else "optuna.samplers.RandomSampler(seed=None)"
    )
    code = REFERENCE.format(root=ROOT, journal=journal, sampler=smp, n=trials // procs)
    load = os.getloadavg()[0]
    ps = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT) for _ in range(procs)]
    if any(p.wait() != 0 for p in ps):
        sys.exit("the reference run failed")
    tps, done = rate(journal, "ref")
    return {"tps": tps, "done": done, "load": load}


def pruning(tmp: str, trials: int, warmup: int) -> None:
    from mpiapp.io.results import read_table

    print(
        f"\npruning (scan objective, {trials} trials, 8 symbols = 8 steps, median pruner after 5 trials and "
        f"{warmup} warm-up steps, -n 2, seeds 0-2):"
    )
    print(f"  {'pruner':<8} {'seed':>4} {'steps':>6} {'pruned':>6} {'best':>8}")
    total = {}
    for pruner in ("none", "median"):
        for seed in (0, 1, 2):
            out = os.path.join(tmp, f"p_{pruner}_{seed}.h5")
            cmd = [
                "mpiexec",
                "-n",
                "2",
                "--bind-to",
                "none",
                sys.executable,
                "-m",
                "mpiapp.hpo",
                "--force",
                "--out",
                out,
                "--objective",
                "scan",
                "--trials",
                str(trials),
                "--set",
                f"hpo.pruner={pruner}",
                "--set",
                f"hpo.seed={seed}",
                "--set",
                "hpo.scan_symbols=8",
                "--set",
                "hpo.pruner_startup_trials=5",
                "--set",
                f"hpo.pruner_warmup_steps={warmup}",
            ]
            p = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
            t = read_table(out, "trials")
            steps = int(t["steps"].sum())
            best = float(np.nanmax(np.where(t["state"] == b"COMPLETE", t["value"], np.nan)))
            total.setdefault(pruner, []).append((steps, best))
            print(
                f"  {pruner:<8} {seed:>4} {steps:>6} {int((t['state'] == b'PRUNED').sum()):>6} {best:>8.4f}"
            )
    s_none = sum(s for s, _ in total["none"])
    s_med = sum(s for s, _ in total["median"])
    b_none = [b for _, b in total["none"]]
    b_med = [b for _, b in total["median"]]
    print(f"  step evaluations saved by pruning: {1 - s_med / s_none:.1%} (goal >= 40 %)")
    print(
        f"  best value: none {np.mean(b_none):.4f} +- {np.std(b_none):.4f} (seeds), median "
        f"{np.mean(b_med):.4f} +- {np.std(b_med):.4f}; within the seed-to-seed spread of the unpruned "
        f"search: {abs(np.mean(b_med) - np.mean(b_none)) <= max(np.std(b_none), 1e-12) * 2}"
    )


NAMES = {"n1": "-n 1", "n2": "-n 2", "n2p0": "-n 2 prefetch 0", "ref": "reference"}
SETS = {"n1": (), "n2": (), "n2p0": ("hpo.prefetch=0",)}


def scaling(tmp: str, a, sampler: str) -> None:
    runs: dict = {k: [] for k in NAMES}
    for i in range(a.repeats):
        order = list(NAMES)[i % len(NAMES) :] + list(NAMES)[: i % len(NAMES)]  # rotated: no fixed position
        for k in order:
            out = os.path.join(tmp, f"{k}_{sampler}_{i}.h5")
            if k == "ref":
                runs[k].append(run_reference(tmp, a.trials, sampler, tag=i))
            else:
                runs[k].append(
                    run_hpo(2 if k.startswith("n2") else 1, out, a.trials, sampler, SETS[k], a.bind)
                )
    med = {k: sorted(v, key=lambda r: r["tps"])[len(v) // 2] for k, v in runs.items()}
    print(
        f"{a.trials} trials, CPU-bound objective (10-60 ms), sampler {sampler}, seed 0, no pruning, ranks bound "
        f"to {a.bind}; trials/s from the journal, median of {a.repeats} repeats (every run in brackets, "
        "with the 1-minute load average before it)"
    )
    for k, r in med.items():
        every = " ".join(f"{x['tps']:.1f}@{x['load']:.1f}" for x in runs[k])
        line = f"  {NAMES[k]:<15} {r['tps']:7.2f} trials/s [{every}]"
        if k != "ref":
            line += (
                "  busy "
                + " ".join(f"r{i} {b:.1%}" for i, b in enumerate(r["busy"]))
                + f"  owner CPU {r['overhead']:.1%}"
            )
        else:
            line += "  (2 processes, study.optimize, one journal file)"
        print(line)

    def paired(x, y):
        q = [p["tps"] / b["tps"] for p, b in zip(runs[x], runs[y])]
        return np.median(q), " ".join(f"{v:.2f}" for v in q)

    for k in ("n2", "n2p0"):
        busy = min(b for r in runs[k] for b in r["busy"])
        mb = min(med[k]["busy"])
        (s1, e1), (s2, e2) = paired(k, "n1"), paired(k, "ref")
        print(
            f"  {NAMES[k]}: 1 -> 2 ranks {s1:.2f}x median of repeats [{e1}], {med[k]['tps'] / med['n1']['tps']:.2f}x "
            f"ratio of medians (goal >= 1.9); vs reference {s2:.2f}x [{e2}] (goal >= 1); busy share of the "
            f"median run's ranks >= 95 %: {mb >= 0.95} (lowest rank of any run {busy:.1%})"
        )
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--samplers", nargs="+", default=["tpe", "random"], choices=("tpe", "random"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bind", default="core", choices=("core", "none"), help="mpiexec --bind-to")
    ap.add_argument("--pruning", action="store_true")
    ap.add_argument("--pruning-trials", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=0, help="hpo.pruner_warmup_steps of the pruned runs")
    a = ap.parse_args()
    t0 = time.perf_counter()
    print(f"{os.cpu_count()} CPUs, load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in a.samplers if a.trials else ():
            scaling(tmp, a, sampler)
        if a.pruning:
            pruning(tmp, a.pruning_trials, a.warmup)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"({time.perf_counter() - t0:.0f} s)  rerun: python bench/hpo_scaling.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
