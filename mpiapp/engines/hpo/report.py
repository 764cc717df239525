"""What `python -m mpiapp.report results/hpo.h5 [--plot DIR]` shows for a search.

Text: provenance, trial counts by state, the best trials, failures with their reason, the per-rank
profile. Charts (PNG, Optuna's matplotlib visualisations drawn from the journal the file names, the
objective named on the value axis): optimisation history (Pareto front for two objectives),
parameter importances, intermediate values, parallel coordinates, slices, and the contour of the two
most important parameters.
"""

from __future__ import annotations

import os

import numpy as np


TABLES = {  # what `mpiapp.results.tables(path)` says of each table (docs/hpo.md has every column)
    "trials": "one row per trial: number, state, parameters (JSON and one p.* column each), value, steps, "
    "pruned step, group, failure",
    "holdout": "the best trials evaluated again on data the search never saw",
    "profile": "per rank: trials, busy / wait / overhead seconds, peak RSS",
}


#: the tables of the HTML page (mpiapp.report --html), in order, with a note
HTML_TABLES = (("trials", ""), ("holdout", "the best trials on data the search never saw"))


def decoding(path: str, attrs: dict) -> dict:
    """An hpo file stores no integer codes (states and parameters are text): nothing to decode."""
    return {}


def _beside(a: dict) -> str:
    """' (the defaults on the same part: V)' when the file records the defaults' search value."""
    v = a.get("defaults_search_value")
    return "" if v is None else f" (the defaults on the same part: {float(v):.6g})"


def summary(path: str, top_n: int = 10) -> str:
    from ...io.results import decode_text, read_attrs, read_table
    from ...runtime.profile import table

    a = read_attrs(path)
    t = read_table(path, "trials")
    state = decode_text(t["state"])
    counts = {s: int((state == s).sum()) for s in sorted(set(state))}
    lines = [
        f"{path}: {a.get('status')} search, mpiapp {a.get('mpiapp_version')}, {a.get('ranks')} rank(s) on "
        f"{a.get('hosts')}, mode {a.get('mode')}, {a.get('ranks_per_trial')} rank(s) per trial",
        f"  objective {a.get('objective')} ({a.get('directions')})   sampler {a.get('sampler')}   pruner "
        f"{a.get('pruner')}   wall {float(a.get('wall_s', 0)):.2f} s",
        f"  trials {len(state)}: " + ", ".join(f"{k.lower()} {v}" for k, v in counts.items()),
        f"  best value {a.get('best_value')}{_beside(a)}   best parameters {a.get('best_yaml') or '(none)'}",
        f"  journal {a.get('journal')} (study {a.get('study')!r})",
    ]
    done = np.flatnonzero(state == "COMPLETE")
    if len(done):
        sign = -1.0 if str(a.get("directions", "")).startswith("maximize") else 1.0
        order = done[np.argsort(sign * t["value"][done], kind="stable")][:top_n]
        lines += [
            "",
            f"best {len(order)} trials:",
            f"  {'trial':>5} {'value':>12} {'steps':>5} {'group':>5}  params",
        ]
        for i in order:
            lines.append(
                f"  {int(t['number'][i]):>5} {t['value'][i]:>12.6g} {int(t['steps'][i]):>5} "
                f"{int(t['group'][i]):>5}  {t['params'][i].decode()}"
            )
    if a.get("holdout"):
        lines += ["", "held-out part (the best trial by its search value, and the defaults; docs/hpo.md):"]
        lines += [f"  {x}" for x in str(a["holdout"]).splitlines()]
    failed = np.flatnonzero(state == "FAIL")
    if len(failed):
        lines += ["", "failed trials:"]
        for i in failed[:top_n]:
            lines.append(
                f"  {int(t['number'][i]):>5} {t['failure'][i].decode():<11} {t['error'][i].decode()}"
            )
    prof = read_table(path, "profile")
    rows = [
        {c: (v[i].decode() if c == "host" else v[i].item()) for c, v in prof.items()}
        for i in range(len(prof["rank"]))
    ]
    if rows:
        lines += ["", "profile (per rank):", table(rows)]
    return "\n".join(lines)


