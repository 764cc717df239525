"""The train job on the work layer: units are (symbol, family, fold); the rest is the layer's.

What is train-specific here, and only this: checking the families' libraries and choosing their
threads and device before any compute; planning units from the symbol index (costed by training
samples x rounds); symbols too short for the folds planned as one skip unit each; features and folds
per symbol (cached on the rank); one model per unit, a model that raises recorded as a failed unit
(train.on_error=record) or ending the job (abort); and finalize (final.py): metrics and baselines from
the out-of-fold predictions, the models, the `symbols`, `features`, `skipped` and `failures` tables.

Exit codes (besides the layer's 0 / 1 / 2 / 75): 3 = complete file, but some units failed
(train.on_error=record); the failures table says which and why.
"""

from __future__ import annotations

import numpy as np

from ...io.symbols import skip_rows
from ...runtime import errors
from ...work import JobSpec, Plan, Unit
from . import families as fam
from .cv import FoldError
from .dataset import short_reason, symbol_data
from .families import import_libraries, resolve_device
from .features import warmup_bars
from .params import TrainParams
from .unit import KEY, RAW_TABLES, failure_rows, train_unit

SKIP = -1  # family and fold of a symbol's skip unit


def unit_cost(n_bars: int, params: TrainParams, family: str, fold: int) -> float:
    """Relative cost for the static plan: training samples of the fold x the family's work per sample."""
    m = max(1, n_bars - warmup_bars() - params.horizon)
    k = params.cv.n_folds
    if params.cv.scheme == "walk_forward":
        train = m * (fold + 1) / (k + 1)
        if params.cv.window == "rolling":
            train = min(train, params.cv.train_bars)
    else:
        train = m * (k - 1) / k
    p = params.params[family]
    work = {
        "lgbm": p.get("n_estimators", 1),
        "xgb": p.get("n_estimators", 1),
        "rf": p.get("n_estimators", 1),
        "mlp": 4 * p.get("epochs", 1),
        "ridge": 1,
    }[family]
    return float(train * work + m)


def make_units(index, params: TrainParams) -> tuple[list, dict]:
    """Units in (symbol, family, fold) order, and {symbol id: reason} of the symbols planned as skips."""
    units, skips = [], {}
    for s, (_, n_bars) in enumerate(index):
        why = short_reason(n_bars, params)
        if why is not None:
            skips[s] = why
            units.append(Unit(len(units), 0.0, (s, SKIP, SKIP)))
            continue
        for f in params.families:
            for k in range(params.cv.n_folds):
                units.append(Unit(len(units), unit_cost(n_bars, params, f, k), (s, fam.FAMILIES[f][0], k)))
    return units, skips


def check_scan_file(path: str) -> str | None:
    """Why `path` cannot be the --scan file (None when it can): missing, a folder, not a score
    results file (by its content). Reads only."""
    import os

    from ...io.results import identify

    if not os.path.exists(path):
        return f"--scan {path}: no such file (a results file of mpiapp.score is expected)"
    if os.path.isdir(path):
        return f"--scan {path}: is a folder; give a results file of mpiapp.score (e.g. results/score.h5)"
    try:
        state, job = identify(path)
    except OSError as exc:
        return f"--scan {path}: cannot be read ({exc.strerror or exc})"
    what = {
        "empty": "an empty file",
        "foreign": "not an HDF5 file",
        "blank": "an empty HDF5 file",
        "damaged": "a damaged HDF5 file (it cannot be opened)",
    }.get(state)
    if what is None and job != "score":
        what = f"a results file of mpiapp.{job}" if job else "an HDF5 file not written by mpiapp"
    if what:
        return f"--scan {path}: {what}, not a results file of mpiapp.score"
    return None


def _read_scan(path: str) -> dict:
    """{symbol name: (known_bar, score, direction)} from a score results file (patterns + symbols)."""
    from ...io.results import read_table
    from .scanfeat import symbol_patterns

    pats = read_table(path, "patterns")
    names = [n.decode() for n in read_table(path, "symbols")["name"]]
    symbol_patterns(pats, 0)  # raises KeyError naming known_bar when the file predates it
    return {nm: symbol_patterns(pats, i) for i, nm in enumerate(names)}


