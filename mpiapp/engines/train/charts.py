"""The train report's charts of what the out-of-fold forecasts are worth (`mpiapp.report FILE --plot`).

From the file's tables alone (predictions, metrics, folds, importances, coefficients):
- equity.png: per symbol, the out-of-fold signal traded long/short against buy-and-hold, with turnover;
- ic_over_time.png: per symbol, each fold's IC at the date of its test block, one line per family;
- importance.png: per family, each feature's share of the split gain (ridge: of |standardised
  coefficient|), averaged over symbols and folds;
- deciles.png: per family, the realised forward return of each decile of the forecast (ranked within
  each symbol), mean over symbols with its standard error.

The long/short book (equity.png): at every bar of a test block the position is the forecast's sign
(classification: the side of 0.5), held for the label horizon h in 1/h of the capital, so that h
staggered books are open at once (Jegadeesh and Titman 1993's overlapping portfolios); the book's
log return over the whole test period is then the sum of position x y / h over its bars, which the
curve shows cumulated at each entry bar (buy-and-hold: position 1). Turnover is the mean |change of
position| / 2 per bar of the book (1 = the whole book reversed every bar). No costs are charged.
"""

from __future__ import annotations

import os

import numpy as np

from .families import FAMILY_BY_ID


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _dates(ns) -> np.ndarray:
    return np.asarray(ns, dtype=np.int64).view("datetime64[ns]")


def _date_ticks(ax) -> None:
    """Readable dates on every panel's own x axis (each symbol has its own dates)."""
    import matplotlib.dates as mdates

    loc = mdates.AutoDateLocator(maxticks=7)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def _grid(plt, n: int, width: float = 6.5, height: float = 3.6):
    cols = min(2, max(1, n))
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), dpi=100, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def positions(yhat: np.ndarray, proba: bool) -> np.ndarray:
    """+1 / -1 / 0: the forecast's sign (classification: P(up) against 0.5)."""
    return np.sign(np.asarray(yhat, dtype=np.float64) - (0.5 if proba else 0.0))


def book(pos: np.ndarray, y: np.ndarray, horizon: int) -> tuple[np.ndarray, float]:
    """(cumulative log return at each entry bar, turnover per bar) of the staggered long/short book
    (module docstring); pos and y in bar order."""
    pnl = np.cumsum(pos * y / max(1, horizon))
    turn = float(np.mean(np.abs(np.diff(pos))) / 2) if pos.size > 1 else float("nan")
    return pnl, turn


