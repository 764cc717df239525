"""The held-out answer of a search: the best trial by its search value, and the defaults, scored on
data the search never saw.

Why: a search evaluates many settings on the same data and keeps the best, so the best's search value
is the largest of many noisy estimates and overstates what that setting does (selection bias, the
winner's curse: Cawley and Talbot 2010, "On over-fitting in model selection and subsequent selection
bias in performance evaluation", JMLR 11). Its value on data the search never used is an unbiased
estimate. Each objective has such a held-out part (objectives.py); after the last trial:

- the trial that is best by its search value (the study's best trial) is scored there;
- so are the defaults — the target job's own values of the searched parameters — and, for
  comparison, on the search part too (a setting that was not selected shows how the two parts differ
  without selection).

Nothing is chosen by held-out value: the best trial is the study's, chosen on search values alone
(choosing among trials by their held-out values would spend the held-out part and bias it in turn).

Table `holdout`, one row per scored setting: role (best | defaults), trial (-1 for the defaults),
search_value, holdout_value, holdout_se, holdout_n (the independent observations behind it),
gap_se ((search - held-out) / holdout_se, signed so that > 0 means the search value looks better
than the held-out one), baseline (a reference model's value on the same held-out part: ridge for the
train objective; NaN: none), detail, params (JSON), error (why a scoring failed).
"""

from __future__ import annotations

import json
import math

import numpy as np

from ...runtime import sync
from ...runtime import trials as proto
from .contract import Score

#: the trial number the defaults' seed is drawn with (no study numbers its trials this high)
DEFAULTS_NUMBER = 1 << 40
#: a search value this many held-out standard errors better than the held-out value is called out
CALL_OUT_SE = 3.0

COLUMNS = [
    ("role", "S8"),
    ("trial", "i8"),
    ("search_value", "f8"),
    ("holdout_value", "f8"),
    ("holdout_se", "f8"),
    ("holdout_n", "f8"),
    ("gap_se", "f8"),
    ("baseline", "f8"),
    ("detail", "S200"),
    ("params", "S2000"),
    ("error", "S300"),
]


def candidates(study, objective, cfg, names) -> list[dict]:
    """Rank 0: what to score — the best complete trial by its search value, then the defaults of the
    searched parameters `names` (when the objective has them)."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    out = []
    if done:
        best = study.best_trial
        out.append(
            {"role": "best", "trial": best.number, "params": dict(best.params), "search_value": best.value}
        )
    if objective.defaults is not None:
        out.append(
            {
                "role": "defaults",
                "trial": -1,
                "params": dict(objective.defaults(cfg, names)),
                "search_value": None,
            }
        )
    return out


def run(ctx, objective, state, cands: list, seed: int) -> list[dict] | None:
    """Collective: score `cands` (broadcast from rank 0) on the held-out part with every rank in one
    group (ctx.map shares the objective's items among them), and the defaults on the search part.
    Returns the rows of the holdout table on rank 0, None elsewhere. A scoring that raises leaves NaN
    and its error in the row; the search's result stands."""
    from .evaluate import Work, evaluate, trial_seed

    cands = sync.bcast(cands, comm=ctx.comm)
    if not cands or objective.holdout is None:
        return [] if ctx.rank == 0 else None
    groups = proto.Groups(ctx.size, comm=ctx.comm)
    go = lambda number, step, value: "go"
    rows = []
    try:
        for c in cands:
            number = c["trial"] if c["trial"] >= 0 else DEFAULTS_NUMBER
            work = Work(number, c["params"], trial_seed(seed, number))
            row = dict(c, error="")
            if row["search_value"] is None:
                res = evaluate(objective, work, groups, state, ctx.cfg, go)
                if res is not None:
                    ok = res.state == "complete"
                    row["search_value"] = res.values[0] if ok else math.nan
                    row["error"] = "" if ok else f"search part: {_last(res.error) or res.state}"
            res = evaluate(objective, work, groups, state, ctx.cfg, go, fn=objective.holdout)
            if res is not None:
                if res.state == "complete":
                    row["score"] = Score.of(res.values[0])
                else:
                    row["score"] = Score(math.nan)
                    row["error"] = (
                        row["error"] + "; " if row["error"] else ""
                    ) + f"held-out part: {_last(res.error) or res.state}"
            rows.append(row)
    finally:
        groups.free()
    return [_row(r, objective.directions[0]) for r in rows] if ctx.rank == 0 else None


def _last(text: str) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1][:280] if lines else ""


