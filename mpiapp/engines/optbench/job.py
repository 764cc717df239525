"""The optimizer benchmark as a job on the work layer: units are grid cells.

What is optbench-specific here, and only this: checking the grid, planning one unit per cell with
an estimated cost (LPT), loading on each rank only the problems of its cells, one backend device per
rank where there are GPUs (local rank modulo GPUs), running a cell (engine.Workspace, through the
cell cache), and finalize — the cells and curves tables in key order, the per-group summary with
bootstrap intervals, performance profiles, the problems table, and the JSON and Markdown summaries
written next to the results file.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from ... import config
from ...runtime import errors, signals, sync, xla
from ...work import JobSpec, Plan, Unit
from ...work.output import Found, Target
from . import backends, grid, problems, summary
from .engine import CURVE_COLUMNS, KEY_COLUMNS, Workspace, cell_columns
from .grid import KEY_NAMES, BenchParams

MD_HEAD = b"# optbench summary"  # the first line of summary.markdown: an optbench summary is told by it

#: (n, d) of the real problems after the split (train rows; d with the intercept), for cost estimates
SIZES = {
    "digits": (1438, 62),
    "breast_cancer": (455, 31),
    "diabetes": (354, 11),
    "mnist5k": (4000, 663),
    "california": (16512, 9),
    "mnist": (48000, 785),
    "finance": (21379, 11),
}


def size_of(name: str, p: BenchParams) -> tuple[int, int]:
    """(n, d) of a problem from its name alone (no data is read): the plan's cost model."""
    m = problems.SYNTHETIC.match(name)
    if m:
        d = int(m["d"])
        return max(d + 1, int(round(p.rows_ratio * d))), d
    m = problems.LOGREG.match(name)
    if m:
        return 4 * int(m["d"]), int(m["d"])
    return SIZES.get(name, (10_000, 100))


def out_path(cfg) -> str:
    return config.output_path(cfg, "optbench")


def cache_dir(cfg, p: BenchParams) -> str:
    return p.cache_dir or (out_path(cfg) + ".cache")


def build(ctx) -> JobSpec:
    """Collective: the optbench spec. Raises errors.JobError (every rank, exit 2) for an unknown
    problem, one too large for the memory free on rank 0's node, a bad grid value, or a backend that
    cannot run here (cupy without a GPU, jax not installed)."""
    import psutil

    cfg = ctx.cfg
    p = None
    free = sync.bcast(int(psutil.virtual_memory().available) if ctx.rank == 0 else None, comm=ctx.comm)
    with errors.agreement(ctx.comm):
        p = BenchParams.from_config(cfg.optbench)
        problems.check_grid(p, free)
        if "cupy" in p.backends and not backends.cupy_usable():
            raise errors.JobError(
                "optbench.backends includes cupy, but CuPy sees no GPU here (or is not "
                "installed); drop it: --backends numpy,torch"
            )
    if "torch" in p.backends:
        with signals.leaving_at_once("torch"):
            import torch  # noqa: F401  (after the thread plan set the thread variables)
    if "jax" in p.backends:  # XLA's pools are sized when its client is made: under the plan, now
        plan = ctx.rt.thread_plan
        with errors.agreement(ctx.comm):
            try:
                with signals.leaving_at_once("jax"):
                    xla.import_jax(plan.threads, plan.cpus, plan.local_rank)
            except ImportError as exc:
                raise errors.JobError(
                    f"optbench.backends includes jax, but JAX does not import here ({exc}): "
                    "pip install 'mpiapp[jax]' (./setup.sh does), or drop it: "
                    "--backends numpy,torch"
                ) from None
    ctx.rt.enforce()
    ctx.backend = ",".join(p.backends)
    job = _OptbenchJob(p, cache_dir(cfg, p))
    tables = {"curves": list(KEY_COLUMNS) + CURVE_COLUMNS, "cells": list(KEY_COLUMNS) + cell_columns(p)}
    return JobSpec(
        name="optbench",
        key_columns=list(KEY_COLUMNS),
        tables=tables,
        plan=job.plan,
        prepare=job.prepare,
        run_unit=job.run_unit,
        finalize=job.finalize,
        resume_sections=("optbench",),
        counters=("cached",),
        sides=sides(cfg, p),
    )


def summary_paths(cfg) -> tuple[str, str]:
    """The Markdown and JSON summaries written beside the results file (OUT without .h5, + .md/.json)."""
    base = os.path.splitext(out_path(cfg))[0]
    return base + ".md", base + ".json"


