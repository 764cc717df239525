"""One symbol's samples: price features (+ scan features) -> warm-up dropped -> folds.

Feature ids are positions in ALL_FEATURES (the union over series kinds), so importances of symbols
with and without High/Low or volume share one id space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cv import Fold, make_folds, min_samples
from .features import Dataset, build_dataset, feature_names, price_features, warmup_bars
from .params import TrainParams
from .scanfeat import SCAN_FEATURES, scan_features

ALL_FEATURES = tuple(feature_names(True, True)) + SCAN_FEATURES


@dataclass(frozen=True)
class SymbolData:
    """ds: the samples; feature_ids: (f,) int32 ids into ALL_FEATURES; folds: from make_folds;
    time: (n_bars,) int64 timestamps of the series."""

    ds: Dataset
    feature_ids: np.ndarray
    folds: list
    time: np.ndarray


def feature_matrix(series, scan_lookback: int, scan=None) -> tuple[np.ndarray, list]:
    """(X, names): every bar's features of one Series, (n_bars, f) float64 with NaN where a feature
    lacks history; price features, then the scan features when `scan` is given.

    scan: None, or (known_bar, score, direction) arrays of this symbol's patterns (scanfeat);
    scan_lookback: train.scan_lookback. This is the matrix every model of the symbol is trained on
    (its rows with all features finite and a known label); mpiapp.features.build is its public face.
    """
    X, names = price_features(
        series.close,
        series.high if series.has_ohlc else None,
        series.low if series.has_ohlc else None,
        series.volume,
    )
    if scan is not None:
        S = scan_features(len(series), *scan, lookback=scan_lookback)
        X = np.concatenate([X, S], axis=1)
        names = list(names) + list(SCAN_FEATURES)
    return X, list(names)


def symbol_data(series, params, scan=None) -> SymbolData:
    """Features, targets and folds of one Series (mpiapp.io.series.Series).

    scan: None, or (known_bar, score, direction) arrays of this symbol's patterns (scanfeat).
    Raises cv.FoldError when the series is too short for the folds.
    """
    X, names = feature_matrix(series, params.scan_lookback, scan)
    ds = build_dataset(X, names, series.close, params.horizon)
    folds = make_folds(ds.bars, params.horizon, params.cv)
    ids = np.array([ALL_FEATURES.index(n) for n in names], dtype=np.int32)
    return SymbolData(ds=ds, feature_ids=ids, folds=folds, time=np.asarray(series.time, dtype=np.int64))


def fold_arrays(sd: SymbolData, fold: Fold):
    """(X_train, y_train, X_test, y_test, test_bars) of one fold."""
    d = sd.ds
    return d.X[fold.train], d.y[fold.train], d.X[fold.test], d.y[fold.test], d.bars[fold.test]


def short_reason(n_bars: int, params: TrainParams) -> str | None:
    """Why a symbol of n_bars is too short to train on, or None."""
    need = min_samples(params.cv, params.horizon)
    samples = n_bars - warmup_bars() - params.horizon
    if n_bars < params.min_bars:
        return f"{n_bars} bars < train.min_bars = {params.min_bars}"
    if samples < need:
        return (
            f"{n_bars} bars give {max(samples, 0)} samples after the {warmup_bars()}-bar warm-up and the "
            f"{params.horizon}-bar horizon; {params.cv.scheme} with train.cv.n_folds = {params.cv.n_folds} "
            f"and train.cv.min_train = {params.cv.min_train} needs at least {need}"
        )
    return None
