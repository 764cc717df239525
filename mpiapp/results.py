"""Open a results file as pandas: `mpiapp.results.load("results/score.h5")`.

Why a layer over h5py: a results file stores integer codes (a symbol, a model family, a feature, a
problem, an optimizer, a status) whose names sit in another table, in an attribute or in the job's
code, and timestamps as int64 nanoseconds. `load` hands back names (pandas categoricals) and times
(`datetime64[ns, UTC]`); the stored form stays one flag away (`raw=True`). Each job says what its
codes mean through its report module (JobInfo.report in mpiapp/__main__.py): `TABLES` (one line per
table) and `decoding(path, attrs)` (see `Decoding`).
"""

from __future__ import annotations

import importlib

from .io.results import read_attrs, read_table

__all__ = ["load", "tables", "attrs", "load_table", "load_model", "NoSuchTable"]


class NoSuchTable(KeyError):
    """The file has no table of that name; the message lists the tables it has."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def _text(v):
    """A column of stored strings (fixed-width bytes, or variable-length bytes/str) as str,
    decoded as UTF-8; an undecodable byte becomes U+FFFD instead of failing the whole read."""
    import numpy as np

    if v.dtype.kind == "S":
        return np.char.decode(v, "utf-8", errors="replace").astype(object)
    if v.dtype.kind == "O":
        return np.array(
            [x.decode("utf-8", errors="replace") if isinstance(x, bytes) else str(x) for x in v], dtype=object
        )
    return v


def _plain(v):
    """An attribute value as Python: str for text (bytes decoded as UTF-8), int/float/bool for numpy
    scalars, a list for arrays."""
    import numpy as np

    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()] if v.dtype.kind in "SO" else v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def attrs(path) -> dict:
    """The file's attributes (config YAML, provenance, the job's own): text as str, numbers as Python
    int/float."""
    return {k: _plain(v) for k, v in read_attrs(path).items()}


def _listing(path) -> dict:
    """{name: rows} of the tables of a file (groups with a `columns` attribute), and of its bare
    arrays ({name: shape}) as a second dict."""
    import h5py

    tabs, arrays = {}, {}
    with h5py.File(path, "r") as f:
        for name, obj in f.items():
            if isinstance(obj, h5py.Group) and "columns" in obj.attrs:
                cols = [c.decode() for c in obj.attrs["columns"]]
                tabs[name] = int(obj[cols[0]].shape[0]) if cols else 0
            elif isinstance(obj, h5py.Dataset):
                arrays[name] = tuple(obj.shape)
    return tabs, arrays


def _check_table(path, name: str) -> None:
    tabs, arrays = _listing(path)
    if name in tabs:
        return
    have = ", ".join(sorted(tabs)) or "none"
    if name in arrays:
        raise NoSuchTable(
            f"{path}: {name!r} is an array of shape {arrays[name]}, not a table (read it with "
            f"h5py); its tables: {have}"
        )
    raise NoSuchTable(f"{path}: no table {name!r}; its tables: {have}")


def load_table(path, name: str):
    """Table `name` as stored (codes, int64 nanoseconds), text decoded: `load(path, name, raw=True)`."""
    import pandas as pd

    _check_table(path, name)
    t = read_table(path, name)
    return pd.DataFrame({k: _text(v) for k, v in t.items()})


def _report_module(job):
    from .__main__ import JOBS

    info = JOBS.get(job or "score")
    return importlib.import_module(info.report) if info is not None and info.report else None


def _decode(df, table: str, dec: dict):
    """Codes -> names (categoricals) or values, nanoseconds -> datetime64[ns, UTC], in place."""
    import numpy as np
    import pandas as pd

    for col, spec in dec.get("codes", {}).items():
        if col not in df or table == spec.get("source"):
            continue
        codes = df[col].to_numpy().astype(np.int64)
        names = list(spec["names"])
        if spec.get("values"):  # an index into a list of numbers: the numbers
            vals = np.asarray(names)
            ok = (codes >= 0) & (codes < len(vals))
            out = (
                np.full(codes.shape, np.nan) if vals.dtype.kind == "f" else np.zeros(codes.shape, vals.dtype)
            )
            out[ok] = vals[codes[ok]]
            df[col] = out
            continue
        codes = np.where((codes >= 0) & (codes < len(names)), codes, -1)
        df[col] = pd.Categorical.from_codes(
            codes,
            categories=pd.Index(names, dtype=object) if len(set(names)) == len(names) else _unique(names),
        )
    for col in dec.get("times", {}).get(table, ()):
        if col in df:
            df[col] = pd.to_datetime(df[col].to_numpy().astype(np.int64), unit="ns", utc=True)
    return df


def _unique(names):
    """Category labels must be unique: a repeated name gets '#k' added (two symbols cut to one name)."""
    seen, out = {}, []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}#{k}")
    return out


def load(path, table: str | None = None, raw: bool = False):
    """One table of a results file as a DataFrame.

    table: a table name (`tables(path)` lists them); None = the job's own (its JobInfo.table in
    mpiapp.__main__.JOBS: score patterns, train metrics, optbench summary, hpo trials, ddp epochs).
    raw: the columns as stored (integer codes, int64 nanoseconds); otherwise codes become names
    (pandas categoricals: symbol, family, feature, baseline; optbench problem, optimizer, backend,
    status) or the values they index (optbench step -> step scale, batch -> batch size, 0 = full
    batch), and timestamps `datetime64[ns, UTC]` (NaT where none was made). Text columns are str.
    The file's attributes are in `df.attrs` (as `attrs(path)`). Raises NoSuchTable (a KeyError)
    naming the tables the file has.

    Score patterns (the default of a score file), one row per unique pattern per symbol, sorted by
    symbol then score (the scan's order, docs/scan.md): symbol (name) and symbol_id, direction (+1 bullish / -1 bearish),
    t0..t5 (bar indices into the symbol's series), d0..d5 (timestamps), p0..p5, score, F, T, A, C,
    r2..r5, window (first window that chose it), n_windows, truncated, known_bar (the first bar from
    which a scan of the bars up to it reports the pattern), efficiency, p_value, group (the row of the
    pattern's group primary: alternative counts of one structure share it; `df[df.group == df.index]`
    keeps one line per structure), n_alternatives (on a primary: the other rows of its group).
    """
    a = attrs(path)
    job = a.get("job", "score")
    if table is None:
        from .__main__ import JOBS

        table = JOBS[job].table if job in JOBS and JOBS[job].table else "patterns"
    df = load_table(path, table)
    if not raw:
        mod = _report_module(job)
        dec = mod.decoding(path, a) if mod is not None and hasattr(mod, "decoding") else {}
        sym_id = (
            df["symbol"].to_numpy().copy()
            if job == "score" and table == "patterns" and "symbol" in df
            else None
        )
        _decode(df, table, dec)
        if sym_id is not None:  # the scan's patterns keep their symbol ids beside the names
            df.insert(0, "symbol_id", sym_id)
            df.insert(0, "symbol", df.pop("symbol"))
    df.attrs = a
    return df


def tables(path):
    """What a results file holds: one row per table (table, rows, what: one line from its job's
    report module) and per bare array (rows = its first dimension)."""
    import pandas as pd

    a = attrs(path)
    mod = _report_module(a.get("job", "score"))
    lines = getattr(mod, "TABLES", {}) if mod is not None else {}
    tabs, arrays = _listing(path)
    rows = [{"table": n, "rows": r, "what": lines.get(n, "")} for n, r in sorted(tabs.items())]
    rows += [
        {"table": n, "rows": s[0] if s else 1, "what": lines.get(n, "") + (" (an array, not a table)")}
        for n, s in sorted(arrays.items())
    ]
    return pd.DataFrame(rows, columns=["table", "rows", "what"])


def load_model(path, symbol: str, family: str, fold: int):
    """A model of a train file (symbol name, family lgbm|xgb|rf|mlp|ridge, fold) with predict(X); see
    mpiapp.engines.train.models.load_model."""
    from .engines.train.models import load_model as _load_model

    return _load_model(path, symbol, family, fold)
