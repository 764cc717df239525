"""Open a results file as pandas: `mpiapp.results.load("results/score.h5")`."""

from __future__ import annotations

from .io.results import decode_text, read_attrs, read_table

__all__ = ["load", "load_table", "attrs"]


def load_table(path, name: str):
    import pandas as pd

    t = read_table(path, name)
    return pd.DataFrame({k: (decode_text(v) if v.dtype.kind == "S" else v) for k, v in t.items()})


def load(path):
    """Patterns, one row per unique pattern per symbol, sorted by symbol then score (§5 order).

    Columns: symbol (name), direction (+1 bullish / -1 bearish), t0..t5 (bar indices into the
    symbol's series), d0..d5 (timestamps), p0..p5, score, F, T, A, C, r2..r5, window (first window
    that chose it), n_windows, truncated.
    """
    import pandas as pd

    pats = load_table(path, "patterns")
    names = load_table(path, "symbols")["name"].to_numpy()
    pats.insert(0, "symbol_id", pats.pop("symbol"))
    pats.insert(0, "symbol", names[pats["symbol_id"].to_numpy()] if len(pats) else [])
    for i in range(6):
        pats[f"d{i}"] = pd.to_datetime(pats[f"d{i}"], unit="ns")
    return pats


def attrs(path) -> dict:
    return read_attrs(path)
