"""Exact statistics over a split: the standardisation of the inputs, and the evaluation metrics.

Exact means every sample counted once — no padding to equal shares, no dropped last batch. Each
rank takes a contiguous part of the split's samples and sums; the sums are added over the ranks
with an MPI all-reduce (float64).

Standardisation sums are taken over fixed pieces of `PIECE` samples (the same pieces at any rank
count) and added in piece order on every rank, so the model's inputs are bit-identical at any rank
count — the equivalence of 1 and n ranks then rests on the gradient all-reduce alone.

Metrics per split (regression on the forward log return y; p = the model's prediction of y):
  loss      mean of (p - y)^2 / y_scale^2 (the training loss);
  ic        Pearson correlation of p and y over the split's samples (the pooled information
            coefficient), from the sums n, Σp, Σy, Σp², Σy², Σpy;
  hit_rate  share of samples with sign(p) = sign(y), over samples with y != 0;
  baselines beside them: base_loss of predicting the training mean of y, base_hit_rate of always
            predicting the training split's more frequent sign.
"""

from __future__ import annotations

import math

import numpy as np

from ...runtime import torch_dist
from .order import even_part

PIECE = 1 << 16
SUMS = ("n", "loss", "p", "y", "pp", "yy", "py", "hits", "signed", "base_loss", "base_hits")


def input_stats(reader, rank: int, size: int, comm=None) -> dict:
    """Collective: mean and standard deviation (ddof=0) of every feature and of y over the samples of
    `reader`'s split (the sample's own bar); the share of positive y. Shapes: (F,), scalars."""
    n = reader.index.n
    pieces = -(-n // PIECE)
    F = reader.X.shape[1]
    width = 3 + 2 * F  # n, Σy, Σy², Σy>0 ... laid out below
    mine = np.zeros((pieces, width + 1), dtype=np.float64)
    for q in range(rank, pieces, size):
        a, b = q * PIECE, min(n, (q + 1) * PIECE)
        for x, y in reader.chunks(a, b):
            last = x[:, -1, :].astype(np.float64)
            yd = y.astype(np.float64)
            mine[q, 0] += last.shape[0]
            mine[q, 1] += yd.sum()
            mine[q, 2] += (yd * yd).sum()
            mine[q, 3] += (yd > 0).sum()
            mine[q, 4 : 4 + F] += last.sum(axis=0)
            mine[q, 4 + F : 4 + 2 * F] += (last * last).sum(axis=0)
    total = torch_dist.sums(mine.ravel(), comm=comm).reshape(mine.shape)
    s = np.zeros(width + 1)
    for q in range(pieces):  # piece order: the same float result at any rank count
        s += total[q]
    cnt = max(s[0], 1.0)
    mean = s[4 : 4 + F] / cnt
    var = np.maximum(s[4 + F : 4 + 2 * F] / cnt - mean * mean, 0.0)
    std = np.sqrt(var)
    std[std == 0] = 1.0
    y_mean = s[1] / cnt
    y_std = math.sqrt(max(s[2] / cnt - y_mean * y_mean, 0.0)) or 1.0
    return {"n": int(s[0]), "x_mean": mean, "x_std": std, "y_mean": y_mean, "y_std": y_std, "up": s[3] / cnt}


def evaluate(model, reader, stats: dict, autocast, device, rank: int, size: int, torch, comm=None) -> dict:
    """Collective: the metrics of `model` on `reader`'s split (every sample once). Returns the dict of
    module docstring metrics plus n."""
    n = reader.index.n
    a, b = even_part(0, n, size, rank)
    acc = np.zeros(len(SUMS), dtype=np.float64)
    scale = float(stats["y_std"])
    up = 1.0 if stats["up"] >= 0.5 else -1.0
    model.eval()
    with torch.no_grad():
        for x, y in reader.chunks(a, b):
            if x.shape[0] == 0:
                continue
            with autocast():
                z = model(torch.from_numpy(x).to(device))
            p = z.float().cpu().numpy().astype(np.float64) * scale
            yd = y.astype(np.float64)
            nz = yd != 0
            acc += [
                yd.shape[0],
                (((p - yd) / scale) ** 2).sum(),
                p.sum(),
                yd.sum(),
                (p * p).sum(),
                (yd * yd).sum(),
                (p * yd).sum(),
                (np.sign(p[nz]) == np.sign(yd[nz])).sum(),
                nz.sum(),
                (((yd - stats["y_mean"]) / scale) ** 2).sum(),
                (np.sign(yd[nz]) == up).sum(),
            ]
    model.train()
    s = dict(zip(SUMS, torch_dist.sums(acc, comm=comm)))
    return metrics(s)


def metrics(s: dict) -> dict:
    """Metrics from the summed quantities (module docstring); NaN where undefined (no samples, no
    variance)."""
    n = s["n"]
    if n == 0:
        return {k: math.nan for k in ("loss", "ic", "hit_rate", "base_loss", "base_hit_rate")} | {"n": 0}
    cov = s["py"] / n - (s["p"] / n) * (s["y"] / n)
    vp = s["pp"] / n - (s["p"] / n) ** 2
    vy = s["yy"] / n - (s["y"] / n) ** 2
    ic = cov / math.sqrt(vp * vy) if vp > 0 and vy > 0 else math.nan
    signed = s["signed"]
    return {
        "n": int(n),
        "loss": s["loss"] / n,
        "ic": ic,
        "hit_rate": s["hits"] / signed if signed else math.nan,
        "base_loss": s["base_loss"] / n,
        "base_hit_rate": s["base_hits"] / signed if signed else math.nan,
    }
