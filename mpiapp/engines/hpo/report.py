"""What `python -m mpiapp.report results/hpo.h5 [--plot DIR]` shows for a search.

Text: provenance, trial counts by state, the best trials, failures with their reason, the per-rank
profile. Charts (PNG, Optuna's matplotlib visualisations drawn from the journal the file names):
optimisation history, parameter importances, intermediate values (Pareto front instead of the
history for two objectives).
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
    lines = [f"{path}: {a.get('status')} search, mpiapp {a.get('mpiapp_version')}, {a.get('ranks')} rank(s) on "
             f"{a.get('hosts')}, mode {a.get('mode')}, {a.get('ranks_per_trial')} rank(s) per trial",
             f"  objective {a.get('objective')} ({a.get('directions')})   sampler {a.get('sampler')}   pruner "
             f"{a.get('pruner')}   wall {float(a.get('wall_s', 0)):.2f} s",
             f"  trials {len(state)}: " + ", ".join(f"{k.lower()} {v}" for k, v in counts.items()),
             f"  best value {a.get('best_value')}{_beside(a)}   best parameters {a.get('best_yaml') or '(none)'}",
             f"  journal {a.get('journal')} (study {a.get('study')!r})"]  # fmt: skip
    done = np.flatnonzero(state == "COMPLETE")
    if len(done):
        sign = -1.0 if str(a.get("directions", "")).startswith("maximize") else 1.0
        order = done[np.argsort(sign * t["value"][done], kind="stable")][:top_n]
        lines += ["", f"best {len(order)} trials:", f"  {'trial':>5} {'value':>12} {'steps':>5} {'group':>5}  params"]
        for i in order:
            lines.append(f"  {int(t['number'][i]):>5} {t['value'][i]:>12.6g} {int(t['steps'][i]):>5} "
                         f"{int(t['group'][i]):>5}  {t['params'][i].decode()}")  # fmt: skip
    if a.get("holdout"):
        lines += ["", "held-out part (the best trial by its search value, and the defaults; docs/hpo.md):"]
        lines += [f"  {x}" for x in str(a["holdout"]).splitlines()]
    failed = np.flatnonzero(state == "FAIL")
    if len(failed):
        lines += ["", "failed trials:"]
        for i in failed[:top_n]:
            lines.append(f"  {int(t['number'][i]):>5} {t['failure'][i].decode():<11} {t['error'][i].decode()}")
    prof = read_table(path, "profile")
    rows = [{c: (v[i].decode() if c == "host" else v[i].item()) for c, v in prof.items()}
            for i in range(len(prof["rank"]))]  # fmt: skip
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
        raise FileNotFoundError(f"{path}: its journal {journal or '(not recorded)'} is not there; the charts "
                                "are drawn from it")  # fmt: skip
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


def charts(path: str, out_dir: str) -> tuple[list[str], list[str]]:
    """(PNG files written, charts skipped with the reason)."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as vis

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = load_study(path)
    multi = len(study.directions) > 1
    charts = [("pareto_front", vis.plot_pareto_front)] if multi else [("history", vis.plot_optimization_history)]
    charts += [("importances", (lambda s: vis.plot_param_importances(s, target=lambda t: t.values[0]))
                if multi else vis.plot_param_importances), ("intermediate_values", vis.plot_intermediate_values)]
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
        fig = (ax.flat[0] if isinstance(ax, np.ndarray) else ax).figure
        f = os.path.join(out_dir, f"hpo_{name}.png")
        fig.savefig(f, bbox_inches="tight", dpi=100)
        plt.close(fig)
        written.append(f)
    return written, skipped
