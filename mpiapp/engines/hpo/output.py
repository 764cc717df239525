"""What a finished search leaves besides its journal: results/hpo.h5 and the best-parameters YAML.

`trials` table, one row per trial of the study, in trial-number order: number, state (COMPLETE,
PRUNED, FAIL, ...), value (and value_1 with two objectives; NaN where none), params (JSON text), one
column `p.NAME` per parameter of the space (float; categorical values as text; NaN / empty where the
parameter did not apply), steps (values reported), pruned_step (-1: not pruned), duration_s (wall
seconds of the evaluation), group (the group of ranks that ran it; -1: unknown), failure (error,
nonfinite, timeout, lost, interrupted or empty), error (the last line of the traceback).
`holdout`: the best trial by its search value and the defaults, scored on the objective's held-out
part (holdout.py defines its columns); absent when the objective has none.
`profile`: one row per rank (trials evaluated, busy / wait seconds, rank 0's overhead, the loop's
wall seconds, the held-out scoring's seconds).
Attributes: provenance (config, version, ranks, hosts, times) and the study's summary.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from ...io import results as rio
from ...runtime import comm as _comm
from ...runtime import trials as proto
from ...runtime.profile import peak_rss_mb
from ...work import provenance
from . import holdout as _holdout
from . import study as _study


def _text(values, floor: int = 8) -> np.ndarray:
    enc = [v.encode("utf-8") for v in values]
    width = max([floor] + [len(b) for b in enc])
    return np.array(enc, dtype=f"S{width}")


def trial_rows(trials, params, n_values: int) -> tuple[list, dict]:
    """(columns, rows) of the `trials` table from Optuna FrozenTrials."""
    rows: dict = {
        c: []
        for c in (
            "number",
            "state",
            "params",
            "steps",
            "pruned_step",
            "duration_s",
            "group",
            "failure",
            "error",
        )
    }
    for k in range(n_values):
        rows["value" if k == 0 else f"value_{k}"] = []
    for p in params:
        rows[f"p.{p.name}"] = []
    for t in trials:
        info = t.user_attrs.get("mpiapp", {})
        rows["number"].append(t.number)
        rows["state"].append(t.state.name)
        vals = list(t.values) if t.values else []
        if t.state.name == "PRUNED" and not vals and t.intermediate_values:
            vals = [t.intermediate_values[max(t.intermediate_values)]]
        for k in range(n_values):
            rows["value" if k == 0 else f"value_{k}"].append(vals[k] if k < len(vals) else math.nan)
        rows["params"].append(json.dumps(t.params, sort_keys=True))
        for p in params:
            v = t.params.get(p.name)
            rows[f"p.{p.name}"].append(
                ("" if v is None else str(v))
                if p.type == "categorical"
                else (math.nan if v is None else float(v))
            )
        rows["steps"].append(info.get("steps", len(t.intermediate_values)))
        rows["pruned_step"].append(info.get("pruned_step", -1))
        rows["duration_s"].append(info.get("duration_s", math.nan))
        rows["group"].append(info.get("group", -1))
        rows["failure"].append(t.user_attrs.get(_study.FAILURE, ""))
        tb = t.user_attrs.get(_study.TRACEBACK, "").strip().splitlines()
        rows["error"].append(tb[-1][:500] if tb else "")
    cols, out = [], {}
    for c, v in rows.items():
        if c in ("state", "params", "failure", "error") or (
            c.startswith("p.") and v and isinstance(v[0], str)
        ):
            arr = _text(v)
        elif c in ("number", "steps", "pruned_step", "group"):
            arr = np.array(v, dtype=np.int64 if c == "number" else np.int32)
        else:
            arr = np.array(v, dtype=np.float64)
        if c.startswith("p.") and not v:
            arr = np.array([], dtype=np.float64)
        cols.append((c, arr.dtype.str if arr.dtype.kind != "S" else f"S{arr.dtype.itemsize}"))
        out[c] = arr
    return cols, out


def write_results(
    path: str,
    study,
    params,
    objective,
    cfg,
    ranks: int,
    hosts,
    t_start: float,
    extra: dict,
    profile: list,
    scored: list | None = None,
) -> None:
    """Rank 0 alone: the trials and profile tables and the attributes (work.provenance's, then the
    study's summary `extra`), in PATH.tmp renamed to PATH."""
    tmp = path + ".tmp"
    f = rio.ResultsFile(
        tmp,
        "gather",
        comm=proto.self_comm(),
        create=True,
        note="the search's tables are small: rank 0 writes them alone",
    )
    cols, rows = trial_rows(study.get_trials(deepcopy=False), params, objective.n_values)
    f.create_table("trials", cols, rows_hint=max(1, len(rows["number"])))
    f.append("trials", rows)
    if scored:
        f.create_table("holdout", _holdout.COLUMNS, rows_hint=len(scored))
        f.append("holdout", _holdout.columns(scored))
    pcols = [
        ("rank", "i4"),
        ("host", "S64"),
        ("trials", "i8"),
        ("busy_s", "f8"),
        ("wait_s", "f8"),
        ("overhead_s", "f8"),
        ("loop_s", "f8"),
        ("holdout_s", "f8"),
        ("peak_rss_mb", "f8"),
    ]
    f.create_table("profile", pcols, rows_hint=len(profile))
    f.append(
        "profile",
        {c: np.array([r[c].encode() if c == "host" else r[c] for r in profile], dtype=dt) for c, dt in pcols},
    )
    f.set_attrs(provenance.attributes(cfg, "hpo", ranks, hosts, t_start, hdf5_mode="gather", **extra))
    f.close()
    os.replace(tmp, path)


def profile_row(rank: int, timers, trials: int, overhead_s: float, loop_s: float) -> dict:
    """One rank's profile: trials it evaluated (as leader or member), busy_s (evaluating), wait_s (waiting
    for work or a decision), overhead_s (rank 0: CPU seconds of its owner thread
    asking, telling, answering reports, polling), loop_s (the study
    loop's wall seconds, the same start on every rank), holdout_s (scoring the best trial and the
    defaults on the held-out part)."""
    return {
        "rank": rank,
        "host": _comm.hostname(),
        "trials": trials,
        "busy_s": timers.seconds.get("busy", 0.0),
        "wait_s": timers.seconds.get("wait", 0.0),
        "overhead_s": overhead_s,
        "loop_s": loop_s,
        "holdout_s": timers.seconds.get("holdout", 0.0),
        "peak_rss_mb": peak_rss_mb(),
    }


def best_yaml(study, objective, path: str, source: str, cfg=None, holdout_lines=()) -> dict | None:
    """Write the best trial's parameters as a config file (nested at the dots of their names); the
    parameters it holds, or None when no trial completed. With two objectives: the first trial of the
    Pareto front (the others are listed in comments). holdout_lines: what the held-out part says
    (holdout.verdict), recorded as comments beside the search value."""
    import yaml

    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not done:
        return None
    best = study.best_trials if objective.n_values > 1 else [study.best_trial]
    tree: dict = {}
    keys = dict(best[0].params)
    if objective.best_config is not None:  # the target job's keys (e.g. a step scale as a one-item grid)
        keys = objective.best_config(keys, cfg)
    for name, value in sorted(keys.items()):
        node = tree
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    head = [
        f"# best parameters of study {study.study_name!r} ({source}), trial {best[0].number}, "
        f"search value(s) {list(best[0].values)} (the values it was chosen on)"
    ]
    if objective.target:
        head.append(
            f"# use: python -m mpiapp.{'score' if objective.target == 'scan' else objective.target} "
            f"--config {path}"
        )
    for t in best[1:]:
        head.append(f"# also on the Pareto front: trial {t.number} values {list(t.values)} params {t.params}")
    head += [f"# {line}" for line in holdout_lines]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(head) + "\n" + yaml.safe_dump(tree, sort_keys=True))
    os.replace(path + ".tmp", path)
    return best[0].params
