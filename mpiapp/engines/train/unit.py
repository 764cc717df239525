"""One work unit of the train job: (symbol, family, fold) -> raw rows. No MPI, no files.

RAW_TABLES are the per-unit tables the job commits (fixed-width columns only); finalize (final.py)
turns them into the tables of the results file.
"""

from __future__ import annotations

import numpy as np

from ...io.symbols import REASON_BYTES, SKIPPED_COLUMNS
from ...io.text import cut
from . import families as fam
from .cv import inner_split
from .dataset import SymbolData, fold_arrays

KEY = [("symbol", "i4"), ("family", "i4"), ("fold", "i4")]
MESSAGE_BYTES = REASON_BYTES  # a failure's message, as wide as a skip reason

RAW_TABLES = {
    # out-of-fold predictions: bar index into the symbol's series, its timestamp (ns), y, prediction
    "predictions": KEY + [("bar", "i8"), ("time", "i8"), ("y", "f8"), ("yhat", "f8")],
    # what the fold trained on and removed; train_mean / train_up feed the historical-mean baseline;
    # inner_val: samples of the inner validation slice (0 when the family chose nothing on one) and
    # chosen: what it chose there (boosting rounds, epochs or the ridge penalty; NaN: nothing)
    "folds": KEY
    + [
        ("n_samples", "i8"),
        ("dropped_warmup", "i8"),
        ("n_train", "i8"),
        ("n_test", "i8"),
        ("n_purged", "i8"),
        ("n_embargoed", "i8"),
        ("train_first", "i8"),
        ("train_last", "i8"),
        ("test_first", "i8"),
        ("test_last", "i8"),
        ("train_mean", "f8"),
        ("train_up", "f8"),
        ("inner_val", "i8"),
        ("chosen", "f8"),
        ("threads", "i4"),
    ],
    "importances": KEY + [("feature", "i4"), ("gain", "f8")],
    # the ridge family's model as arrays: per feature its standardisation (center, scale) and
    # coefficient; one row with feature = -1 holds the intercept (center 0, scale 1)
    "coefficients": KEY + [("feature", "i4"), ("center", "f8"), ("scale", "f8"), ("coef", "f8")],
    "models": [
        ("byte", "u1")
    ],  # each unit's model bytes (families.pack), contiguous (start/count in the unit table)
    "failures": KEY + [("message", f"S{MESSAGE_BYTES}")],
    "skipped": SKIPPED_COLUMNS,  # symbols a unit could not use (io.symbols.skip_rows)
}


def empty_rows(table: str, n: int = 0) -> dict:
    return {c: np.zeros(n, dtype=dt) for c, dt in RAW_TABLES[table]}


def _key_cols(key, n: int) -> dict:
    return {c: np.full(n, v, dtype=dt) for (c, dt), v in zip(KEY, key)}


def message_bytes(text: str) -> np.bytes_:
    """UTF-8 text cut to MESSAGE_BYTES bytes (at a character boundary)."""
    return np.bytes_(cut(text, MESSAGE_BYTES))


def train_unit(sd: SymbolData, key: tuple, symbol_name: str, params, threads: int, device: str) -> dict:
    """Fit family `key[1]` on fold `key[2]` of one symbol; return rows per raw table.

    key: (symbol id, family id, fold); params: TrainParams; threads: explicit count for the library;
    device: cpu | cuda. Raises whatever the model raises (the job decides: record or abort).
    """
    sym, fid, k = (int(x) for x in key)
    family = fam.FAMILY_BY_ID[fid]
    fold = sd.folds[k]
    Xtr, ytr, Xte, yte, bars = fold_arrays(sd, fold)
    spec = fam.FitSpec(
        family=family,
        params=dict(params.params[family]),
        threads=threads,
        seed=fam.unit_seed(symbol_name, family, k, params.seed),
        task=params.task,
        device=device,
        features=tuple(sd.ds.names),
    )
    inner = None
    if fam.needs_inner(family, spec.params):
        inner = inner_split(
            sd.ds.bars[fold.train], params.horizon, params.inner_fraction, params.cv.embargo_bars
        )
    model = fam.fit(spec, Xtr, ytr, inner)
    yhat = model.predict(Xte)
    m = yte.shape[0]
    pred = _key_cols(key, m)
    pred.update(bar=bars, time=sd.time[bars], y=yte, yhat=yhat)
    folds = _key_cols(key, 1)
    folds.update(
        {
            "n_samples": [len(sd.ds)],
            "dropped_warmup": [sd.ds.dropped_warmup],
            "n_train": [fold.train.size],
            "n_test": [m],
            "n_purged": [fold.n_purged],
            "n_embargoed": [fold.n_embargoed],
            "train_first": [fold.train_bar_range[0]],
            "train_last": [fold.train_bar_range[1]],
            "test_first": [fold.test_bar_range[0]],
            "test_last": [fold.test_bar_range[1]],
            "train_mean": [float(np.mean(ytr))],
            "train_up": [float(np.mean(ytr > 0))],
            "inner_val": [0 if inner is None else inner.val.size],
            "chosen": [model.chosen],
            "threads": [threads],
        }
    )
    gain = model.gain()
    imp = _key_cols(key, gain.shape[0])
    imp.update(feature=sd.feature_ids, gain=gain)
    out = {
        "predictions": pred,
        "folds": folds,
        "importances": imp,
        "models": {"byte": fam.blob_to_array(fam.pack(model.blob()))},
    }
    if family == "ridge":
        r = model.fit
        n = r.coef.shape[0] + 1
        coef = _key_cols(key, n)
        coef.update(
            feature=np.concatenate(([-1], sd.feature_ids)),
            center=np.concatenate(([0.0], r.center)),
            scale=np.concatenate(([1.0], r.scale)),
            coef=np.concatenate(([r.intercept], r.coef)),
        )
        out["coefficients"] = coef
    return {t: {c: np.asarray(rows[c], dtype=dt) for c, dt in RAW_TABLES[t]} for t, rows in out.items()}


def failure_rows(key: tuple, exc: BaseException) -> dict:
    """The failures row of a unit whose model raised: 'ExcType: message'."""
    rows = _key_cols(key, 1)
    rows["message"] = np.array([message_bytes(f"{type(exc).__name__}: {exc}")])
    return {"failures": rows}
