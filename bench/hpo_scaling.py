"""Throughput of the MPI search against Optuna's own several-process recipe, measured in one run.

    python bench/hpo_scaling.py                    # 200 trials at -n 1, -n 2 (async), and the reference,
                                                   # with TPE and with the random sampler
    python bench/hpo_scaling.py --pruning          # also: fold evaluations saved by pruning (scan objective)

Objective (`objective` below): CPU-bound numpy work whose size grows with |x| (about 10 to 60 ms a
trial on the project's machines; sorts, not sleeps), TPE, seed 0, no pruning. Trials/s is the number
of trials divided by the span from the first trial's start to the last trial's end, read from the
journal with Optuna itself for every run. Busy share: each rank's seconds evaluating / the study
loop's wall seconds (profile table). Rank 0's overhead: its seconds asking, telling and answering,
as a share of the loop. Reference: two processes running `study.optimize` on one study in one
JournalFileBackend file (Optuna's documented way to use several processes), 100 trials each.
"-n 2 prefetch 1": hpo.prefetch=1 (each group holds its next trial while it computes). Each variant
runs --repeats times, interleaved, and the median is reported: the machines are shared and their
load moves between runs.

--pruning: the scan objective (steps = symbols) with hpo.pruner=median against none, three study
seeds each at -n 2; reports the step evaluations (symbol scans) each needed and the best values.
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
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_btl="vader,self", OMPI_MCA_pml="ob1")  # fmt: skip
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


def run_hpo(n: int, out: str, trials: int, sampler: str, prefetch: int = 0) -> dict:
    space = out + ".space.yaml"
    import yaml

    with open(space, "w") as f:
        yaml.safe_dump(SPACE, f)
    cmd = ["mpiexec", "-n", str(n), "--bind-to", "none", sys.executable, "-m", "mpiapp.hpo", "--force", "--out", out,
           "--objective", "bench/hpo_scaling.py:objective", "--space", space, "--trials", str(trials),
           "--set", f"hpo.sampler={sampler}", "--set", f"hpo.prefetch={prefetch}"]  # fmt: skip
    p = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    from mpiapp.io.results import read_table

    prof = read_table(out, "profile")
    tps, done = rate(out[:-3] + ".journal", "mpiapp")
    return {"tps": tps, "done": done, "busy": prof["busy_s"] / prof["loop_s"],
            "overhead": float(prof["overhead_s"][0] / prof["loop_s"][0])}  # fmt: skip


def run_reference(tmp: str, trials: int, sampler: str, procs: int = 2, tag=0) -> dict:
    journal = os.path.join(tmp, f"ref_{sampler}_{tag}.journal")
    smp = ("optuna.samplers.TPESampler(seed=0, constant_liar=True)" if sampler == "tpe" else
           "optuna.samplers.RandomSampler(seed=None)")  # fmt: skip
    code = REFERENCE.format(root=ROOT, journal=journal, sampler=smp, n=trials // procs)
    ps = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT) for _ in range(procs)]
    if any(p.wait() != 0 for p in ps):
        sys.exit("the reference run failed")
    tps, done = rate(journal, "ref")
    return {"tps": tps, "done": done}


def pruning(tmp: str, trials: int, warmup: int) -> None:
    from mpiapp.io.results import read_table

    print(f"\npruning (scan objective, {trials} trials, 8 symbols = 8 steps, median pruner after 5 trials and "
          f"{warmup} warm-up steps, -n 2, seeds 0-2):")  # fmt: skip
    print(f"  {'pruner':<8} {'seed':>4} {'steps':>6} {'pruned':>6} {'best':>8}")
    total = {}
    for pruner in ("none", "median"):
        for seed in (0, 1, 2):
            out = os.path.join(tmp, f"p_{pruner}_{seed}.h5")
            cmd = ["mpiexec", "-n", "2", "--bind-to", "none", sys.executable, "-m", "mpiapp.hpo", "--force",
                   "--out", out, "--objective", "scan", "--trials", str(trials), "--set", f"hpo.pruner={pruner}",
                   "--set", f"hpo.seed={seed}", "--set", "hpo.scan_symbols=8", "--set", "hpo.pruner_startup_trials=5",
                   "--set", f"hpo.pruner_warmup_steps={warmup}"]  # fmt: skip
            p = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
            t = read_table(out, "trials")
            steps = int(t["steps"].sum())
            best = float(np.nanmax(np.where(t["state"] == b"COMPLETE", t["value"], np.nan)))
            total.setdefault(pruner, []).append((steps, best))
            print(f"  {pruner:<8} {seed:>4} {steps:>6} {int((t['state'] == b'PRUNED').sum()):>6} {best:>8.4f}")
    s_none = sum(s for s, _ in total["none"])
    s_med = sum(s for s, _ in total["median"])
    b_none = [b for _, b in total["none"]]
    b_med = [b for _, b in total["median"]]
    print(f"  step evaluations saved by pruning: {1 - s_med / s_none:.1%} (goal >= 40 %)")
    print(f"  best value: none {np.mean(b_none):.4f} +- {np.std(b_none):.4f} (seeds), median "
          f"{np.mean(b_med):.4f} +- {np.std(b_med):.4f}; within the seed-to-seed spread of the unpruned "
          f"search: {abs(np.mean(b_med) - np.mean(b_none)) <= max(np.std(b_none), 1e-12) * 2}")  # fmt: skip


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--samplers", nargs="+", default=["tpe", "random"], choices=("tpe", "random"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pruning", action="store_true")
    ap.add_argument("--pruning-trials", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=0, help="hpo.pruner_warmup_steps of the pruned runs")
    a = ap.parse_args()
    t0 = time.perf_counter()
    print(f"{os.cpu_count()} CPUs, load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in a.samplers if a.trials else ():
            runs: dict = {k: [] for k in ("n1", "n2", "n2p", "ref")}
            for i in range(a.repeats):  # interleaved, so a change in the machine's load hits every variant
                runs["n1"].append(run_hpo(1, os.path.join(tmp, f"n1_{sampler}_{i}.h5"), a.trials, sampler))
                runs["n2"].append(run_hpo(2, os.path.join(tmp, f"n2_{sampler}_{i}.h5"), a.trials, sampler))
                runs["n2p"].append(run_hpo(2, os.path.join(tmp, f"n2p_{sampler}_{i}.h5"), a.trials, sampler, 1))
                runs["ref"].append(run_reference(tmp, a.trials, sampler, tag=i))
            med = {k: sorted(v, key=lambda r: r["tps"])[len(v) // 2] for k, v in runs.items()}
            print(f"{a.trials} trials, CPU-bound objective (10-60 ms), sampler {sampler}, seed 0, no pruning; "
                  f"trials/s from the journal, median of {a.repeats} interleaved runs "
                  "(all runs in brackets)")  # fmt: skip
            names = {"n1": "-n 1 async", "n2": "-n 2 async", "n2p": "-n 2 prefetch 1",
                     "ref": "reference"}  # fmt: skip
            for k, r in med.items():
                every = " ".join(f"{x['tps']:.1f}" for x in runs[k])
                line = f"  {names[k]:<16} {r['tps']:7.2f} trials/s [{every}]"
                if k != "ref":
                    line += ("   busy share " + " ".join(f"rank {i} {b:.1%}" for i, b in enumerate(r["busy"]))
                             + f"   rank 0 owner CPU {r['overhead']:.1%}")  # fmt: skip
                else:
                    line += "   (2 processes, study.optimize, one journal file)"
                print(line)
            for k in ("n2", "n2p"):
                print(f"  {names[k]}: 1 -> 2 ranks {med[k]['tps'] / med['n1']['tps']:.2f}x (goal >= 1.9)   "
                      f"vs reference {med[k]['tps'] / med['ref']['tps']:.2f}x (goal >= 1)   busy share >= 95 % on every rank: "
                      f"{bool(min(med[k]['busy']) >= 0.95)}")  # fmt: skip
            print()
        if a.pruning:
            pruning(tmp, a.pruning_trials, a.warmup)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"({time.perf_counter() - t0:.0f} s)  rerun: python bench/hpo_scaling.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