def plot_equity(t: dict, names: list, out_dir: str, horizon: int, proba: bool, save) -> str:
    """equity.png (module docstring)."""
    plt = _plt()
    p = t["predictions"]
    syms = sorted(set(p["symbol"].tolist()))
    fams = sorted(set(p["family"].tolist()))
    fig, axes = _grid(plt, len(syms))
    for ax, s in zip(axes, syms):
        mine = p["symbol"] == s
        for f in fams:
            sel = np.flatnonzero(mine & (p["family"] == f))
            if not sel.size:
                continue
            sel = sel[np.argsort(p["bar"][sel], kind="stable")]
            pnl, turn = book(positions(p["yhat"][sel], proba), p["y"][sel], horizon)
            ax.plot(
                _dates(p["time"][sel]), pnl, lw=1.1, label=f"{FAMILY_BY_ID.get(f, f)} (turnover {turn:.2f})"
            )
        first = np.flatnonzero(mine & (p["family"] == fams[0]))
        first = first[np.argsort(p["bar"][first], kind="stable")]
        hold, _ = book(np.ones(first.size), p["y"][first], horizon)
        ax.plot(_dates(p["time"][first]), hold, color="black", lw=1.4, ls="--", label="buy and hold")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_title(f"{names[s] if s < len(names) else s}: out-of-fold long/short book", fontsize=9)
        ax.set_xlabel("date (entry bar)")
        ax.set_ylabel("cumulative log return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="upper left")
        _date_ticks(ax)
    fig.suptitle(
        f"Sign of the out-of-fold forecast traded long/short, held {horizon} bars in 1/{horizon} of the "
        "capital (staggered books), against buy-and-hold; no costs",
        fontsize=10,
    )
    fig.tight_layout()
    return save(fig, "equity.png")


def plot_ic_over_time(t: dict, names: list, out_dir: str, save) -> str:
    """ic_over_time.png: each fold's IC, at the middle date of its test block, per symbol and family."""
    plt = _plt()
    m, p = t["metrics"], t["predictions"]
    syms = sorted(set(m["symbol"][m["fold"] >= 0].tolist()))
    fig, axes = _grid(plt, len(syms))
    for ax, s in zip(axes, syms):
        for f in sorted(set(m["family"].tolist())):
            sel = np.flatnonzero((m["symbol"] == s) & (m["family"] == f) & (m["fold"] >= 0))
            if not sel.size:
                continue
            sel = sel[np.argsort(m["fold"][sel])]
            when = []
            for k in m["fold"][sel]:
                tt = p["time"][(p["symbol"] == s) & (p["family"] == f) & (p["fold"] == k)]
                when.append(int(np.median(tt)) if tt.size else np.iinfo(np.int64).min)
            ax.plot(_dates(when), m["ic"][sel], "o-", ms=4, lw=1, label=FAMILY_BY_ID.get(int(f), str(f)))
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set_title(f"{names[s] if s < len(names) else s}: IC of each fold's test block", fontsize=9)
        ax.set_xlabel("date (middle of the fold's test block)")
        ax.set_ylabel("IC (Spearman)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, ncol=3)
        _date_ticks(ax)
    fig.suptitle("Out-of-fold IC over time: one point per walk-forward fold", fontsize=10)
    fig.tight_layout()
    return save(fig, "ic_over_time.png")


def _shares(values: np.ndarray, keys: np.ndarray, feats: np.ndarray) -> dict:
    """{feature: mean over models of its share of the model's total} (models keyed by `keys`)."""
    out: dict = {}
    for key in np.unique(keys):
        sel = keys == key
        v = np.abs(values[sel])
        tot = np.nansum(v)
        if not np.isfinite(tot) or tot <= 0:
            continue
        for fid, share in zip(feats[sel], v / tot):
            out.setdefault(int(fid), []).append(float(share))
    return {k: float(np.mean(v)) for k, v in out.items()}


def plot_importance(t: dict, feature_names: list, save) -> str | None:
    """importance.png: per family, each feature's mean share of the gain (ridge: |coefficient| on
    standardised features); None when the file has neither."""
    plt = _plt()
    imp, coef = t.get("importances"), t.get("coefficients")
    panels = []
    if imp is not None and len(imp["gain"]):
        for f in sorted(set(imp["family"].tolist())):
            sel = (imp["family"] == f) & np.isfinite(imp["gain"])
            if sel.any():
                keys = imp["symbol"][sel].astype(np.int64) * 1000 + imp["fold"][sel]
                panels.append(
                    (
                        f"{FAMILY_BY_ID.get(int(f), f)}: share of split gain",
                        _shares(imp["gain"][sel], keys, imp["feature"][sel]),
                    )
                )
    if coef is not None and len(coef["coef"]):
        sel = coef["feature"] >= 0
        keys = coef["symbol"][sel].astype(np.int64) * 1000 + coef["fold"][sel]
        panels.append(
            (
                "ridge: share of |coefficient| (standardised features)",
                _shares(coef["coef"][sel], keys, coef["feature"][sel]),
            )
        )
    if not panels:
        return None
    fig, axes = _grid(plt, len(panels), width=5.5, height=0.28 * max(len(feature_names), 8) + 1.2)
    for ax, (title, shares) in zip(axes, panels):
        order = sorted(shares, key=lambda k: shares[k])
        ax.barh(
            [feature_names[k] if k < len(feature_names) else str(k) for k in order],
            [shares[k] for k in order],
            color="tab:blue",
        )
        ax.set_xlabel("mean share over symbols and folds")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle("Feature importance", fontsize=10)
    fig.tight_layout()
    return save(fig, "importance.png")


def decile_means(yhat: np.ndarray, y: np.ndarray, q: int = 10) -> np.ndarray:
    """Mean realised y in each of q forecast quantile bins (ranks, ties in bar order); NaN for an empty bin."""
    n = yhat.shape[0]
    if n < q:
        return np.full(q, np.nan)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(yhat, kind="stable")] = np.arange(n)
    b = rank * q // n
    return np.array([y[b == i].mean() if np.any(b == i) else np.nan for i in range(q)])


def plot_deciles(t: dict, save) -> str:
    """deciles.png: per family, mean realised forward return per forecast decile (within each symbol),
    averaged over symbols, ± its standard error over symbols."""
    plt = _plt()
    p = t["predictions"]
    fams = sorted(set(p["family"].tolist()))
    fig, axes = _grid(plt, len(fams), width=4.6, height=3.4)
    for ax, f in zip(axes, fams):
        rows = []
        for s in sorted(set(p["symbol"].tolist())):
            sel = (p["symbol"] == s) & (p["family"] == f)
            if sel.sum() >= 10:
                rows.append(decile_means(p["yhat"][sel], p["y"][sel]))
        if not rows:
            ax.text(0.5, 0.5, "no forecasts", ha="center", va="center", transform=ax.transAxes)
            continue
        R = np.array(rows) * 1e4
        mean = np.nanmean(R, axis=0)
        se = np.nanstd(R, axis=0, ddof=1) / np.sqrt(max(1, R.shape[0])) if R.shape[0] > 1 else np.zeros(10)
        x = np.arange(1, 11)
        ax.bar(x, mean, yerr=se, color=np.where(mean >= 0, "tab:green", "tab:red"), capsize=2, alpha=0.8)
        ax.axhline(float(np.nanmean(R)), color="black", lw=0.8, ls="--", label="mean of all forecasts")
        ax.set_xticks(x)
        ax.set_xlabel("forecast decile (1 = lowest, within each symbol)")
        ax.set_ylabel("realised forward return (bp)")
        ax.set_title(f"{FAMILY_BY_ID.get(int(f), f)} ({R.shape[0]} symbols)", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.suptitle(
        "Predicted vs realised: mean realised forward log return per forecast decile, ± se over symbols",
        fontsize=10,
    )
    fig.tight_layout()
    return save(fig, "deciles.png")


def saver(out_dir: str):
    """save(fig, name) -> path: writes out_dir/name and closes the figure."""
    plt = _plt()
    os.makedirs(out_dir, exist_ok=True)

    def save(fig, name: str) -> str:
        path = os.path.join(out_dir, name)
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        return path

    return save
