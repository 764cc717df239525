"""What the kept model and the ridge baseline forecast for every sample, and the metrics per symbol.

Why: a pooled figure (the epochs table's test IC) hides its parts — which symbols it comes from, and
whether a linear model on the same features does as well. The `predictions` table keeps every
sample's forecast, so any figure can be rebuilt; the `metrics` table gives each symbol's figures
beside the pooled ones.

predictions (one row per sample of each split, in split, symbol, bar order): symbol, bar, time (ns),
split (train | validation | test), y (the forward log return over ddp.horizon bars), yhat (the model,
the best validation epoch's weights), ridge (the baseline, baseline.py).

metrics (validation and test; one row per symbol with samples there, and symbol -1 for all of them):
  n             samples
  ic            Spearman rank correlation of yhat and y over the symbol's samples (the train job's IC);
                row -1: the mean over symbols
  ic_se         Newey-West standard error with lag horizon - 1 (engines/train/significance.py: the
                labels of neighbouring bars overlap); row -1: Driscoll-Kraay over the symbols' common
                times (symbols that move together count as less than independent evidence)
  ic_t, ic_n_eff  ic / ic_se, and 1 / ic_se^2: the independent (forecast, outcome) pairs behind it
  ridge_ic      the same IC of the ridge baseline; ic_minus_ridge, its t and n_eff (the same
                estimators on the difference of the rank products)
  pearson_ic    Pearson correlation of yhat and y over the samples (row -1: the pooled figure of the
                epochs table); ridge_pearson_ic the same of the ridge
  loss, ridge_loss, base_loss   mean (forecast - y)^2 / y_scale^2 of the model, the ridge, and the
                training split's mean return (y_scale: the training split's standard deviation of y)
  hit_rate, base_hit_rate       share of samples with sign(yhat) = sign(y) (y != 0), and of the
                training split's more frequent sign
"""

from __future__ import annotations

import math

import numpy as np

from ..train import significance as sig
from .order import even_part

SPLITS = ("train", "validation", "test")
SCORED = ("validation", "test")
COLUMNS = [
    ("symbol", "i4"),
    ("bar", "i8"),
    ("time", "i8"),
    ("split", "S10"),
    ("y", "f4"),
    ("yhat", "f8"),
    ("ridge", "f8"),
]
METRIC_NAMES = (
    "n",
    "ic",
    "ic_se",
    "ic_t",
    "ic_n_eff",
    "ridge_ic",
    "ridge_ic_se",
    "ic_minus_ridge",
    "ic_minus_ridge_t",
    "ic_minus_ridge_n_eff",
    "pearson_ic",
    "ridge_pearson_ic",
    "loss",
    "ridge_loss",
    "base_loss",
    "hit_rate",
    "base_hit_rate",
)


