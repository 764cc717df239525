"""Per-symbol LightGBM training four ways, side by side in one run (issue 9, item 9).

    python bench/train_scaling.py                      # 200 synthetic symbols x 5,000 bars, 5 folds
    python bench/train_scaling.py --symbols 20 --bars 2000   # a quick look

(a) status quo: a plain loop over symbols in one process, LightGBM with its default threads
(b) usual proposal: ProcessPoolExecutor over symbols, as many workers as cores, default threads
    (spawned workers: forked ones can hang once the parent has used OpenMP)
(c) mpiexec -n 1 python -m mpiapp.train (the rank's thread plan: all cores, here 2 threads)
(d) mpiexec -n 2 python -m mpiapp.train (1 thread per rank)

(a) and (b) do the same work as a train unit (features, folds, fit, out-of-fold predict) but write
nothing; (c) and (d) are the real job, results file included. Reports wall time of each, the ratios,
load imbalance (busy max/mean across ranks or workers) and peak RSS per rank / worker.
Goals: (d) >= 1.8x (a), (d) at least as fast as (b), imbalance <= 1.05.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_btl="vader,self", OMPI_MCA_pml="ob1")  # fmt: skip


def overrides(a) -> list[str]:
    return [f"data.source=synthetic:{a.symbols}", f"data.synthetic_bars={a.bars}", "train.families=[lgbm]",
            f"train.cv.n_folds={a.folds}"]


def _symbol_work(name: str, sets: list[str], lgbm_default_threads: bool) -> tuple[float, float]:
    """One symbol the way a sequential script does it: (busy seconds, peak RSS MB of this process)."""
    from mpiapp import config
    from mpiapp.engines.train import families as fam
    from mpiapp.engines.train.dataset import fold_arrays, symbol_data
    from mpiapp.engines.train.params import TrainParams
    from mpiapp.io.sources import open_source

    t0 = time.perf_counter()
    cfg = config.load(overrides=sets)
    p = TrainParams.from_config(cfg.train)
    d = cfg.data
    src = open_source(d.source, seed=d.seed, synthetic_bars=d.synthetic_bars, plant_rate=d.synthetic_plant_rate,
                      noise=d.synthetic_noise)  # fmt: skip
    sd = symbol_data(src.load(name), p)
    for k, f in enumerate(sd.folds):
        Xtr, ytr, Xte, _, _ = fold_arrays(sd, f)
        params, rounds = fam._lgb_params(fam.FitSpec("lgbm", dict(p.params["lgbm"]), 1, fam.unit_seed(name, "lgbm", k)),
                                         rf=False)  # fmt: skip
        if lgbm_default_threads:
            params.pop("num_threads")  # the library's default: OpenMP decides (all cores it sees)
        import lightgbm as lgb

        b = lgb.train(params, lgb.Dataset(Xtr, label=ytr, params={"verbosity": -1}), num_boost_round=rounds)
        b.predict(Xte)
    return time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _names(a) -> list[str]:
    from mpiapp.io.sources import open_source

    return [n for n, _ in open_source(f"synthetic:{a.symbols}", synthetic_bars=a.bars).index()]


def sequential(a) -> dict:
    t0 = time.perf_counter()
    busy, rss = 0.0, 0.0
    for n in _names(a):
        b, r = _symbol_work(n, overrides(a), True)
        busy, rss = busy + b, max(rss, r)
    return {"wall": time.perf_counter() - t0, "busy": [busy], "rss": [rss]}


def _pool_task(args):
    name, sets = args
    return os.getpid(), _symbol_work(name, sets, True)


def pool(a) -> dict:
    from concurrent.futures import ProcessPoolExecutor

    t0 = time.perf_counter()
    per = {}
    # spawn, not fork: this process already ran LightGBM in (a), and a child forked from a process
    # whose GNU OpenMP pool exists can hang in its first parallel region
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=ctx) as ex:
        for pid, (b, r) in ex.map(_pool_task, [(n, overrides(a)) for n in _names(a)]):
            busy, rss = per.get(pid, (0.0, 0.0))
            per[pid] = (busy + b, max(rss, r))
    return {"wall": time.perf_counter() - t0, "busy": [v[0] for v in per.values()],
            "rss": [v[1] for v in per.values()]}


def mpi(a, n: int, threads: int) -> dict:
    out = os.path.join(a.tmp, f"train_n{n}.h5")
    cmd = ["mpiexec", "-n", str(n), "--bind-to", "none", sys.executable, "-m", "mpiapp.train", "--force",
           "--out", out] + [x for s in overrides(a) + [f"runtime.threads_per_rank={threads}"] for x in ("--set", s)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    from mpiapp.io.results import read_table

    prof = read_table(out, "profile")
    return {"wall": wall, "busy": list(prof["busy_s"]), "rss": list(prof["peak_rss_mb"]), "profile": prof}


def imbalance(busy) -> float:
    m = sum(busy) / len(busy)
    return max(busy) / m if m > 0 else 1.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=200)
    ap.add_argument("--bars", type=int, default=5000)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only", default="abcd", help="which of a, b, c, d to run")
    ap.add_argument("--omp-wait-policy", choices=("unset", "passive", "active"), default="unset",
                    help="OMP_WAIT_POLICY for all four (set before any OpenMP library loads); on a machine "
                    "shared with other jobs, spinning OpenMP threads (the GNU default) can be 10x slower")  # fmt: skip
    a = ap.parse_args()
    if a.omp_wait_policy != "unset":
        os.environ["OMP_WAIT_POLICY"] = ENV["OMP_WAIT_POLICY"] = a.omp_wait_policy.upper()
    cores = len(os.sched_getaffinity(0))
    print(f"{a.symbols} synthetic symbols x {a.bars} bars, LightGBM, {a.folds} folds; {cores} cores; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        a.tmp = tmp
        runs = {}
        todo = {"a": ("(a) sequential loop, default threads", lambda: sequential(a)),
                "b": (f"(b) ProcessPoolExecutor x {os.cpu_count()}, default threads", lambda: pool(a)),
                "c": ("(c) mpiexec -n 1, 2 threads", lambda: mpi(a, 1, 2)),
                "d": ("(d) mpiexec -n 2, 1 thread each", lambda: mpi(a, 2, 1))}
        for k in a.only:
            label, fn = todo[k]
            r = fn()
            runs[k] = r
            print(f"{label:<45} wall {r['wall']:8.2f} s   imbalance {imbalance(r['busy']):.3f}   peak RSS MB "
                  f"{', '.join(f'{x:.0f}' for x in r['rss'])}", flush=True)
    if "a" in runs and "d" in runs:
        s = runs["a"]["wall"] / runs["d"]["wall"]
        print(f"(d) vs (a): {s:.2f}x   goal >= 1.8x   {'met' if s >= 1.8 else 'MISSED'}")
    if "b" in runs and "d" in runs:
        s = runs["b"]["wall"] / runs["d"]["wall"]
        print(f"(d) vs (b): {s:.2f}x   goal >= 1.0x   {'met' if s >= 1.0 else 'MISSED'}")
    if "c" in runs and "d" in runs:
        print(f"(d) vs (c): {runs['c']['wall'] / runs['d']['wall']:.2f}x")
    if "d" in runs:
        imb = imbalance(runs["d"]["busy"])
        print(f"(d) load imbalance {imb:.3f}   goal <= 1.05   {'met' if imb <= 1.05 else 'MISSED'}")
        from mpiapp.runtime.profile import table

        prof = runs["d"]["profile"]
        rows = [{k: (v[i].decode() if isinstance(v[i], bytes) else v[i].item()) for k, v in prof.items()}
                for i in range(len(prof["busy_s"]))]
        print("(d) profile:\n" + table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