def _row(r: dict, direction: str) -> dict:
    s: Score = r["score"]
    sv = float(r["search_value"]) if r["search_value"] is not None else math.nan
    sign = 1.0 if direction == "maximize" else -1.0
    gap = sign * (sv - s.value) / s.se if s.se > 0 else math.nan
    return {
        "role": r["role"],
        "trial": int(r["trial"]),
        "search_value": sv,
        "holdout_value": s.value,
        "holdout_se": s.se,
        "holdout_n": s.n,
        "gap_se": gap,
        "baseline": s.baseline,
        "detail": s.detail,
        "params": json.dumps(r["params"], sort_keys=True, default=str),
        "error": r.get("error", ""),
    }


def columns(rows: list[dict]) -> dict:
    """The holdout table's columns from its rows."""
    out = {}
    for c, dt in COLUMNS:
        vals = [r[c] for r in rows]
        if dt.startswith("S"):
            width = int(dt[1:])
            out[c] = np.array(
                [str(v).encode("utf-8")[:width].decode("utf-8", "ignore").encode() for v in vals], dtype=dt
            )
        else:
            out[c] = np.array(vals, dtype=dt)
    return out


def _num(v: float, fmt: str = ".4g") -> str:
    return "nan" if v != v else format(v, fmt)


def verdict(rows: list[dict], direction: str) -> list[str]:
    """The summary's lines about the held-out part (pure): the best trial's search and held-out values
    side by side, a search value far better than its held-out one called out, the defaults, and which
    of the two does better held-out — said plainly when it is the defaults."""
    best = next((r for r in rows if r["role"] == "best"), None)
    dflt = next((r for r in rows if r["role"] == "defaults"), None)
    sign = 1.0 if direction == "maximize" else -1.0
    lines = []

    def held(r):
        out = f"held-out {_num(r['holdout_value'])}"
        if r["holdout_se"] == r["holdout_se"]:
            out += f" ± {_num(r['holdout_se'], '.2g')}"
        if r["holdout_n"] == r["holdout_n"]:
            out += f" (n = {_num(r['holdout_n'], ',.0f')} independent observations)"
        if r["baseline"] == r["baseline"]:
            out += f", baseline {_num(r['baseline'])}"
        return out

    if best is not None:
        lines.append(
            f"best trial {best['trial']} (chosen by its search value): search {_num(best['search_value'])}, "
            f"{held(best)}" + (f" [{best['detail']}]" if best["detail"] else "")
        )
        if best["error"]:
            lines.append(f"  its held-out scoring failed: {best['error']}")
        if best["gap_se"] > CALL_OUT_SE:
            lines.append(
                f"  the search value is {best['gap_se']:.1f} standard errors better than the held-out value: "
                "it was selected on the search part and overstates what this setting does; the held-out "
                "value is the estimate to use"
            )
    if dflt is not None:
        lines.append(
            f"defaults: search {_num(dflt['search_value'])}, {held(dflt)}"
            + (f" [{dflt['detail']}]" if dflt["detail"] else "")
        )
        if dflt["error"]:
            lines.append(f"  their scoring failed: {dflt['error']}")
    if (
        best is not None
        and dflt is not None
        and best["holdout_value"] == best["holdout_value"]
        and dflt["holdout_value"] == dflt["holdout_value"]
    ):
        d = sign * (dflt["holdout_value"] - best["holdout_value"])
        if d > 0:
            lines.append(
                f"the defaults do better on the held-out part than the best trial ({_num(dflt['holdout_value'])} "
                f"against {_num(best['holdout_value'])}): the search found no setting that holds up out of "
                "sample; keep the defaults"
            )
        else:
            lines.append(
                f"the best trial does better on the held-out part than the defaults "
                f"({_num(best['holdout_value'])} against {_num(dflt['holdout_value'])})"
            )
    return lines
