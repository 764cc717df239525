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
    idx = read_table(path, "models")
    hit = np.flatnonzero((idx["symbol"] == s) & (idx["family"] == fid) & (idx["fold"] == fold))
    if hit.size == 0:
        raise KeyError(f"{path}: no {family} model for {symbol} fold {fold}")
    a, n = int(idx["start"][hit[0]]), int(idx["count"][hit[0]])
    with h5py.File(path, "r") as f:
        blob = f["model_bytes"]["byte"][a : a + n].tobytes()
        task = f.attrs.get("task", b"regression")
    task = task.decode() if isinstance(task, bytes) else str(task)
    imp = read_table(path, "importances")
    n_feat = int(np.sum((imp["symbol"] == s) & (imp["family"] == fid) & (imp["fold"] == fold)))
    return fam.load(family, blob, task=task, n_features=n_feat)
