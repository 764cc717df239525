"""What a train results file says: per-family summary text, IC chart, fold diagram.

Summary per family, from the all-folds rows (fold = -1) of `metrics`, one per symbol:
    mean IC and its t-stat across symbols: t = mean / (sd / sqrt(N)), sd with ddof = 1 (N >= 2);
    share of symbols beating the historical-mean baseline: lower RMSE (regression) or lower log loss
    (classification) than that baseline over the same out-of-fold bars.
"""

from __future__ import annotations

import math

import numpy as np

from .families import FAMILY_BY_ID
from .final import ALL_FOLDS


def _names(tables: dict, table: str, column: str) -> list[str]:
    t = tables.get(table)
    return [] if t is None else [x.decode() if isinstance(x, bytes) else str(x) for x in t[column]]


def ic_tstat(ic) -> tuple[float, float, int]:
    """(mean, t-stat, N) of the finite values of `ic`; t is NaN below two values or with sd = 0."""
    v = np.asarray(ic, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = v.shape[0]
    if n == 0:
        return float("nan"), float("nan"), 0
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if n > 1 else 0.0
    return mean, (mean / (sd / math.sqrt(n)) if sd > 0 else float("nan")), n


def family_summary(metrics: dict, baselines: dict, proba: bool) -> list[dict]:
    """One dict per family present: family, symbols, ic_mean, ic_t, beat_share, r2_oos_mean, auc_mean."""
    key = "log_loss" if proba else "rmse"
    allb = (baselines["fold"] == ALL_FOLDS) & (baselines["baseline"] == 1)
    base = dict(zip(baselines["symbol"][allb].tolist(), baselines[key][allb].tolist()))
    out = []
    for fid in sorted(set(metrics["family"].tolist())):
        m = (metrics["family"] == fid) & (metrics["fold"] == ALL_FOLDS)
        mean, t, n = ic_tstat(metrics["ic"][m])
        syms = metrics["symbol"][m].tolist()
        beat = [v < base[s] for s, v in zip(syms, metrics[key][m].tolist()) if s in base]
        out.append({"family": FAMILY_BY_ID.get(fid, str(fid)), "symbols": len(syms), "ic_mean": mean, "ic_t": t,
                    "beat_share": (sum(beat) / len(beat)) if beat else float("nan"),
                    "r2_oos_mean": float(np.nanmean(metrics["r2_oos"][m])) if m.any() and not proba else float("nan"),
                    "auc_mean": float(np.nanmean(metrics["auc"][m])) if m.any() else float("nan")})
    return out


def summary_text(tables: dict, attrs: dict, path: str) -> str:
    """The report of a train file; tables: name -> column dict (metrics, baselines, symbols, ...)."""
    proba = "task: classification" in str(attrs.get("config", ""))
    lines = [f"{path}: {attrs.get('status', '?')} train run, mpiapp {attrs.get('mpiapp_version', '?')}, "
             f"{attrs.get('ranks', '?')} rank(s), data {attrs.get('data_source', '?')}",
             f"  task {'classification' if proba else 'regression'}; threads per model "
             f"{attrs.get('threads_per_model', '?')}; OpenMP {attrs.get('openmp_runtimes', '?')}",
             "",
             f"  {'family':<7} {'symbols':>7} {'mean IC':>8} {'t-stat':>7} {'beat hist-mean':>14} "
             f"{'mean R2oos' if not proba else 'mean AUC':>10}"]
    for r in family_summary(tables["metrics"], tables["baselines"], proba):
        last = r["auc_mean"] if proba else r["r2_oos_mean"]
        lines.append(f"  {r['family']:<7} {r['symbols']:>7} {r['ic_mean']:>8.4f} {r['ic_t']:>7.2f} "
                     f"{r['beat_share']:>14.0%} {last:>10.4f}")
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

        rows = [{k: (v[i].decode() if isinstance(v[i], bytes) else v[i].item()) for k, v in prof.items()}
                for i in range(len(next(iter(prof.values()))))]
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
        ic = [float(m["ic"][sel & (m["symbol"] == s) & (m["family"] == f)][0])
              if np.any(sel & (m["symbol"] == s) & (m["family"] == f)) else np.nan for s in syms]
        ax.bar(np.arange(len(syms)) + (j - (len(fams) - 1) / 2) * w, ic, w, label=FAMILY_BY_ID.get(f, str(f)))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(syms)), [names[s] if s < len(names) else str(s) for s in syms], rotation=45, ha="right")
    ax.set_ylabel("IC (Spearman, out-of-fold)")
    ax.set_title("Out-of-fold IC per symbol and family")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "ic_per_symbol.png")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_folds(tables: dict, out_dir: str, symbol: int, horizon: int, embargo: int) -> str:
    """Fold diagram of one symbol: per fold, bars trained on, purged/embargoed, tested."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = tables["folds"]
    names = _names(tables, "symbols", "name")
    mine = f["symbol"] == symbol
    sel = np.flatnonzero(mine & (f["family"] == f["family"][mine].min())) if mine.any() else np.zeros(0, int)
    fig, ax = plt.subplots(figsize=(10, 0.5 * max(3, sel.size) + 1.5), dpi=100)
    for row, i in enumerate(sel):
        tf, tl = int(f["test_first"][i]), int(f["test_last"][i])
        a, b = int(f["train_first"][i]), int(f["train_last"][i])
        ax.barh(row, a, left=0, color="0.85", label="warm-up / not used" if row == 0 else None)
        ax.barh(row, b - a + 1, left=a, color="tab:blue", alpha=0.45, label="trained" if row == 0 else None)
        if b > tl:  # k-fold: training samples after the test block too
            ax.barh(row, tf - a, left=a, color="tab:blue", alpha=0.45)
        lo = max(a, tf - horizon)
        ax.barh(row, tf - lo, left=lo, color="tab:red", edgecolor="tab:red", linewidth=2.5,
                label="purged" if row == 0 else None)  # a few bars: the edge keeps it visible
        if b > tl:
            ax.barh(row, horizon + embargo, left=tl + 1, color="tab:red", hatch="//", alpha=0.7,
                    label="embargo" if row == 0 else None)
        ax.barh(row, tl - tf + 1, left=tf, color="tab:orange", label="tested" if row == 0 else None)
        ax.text(tl + 5, row, f"purged {int(f['n_purged'][i])}, embargoed {int(f['n_embargoed'][i])}",
                va="center", fontsize=7)
    ax.set_yticks(range(sel.size), [f"fold {int(f['fold'][i])}" for i in sel])
    ax.invert_yaxis()
    ax.set_xlabel("bar")
    who = names[symbol] if symbol < len(names) else str(symbol)
    ax.set_title(f"{who}: folds (label horizon {horizon}, embargo {embargo}); one row per fold")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    os.makedirs(out_dir, exist_ok=True)
    import re

    path = os.path.join(out_dir, "folds_" + re.sub(r"[^A-Za-z0-9_.-]", "_", who) + ".png")  # a file name, whatever the symbol
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def run_summary(s: dict, path: str) -> str:
    """End-of-run summary printed by rank 0 of the train job (from finalize's summary dict)."""
    lines = [f"train complete: {path}",
             f"  symbols {s.get('symbols', 0)} ({s.get('skipped', 0)} skipped)   models {s.get('models', 0)}   "
             f"failed units {s.get('failed', 0)}   out-of-fold predictions {s.get('predictions', 0):,}   "
             f"wall {s.get('wall_s', 0):.2f} s"]
    fams = s.get("families") or []
    if fams:
        lines.append(f"  {'family':<7} {'symbols':>7} {'mean IC':>8} {'t-stat':>7} {'beat hist-mean':>14}")
        for r in fams:
            lines.append(f"  {r['family']:<7} {r['symbols']:>7} {r['ic_mean']:>8.4f} {r['ic_t']:>7.2f} "
                         f"{r['beat_share']:>14.0%}")
        lines.append("  (beat hist-mean: share of symbols whose out-of-fold RMSE — log loss for classification — is "
                     "below the historical-mean forecast's)")
    for sym, family, fold, msg in s.get("failures", [])[:10]:
        lines.append(f"  failed: {sym} {family} fold {fold}: {msg}")
    for sym, reason in s.get("skips", [])[:10]:
        lines.append(f"  skipped: {sym}: {reason}")
    prof = s.get("profile") or []
    if prof:
        from ...runtime.profile import table

        lines += ["", "profile (per rank):", table(prof)]
    return "\n".join(lines)


TABLES = ("metrics", "baselines", "symbols", "folds", "skipped", "failures", "profile")


def _tables(path: str) -> dict:
    from ...io.results import read_table

    return {t: read_table(path, t) for t in TABLES}


def text(path: str) -> str:
    """`python -m mpiapp.report FILE` for a train results file (mpiapp.report.JOB_REPORTS)."""
    from ...io.results import read_attrs

    return summary_text(_tables(path), read_attrs(path), path)


def plot(path: str, out_dir: str) -> list[str]:
    """`--plot DIR`: IC per symbol and family, and the fold diagram of the first three symbols."""
    import yaml

    from ...io.results import read_attrs

    attrs = read_attrs(path)
    tables = _tables(path)
    cv = (yaml.safe_load(attrs.get("config", "")) or {}).get("train", {}).get("cv", {})
    files = [plot_ic(tables, out_dir)]
    for s in sorted(set(tables["folds"]["symbol"].tolist()))[:3]:
        files.append(plot_folds(tables, out_dir, s, int(attrs.get("horizon", 5)), int(cv.get("embargo_bars", 0))))
    return files
