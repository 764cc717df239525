"""Per-symbol LightGBM training four ways, side by side in one run (issue 9, item 9).

    python bench/train_scaling.py                      # 200 synthetic symbols x 5,000 bars, 5 folds
    python bench/train_scaling.py --symbols 40         # a quicker look
    python bench/train_scaling.py --repeat 3           # medians of 3 rounds (cases interleaved)
    python bench/train_scaling.py --case-timeout 900   # stop (a)/(b) there; their wall is then a bound

(a) status quo: a plain loop over symbols in one process, LightGBM with its default threads
(b) usual proposal: ProcessPoolExecutor over symbols, as many workers as cores, default threads
    (spawned workers)
(c) mpiexec -n 1 python -m mpiapp.train, runtime.threads_per_rank = cores (2 here)
(d) mpiexec -n 2 python -m mpiapp.train, runtime.threads_per_rank = cores / 2 (1 here)

Every case runs in its own fresh process tree: (a) and (b) in a child Python process (the bench
process itself never loads LightGBM: an OpenMP pool left in it would spin beside the next case), (c)
and (d) under mpiexec. Wall time is measured around the child, so all four include interpreter
start-up and imports. (a) and (b) do the same work as a train unit (features, folds, fit, out-of-fold
predict) but write nothing; (c) and (d) are the real job, results file included. The thread count of
every case is printed: for (a) and (b) what OpenMP reports inside the child (threadpoolctl; with
OMP_NUM_THREADS removed from their environment, so that "default" means the library's default), for
(c) and (d) the rank's thread budget and the per-model count recorded in the results file.
Reports wall time of each, the ratios, load imbalance (busy max/mean across ranks or workers), peak
RSS per rank / worker, and the load average before each case (the machine may be shared).
Goals: (d) >= 1.8x (a), (d) at least as fast as (b), imbalance <= 1.05.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

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


def overrides(a) -> list[str]:
    return [
        f"data.source=synthetic:{a.symbols}",
        f"data.synthetic_bars={a.bars}",
        "train.families=[lgbm]",
        f"train.cv.n_folds={a.folds}",
    ]


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
    src = open_source(
        d.source,
        seed=d.seed,
        synthetic_bars=d.synthetic_bars,
        plant_rate=d.synthetic_plant_rate,
        noise=d.synthetic_noise,
    )
    sd = symbol_data(src.load(name), p)
    for k, f in enumerate(sd.folds):
        Xtr, ytr, Xte, _, _ = fold_arrays(sd, f)
        params, rounds, _, frac = fam._lgb_params(
            fam.FitSpec("lgbm", dict(p.params["lgbm"]), 1, fam.unit_seed(name, "lgbm", k)), rf=False
        )
        params = fam._sized(params, frac, len(ytr))  # leaves sized to the fold's rows, as the job does
        if lgbm_default_threads:
            params.pop("num_threads")  # the library's default: OpenMP decides (all cores it sees)
        import lightgbm as lgb

        b = lgb.train(params, lgb.Dataset(Xtr, label=ytr, params={"verbosity": -1}), num_boost_round=rounds)
        b.predict(Xte)
    return time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _names(a) -> list[str]:
    from mpiapp.io.sources import open_source

    return [n for n, _ in open_source(f"synthetic:{a.symbols}", synthetic_bars=a.bars).index()]


def _omp_threads() -> int:
    """OpenMP threads a parallel region of this process would use (after LightGBM is loaded)."""
    import importlib

    importlib.import_module("lightgbm")  # loads its OpenMP runtime
    from threadpoolctl import threadpool_info

    return max([i["num_threads"] for i in threadpool_info() if i.get("user_api") == "openmp"] or [1])


def sequential(a) -> dict:
    t0 = time.perf_counter()
    busy, rss = 0.0, 0.0
    for n in _names(a):
        b, r = _symbol_work(n, overrides(a), True)
        busy, rss = busy + b, max(rss, r)
    return {
        "wall_in": time.perf_counter() - t0,
        "busy": [busy],
        "rss": [rss],
        "procs": 1,
        "threads": _omp_threads(),
    }


def _pool_task(args):
    name, sets = args
    return os.getpid(), _symbol_work(name, sets, True), _omp_threads()


def pool(a) -> dict:
    from concurrent.futures import ProcessPoolExecutor

    t0 = time.perf_counter()
    per, threads = {}, set()
    workers = len(os.sched_getaffinity(0))
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter per worker, as with forkserver
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
        for pid, (b, r), t in ex.map(_pool_task, [(n, overrides(a)) for n in _names(a)]):
            busy, rss = per.get(pid, (0.0, 0.0))
            per[pid] = (busy + b, max(rss, r))
            threads.add(t)
    return {
        "wall_in": time.perf_counter() - t0,
        "busy": [v[0] for v in per.values()],
        "rss": [v[1] for v in per.values()],
        "procs": workers,
        "threads": max(threads),
    }


def child(a, case: str) -> dict:
    """Run (a) or (b) in a child Python process; its result, with the wall time seen from here."""
    env = {k: v for k, v in ENV.items() if k != "OMP_NUM_THREADS"}
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--case",
        case,
        "--symbols",
        str(a.symbols),
        "--bars",
        str(a.bars),
        "--folds",
        str(a.folds),
    ]
    t0 = time.perf_counter()
    # a session of its own, so that a case over --case-timeout is stopped with its pool workers
    p = subprocess.Popen(
        cmd,
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = p.communicate(timeout=a.case_timeout)
    except subprocess.TimeoutExpired:  # the wall seen so far is a lower bound
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return {
            "wall": time.perf_counter() - t0,
            "stopped": True,
            "busy": [1.0],
            "rss": [],
            "procs": "?",
            "threads": "?",
        }
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out[-3000:]}\n{err[-3000:]}")
    r = json.loads(out.strip().splitlines()[-1])
    r["wall"] = wall
    return r


def mpi(a, n: int, threads: int) -> dict:
    out = os.path.join(a.tmp, f"train_n{n}.h5")
    cmd = [
        "mpiexec",
        "-n",
        str(n),
        "--bind-to",
        "none",
        sys.executable,
        "-m",
        "mpiapp.train",
        "--force",
        "--out",
        out,
    ] + [x for s in overrides(a) + [f"runtime.threads_per_rank={threads}"] for x in ("--set", s)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    from mpiapp.io.results import read_attrs, read_table

    prof = read_table(out, "profile")
    at = read_attrs(out)
    return {
        "wall": wall,
        "busy": list(prof["busy_s"]),
        "rss": list(prof["peak_rss_mb"]),
        "profile": prof,
        "procs": n,
        "threads": int(at["threads_per_rank"]),
        "threads_per_model": int(at["threads_per_model"]),
        "job_wall": float(at["wall_s"]),
    }


def imbalance(busy) -> float:
    m = sum(busy) / len(busy)
    return max(busy) / m if m > 0 else 1.0


def _line(label: str, r: dict) -> str:
    if r.get("stopped"):
        return f"{label:<34} stopped after {r['wall']:8.2f} s (--case-timeout): the wall is a lower bound"
    threads = f"{r['procs']} x {r['threads']} thread(s)"
    extra = ""
    if "job_wall" in r:
        threads += f" (per model {r['threads_per_model']})"
        extra = f"   start-up+exit {r['wall'] - r['job_wall']:.1f} s"
    return (
        f"{label:<34} {threads:<30} wall {r['wall']:8.2f} s   imbalance {imbalance(r['busy']):.3f}   "
        f"peak RSS MB {', '.join(f'{x:.0f}' for x in r['rss'])}{extra}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=200)
    ap.add_argument("--bars", type=int, default=5000)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only", default="abcd", help="which of a, b, c, d to run")
    ap.add_argument(
        "--repeat", type=int, default=1, help="rounds of all cases (interleaved); medians reported"
    )
    ap.add_argument(
        "--omp-wait-policy",
        choices=("unset", "passive", "active"),
        default="unset",
        help="OMP_WAIT_POLICY for all four (set before any OpenMP library loads); on a machine "
        "shared with other jobs, spinning OpenMP threads (the GNU default) can be 10x slower",
    )
    ap.add_argument(
        "--case-timeout",
        type=float,
        default=None,
        help="stop (a) or (b) after this many seconds and report the wall as a lower bound",
    )
    ap.add_argument("--case", choices=("a", "b"), help=argparse.SUPPRESS)  # internal: run one case here
    a = ap.parse_args()
    if a.case:
        print(json.dumps(sequential(a) if a.case == "a" else pool(a)))
        return 0
    if a.omp_wait_policy != "unset":
        os.environ["OMP_WAIT_POLICY"] = ENV["OMP_WAIT_POLICY"] = a.omp_wait_policy.upper()
    cores = len(os.sched_getaffinity(0))
    print(
        f"{a.symbols} synthetic symbols x {a.bars} bars, LightGBM, {a.folds} folds; {cores} cores; "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; OMP_NUM_THREADS for (a)/(b): unset, "
        f"for (c)/(d): the rank's budget; load average {_load()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        a.tmp = tmp
        runs: dict = {k: [] for k in a.only}
        todo = {
            "a": ("(a) sequential loop, default", lambda: child(a, "a")),
            "b": ("(b) ProcessPoolExecutor, default", lambda: child(a, "b")),
            "c": ("(c) mpiexec -n 1", lambda: mpi(a, 1, cores)),
            "d": ("(d) mpiexec -n 2", lambda: mpi(a, 2, max(1, cores // 2))),
        }
        for rnd in range(a.repeat):
            for k in a.only:
                label, fn = todo[k]
                load = _load()
                r = fn()
                runs[k].append(r)
                print(
                    f"{_line(label, r)}   load before {load}"
                    + (f"   round {rnd + 1}" if a.repeat > 1 else ""),
                    flush=True,
                )
    wall = {k: statistics.median(r["wall"] for r in v) for k, v in runs.items()}
    if a.repeat > 1:
        print("medians: " + "   ".join(f"({k}) {w:.2f} s" for k, w in wall.items()))
    if "a" in runs and "d" in runs:
        s = wall["a"] / wall["d"]
        print(f"(d) vs (a): {s:.2f}x   goal >= 1.8x   {'met' if s >= 1.8 else 'MISSED'}")
    if "b" in runs and "d" in runs:
        s = wall["b"] / wall["d"]
        bound = ">= " if any(r.get("stopped") for r in runs["b"]) else ""
        print(f"(d) vs (b): {bound}{s:.2f}x   goal >= 1.0x   {'met' if s >= 1.0 else 'MISSED'}")
    if "c" in runs and "d" in runs:
        print(f"(d) vs (c): {wall['c'] / wall['d']:.2f}x")
    from mpiapp.runtime.profile import table

    if "d" in runs:
        imb = statistics.median(imbalance(r["busy"]) for r in runs["d"])
        print(f"(d) load imbalance {imb:.3f}   goal <= 1.05   {'met' if imb <= 1.05 else 'MISSED'}")
    for k in ("c", "d"):
        if k in runs:
            prof = runs[k][-1]["profile"]
            rows = [
                {c: (v[i].decode() if isinstance(v[i], bytes) else v[i].item()) for c, v in prof.items()}
                for i in range(len(prof["busy_s"]))
            ]
            print(f"({k}) profile (last round):\n" + table(rows))
    print(f"load average at the end {_load()}")
    return 0


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
