"""The study on rank 0: its journal file, sampler, pruner, and what a resume repairs.

Why a journal file written by rank 0 alone: no database server and no SQLite on a shared file system
(their locks are what breaks at scale); the journal is JSON lines that `optuna.load_study` and
optuna-dashboard read directly. Rank 0 is its only writer: it holds an exclusive `flock` on the
journal file itself for the whole run (work.output.Claim, `Target.lock`), so a second search on the
same journal — under another --out — is refused at start; the backend (journal.JournalFile, on
Optuna's public `BaseJournalBackend`) takes no lock file of its own: a killed run then leaves no
stale journal lock behind.

What the search was made with (`settings`: the objective, the content of its space and of the
files the objective reads, the sampler, seed, pruner, mode and every key of the sections the
objective reads) is a study user attribute;
a --resume with other settings is refused, naming them (its trials would not be one search).

Resume repairs two things before the study is opened: a last record cut short by a kill mid-write
(the bytes after the last newline are dropped, so the next record does not glue onto them), and
trials left RUNNING by a run that crashed: they become FAIL with failure "lost", and their parameters
are queued to be asked again.
"""

from __future__ import annotations

import os

FAILURE = "mpiapp_failure"  # user attr: error | nonfinite | timeout | lost | interrupted
SETTINGS = "mpiapp_settings"  # study user attr: what shapes the search's results
#: keys that may change on --resume: how many trials, where and how often files are written, how
#: groups are formed and fed — not what a trial computes or which parameters are asked
FREE_ON_RESUME = (
    "hpo.trials",
    "hpo.journal",
    "hpo.journal_sync_s",
    "hpo.prefetch",
    "hpo.ask_ahead",
    "hpo.ranks_per_trial",
    "hpo.trial_timeout_s",
    "hpo.on_trial_error",
    "hpo.space",
    "hpo.study",
)
#: config sections whose keys shape a search's results (the objectives read them)
SETTING_SECTIONS = ("data", "scan", "train", "optbench", "hpo")
TRACEBACK = "mpiapp_traceback"
REQUEUED = ("lost", "interrupted")  # failures that do not count: their parameters are asked again


def repair_journal(path: str) -> int:
    """Drop a partial last record (no final newline). Returns the bytes dropped (0: none)."""
    if not os.path.exists(path):
        return 0
    size = os.path.getsize(path)
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return 0
        keep, pos, block = 0, size, 1 << 16
        while pos > 0:  # find the last newline, reading backwards
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            pos = start
        f.truncate(keep)
    return size - keep


def storage(path: str, sync_s: float = 0.0):
    """(Optuna JournalStorage on `path`, its backend); the file is created if missing."""
    from optuna.storages.journal import JournalStorage

    from .journal import JournalFile

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    backend = JournalFile(path, sync_s)
    return JournalStorage(backend), backend


def sampler(cfg, params, concurrent: bool, seed: int):
    """The sampler of hpo.sampler, seeded. Raises ValueError for an unusable combination."""
    import optuna

    h = cfg.hpo
    if h.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=concurrent)
    if h.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if h.sampler == "grid":
        from . import space

        return optuna.samplers.GridSampler(space.grid(params), seed=seed)
    if h.sampler == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ValueError("hpo.sampler=cmaes needs the cmaes package (pip install cmaes)") from None
        return optuna.samplers.CmaEsSampler(seed=seed)
    return optuna.samplers.NSGAIISampler(seed=seed)


def pruner(cfg, n_values: int):
    """The pruner of hpo.pruner. Raises ValueError where pruning cannot apply."""
    import optuna

    h = cfg.hpo
    if h.pruner == "none":
        return optuna.pruners.NopPruner()
    if n_values > 1:
        raise ValueError(
            f"hpo.pruner={h.pruner}: pruning needs one objective value (this one has {n_values})"
        )
    if h.mode == "reproducible" and h.pruner != "median":
        raise ValueError(
            f"hpo.pruner={h.pruner} decides from trials still running, which differ with the rank "
            "count: in hpo.mode=reproducible use none or median"
        )
    if h.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=h.pruner_startup_trials, n_warmup_steps=h.pruner_warmup_steps
        )
    if h.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.HyperbandPruner()


def counts(study) -> int:
    """Trials that count toward hpo.trials: finished, and not lost or interrupted."""
    from optuna.trial import TrialState

    n = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            n += 1
        elif t.state == TrialState.FAIL and t.user_attrs.get(FAILURE) not in REQUEUED:
            n += 1
    return n


def fail(study, trial, reason: str, text: str = "", requeue: bool = False) -> bool:
    """Tell `trial` (a Trial) FAIL with the reason and text as user attributes; queue its parameters
    to be asked again when `requeue`. Returns tell's answer: True when the sampler asked to stop."""
    from optuna.trial import TrialState

    trial.set_user_attr(FAILURE, reason)
    if text:
        trial.set_user_attr(TRACEBACK, text)
    params = dict(trial.params)
    stop = tell(study, trial, state=TrialState.FAIL)
    if requeue:
        study.enqueue_trial(params, user_attrs={"mpiapp_retry_of": trial.number})
    return stop


def tell(study, trial, values=None, state=None) -> bool:
    """study.tell; True when the sampler asked the study to stop (the grid sampler, once every point
    of its grid was tried): the tell is stored, and the caller asks no more trials."""
    try:
        study.tell(trial, values, state=state)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):  # Optuna raises this outside study.optimize; the tell is stored
            raise
        return True
    return False


