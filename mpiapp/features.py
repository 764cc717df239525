"""The train job's feature matrix outside a run: `mpiapp.features.build("SP500", "results/train.h5")`.

Why: a model stored in a train results file (LightGBM text, XGBoost UBJSON, the MLP's state_dict,
ridge coefficients) is only usable elsewhere with exactly the columns it was trained on, computed
exactly as in training. This module rebuilds them from the settings the file records (its `config`
attribute: train.horizon, train.scan_lookback, train.scan_file, data.source) with the job's own
feature code (engines/train/dataset.py feature_matrix), so nothing is re-implemented; docs/train.md
shows it beside a booster loaded with LightGBM alone.
"""

from __future__ import annotations

__all__ = ["build", "names"]


def _settings(path: str):
    from . import config
    from .io.results import read_attrs

    a = read_attrs(path)
    if a.get("job") != "train":
        raise ValueError(f"{path}: not a results file of mpiapp.train (job {a.get('job')!r})")
    return config.loads(a["config"], origin=f"{path} (attribute config)")


def _series(series, cfg):
    """An mpiapp Series from a symbol name (read from the file's data source), a Series, or a pandas
    DataFrame with a Close column (High, Low, Volume optional; any case) and a DatetimeIndex or a
    Date/Time column."""
    import numpy as np

    from .io.series import Series

    if isinstance(series, str):
        from .io import sources

        return sources.open_from_config(cfg, min_bars=1).load(series)
    if isinstance(series, Series):
        return series
    import pandas as pd

    if not isinstance(series, pd.DataFrame):
        raise TypeError("series: a symbol name, an mpiapp Series or a pandas DataFrame with a Close column")
    cols = {str(c).lower(): c for c in series.columns}
    if "close" not in cols:
        raise ValueError(f"series: no Close column (columns: {', '.join(map(str, series.columns))})")
    if isinstance(series.index, pd.DatetimeIndex):
        t = series.index
    else:
        key = next((cols[k] for k in ("date", "time", "datetime", "timestamp") if k in cols), None)
        if key is None:
            raise ValueError("series: needs a DatetimeIndex or a Date/Time column")
        t = pd.DatetimeIndex(pd.to_datetime(series[key]))
    t = t.tz_convert("UTC").tz_localize(None) if t.tz is not None else t
    c = series[cols["close"]].to_numpy(np.float64)
    has = "high" in cols and "low" in cols
    h = series[cols["high"]].to_numpy(np.float64) if has else c
    lo = series[cols["low"]].to_numpy(np.float64) if has else c
    v = series[cols["volume"]].to_numpy(np.float64) if "volume" in cols else None
    o = series[cols["open"]].to_numpy(np.float64) if "open" in cols else c
    return Series(
        symbol=str(getattr(series, "name", None) or "series"),
        time=t.to_numpy("datetime64[ns]").view(np.int64),
        open=o,
        high=h,
        low=lo,
        close=c,
        origin="DataFrame",
        has_ohlc=has,
        volume=v,
    )


def _scan(scan_file: str, symbol: str):
    """(known_bar, score, direction) of `symbol` in a score results file; empty when it has none."""
    import numpy as np

    from .engines.train.scanfeat import symbol_patterns
    from .io.results import decode_text, read_table

    pats = read_table(scan_file, "patterns")
    names = list(decode_text(read_table(scan_file, "symbols")["name"]))
    if symbol not in names:
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    return symbol_patterns(pats, names.index(symbol))


def build(series, path: str = "results/train.h5", scan_file: str | None = None):
    """The feature matrix of one symbol exactly as the models of train results file `path` saw it.

    series: a symbol name (its bars read from the data source the file records, data.source), an
    mpiapp Series, or a pandas DataFrame (Close; High, Low, Volume optional; a DatetimeIndex or a
    Date column). scan_file: the score results file of the scan features (default: the file's
    train.scan_file; give it when that file has moved).

    Returns a DataFrame with one row per bar (index: bar number 0..n-1): `time`
    (datetime64[ns, UTC]), the feature columns in the order every model of the symbol takes them
    (docs/train.md lists each), `y` (the target: log(C[t+h] / C[t]), NaN for the last h bars) and
    `trained` (True where every feature is finite and y known: the rows the folds are cut from). The
    rows a model of fold k predicted are those of its `predictions` rows (column `bar`):
    `X = df.loc[bars, names(df)]`. Raises ValueError for a file that is not a train results file or a
    series without Close prices; whatever the data source raises for a bad series.
    """
    import numpy as np
    import pandas as pd

    from .engines.train.dataset import feature_matrix
    from .engines.train.features import targets

    cfg = _settings(path)
    s = _series(series, cfg)
    scan = None
    scan_file = scan_file or cfg.train.scan_file
    if scan_file:
        scan = _scan(scan_file, s.symbol)
    X, cols = feature_matrix(s, cfg.train.scan_lookback, scan)
    y = targets(s.close, cfg.train.horizon)
    df = pd.DataFrame(X, columns=cols)
    df.insert(0, "time", pd.to_datetime(np.asarray(s.time, dtype=np.int64), unit="ns", utc=True))
    df["y"] = y
    df["trained"] = np.all(np.isfinite(X), axis=1) & np.isfinite(y)
    df.index.name = "bar"
    df.attrs["symbol"] = s.symbol
    return df


def names(df) -> list[str]:
    """The feature columns of a frame from `build` (all but time, y and trained), in model order."""
    return [c for c in df.columns if c not in ("time", "y", "trained")]