def _md_kind(path: str) -> Found:
    if os.path.getsize(path) == 0:
        return Found(False, "empty (0 bytes)", damaged=True)
    with open(path, "rb") as fh:
        head = fh.read(len(MD_HEAD))
    return Found(True, "an optbench summary") if head == MD_HEAD else Found(False, "not an optbench summary")


def _json_kind(path: str) -> Found:
    if os.path.getsize(path) == 0:
        return Found(False, "empty (0 bytes)", damaged=True)
    try:
        with open(path, "rb") as fh:
            doc = json.loads(fh.read())
    except ValueError:
        return Found(False, "not an optbench summary (not JSON)")
    if isinstance(doc, dict) and doc.get("job") == "optbench":
        return Found(True, "an optbench summary")
    return Found(False, 'not an optbench summary (no "job": "optbench" in it)')


def sides(cfg, p: BenchParams) -> tuple:
    """The files optbench writes besides its results file: the two summaries and the cell cache
    folder (work.output.Claim checks them before anything is written)."""
    md, js = summary_paths(cfg)
    key = "optbench.cache_dir" if p.cache_dir else "--out"
    return (
        Target(md, "--out", _md_kind, "an optbench summary"),
        Target(js, "--out", _json_kind, "an optbench summary"),
        Target(
            cache_dir(cfg, p),
            key,
            lambda path: Found(True, "a folder"),
            "a folder (the cell cache)",
            folder=True,
        ),
    )


class _OptbenchJob:
    def __init__(self, p: BenchParams, cache_dir: str):
        self.p, self.cache_dir = p, cache_dir
        self.ws = None

    # rank 0 only
    def plan(self, ctx) -> Plan:
        units = []
        for c in grid.cells(self.p):
            n, d = size_of(c.problem, self.p)
            units.append(Unit(len(units), grid.cost(self.p, c, n, d), c.key))
        inputs = [
            os.path.join(self.p.data_dir, f)
            for f in ("california_housing.csv", "mnist.npz")
            if self.p.data_dir
        ]
        return Plan(units, inputs=inputs)

    def prepare(self, ctx, mine) -> None:
        plan = ctx.rt.thread_plan
        device = plan.local_rank % max(1, _gpu_count(self.p))
        self.ws = Workspace(self.p, self.cache_dir, threads=plan.threads, device=device, plan=plan)
        names = self.p.problems if mine is None else sorted({self.p.problems[u.key[0]] for u in mine})
        with errors.agreement(ctx.comm):
            with ctx.timers.phase("read"):
                self.ws.load(names)
                cells = grid.cells(self.p) if mine is None else [grid.cell_of(self.p, u.key) for u in mine]
                self.ws.check_cache(cells)
        for name in names:
            ctx.record_input(name, self.ws.fingerprints[name])

    def run_unit(self, unit, ctx) -> dict:
        cell = grid.cell_of(self.p, unit.key)
        if cell.problem not in self.ws.problems:  # claimed dynamically: load on first use
            with ctx.timers.phase("read"):
                self.ws.load([cell.problem])
            ctx.record_input(cell.problem, self.ws.fingerprints[cell.problem])
        rows = self.ws.run(cell)
        ctx.timers.count("cached", int(rows["cells"]["cached"][0]))
        return rows

    def finalize(self, fin) -> dict:
        return finalize(fin, self.p)


def _gpu_count(p: BenchParams) -> int:
    if "cupy" in p.backends and backends.cupy_usable():
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    if "torch" in p.backends:
        import torch

        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    return 0


def _sorted(rows: dict, extra=()) -> dict:
    if not rows or not len(rows[KEY_NAMES[0]]):
        return rows
    o = np.lexsort([rows[k] for k in reversed(list(KEY_NAMES) + list(extra))])
    return {c: v[o] for c, v in rows.items()}


