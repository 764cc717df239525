"""Open a results file as pandas: `mpiapp.results.load("results/score.h5")`."""

from __future__ import annotations

from .io.results import read_attrs, read_table

__all__ = ["load", "load_table", "load_model", "attrs"]


def _text(v):
    """A column of stored strings (fixed-width bytes, or variable-length bytes/str) as str,
    decoded as UTF-8; an undecodable byte becomes U+FFFD instead of failing the whole read."""
    import numpy as np

    if v.dtype.kind == "S":
        return np.char.decode(v, "utf-8", errors="replace").astype(object)
    if v.dtype.kind == "O":
        return np.array([x.decode("utf-8", errors="replace") if isinstance(x, bytes) else str(x)
                         for x in v], dtype=object)
    return v


def load_table(path, name: str):
    import pandas as pd

    t = read_table(path, name)
    return pd.DataFrame({k: _text(v) for k, v in t.items()})


def load(path, table: str | None = None):
    """One table as a DataFrame: `table`, or by default the job's own (its JobInfo.table in
    mpiapp.__main__.JOBS: score patterns, train metrics, optbench summary, hpo trials, ddp epochs);
    a score file's patterns as below.

    Score patterns, one row per unique pattern per symbol, sorted by symbol then score (the scan's order, docs/scan.md).

    Columns: symbol (name), direction (+1 bullish / -1 bearish), t0..t5 (bar indices into the
    symbol's series), d0..d5 (timestamps), p0..p5, score, F, T, A, C, r2..r5, window (first window
    that chose it), n_windows, truncated, known_bar (the first bar from which a scan of the bars up
    to it reports the pattern), efficiency, p_value, group (the row of the pattern's group primary:
    alternative counts of one structure share it; `df[df.group == df.index]` keeps one line per
    structure), n_alternatives (on a primary: the other rows of its group).
    """
    import pandas as pd

    from .__main__ import JOBS

    if table is not None:
        return load_table(path, table)
    job = read_attrs(path).get("job")
    if job in JOBS and job != "score" and JOBS[job].table:
        return load_table(path, JOBS[job].table)
    pats = load_table(path, "patterns")
    names = load_table(path, "symbols")["name"].to_numpy()
    pats.insert(0, "symbol_id", pats.pop("symbol"))
    pats.insert(0, "symbol", names[pats["symbol_id"].to_numpy()] if len(pats) else [])
    for i in range(6):
        pats[f"d{i}"] = pd.to_datetime(pats[f"d{i}"], unit="ns")
    return pats


def attrs(path) -> dict:
    return read_attrs(path)


def load_model(path, symbol: str, family: str, fold: int):
    """A model of a train file (symbol name, family lgbm|xgb|rf|mlp, fold) with predict(X); see
    mpiapp.engines.train.models.load_model."""
    from .engines.train.models import load_model as _load_model

    return _load_model(path, symbol, family, fold)
