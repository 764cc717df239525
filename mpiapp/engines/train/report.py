"""What a train results file says: per-family summary text, IC chart, fold diagram.

The family summary (finalize writes it as the `summary` table; docs/train.md defines each column),
from the all-folds rows (fold = -1) of `metrics`, one per symbol, and the cross-symbol parts
(final.panel_parts):
    mean IC over the symbols with a defined IC, its Driscoll-Kraay standard error, t = mean / se and
    n_eff = 1 / se^2 (significance.py);
    beside it the baseline ridge: its mean IC over the same symbols, the share of symbols whose IC is
    above ridge's, and the mean difference with its t-statistic (the same estimator on the difference);
    loss ratio: the model's out-of-fold RMSE (log loss for classification) over the historical-mean
    forecast's on the same bars, averaged over symbols, and the share of symbols where it is below 1.
"""

from __future__ import annotations

import numpy as np

from .families import FAMILIES, FAMILY_BY_ID
from .final import ALL_FOLDS, panel_stats
from .params import BASELINE_FAMILY

SUMMARY_COLUMNS = [
    ("family", "i4"),
    ("symbols", "i4"),
    ("ic_mean", "f8"),
    ("ic_se", "f8"),
    ("ic_t", "f8"),
    ("ic_n_eff", "f8"),
    ("ridge_ic_mean", "f8"),
    ("beats_ridge", "f8"),
    ("ic_minus_ridge", "f8"),
    ("ic_minus_ridge_t", "f8"),
    ("ic_minus_ridge_n_eff", "f8"),
    ("loss_ratio", "f8"),
    ("beats_hist_mean", "f8"),
    ("r2_oos_mean", "f8"),
    ("auc_mean", "f8"),
]


def _names(tables: dict, table: str, column: str) -> list[str]:
    t = tables.get(table)
    return [] if t is None else [x.decode() if isinstance(x, bytes) else str(x) for x in t[column]]


def family_summary(metrics: dict, baselines: dict, proba: bool, panel: dict, horizon: int) -> dict:
    """SUMMARY_COLUMNS rows, one per family present (family id order).

    metrics / baselines: their fold = -1 rows (any rank order); panel: final.merge_panel_parts of every
    rank's final.panel_parts; horizon: the label horizon (the Newey-West lag is horizon - 1)."""
    key = "log_loss" if proba else "rmse"
    allb = (baselines["fold"] == ALL_FOLDS) & (baselines["baseline"] == 1)
    base = dict(zip(baselines["symbol"][allb].tolist(), baselines[key][allb].tolist()))
    allm = metrics["fold"] == ALL_FOLDS
    rid = FAMILIES[BASELINE_FAMILY][0]
    ridge_ic = {
        s: v
        for s, v in zip(
            metrics["symbol"][allm & (metrics["family"] == rid)].tolist(),
            metrics["ic"][allm & (metrics["family"] == rid)].tolist(),
        )
    }
    rows = []
    for fid in sorted(set(metrics["family"][allm].tolist())):
        m = allm & (metrics["family"] == fid)
        syms = metrics["symbol"][m].tolist()
        ics = dict(zip(syms, metrics["ic"][m].tolist()))
        ic = panel_stats(panel.get(fid, {}).get("ic"), horizon)
        both = [s for s in syms if np.isfinite(ics[s]) and np.isfinite(ridge_ic.get(s, np.nan))]
        vs = (
            panel_stats(panel.get(fid, {}).get("vs_ridge"), horizon)
            if fid != rid
            else panel_stats(None, horizon)
        )
        ratio = [v / base[s] for s, v in zip(syms, metrics[key][m].tolist()) if s in base and base[s] > 0]
        nan = float("nan")
        rows.append(
            {
                "family": fid,
                "symbols": len(syms),
                "ic_mean": ic["mean"],
                "ic_se": ic["se"],
                "ic_t": ic["t"],
                "ic_n_eff": ic["n_eff"],
                "ridge_ic_mean": float(np.mean([ridge_ic[s] for s in both])) if both and fid != rid else nan,
                "beats_ridge": float(np.mean([ics[s] > ridge_ic[s] for s in both]))
                if both and fid != rid
                else nan,
                "ic_minus_ridge": vs["mean"],
                "ic_minus_ridge_t": vs["t"],
                "ic_minus_ridge_n_eff": vs["n_eff"],
                "loss_ratio": float(np.mean(ratio)) if ratio else nan,
                "beats_hist_mean": float(np.mean([r < 1 for r in ratio])) if ratio else nan,
                "r2_oos_mean": float(np.nanmean(metrics["r2_oos"][m])) if m.any() and not proba else nan,
                "auc_mean": float(np.nanmean(metrics["auc"][m])) if m.any() and proba else nan,
            }
        )
    return {c: np.array([r[c] for r in rows], dtype=dt) for c, dt in SUMMARY_COLUMNS}