def load_study(path: str):
    """The study behind a results file, from the journal it names. Raises FileNotFoundError."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from ...io.results import read_attrs

    a = read_attrs(path)
    journal = a.get("journal", "")
    if not journal or not os.path.exists(journal):
        raise FileNotFoundError(
            f"{path}: its journal {journal or '(not recorded)'} is not there; the charts are drawn from it"
        )
    storage = JournalStorage(JournalFileBackend(journal))
    return optuna.load_study(study_name=a["study"], storage=storage)


def text(path: str) -> str:
    """What `python -m mpiapp.report FILE` prints for a search's results file."""
    return summary(path)


def plot(path: str, out_dir: str) -> list[str]:
    """`--plot DIR` of the report job: the PNG files written; a chart that cannot be drawn (e.g.
    importances before two completed trials) is named on stderr with the reason."""
    import sys

    written, skipped = charts(path, out_dir)
    for s in skipped:
        print(f"skipped chart {s}", file=sys.stderr)
    return written


def objective_label(attrs: dict) -> list[str]:
    """What each objective value is, for the charts' value axis (one label per objective), from the
    file's objective, directions and recorded config."""
    import yaml

    name = str(attrs.get("objective", ""))
    dirs = [d.strip() for d in str(attrs.get("directions", "minimize")).split(",") if d.strip()] or [
        "minimize"
    ]
    try:
        hpo = (yaml.safe_load(attrs.get("config") or "") or {}).get("hpo", {}) or {}
    except yaml.YAMLError:
        hpo = {}
    if name == "scan":
        what = [
            f"recall - {hpo.get('scan_false_alarm_weight', 'w'):g} x false alarms per 1,000 bars"
            if isinstance(hpo.get("scan_false_alarm_weight"), (int, float))
            else "recall - w x false alarms"
        ]
    elif name == "optbench":
        what = [f"median iterations to relative suboptimality {hpo.get('optbench_target', '')}"]
    elif name == "train":
        what = [
            "mean out-of-fold RMSE" if hpo.get("train_metric") == "rmse" else "mean out-of-fold Spearman IC"
        ]
    else:
        what = [f"value {i}" if len(dirs) > 1 else "value" for i in range(len(dirs))]
    what += [f"value {i}" for i in range(len(what), len(dirs))]
    return [f"{name} objective ({d}d):\n{w}" for w, d in zip(what, dirs)]


#: figure size (inches) of each chart; the slice plot: per 3 parameters
SIZES = {
    "history": (9, 5),
    "pareto_front": (8, 6),
    "importances": (8, 4.5),
    "intermediate_values": (10, 5.5),
    "parallel_coordinate": (13, 6),
    "slice": (12, 4.8),
    "contour": (7.5, 6),
}


