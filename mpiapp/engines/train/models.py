"""Read a trained model back from results/train.h5 (safe formats only: families.load)."""

from __future__ import annotations

import numpy as np

from . import families as fam


def load_model(path, symbol: str, family: str, fold: int):
    """The model of (symbol name, family name, fold) with predict(X) -> (m,) float64.

    X columns: the features of that symbol in `features` order restricted to the ids its importances
    list (what the model was trained on). Raises KeyError naming what is not in the file.
    """
    import h5py

    from ...io.results import read_table

    if family not in fam.FAMILIES:
        raise KeyError(f"unknown model family {family!r}; choose from {', '.join(fam.FAMILIES)}")
    names = [n.decode() for n in read_table(path, "symbols")["name"]]
    if symbol not in names:
        raise KeyError(f"{path}: no symbol {symbol!r}")
    s, fid = names.index(symbol), fam.FAMILIES[family][0]
    if family == "ridge":
        return _load_ridge(path, s, fid, fold, symbol)
    idx = read_table(path, "models")
    hit = np.flatnonzero((idx["symbol"] == s) & (idx["family"] == fid) & (idx["fold"] == fold))
    if hit.size == 0:
        raise KeyError(f"{path}: no {family} model for {symbol} fold {fold}")
    a, n = int(idx["start"][hit[0]]), int(idx["count"][hit[0]])
    with h5py.File(path, "r") as f:
        blob = f["model_bytes"]["byte"][a : a + n].tobytes()
        task = f.attrs.get("task", b"regression")
        packed = f.attrs.get("model_compression")
    task = task.decode() if isinstance(task, bytes) else str(task)
    blob = fam.unpack(blob, packed.decode() if isinstance(packed, bytes) else packed)
    imp = read_table(path, "importances")
    n_feat = int(np.sum((imp["symbol"] == s) & (imp["family"] == fid) & (imp["fold"] == fold)))
    return fam.load(family, blob, task=task, n_features=n_feat)


def _load_ridge(path, s: int, fid: int, fold: int, symbol: str):
    """The ridge of (symbol id, fold) from the `coefficients` table (arrays; no bytes to load)."""
    import h5py

    from ...io.results import read_table
    from .linear import RidgeFit

    c = read_table(path, "coefficients")
    rows = (c["symbol"] == s) & (c["family"] == fid) & (c["fold"] == fold)
    if not rows.any():
        raise KeyError(f"{path}: no ridge model for {symbol} fold {fold}")
    feat, center, scale, coef = (c[k][rows] for k in ("feature", "center", "scale", "coef"))
    f = read_table(path, "folds")
    at = (f["symbol"] == s) & (f["family"] == fid) & (f["fold"] == fold)
    with h5py.File(path, "r") as h:
        task = h.attrs.get("task", b"regression")
    task = task.decode() if isinstance(task, bytes) else str(task)
    x = feat >= 0
    penalty = float(f["chosen"][at][0]) if at.any() else float("nan")
    fit = RidgeFit(center[x], scale[x], coef[x], float(coef[~x][0]), penalty)
    return fam.RidgeModel(fit, task)