def mark_lost(study, space_params) -> tuple[list[int], bool]:
    """Trials left RUNNING by a crashed run -> FAIL ("lost"), parameters queued again. Returns (their
    numbers, True when the sampler asked to stop on one of those tells: see `tell`).

    space_params: the search space (space.Param tuple). A trial whose parameters are not all in the
    journal — rank 0 was killed while asking it (each parameter is a record of its own) — was never
    evaluated: it is failed without queueing its partial parameters (the sampler would complete them
    with new draws, a different trial under the old one's name)."""
    import optuna
    from optuna.trial import TrialState

    from . import space

    lost, stop = [], False
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial = optuna.trial.Trial(study, t._trial_id)
        whole = all(p.name in t.params for p in space.active(space_params, t.params))
        if whole:
            stop |= fail(
                study,
                trial,
                "lost",
                "the rank evaluating it ended before it finished (a crash or a kill)",
                True,
            )
        else:
            stop |= fail(
                study, trial, "lost", "rank 0 ended while asking it (its parameters were not all drawn)"
            )
        lost.append(t.number)
    return lost, stop


# --- what a journal file is, and what a search was made with -------------------------------------------
def journal_kind(study_name: str):
    """The kind check of a journal (work.output.Target.kind): an Optuna journal holding the study
    `study_name` is ours; an empty file is what a search killed as it started leaves."""
    import json

    from ...work.output import Found

    def kind(path: str) -> Found:
        if os.path.getsize(path) == 0:
            return Found(False, "empty (0 bytes: a search killed as it started)", damaged=True)
        names, first = [], True
        with open(path, "rb") as fh:
            for line in fh:
                if first or b'"study_name"' in line:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        rec = None
                    if first and not (isinstance(rec, dict) and "op_code" in rec):
                        return Found(False, "not an Optuna journal (its first line is not a journal record)")
                    first = False
                    if isinstance(rec, dict) and rec.get("op_code") == 0:
                        names.append(str(rec.get("study_name")))
        if study_name in names:
            return Found(True, f"an Optuna journal of study {study_name!r}")
        return Found(
            False, f"an Optuna journal of other studies ({', '.join(repr(n) for n in names) or 'none'})"
        )

    return kind


def check_journal(path: str) -> str | None:
    """Why the journal at `path` cannot be read back (None when it can): a line that is not a JSON
    journal record. A last line without its newline (a kill mid-write) is not checked: the resume
    drops it (repair_journal)."""
    import json

    with open(path, "rb") as fh:
        for i, line in enumerate(fh, 1):
            if not line.endswith(b"\n"):
                break
            try:
                rec = json.loads(line)
            except ValueError as exc:
                return f"line {i} is not a journal record ({exc.msg} at column {exc.colno})"
            if not isinstance(rec, dict) or "op_code" not in rec:
                return f"line {i} is not a journal record (no op_code)"
    return None


def settings(cfg, space_params, objective) -> dict:
    """{setting: value} that shape the search's results (see the module docstring); JSON-plain."""
    import dataclasses
    import hashlib
    import json

    from ... import config

    flat = config._flatten(config.to_plain(cfg))
    out = {
        k: v for k, v in flat.items() if k.split(".", 1)[0] in SETTING_SECTIONS and k not in FREE_ON_RESUME
    }
    text = json.dumps([dataclasses.asdict(p) for p in space_params], sort_keys=True, default=str)
    out["space"] = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
    out["directions"] = list(objective.directions)
    out["inputs"] = input_digest(cfg)
    return json.loads(json.dumps(out, default=str))


def input_files(cfg) -> list[str]:
    """The files the objective reads: a user objective's module file, the train objective's data
    files (data.source), the optbench objective's optional data files (optbench.data_dir)."""
    h = cfg.hpo
    files = []
    mod = h.objective.rpartition(":")[0] if ":" in h.objective else ""
    if mod.endswith(".py"):
        files.append(mod)
    elif mod:
        import importlib.util

        spec = importlib.util.find_spec(mod)
        if spec is not None and spec.origin and os.path.isfile(spec.origin):
            files.append(spec.origin)
    if h.objective == "train":
        from ...io import sources

        src = sources.open_from_config(cfg, min_bars=1)
        files += src.input_paths() if hasattr(src, "input_paths") else []
    if h.objective == "optbench" and cfg.optbench.data_dir:
        files += [
            p
            for p in (os.path.join(cfg.optbench.data_dir, f) for f in ("california_housing.csv", "mnist.npz"))
            if os.path.isfile(p)
        ]
    return files


def input_digest(cfg) -> str:
    """One content hash of every file the objective reads (io.fingerprint)."""
    from ...io.fingerprint import combined, file_digests

    return combined(file_digests(input_files(cfg)))


def settings_changes(saved: dict, now: dict) -> list[str]:
    """['hpo.sampler: 'tpe' -> 'random'', 'space: (changed)', ...] of keys whose values differ."""
    out = []
    for k in sorted(set(saved) | set(now)):
        if saved.get(k) != now.get(k):
            out.append(
                {
                    "space": "space: the search space changed",
                    "inputs": "inputs: a file the objective reads changed",
                }.get(k)
                or f"{k}: {saved.get(k)!r} -> {now.get(k)!r}"
            )
    return out