def plot_holdout(path: str, labels: list):
    """hpo_holdout.png: per scored setting of the holdout table (the best trial, the defaults), its
    search value beside its held-out value (+-1.96 held-out standard errors) and the reference model's
    value on the held-out part when there is one. Raises LookupError for a file without held-out values."""
    import h5py
    import matplotlib.pyplot as plt

    from ...io.results import decode_text, read_table

    with h5py.File(path, "r") as f:
        if "holdout" not in f:
            raise LookupError("the file has no holdout table")
    h = read_table(path, "holdout")
    if not len(h["role"]):
        raise LookupError("the holdout table is empty")
    roles = [
        f"{r} (trial {int(t)})" if int(t) >= 0 else str(r) for r, t in zip(decode_text(h["role"]), h["trial"])
    ]
    x = np.arange(len(roles))
    fig, ax = plt.subplots(figsize=(8, 4.8))
    bars = ax.bar(
        x - 0.2, h["search_value"], 0.38, color="tab:gray", label="search value (the data searched on)"
    )
    ax.bar_label(bars, fmt="%.3g", fontsize=8)
    bars = ax.bar(
        x + 0.2,
        h["holdout_value"],
        0.38,
        yerr=1.96 * np.nan_to_num(h["holdout_se"]),
        capsize=4,
        color="tab:blue",
        label="held-out value ± 1.96 se (data the search never saw)",
    )
    ax.bar_label(bars, fmt="%.3g", fontsize=8, label_type="center", color="white")
    base = np.asarray(h["baseline"], dtype=float)
    if np.isfinite(base).any():
        ax.plot(
            x[np.isfinite(base)] + 0.2,
            base[np.isfinite(base)],
            "D",
            color="tab:orange",
            ms=7,
            label="reference model on the held-out part",
        )
    gaps = [f"\n(search - held-out: {float(g):+.1f} se)" if g == g else "" for g in h["gap_se"]]
    ax.axhline(0, color="0.4", lw=0.8)
    ax.set_xticks(x, [r + g for r, g in zip(roles, gaps)])
    ax.set_ylabel(labels[0])
    ax.set_title(
        "search value beside the held-out value (the best trial's search value is the largest of many "
        "noisy estimates)",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return ax


def importance_evaluator():
    """Optuna's default importance evaluator (fANOVA) with a fixed seed: the same ranking on every
    drawing of the same study."""
    from optuna.importance import FanovaImportanceEvaluator

    return FanovaImportanceEvaluator(seed=0)


def top_two_params(study) -> list[str]:
    """The two most important parameters (importance_evaluator on the first objective), or fewer
    when the search has fewer."""
    import optuna

    multi = len(study.directions) > 1
    imp = optuna.importance.get_param_importances(
        study, evaluator=importance_evaluator(), target=(lambda t: t.values[0]) if multi else None
    )
    return list(imp)[:2]


def charts(path: str, out_dir: str) -> tuple[list[str], list[str]]:
    """(PNG files written, charts skipped with the reason): Optuna's matplotlib charts with the
    objective named on the value axis — history (Pareto front for two objectives), importances,
    intermediate values, parallel coordinates, slices and the contour of the two most important
    parameters; hpo_holdout.png, the held-out values beside the search values (files with a holdout
    table)."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from matplotlib.ticker import FuncFormatter, LogLocator
    from optuna.visualization import matplotlib as vis

    from ...io.results import read_attrs

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = load_study(path)
    multi = len(study.directions) > 1
    labels = objective_label(read_attrs(path))
    first = (
        dict(target=lambda t: t.values[0], target_name=labels[0]) if multi else dict(target_name=labels[0])
    )

    def intermediate(s):
        ax = vis.plot_intermediate_values(s)
        ax.set_ylabel(f"{labels[0]}, over the steps so far")
        return ax

    def contour(s):
        top = top_two_params(s)
        if len(top) < 2:
            raise ValueError(f"needs two parameters, the search has {len(top)}")
        return vis.plot_contour(s, params=top, **first)

    charts = (
        [("pareto_front", lambda s: vis.plot_pareto_front(s, target_names=labels))]
        if multi
        else [("history", lambda s: vis.plot_optimization_history(s, target_name=labels[0]))]
    )
    charts += [
        ("importances", lambda s: vis.plot_param_importances(s, evaluator=importance_evaluator(), **first)),
        ("intermediate_values", intermediate),
        (
            "parallel_coordinate",
            lambda s: vis.plot_parallel_coordinate(s, **(first | {"target_name": "objective"})),
        ),
        ("slice", lambda s: vis.plot_slice(s, **first)),
        ("contour", contour),
    ]
    charts.append(("holdout", lambda s: plot_holdout(path, labels)))
    os.makedirs(out_dir, exist_ok=True)
    written, skipped = [], []
    for name, fn in charts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = fn(study)
        except Exception as exc:  # e.g. importances need two completed trials with varying parameters
            skipped.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        a0 = np.asarray(ax).flat[0] if isinstance(ax, np.ndarray) else ax
        fig = a0.figure
        if name == "parallel_coordinate":  # the value axis is the first column: its full name in the title
            a0.set_title(
                f"Parallel Coordinate Plot; objective = {labels[0].replace(chr(10), ' ')}", fontsize=10
            )
        for a in fig.axes:  # a log axis's minor labels (2x10^-2, 3x10^-2, ...) run into each other
            for axis, scale in ((a.xaxis, a.get_xscale()), (a.yaxis, a.get_yscale())):
                if scale == "log":  # minor ticks at 2 and 5 of each decade, written plainly (0.02, 0.05)
                    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
                    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        w, h = SIZES.get(name, (9, 5))
        fig.set_size_inches(w * (max(1, np.asarray(ax).size / 3) if name == "slice" else 1), h)
        f = os.path.join(out_dir, f"hpo_{name}.png")
        fig.savefig(f, bbox_inches="tight", dpi=100)
        plt.close(fig)
        written.append(f)
    return written, skipped