def _f(v, fmt: str, width: int) -> str:
    """v right-aligned in `width` with format `fmt` (a leading '+' = always a sign); '—' when not finite."""
    if not np.isfinite(v):
        return f"{'—':>{width}}"
    sign, fmt = ("+", fmt[1:]) if fmt.startswith("+") else ("", fmt)
    return format(v, f">{sign}{width}{fmt}")


def family_lines(summary: dict, proba: bool) -> list[str]:
    """The family table as printed by the job and by the report (one line per family, then a legend)."""
    loss = "logloss" if proba else "RMSE"
    lines = [
        f"  {'family':<6} {'symbols':>7} {'mean IC':>8} {'± se':>7} {'t':>6} {'n_eff':>7} │ "
        f"{'ridge IC':>8} {'beats ridge':>11} {'IC − ridge':>10} {'t':>6} {'n_eff':>7} │ "
        f"{loss + '/hist-mean':>16} "
        f"{'beats hist-mean':>15}" + (f" {'mean AUC':>8}" if proba else "")
    ]
    rid = FAMILIES[BASELINE_FAMILY][0]
    for i in range(len(summary["family"])):
        r = {c: v[i] for c, v in summary.items()}
        fam = FAMILY_BY_ID.get(int(r["family"]), str(r["family"]))
        vs = (
            f"{'(the baseline)':^46}"
            if int(r["family"]) == rid
            else f"{_f(r['ridge_ic_mean'], '.4f', 8)} {_f(r['beats_ridge'], '.0%', 11)} "
            f"{_f(r['ic_minus_ridge'], '+.4f', 10)} {_f(r['ic_minus_ridge_t'], '.2f', 6)} "
            f"{_f(r['ic_minus_ridge_n_eff'], ',.0f', 7)}"
        )
        lines.append(
            f"  {fam:<6} {int(r['symbols']):>7} {_f(r['ic_mean'], '.4f', 8)} {_f(r['ic_se'], '.4f', 7)} "
            f"{_f(r['ic_t'], '.2f', 6)} {_f(r['ic_n_eff'], ',.0f', 7)} │ {vs} │ "
            f"{_f(r['loss_ratio'], '.4f', 16)} {_f(r['beats_hist_mean'], '.0%', 15)}"
            + (f" {_f(r['auc_mean'], '.4f', 8)}" if proba else "")
        )
    lines += [
        "  mean IC: over symbols; ± se: Driscoll-Kraay (Newey-West over time, lag = horizon − 1, of the "
        "cross-symbol mean rank product); n_eff = 1/se², the independent (forecast, outcome) pairs behind t",
        "  beside it the baseline ridge on the same symbols: its mean IC, the share of symbols where the "
        "family's IC is higher, the mean difference, its t and n_eff (same estimator on the difference)",
        f"  {loss}/hist-mean: out-of-fold {loss} over the historical-mean forecast's, mean over symbols; beats: "
        "share of symbols below 1 (docs/train.md)",
    ]
    return lines