def build(ctx) -> JobSpec:
    """Collective: the train job's spec. Every rank checks the libraries, opens the source, reads the
    scan file. Raises errors.JobError (exit 2, every rank) for a missing library (naming what to
    install), train.device=cuda without a GPU, a bad data source or scan file."""
    cfg = ctx.cfg
    params = TrainParams.from_config(cfg.train)
    with errors.agreement(ctx.comm):
        miss = fam.missing_libraries(params.families)
        if miss:
            raise errors.JobError("missing model libraries: " + "; ".join(miss))
    from ...runtime import signals

    with signals.leaving_at_once("the model libraries"):  # seconds: a stop here ends the rank at once
        import_libraries(params.families, params.device)
    ctx.rt.enforce()
    threads = params.model_threads(ctx.rt.thread_plan.threads)
    device = None
    with errors.agreement(ctx.comm):
        device = resolve_device(params.device, params.families)
    from .omp import mixed_warning, openmp_runtimes

    omp = openmp_runtimes()
    warn = mixed_warning(omp)
    if ctx.rank == 0:
        ctx.log.info(
            "OpenMP runtimes loaded: %s", ", ".join(f"{r['family']} {r['filepath']}" for r in omp) or "none"
        )
        if warn:
            ctx.log.warning(warn)
    from ...io import sources

    src = scan = scan_digest = None
    if cfg.train.scan_file:
        with errors.agreement(ctx.comm):  # checked once, by its content, before every rank reads it
            if ctx.rank == 0:
                from ...io.fingerprint import file_digest

                problem = check_scan_file(cfg.train.scan_file)
                if problem:
                    raise errors.JobError(problem)
                scan_digest = file_digest(cfg.train.scan_file)
    with errors.agreement(ctx.comm):
        src = sources.open_from_config(cfg, min_bars=1)
        if cfg.train.scan_file:
            try:
                scan = _read_scan(cfg.train.scan_file)
            except KeyError as exc:
                raise errors.JobError(f"--scan {cfg.train.scan_file}: {exc.args[0]}") from None
    ctx.backend = f"{'+'.join(params.families)} on {device}, {threads} thread(s) per model"
    job = _TrainJob(params, src, scan, threads, device, omp, scan_digest)
    return JobSpec(
        name="train",
        key_columns=KEY,
        tables=RAW_TABLES,
        plan=job.plan,
        prepare=job.prepare,
        run_unit=job.run_unit,
        finalize=job.finalize,
        release=job.release,
        resume_sections=("data", "train"),
        counters=("models", "failed"),
    )


class _TrainJob:
    def __init__(self, params, src, scan, threads, device, omp, scan_digest=None):
        self.params, self.src, self.scan, self.scan_digest = params, src, scan, scan_digest
        self.threads, self.device, self.omp = threads, device, omp
        self.store = None
        self.data: dict = {}

    # rank 0 only
    def plan(self, ctx) -> Plan:
        with ctx.timers.phase("read"):
            index = self.src.index()
        if not index:
            raise errors.JobError(f"{ctx.cfg.data.source}: no symbols to train on")
        units, skips = make_units(index, self.params)
        inputs = self.src.input_paths() if hasattr(self.src, "input_paths") else []
        if ctx.cfg.train.scan_file:
            inputs = list(inputs) + [ctx.cfg.train.scan_file]
        return Plan(units, info=(index, skips, list(self.src.skipped)), inputs=inputs)

    def prepare(self, ctx, mine) -> None:
        from ...io.store import open_for_job

        self.store = open_for_job(
            ctx, self.src, ctx.info[0], None if mine is None else {u.key[0] for u in mine if u.key[1] != SKIP}
        )
        if self.scan_digest is not None:  # rank 0: the scan file's content (a resume over another is refused)
            ctx.record_input(f"the scan file {ctx.cfg.train.scan_file}", self.scan_digest)

    def _symbol(self, s: int, series):
        """SymbolData of symbol s (cached on this rank), or the FoldError text."""
        if s not in self.data:
            scan = None
            if self.scan is not None:
                empty = (np.empty(0, np.int64), np.empty(0), np.empty(0))
                scan = self.scan.get(series.symbol, empty)
            try:
                self.data[s] = symbol_data(series, self.params, scan)
            except FoldError as exc:
                self.data[s] = f"too short for the folds: {exc}"
        return self.data[s]

    def run_unit(self, unit, ctx) -> dict:
        s, fid, k = unit.key
        index, skips, _ = ctx.info
        if fid == SKIP:
            return skip_rows(s, skips[s])
        series = self.store.get(s, record=ctx.record_input)
        if series is None:  # bad data, skipped by the store (data.skip_bad_symbols)
            return skip_rows(s, self.store.skipped.get(s, "skipped"))
        with ctx.timers.phase("features"):
            sd = self._symbol(s, series)
        if isinstance(sd, str):
            return skip_rows(s, sd)
        try:
            rows = train_unit(sd, unit.key, series.symbol, self.params, self.threads, self.device)
        except Exception as exc:  # a model that raises: record (the job goes on) or abort
            if self.params.on_error == "abort":
                raise
            ctx.log.warning(
                "unit %s %s fold %d failed: %s: %s",
                series.symbol,
                fam.FAMILY_BY_ID[fid],
                k,
                type(exc).__name__,
                exc,
            )
            ctx.timers.count("failed")
            return failure_rows(unit.key, exc)
        ctx.timers.count("models")
        return rows

    def release(self, ctx) -> None:
        self.store.release()
        self.data.clear()

    def finalize(self, fin) -> dict:
        from .final_job import finalize

        return finalize(fin, self.params, self.store.skipped_all(), self.threads, self.device, self.omp)