def rows_of(index, s0: int, s1: int) -> np.ndarray:
    """The global store rows (int64) of samples [s0, s1) of a split's SampleIndex."""
    parts = [np.arange(r0, r0 + (b - a), dtype=np.int64) for a, b, r0 in index.segments(s0, s1)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def predict(model, reader, stats: dict, fit, autocast, device, rank: int, size: int, torch) -> dict:
    """This rank's part of `reader`'s split (contiguous, evaluate's cut): {row, y, yhat, ridge}; yhat in
    log-return units. fit: the ridge baseline (linear.RidgeFit)."""
    a, b = even_part(0, reader.index.n, size, rank)
    rows, ys, ps, rs = [rows_of(reader.index, a, b)], [], [], []
    scale = float(stats["y_std"])
    model.eval()
    with torch.no_grad():
        for x, y in reader.chunks(a, b):
            if x.shape[0] == 0:
                continue
            with autocast():
                z = model(torch.from_numpy(x).to(device))
            ps.append(z.float().cpu().numpy().astype(np.float64) * scale)
            rs.append(fit.predict(x[:, -1, :]))
            ys.append(y.astype(np.float32))
    model.train()
    cat = lambda v, dt: np.concatenate(v).astype(dt) if v else np.zeros(0, dt)
    return {
        "row": rows[0],
        "y": cat(ys, np.float32),
        "yhat": cat(ps, np.float64),
        "ridge": cat(rs, np.float64),
    }


def table(parts: dict, store_rows: dict) -> dict:
    """The predictions table (rank 0) from {split: [each rank's predict() part, in rank order]} and the
    store's rows table columns symbol, bar, time (indexed by global row)."""
    cols = {c: [] for c, _ in COLUMNS}
    for split in SPLITS:
        for p in parts.get(split, []):
            r = p["row"]
            cols["symbol"].append(store_rows["symbol"][r])
            cols["bar"].append(store_rows["bar"][r])
            cols["time"].append(store_rows["time"][r])
            cols["split"].append(np.full(r.shape[0], split.encode(), dtype="S10"))
            for c in ("y", "yhat", "ridge"):
                cols[c].append(p[c])
    out = {
        c: (np.concatenate(v).astype(dt) if v else np.zeros(0, dt))
        for (c, dt), v in zip(COLUMNS, cols.values())
    }
    order = np.lexsort((out["bar"], out["symbol"], _split_code(out["split"])))
    return {c: v[order] for c, v in out.items()}


def _split_code(split: np.ndarray) -> np.ndarray:
    return np.select([split == s.encode() for s in SPLITS], list(range(len(SPLITS))), -1)


def _pearson(p, y) -> float:
    if p.shape[0] < 2:
        return math.nan
    p, y = p - p.mean(), y - y.mean()
    den = math.sqrt(float(p @ p) * float(y @ y))
    return float(p @ y) / den if den > 0 else math.nan


def _losses(p, y, stats) -> dict:
    scale = float(stats["y_std"])
    nz = y != 0
    up = 1.0 if stats["up"] >= 0.5 else -1.0
    return {
        "loss": float(np.mean(((p - y) / scale) ** 2)) if y.size else math.nan,
        "base_loss": float(np.mean(((y - stats["y_mean"]) / scale) ** 2)) if y.size else math.nan,
        "hit_rate": float(np.mean(np.sign(p[nz]) == np.sign(y[nz]))) if nz.any() else math.nan,
        "base_hit_rate": float(np.mean(np.sign(y[nz]) == up)) if nz.any() else math.nan,
    }


def metrics(pred: dict, n_symbols: int, horizon: int, stats: dict) -> dict:
    """The metrics table (module docstring) from the predictions table (rank 0)."""
    nan = math.nan
    recs = []
    code = _split_code(pred["split"])
    for si, split in enumerate(SPLITS):
        if split not in SCORED:
            continue
        idx = np.flatnonzero(code == si)
        sym = pred["symbol"][idx]
        panels = {"ic": [], "ridge": [], "diff": []}
        for s in np.unique(sym):
            sl = idx[sym == s]
            y = pred["y"][sl].astype(np.float64)
            p, r = pred["yhat"][sl], pred["ridge"][sl]
            ic, se, neff = sig.ic_se(p, y, horizon)
            ric, rse, _ = sig.ic_se(r, y, horizon)
            u, v = sig.rank_products(p, y), sig.rank_products(r, y)
            dse = (
                math.sqrt(sig.newey_west(sig.centred(u - v), horizon - 1))
                if np.isfinite(u - v).all() and u.size >= 2
                else nan
            )
            rec = {
                "symbol": int(s),
                "split": split,
                "n": int(sl.size),
                "ic": ic,
                "ic_se": se,
                "ic_t": ic / se if se > 0 else nan,
                "ic_n_eff": neff,
                "ridge_ic": ric,
                "ridge_ic_se": rse,
                "ic_minus_ridge": ic - ric,
                "ic_minus_ridge_t": (ic - ric) / dse if dse > 0 else nan,
                "ic_minus_ridge_n_eff": 1.0 / dse**2 if dse > 0 else nan,
                "pearson_ic": _pearson(p, y),
                "ridge_pearson_ic": _pearson(r, y),
                "ridge_loss": float(np.mean(((r - y) / stats["y_std"]) ** 2)),
                **_losses(p, y, stats),
            }
            recs.append(rec)
            t = pred["time"][sl]
            if np.isfinite(u).all() and u.size >= 2:
                panels["ic"].append((t, sig.to_fixed(sig.centred(u)), ic))
            if np.isfinite(v).all() and v.size >= 2:
                panels["ridge"].append((t, sig.to_fixed(sig.centred(v)), ric))
            if np.isfinite(u - v).all() and u.size >= 2:
                panels["diff"].append((t, sig.to_fixed(sig.centred(u) - sig.centred(v)), ic - ric))
        pan = {k: _panel(v, horizon) for k, v in panels.items()}
        y = pred["y"][idx].astype(np.float64)
        p, r = pred["yhat"][idx], pred["ridge"][idx]
        recs.append(
            {
                "symbol": -1,
                "split": split,
                "n": int(idx.size),
                "ic": pan["ic"][0],
                "ic_se": pan["ic"][1],
                "ic_t": pan["ic"][0] / pan["ic"][1] if pan["ic"][1] > 0 else nan,
                "ic_n_eff": 1.0 / pan["ic"][1] ** 2 if pan["ic"][1] > 0 else nan,
                "ridge_ic": pan["ridge"][0],
                "ridge_ic_se": pan["ridge"][1],
                "ic_minus_ridge": pan["diff"][0],
                "ic_minus_ridge_t": pan["diff"][0] / pan["diff"][1] if pan["diff"][1] > 0 else nan,
                "ic_minus_ridge_n_eff": 1.0 / pan["diff"][1] ** 2 if pan["diff"][1] > 0 else nan,
                "pearson_ic": _pearson(p, y),
                "ridge_pearson_ic": _pearson(r, y),
                "ridge_loss": float(np.mean(((r - y) / stats["y_std"]) ** 2)) if y.size else nan,
                **_losses(p, y, stats),
            }
        )
    return {k: [rec[k] for rec in recs] for k in ("symbol", "split", *METRIC_NAMES)}


def _panel(parts, horizon: int) -> tuple[float, float]:
    """(mean over the symbols, Driscoll-Kraay standard error) from each symbol's (times, fixed-point
    centred rank products, IC); NaNs for no symbol."""
    if not parts:
        return math.nan, math.nan
    _, sums = sig.merge_time_sums(sig.time_sums(t, d) for t, d, _ in parts)
    return float(np.mean([ic for _, _, ic in parts])), sig.panel_se(sums, len(parts), horizon)