def summary_text(tables: dict, attrs: dict, path: str) -> str:
    """The report of a train file; tables: name -> column dict (summary, symbols, skipped, ...)."""
    proba = "task: classification" in str(attrs.get("config", ""))
    lines = [
        f"{path}: {attrs.get('status', '?')} train run, mpiapp {attrs.get('mpiapp_version', '?')}, "
        f"{attrs.get('ranks', '?')} rank(s), data {attrs.get('data_source', '?')}",
        f"  task {'classification' if proba else 'regression'}; horizon {attrs.get('horizon', '?')} bars; "
        f"threads per model {attrs.get('threads_per_model', '?')}; OpenMP {attrs.get('openmp_runtimes', '?')}",
        "",
    ]
    summ = tables.get("summary")
    if summ is not None and len(summ.get("family", ())):
        lines += family_lines(summ, proba)
    else:
        lines.append(
            "  no family summary in this file (no model finished, or written before the summary table)"
        )
    names = _names(tables, "symbols", "name")
    for t, label in (("skipped", "skipped"), ("failures", "failed")):
        rows = tables.get(t)
        if rows is None or not len(rows["symbol"]):
            continue
        lines.append("")
        for i in range(len(rows["symbol"])):
            s = int(rows["symbol"][i])
            who = names[s] if s < len(names) else str(s)
            if t == "failures":
                who += f" {FAMILY_BY_ID.get(int(rows['family'][i]), '?')} fold {int(rows['fold'][i])}"
            msg = rows["reason" if t == "skipped" else "message"][i]
            lines.append(f"  {label} {who}: {msg.decode() if isinstance(msg, bytes) else msg}")
    prof = tables.get("profile")
    if prof is not None and len(next(iter(prof.values()))):
        from ...runtime.profile import table

        rows = [
            {k: (v[i].decode() if isinstance(v[i], bytes) else v[i].item()) for k, v in prof.items()}
            for i in range(len(next(iter(prof.values()))))
        ]
        lines += ["", "profile (per rank):", table(rows)]
    return "\n".join(lines)