def finalize(fin, p: BenchParams) -> dict:
    """Collective: final tables on rank 0's rows (the grid's results are small), summaries next to
    the results file, and the end-of-run summary (rank 0)."""
    ctx = fin.ctx
    rank = ctx.rank
    all_uids = np.arange(len(fin.units["done"]))
    cells, curves = {}, {}
    if rank == 0 and fin.can_read:
        cells = _sorted(fin.read("cells", all_uids))
        curves = _sorted(fin.read("curves", all_uids), extra=("point",))
    cell_cols = list(KEY_COLUMNS) + cell_columns(p)
    curve_cols = list(KEY_COLUMNS) + CURVE_COLUMNS
    summ, prof, probs, claims, out = {}, {}, [], [], {}
    if rank == 0:
        summ = summary.groups(p, cells)
        prof = summary.profiles(p, summ)
        probs = summary.problems_table(p, cells)
        claims = summary.claim_sgd_adam(p, summ)
    summ_cols = sync.bcast([(k, np.asarray(v).dtype.str) for k, v in summ.items()], comm=ctx.comm)
    prof_cols = [("target", "f8"), ("batch", "i4"), ("solver", "S48"), ("tau", "f8"), ("rho", "f8")]
    prob_cols = [
        ("problem", "i4"),
        ("name", "S64"),
        ("kind", "S16"),
        ("n", "i8"),
        ("d", "i8"),
        ("L", "f8"),
        ("mu", "f8"),
        ("kappa", "f8"),
        ("kappa_measured", "f8"),
        ("f_star", "f8"),
    ]
    prob_rows = {}
    if rank == 0 and probs:
        prob_rows = {
            "problem": np.array([p.problems.index(r["problem"]) for r in probs], dtype="i4"),
            "name": np.array([r["problem"].encode() for r in probs], dtype="S64"),
            "kind": np.array(
                [
                    b"lsq"
                    if r["problem"].startswith("lsq") or r["problem"] in ("diabetes", "california", "finance")
                    else b"logistic"
                    for r in probs
                ],
                dtype="S16",
            ),
            **{k: np.array([r[k] for r in probs], dtype=dt) for k, dt in prob_cols[3:]},
        }
    fin.write("cells", cell_cols, cells if rank == 0 else {})
    fin.write("curves", curve_cols, curves if rank == 0 else {})
    fin.write("summary", summ_cols, summ if rank == 0 else {})
    fin.write("perf_profile", prof_cols, prof if rank == 0 else {})
    fin.write("problems", prob_cols, prob_rows if rank == 0 else {})
    names = {
        "problems": list(p.problems),
        "optimizers": list(p.optimizers),
        "backends": list(p.backends),
        "step_scales": list(p.step_scales),
        "batch_sizes": list(p.batch_sizes),
        "targets": list(p.targets),
    }
    fin.attrs(optbench_grid=json.dumps(names))
    if rank == 0:
        st = np.asarray(cells.get("status", []))
        meta = {"cells": int(len(st)), "cached": int(np.sum(cells.get("cached", []))), "ranks": ctx.size}
        md_path, json_path = summary_paths(ctx.cfg)
        md = summary.markdown(p, summ, probs, claims, meta)
        doc = {
            "job": "optbench",
            "grid": names,
            **meta,
            "problems": probs,
            "claims": claims,
            "status_counts": {k: int(np.sum(st == v)) for k, v in summary.STATUS.items()},
            "summary": [
                {k: _plain(v[i]) for k, v in summ.items()} for i in range(len(summ.get("problem", [])))
            ],
        }
        _atomic_text(md_path, md)
        _atomic_text(json_path, json.dumps(doc, indent=1, default=_plain))
        out = {
            **meta,
            "status_counts": doc["status_counts"],
            "claims": claims,
            "markdown": md_path,
            "json": json_path,
            "cache_dir": cache_dir(ctx.cfg, p),
        }
    return out


def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")
    if isinstance(v, bytes):
        return v.decode()
    return v


def _atomic_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def format_summary(s: dict, path: str) -> str:
    """End-of-run lines printed by rank 0."""
    sc = s.get("status_counts", {})
    lines = [
        f"optbench complete: {path}",
        f"  cells {s.get('cells')} ({s.get('cached')} from the cache {s.get('cache_dir')}); status: "
        + ", ".join(f"{k} {v}" for k, v in sc.items() if v),
        f"  summaries: {s.get('markdown')} and {s.get('json')}; "
        f"figures: python -m mpiapp.report {path} --plot DIR",
        f"  wall {s.get('wall_s', 0):.1f} s",
    ]
    claims = s.get("claims", [])
    if claims:
        from .summary import CLAIM, claim_verdict

        lines.append(
            f'  claim check, "{CLAIM}": {claim_verdict(claims)} (a missed SGD target is what the claim '
            "predicts; per run, median over seeds:)"
        )
    for c in claims:
        lines.append(
            f"    {c['problem']} {c['optimizer']}/{c['backend']} step scale {c['step_scale']:g}: target "
            f"{c['target']:g} {'reached' if c['reached'] else 'missed'} (final rel. suboptimality "
            f"{c['final_rel_med']:.3g})"
        )
    return "\n".join(lines)
