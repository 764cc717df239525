"""The ddp job's data-parallel scaling on CPUs, side by side in one run (issue 10, item 9).

    python bench/ddp_scaling.py                         # 60 synthetic symbols x 3,000 bars, 300 steps
    python bench/ddp_scaling.py --symbols 20 --steps 100     # a quick look
    python bench/ddp_scaling.py --model tcn --batch 2048 --steps 60 --no-memory   # compute-bound steps

Same global batch (ddp.batch_size) in every case, the same steps (ddp.max_steps), the MLP unless
--model says otherwise, gradients all-reduced as the job does by default (MPI on CPU ranks;
--set ddp.cpu_allreduce=gloo for gloo); one feature store built first and reused by every case:
  (a) mpiexec -n 1, 1 thread       (b) mpiexec -n 2, 1 thread each       (c) mpiexec -n 1, 2 threads
  (d) bf16 autocast against fp32 at (c)
  (e) peak RSS per rank at -n 2 with a feature store of S rows and one of 4 S rows
Throughput = training samples / the training loop's seconds (the epochs table: evaluation and
start-up excluded). Scaling efficiency = samples/s (b) / (2 x samples/s (a)); goal >= 0.90. The
all-reduce share = gradient all-reduce seconds / the step's seconds (compute + all-reduce + read +
optimizer + stop agreement), per rank, from the profile table. Goal for (e): flat within 10 %.
Each case runs --repeats times, interleaved; medians are reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def env() -> dict:
    return dict(
        os.environ,
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
        PYTHONPATH=ROOT,
    )


def job(n: int, out: str, store: str, a, *extra) -> dict:
    """Run the ddp job; returns samples/s, all-reduce shares and peak RSS per rank."""
    from mpiapp.io.results import read_table

    cmd = [
        shutil.which("mpiexec") or "mpiexec",
        "-n",
        str(n),
        "--bind-to",
        "none",
        sys.executable,
        "-m",
        "mpiapp.ddp",
        "--data",
        f"synthetic:{a.symbols}",
        "--set",
        f"data.synthetic_bars={a.bars}",
        "--out",
        out,
        "--set",
        f"ddp.features_path={store}",
        "--set",
        f"ddp.batch_size={a.batch}",
        "--set",
        f"ddp.max_steps={a.steps}",
        "--set",
        "ddp.epochs=1000",
        "--set",
        "ddp.checkpoint_steps=0",
        "--set",
        f"ddp.model={a.model}",
        "--set",
        "ddp.patience=0",
        "--force",
        "--no-progress",
        *extra,
    ]
    for kv in a.sets:
        cmd += ["--set", kv]
    r = subprocess.run(cmd, env=env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    e = read_table(out, "epochs")
    p = read_table(out, "profile")
    samples = float(sum(e["steps"])) * a.batch
    secs = float(sum(e["seconds"]))
    step = p["compute_s"] + p["allreduce_s"] + p["read_s"] + p["optimizer_s"] + p["agree_s"]
    return {
        "sps": samples / secs,
        "allreduce_share": [float(x) for x in p["allreduce_s"] / step],
        "read_share": [float(x) for x in p["read_s"] / step],
        "rss": [float(x) for x in p["peak_rss_mb"]],
        "compute_s": [float(x) for x in p["compute_s"]],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=60)
    ap.add_argument("--bars", type=int, default=3000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--model", default="mlp", choices=("mlp", "tcn", "gru"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true", help="skip (e), the 4x store")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="sets",
        help="passed to every case, e.g. --set ddp.cpu_allreduce=gloo",
    )
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ddp_bench_")
    store = os.path.join(tmp, "features.h5")
    print(f"building the feature store: {a.symbols} symbols x {a.bars} bars", flush=True)
    job(2, os.path.join(tmp, "warm.h5"), store, argparse.Namespace(**{**vars(a), "steps": 2}))
    cases = {
        "a 1 rank x 1 thread": (1, ["--set", "ddp.threads=1", "--set", "ddp.precision=fp32"]),
        "b 2 ranks x 1 thread": (2, ["--set", "ddp.threads=1", "--set", "ddp.precision=fp32"]),
        "c 1 rank x 2 threads": (1, ["--set", "ddp.threads=2", "--set", "ddp.precision=fp32"]),
        "d 1 rank x 2 threads bf16": (1, ["--set", "ddp.threads=2", "--set", "ddp.precision=bf16"]),
    }
    res: dict = {k: [] for k in cases}
    for rep in range(a.repeats):
        for name, (n, extra) in cases.items():
            r = job(n, os.path.join(tmp, "run.h5"), store, a, *extra)
            res[name].append(r)
            print(
                f"  [{rep + 1}/{a.repeats}] {name}: {r['sps']:.0f} samples/s, all-reduce share "
                f"{', '.join(f'{x:.1%}' for x in r['allreduce_share'])}, peak RSS "
                f"{', '.join(f'{x:.0f}' for x in r['rss'])} MB",
                flush=True,
            )
    med = {k: statistics.median(x["sps"] for x in v) for k, v in res.items()}
    eff = med["b 2 ranks x 1 thread"] / (2 * med["a 1 rank x 1 thread"])
    share = statistics.median(s for x in res["b 2 ranks x 1 thread"] for s in x["allreduce_share"])
    print("\nmedians (samples/s):")
    for k, v in med.items():
        print(f"  {k:<28} {v:>10.0f}")
    print(f"scaling efficiency (b) / 2 (a) = {eff:.3f}   goal >= 0.90: {'met' if eff >= 0.9 else 'MISSED'}")
    print(f"2 ranks / 1 rank x 2 threads = {med['b 2 ranks x 1 thread'] / med['c 1 rank x 2 threads']:.3f}")
    print(f"all-reduce share of the step at 2 ranks: {share:.1%} (median over ranks and repeats)")
    print(
        f"bf16 / fp32 at 1 rank x 2 threads: {med['d 1 rank x 2 threads bf16'] / med['c 1 rank x 2 threads']:.3f}"
    )

    if a.no_memory:
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    # (e) memory with a store 4x larger (4x the symbols)
    big = argparse.Namespace(**{**vars(a), "symbols": 4 * a.symbols})
    store4 = os.path.join(tmp, "features4.h5")
    job(2, os.path.join(tmp, "warm4.h5"), store4, argparse.Namespace(**{**vars(big), "steps": 2}))
    r1 = job(2, os.path.join(tmp, "m1.h5"), store, a, "--set", "ddp.threads=1")
    r4 = job(2, os.path.join(tmp, "m4.h5"), store4, big, "--set", "ddp.threads=1")
    rows1 = _rows(store)
    rows4 = _rows(store4)
    ratio = max(b / x for b, x in zip(r4["rss"], r1["rss"]))
    print(
        f"peak RSS per rank: store {rows1:,} rows -> {', '.join(f'{x:.0f}' for x in r1['rss'])} MB; "
        f"store {rows4:,} rows -> {', '.join(f'{x:.0f}' for x in r4['rss'])} MB; largest ratio {ratio:.3f}   "
        f"goal within 1.10: {'met' if ratio <= 1.10 else 'MISSED'}"
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _rows(path: str) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return int(f["X"].shape[0])


if __name__ == "__main__":
    sys.exit(main())