def plot_ic(tables: dict, out_dir: str) -> str:
    """Bar chart: IC over all folds per symbol, one bar per family."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = tables["metrics"]
    names = _names(tables, "symbols", "name")
    sel = m["fold"] == ALL_FOLDS
    syms = sorted(set(m["symbol"][sel].tolist()))
    fams = sorted(set(m["family"][sel].tolist()))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(syms) * len(fams) / 2 + 3), 4.5), dpi=100)
    w = 0.8 / max(1, len(fams))
    for j, f in enumerate(fams):
        ic = [
            float(m["ic"][sel & (m["symbol"] == s) & (m["family"] == f)][0])
            if np.any(sel & (m["symbol"] == s) & (m["family"] == f))
            else np.nan
            for s in syms
        ]
        ax.bar(np.arange(len(syms)) + (j - (len(fams) - 1) / 2) * w, ic, w, label=FAMILY_BY_ID.get(f, str(f)))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(
        np.arange(len(syms)), [names[s] if s < len(names) else str(s) for s in syms], rotation=45, ha="right"
    )
    ax.set_ylabel("IC (Spearman, out-of-fold)")
    ax.set_title("Out-of-fold IC per symbol and family")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "ic_per_symbol.png")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_folds(tables: dict, out_dir: str, symbol: int, horizon: int, embargo: int, dates=None) -> str:
    """Fold diagram of one symbol: per fold, bars trained on, purged/embargoed, tested; on a date axis
    when `dates` (the symbol's bar dates, datetime64) are given, else on bar numbers."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = tables["folds"]
    names = _names(tables, "symbols", "name")
    mine = f["symbol"] == symbol
    sel = np.flatnonzero(mine & (f["family"] == f["family"][mine].min())) if mine.any() else np.zeros(0, int)
    fig, ax = plt.subplots(figsize=(10, 0.5 * max(3, sel.size) + 1.5), dpi=100)
    if dates is not None and len(dates):
        import matplotlib.dates as mdates

        num = mdates.date2num(
            np.asarray(dates, dtype="datetime64[ns]").astype("datetime64[us]").astype(object)
        )
        step = float(np.median(np.diff(num))) if len(num) > 1 else 1.0
        at = lambda b: float(num[min(max(int(b), 0), len(num) - 1)]) + step * max(0, int(b) - (len(num) - 1))  # noqa: E731
        ax.xaxis_date()
    else:
        at = float  # noqa: E731

    def barh(row, width, left, **kw):  # a span of bar numbers, drawn on the axis (dates where known)
        a, b = at(left), at(left + width)
        return ax.barh(row, b - a, left=a, **kw)

    for row, i in enumerate(sel):
        tf, tl = int(f["test_first"][i]), int(f["test_last"][i])
        a, b = int(f["train_first"][i]), int(f["train_last"][i])
        barh(row, a, left=0, color="0.85", label="warm-up / not used" if row == 0 else None)
        barh(row, b - a + 1, left=a, color="tab:blue", alpha=0.45, label="trained" if row == 0 else None)
        if b > tl:  # k-fold: training samples after the test block too
            barh(row, tf - a, left=a, color="tab:blue", alpha=0.45)
        lo = max(a, tf - horizon)
        barh(
            row,
            tf - lo,
            left=lo,
            color="tab:red",
            edgecolor="tab:red",
            linewidth=2.5,
            label="purged" if row == 0 else None,
        )  # a few bars: the edge keeps it visible
        if b > tl:
            barh(
                row,
                horizon + embargo,
                left=tl + 1,
                color="tab:red",
                hatch="//",
                alpha=0.7,
                label="embargo" if row == 0 else None,
            )
        barh(row, tl - tf + 1, left=tf, color="tab:orange", label="tested" if row == 0 else None)
        ax.text(
            at(tl + 5),
            row,
            f"purged {int(f['n_purged'][i])}, embargoed {int(f['n_embargoed'][i])}",
            va="center",
            fontsize=7,
        )
    ax.set_yticks(range(sel.size), [f"fold {int(f['fold'][i])}" for i in sel])
    ax.invert_yaxis()
    ax.set_xlabel("date" if dates is not None and len(dates) else "bar")
    if dates is not None and len(dates):
        fig.autofmt_xdate()
    who = names[symbol] if symbol < len(names) else str(symbol)
    ax.set_title(f"{who}: folds (label horizon {horizon}, embargo {embargo}); one row per fold")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    os.makedirs(out_dir, exist_ok=True)
    import re

    path = os.path.join(
        out_dir, "folds_" + re.sub(r"[^A-Za-z0-9_.-]", "_", who) + ".png"
    )  # a file name, whatever the symbol
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _per_model(s: dict) -> str:
    """' (N KiB a model, compressed)' for the summary line: the stored bytes over the models that have
    any (ridge models are arrays in the coefficients table, no bytes)."""
    n, b = int(s.get("models", 0)), int(s.get("model_bytes", 0))
    return f" ({b / n / 1024:,.1f} KiB a model, compressed)" if n and b else ""


def run_summary(s: dict, path: str) -> str:
    """End-of-run summary printed by rank 0 of the train job (from finalize's summary dict)."""
    lines = [
        f"train complete: {path}",
        f"  symbols {s.get('symbols', 0)} ({s.get('skipped', 0)} skipped)   models {s.get('models', 0)}"
        f"{_per_model(s)}   "
        f"failed units {s.get('failed', 0)}   out-of-fold predictions {s.get('predictions', 0):,}   "
        f"wall {s.get('wall_s', 0):.2f} s",
    ]
    fams = s.get("families")
    if fams is not None and len(fams["family"]):
        lines += family_lines(fams, s.get("proba", False))
    for sym, family, fold, msg in s.get("failures", [])[:10]:
        lines.append(f"  failed: {sym} {family} fold {fold}: {msg}")
    for sym, reason in s.get("skips", [])[:10]:
        lines.append(f"  skipped: {sym}: {reason}")
    prof = s.get("profile") or []
    if prof:
        from ...runtime.profile import table

        lines += ["", "profile (per rank):", table(prof)]
    return "\n".join(lines)


TABLES = {  # what `mpiapp.results.tables(path)` says of each table (docs/train.md has every column)
    "summary": "one row per family: mean IC with its Driscoll-Kraay se, beside the ridge baseline and the "
    "historical mean",
    "metrics": "per symbol, family and fold (fold -1: all folds): out-of-fold RMSE, IC, R2, AUC, hit rate",
    "baselines": "the same metrics of the zero and historical-mean forecasts",
    "predictions": "every out-of-fold forecast: symbol, family, fold, bar, time, y (realised), yhat",
    "folds": "per symbol, family and fold: bars trained on and tested, purged, embargoed; what the inner "
    "slice chose",
    "importances": "total split gain of each feature per model (NaN for the MLP and ridge)",
    "coefficients": "the ridge models: per feature its center, scale and coefficient (feature -1: intercept)",
    "models": "index of each model's bytes in model_bytes (start, count)",
    "model_bytes": "the models in their library's own format, zlib-compressed (see docs/train.md)",
    "features": "feature id -> name",
    "symbols": "symbol id -> name, bars, why skipped",
    "skipped": "symbols not trained and why",
    "failures": "units whose model raised (train.on_error=record)",
    "profile": "per rank: units, models, busy / wait / read / write seconds, peak RSS",
}
#: the tables of the HTML page (mpiapp.report --html), in order, with a note
HTML_TABLES = (
    ("summary", "one row per family"),
    ("metrics", "fold -1: all folds of the symbol"),
    ("baselines", "zero and historical-mean forecasts, same metrics"),
    ("symbols", ""),
    ("failures", ""),
)
READ = ("summary", "metrics", "baselines", "symbols", "folds", "skipped", "failures", "profile")


def decoding(path: str, attrs: dict) -> dict:
    """What the integer codes of a train file mean (mpiapp.results.load): symbol, family, feature,
    baseline; `time` of the predictions is in nanoseconds."""
    from ...io.results import read_table
    from .metrics import BASELINES

    names = _names({"symbols": read_table(path, "symbols")}, "symbols", "name")
    feats = _names({"features": read_table(path, "features")}, "features", "name")
    return {
        "codes": {
            "symbol": {"names": names, "source": "symbols"},
            "family": {"names": [FAMILY_BY_ID[i] for i in sorted(FAMILY_BY_ID)]},
            "feature": {"names": feats, "source": "features"},
            "baseline": {"names": [BASELINES[i] for i in sorted(BASELINES)]},
        },
        "times": {"predictions": ["time"]},
    }


def _tables(path: str) -> dict:
    import h5py

    from ...io.results import read_table

    with h5py.File(path, "r") as f:
        present = set(f.keys())
    return {t: read_table(path, t) for t in READ if t in present}


def text(path: str) -> str:
    """`python -m mpiapp.report FILE` for a train results file (mpiapp.report.JOB_REPORTS)."""
    from ...io.results import read_attrs

    return summary_text(_tables(path), read_attrs(path), path)


def _bar_dates(attrs: dict, names: list) -> dict:
    """{symbol name: its bar dates} read from the data source the file records; {} where it cannot
    be opened any more (the fold diagrams then count bars)."""
    from ... import config
    from ...io import sources

    try:
        src = sources.open_from_config(
            config.loads(attrs["config"], origin="the file's config attribute"), min_bars=1
        )
        out = {}
        for n in names:
            try:
                out[n] = src.load(n).dates
            except Exception:  # noqa: BLE001  (a symbol that cannot be read: bars for it)
                pass
        return out
    except Exception:  # noqa: BLE001  (a source that moved or is gone: bars for every symbol)
        return {}


def plot(path: str, out_dir: str) -> list[str]:
    """`--plot DIR`: IC per symbol and family (ic_per_symbol.png), the out-of-fold long/short book
    against buy-and-hold with turnover (equity.png), IC per fold over time (ic_over_time.png), feature
    importance (importance.png), predicted vs realised deciles (deciles.png) — charts.py — and the fold
    diagram of every symbol on a date axis (folds_SYMBOL.png)."""
    import yaml

    from ...io.results import read_attrs, read_table
    from . import charts

    attrs = read_attrs(path)
    tables = _tables(path)
    for extra in ("predictions", "importances", "coefficients", "features"):
        tables[extra] = read_table(path, extra)
    cv = (yaml.safe_load(attrs.get("config", "")) or {}).get("train", {}).get("cv", {})
    horizon = int(attrs.get("horizon", 5))
    proba = attrs.get("task") == "classification"
    names = _names(tables, "symbols", "name")
    save = charts.saver(out_dir)
    files = [plot_ic(tables, out_dir)]
    if len(tables["predictions"]["symbol"]):
        files.append(charts.plot_equity(tables, names, out_dir, horizon, proba, save))
        files.append(charts.plot_ic_over_time(tables, names, out_dir, save))
        files.append(charts.plot_deciles(tables, save))
    imp = charts.plot_importance(tables, _names(tables, "features", "name"), save)
    files += [imp] if imp else []
    dates = _bar_dates(attrs, names)
    for s in sorted(set(tables["folds"]["symbol"].tolist())):
        files.append(
            plot_folds(
                tables,
                out_dir,
                s,
                horizon,
                int(cv.get("embargo_bars", 0)),
                dates.get(names[s]) if s < len(names) else None,
            )
        )
    return files
