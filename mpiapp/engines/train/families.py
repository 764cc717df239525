"""The model families: one registry, one fit signature, safe model formats.

    model = fit(FitSpec(family="lgbm", params={...}, threads=1, seed=..., task="regression"), X, y, inner)
    model.predict(X)  -> (m,) float64 (a return forecast, or P(up) for task=classification)
    model.gain()      -> (f,) float64 total gain of each feature's splits (MLP, ridge: NaN)
    model.blob()      -> bytes in the family's safe format (FORMATS; ridge: none, see below); the
                         job stores them zlib-compressed (pack / unpack)
    model.chosen      -> what the inner validation slice chose: boosting rounds, epochs or the ridge
                         penalty (NaN when nothing was chosen)
    load(family, blob, task) -> a model with predict()

`inner` (cv.inner_split of the fold's training samples) is where a family chooses from data: the
ridge penalty (always), the boosting rounds of LightGBM / XGBoost (`early_stopping_rounds` > 0) and the
MLP's epochs (`early_stopping_epochs` > 0). The model is then fitted once more on the whole training
fold with that choice. Leaf sizes follow the rows a tree is grown on: min_data_in_leaf (LightGBM, its
random forest) and min_child_weight (XGBoost) are at least `min_leaf_fraction` / `min_child_fraction`
of those rows.

Formats: LightGBM and its random-forest mode: the library's text model; XGBoost: UBJSON
(`save_raw("ubj")`); both carry the feature names (FitSpec.features), so a booster loaded with its
own library alone says which column is which. MLP: a torch `state_dict` and its architecture as JSON
(mlp.py), written by torch.save and read back with `weights_only=True` (tensors, numbers and text
only); ridge: its arrays (center, scale, coefficients, intercept) in the `coefficients` table, no
bytes. Nothing is ever pickled.

Thread policy: every library gets the explicit count in FitSpec.threads (never -1 / all cores:
in a container those read the host's cores). Determinism: LightGBM runs with deterministic=true
and force_col_wise=true, where each feature's histogram is summed by one thread in row order, so the
model does not depend on the thread count; XGBoost `hist` and torch reduce in thread-dependent
order, so the job fixes their per-model thread count from `train.threads_per_model`, not from the
rank count (see docs/train.md). Ridge is single-threaded by construction (linear.py).
"""

from __future__ import annotations

import importlib.util
import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from ...runtime import errors

#: family name -> (id stored in tables, python module, what to install, model format)
FAMILIES = {
    "lgbm": (0, "lightgbm", "pip install lightgbm", "lightgbm-text"),
    "xgb": (
        1,
        "xgboost",
        "pip install 'mpiapp[cpu]' (xgboost-cpu) or 'mpiapp[gpu]' (xgboost)",
        "xgboost-ubj",
    ),
    "rf": (2, "lightgbm", "pip install lightgbm", "lightgbm-text"),
    "mlp": (3, "torch", "pip install torch", "torch-state-dict"),
    "ridge": (4, "numpy", "pip install numpy", "arrays (coefficients table)"),
}
FAMILY_BY_ID = {v[0]: k for k, v in FAMILIES.items()}


class FamilyUnavailable(RuntimeError):
    """A requested family's library is not installed (the message names what to install)."""


def missing_libraries(families) -> list[str]:
    """'family: module not installed (pip install ...)' for each family whose library is absent.

    Uses importlib.util.find_spec: nothing heavy is imported."""
    out = []
    for fam in families:
        if fam not in FAMILIES:
            raise KeyError(f"unknown model family {fam!r}; choose from {', '.join(FAMILIES)}")
        mod, hint = FAMILIES[fam][1], FAMILIES[fam][2]
        if importlib.util.find_spec(mod) is None:
            out.append(f"{fam}: the '{mod}' module is not installed ({hint})")
    return out


def unit_seed(symbol: str, family: str, fold: int, base: int = 0) -> int:
    """A 31-bit seed from (symbol name, family, fold, train.seed): CRC-32 of their text, never the rank."""
    return zlib.crc32(f"{symbol}|{family}|{fold}|{base}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class FitSpec:
    """family: a FAMILIES key; params: the family's config block (dict); threads: explicit thread
    count (>= 1); seed: from unit_seed; task: regression | classification; device: cpu | cuda;
    features: the column names of X (stored in the model; empty: the library's defaults)."""

    family: str
    params: dict = field(default_factory=dict)
    threads: int = 1
    seed: int = 0
    task: str = "regression"
    device: str = "cpu"
    features: tuple = ()


def leaf_floor(value, fraction: float, n_rows: int, unit: float = 1.0):
    """max(value, ceil(fraction * n_rows * unit)), in value's type: a leaf size that follows the rows a
    tree is grown on (fraction 0: value as given)."""
    return max(value, type(value)(math.ceil(fraction * n_rows * unit))) if fraction > 0 else value


def _lgb_params(spec: FitSpec, rf: bool) -> tuple[dict, int, int, float]:
    """(LightGBM params, rounds, early-stopping patience, min_leaf_fraction) of a FitSpec."""
    p = dict(spec.params)
    n_rounds = int(p.pop("n_estimators"))
    patience = int(p.pop("early_stopping_rounds", 0) or 0)
    frac = float(p.pop("min_leaf_fraction", 0.0) or 0.0)
    base = {
        "objective": "binary" if spec.task == "classification" else "regression",
        "metric": "binary_logloss" if spec.task == "classification" else "l2",
        "num_threads": int(spec.threads),
        "deterministic": True,
        "force_col_wise": True,
        "seed": int(spec.seed),
        "verbosity": -1,
    }
    if rf:
        base.update(boosting="rf", bagging_freq=1)
    base.update(p)
    return base, n_rounds, patience, frac


def _sized(params: dict, frac: float, n_rows: int) -> dict:
    return dict(params, min_data_in_leaf=leaf_floor(int(params.get("min_data_in_leaf", 20)), frac, n_rows))


class _LGBModel:
    chosen = float("nan")

    def __init__(self, booster):
        self.b = booster

    def predict(self, X):
        return np.asarray(self.b.predict(np.asarray(X, dtype=np.float64), num_threads=1), dtype=np.float64)

    def gain(self):
        return np.asarray(self.b.feature_importance(importance_type="gain"), dtype=np.float64)

    def blob(self) -> bytes:
        return self.b.model_to_string().encode()


def _fit_lgb(spec: FitSpec, X, y, rf: bool, inner=None):
    import lightgbm as lgb

    params, rounds, patience, frac = _lgb_params(spec, rf)
    names = list(spec.features) or "auto"
    X = np.asarray(X, dtype=np.float64)
    label = (y > 0).astype(np.float64) if spec.task == "classification" else np.asarray(y, dtype=np.float64)
    chosen = float("nan")
    if patience > 0 and not rf:
        if inner is None:
            raise ValueError("early_stopping_rounds > 0 needs the fold's inner validation slice")
        f, v = inner.fit, inner.val
        dfit = lgb.Dataset(X[f], label=label[f], params={"verbosity": -1}, feature_name=names)
        dval = lgb.Dataset(X[v], label=label[v], reference=dfit, params={"verbosity": -1})
        b = lgb.train(
            _sized(params, frac, f.size),
            dfit,
            num_boost_round=rounds,
            valid_sets=[dval],
            callbacks=[lgb.early_stopping(patience, first_metric_only=True, verbose=False)],
        )
        rounds = max(1, int(b.best_iteration))
        chosen = float(rounds)
    ds = lgb.Dataset(X, label=label, params={"verbosity": -1}, free_raw_data=True, feature_name=names)
    # keep_training_booster: predict from the booster just trained; the default (False) round-trips the
    # whole model through its text form (model_to_string + model_from_string) to free the training data,
    # about 40 ms a model here, and the job turns it into text once more for the results file anyway
    model = _LGBModel(
        lgb.train(_sized(params, frac, X.shape[0]), ds, num_boost_round=rounds, keep_training_booster=True)
    )
    model.chosen = chosen
    return model


class _XGBModel:
    chosen = float("nan")

    def __init__(self, booster, n_features):
        self.b = booster
        self.f = n_features

    def predict(self, X):
        import xgboost as xgb

        d = xgb.DMatrix(np.asarray(X, dtype=np.float64), nthread=1, feature_names=self.b.feature_names)
        return np.asarray(self.b.predict(d), dtype=np.float64)

    def gain(self):
        g = self.b.get_score(importance_type="total_gain")
        names = self.b.feature_names or [f"f{i}" for i in range(self.f)]
        return np.array([float(g.get(n, 0.0)) for n in names])

    def blob(self) -> bytes:
        return bytes(self.b.save_raw(raw_format="ubj"))


def _fit_xgb(spec: FitSpec, X, y, inner=None):
    import xgboost as xgb

    p = dict(spec.params)
    rounds = int(p.pop("n_estimators"))
    patience = int(p.pop("early_stopping_rounds", 0) or 0)
    frac = float(p.pop("min_child_fraction", 0.0) or 0.0)
    cls = spec.task == "classification"
    params = {
        "objective": "binary:logistic" if cls else "reg:squarederror",
        "eval_metric": "logloss" if cls else "rmse",
        "tree_method": "hist",
        "device": spec.device,
        "nthread": int(spec.threads),
        "seed": int(spec.seed),
        "verbosity": 0,
    }
    params.update(p)
    # a row's hessian is 1 under squared error, p(1 - p) <= 1/4 under the logistic loss
    unit = 0.25 if cls else 1.0
    X = np.asarray(X, dtype=np.float64)
    label = (y > 0).astype(np.float64) if cls else np.asarray(y, dtype=np.float64)
    names = list(spec.features) or None
    chosen = float("nan")
    if patience > 0:
        if inner is None:
            raise ValueError("early_stopping_rounds > 0 needs the fold's inner validation slice")
        f, v = inner.fit, inner.val
        q = dict(
            params,
            min_child_weight=leaf_floor(float(params.get("min_child_weight", 1.0)), frac, f.size, unit),
        )
        dfit = xgb.DMatrix(X[f], label=label[f], nthread=int(spec.threads), feature_names=names)
        dval = xgb.DMatrix(X[v], label=label[v], nthread=int(spec.threads), feature_names=names)
        b = xgb.train(
            q,
            dfit,
            num_boost_round=rounds,
            evals=[(dval, "val")],
            early_stopping_rounds=patience,
            verbose_eval=False,
        )
        rounds = int(b.best_iteration) + 1
        chosen = float(rounds)
    q = dict(
        params,
        min_child_weight=leaf_floor(float(params.get("min_child_weight", 1.0)), frac, X.shape[0], unit),
    )
    d = xgb.DMatrix(X, label=label, nthread=int(spec.threads), feature_names=names)
    b = xgb.train(q, d, num_boost_round=rounds)
    b.set_param({"nthread": 1, "device": "cpu"})
    model = _XGBModel(b, X.shape[1])
    model.chosen = chosen
    return model


class RidgeModel:
    """The ridge family: linear.RidgeFit on the features; for classification the linear probability
    model (ridge on the 0/1 label), its forecasts clipped to [PROB_CLIP, 1 - PROB_CLIP]."""

    PROB_CLIP = 1e-3

    def __init__(self, fit, task: str):
        self.fit, self.task = fit, task
        self.chosen = float(fit.penalty)

    def predict(self, X):
        p = self.fit.predict(X)
        return np.clip(p, self.PROB_CLIP, 1 - self.PROB_CLIP) if self.task == "classification" else p

    def gain(self):
        return np.full(self.fit.coef.shape[0], np.nan)

    def blob(self) -> bytes:
        return b""


def _fit_ridge(spec: FitSpec, X, y, inner=None):
    from . import linear

    pens = [float(v) for v in spec.params["penalties"]]
    label = (np.asarray(y) > 0).astype(np.float64) if spec.task == "classification" else y
    if len(pens) > 1:
        if inner is None:
            raise ValueError("ridge with several penalties needs the fold's inner validation slice")
        pen, _ = linear.choose_penalty(X, label, inner.fit, inner.val, pens)
    else:
        pen = pens[0]
    return RidgeModel(linear.fit_ridge(X, label, pen), spec.task)


def fit(spec: FitSpec, X: np.ndarray, y: np.ndarray, inner=None):
    """Train one model on X (m, f) float64 and y (m,) forward log returns; returns a model (see the
    module docstring). inner: cv.InnerSplit of these rows (None: nothing is chosen on an inner slice).
    Raises FamilyUnavailable when the library is missing, ValueError when a family needs `inner` and
    has none, and whatever the library raises on bad input (the job records that as a failed unit)."""
    if spec.family not in FAMILIES:
        raise KeyError(f"unknown model family {spec.family!r}")
    if spec.threads < 1:
        raise ValueError(f"threads must be >= 1 (explicit), got {spec.threads}")
    miss = missing_libraries([spec.family])
    if miss:
        raise FamilyUnavailable(miss[0])
    if spec.family in ("lgbm", "rf"):
        return _fit_lgb(spec, X, y, rf=spec.family == "rf", inner=inner)
    if spec.family == "xgb":
        return _fit_xgb(spec, X, y, inner)
    if spec.family == "ridge":
        return _fit_ridge(spec, X, y, inner)
    from .mlp import fit_mlp

    return fit_mlp(spec, X, y, inner)


def needs_inner(family: str, params: dict) -> bool:
    """Whether `family` with its parameter block chooses anything on an inner validation slice."""
    if family == "ridge":
        return len(params.get("penalties", ())) > 1
    if family in ("lgbm", "xgb"):
        return int(params.get("early_stopping_rounds", 0) or 0) > 0
    if family == "mlp":
        return int(params.get("early_stopping_epochs", 0) or 0) > 0
    return False


def load(family: str, blob: bytes, task: str = "regression", n_features: int | None = None):
    """A model with predict() from its stored bytes (safe formats only; see FORMATS). Ridge has no
    bytes: models.load_model reads its coefficients table."""
    if family in ("lgbm", "rf"):
        import lightgbm as lgb

        return _LGBModel(lgb.Booster(model_str=bytes(blob).decode()))
    if family == "xgb":
        import xgboost as xgb

        b = xgb.Booster()
        b.load_model(bytearray(blob))
        b.set_param({"nthread": 1})
        return _XGBModel(b, n_features if n_features is not None else b.num_features())
    if family == "mlp":
        from .mlp import load_mlp

        return load_mlp(blob, task)
    raise KeyError(f"unknown model family {family!r}")


#: how the job stores model bytes (the file's `model_compression` attribute): zlib (RFC 1950), level 6
COMPRESSION = "zlib"


def pack(blob: bytes) -> bytes:
    """Model bytes as stored in the results file: zlib-compressed (an empty blob stays empty).
    The text and JSON formats of the tree libraries compress about 4-6x."""
    return zlib.compress(blob, 6) if blob else b""


def unpack(stored: bytes, compression: str | None) -> bytes:
    """The model's own bytes from what a file stores (`compression`: its model_compression
    attribute; None for files written before models were compressed)."""
    if compression in (None, "", "none") or not stored:
        return bytes(stored)
    if compression != COMPRESSION:
        raise ValueError(f"unknown model_compression {compression!r}")
    return zlib.decompress(bytes(stored))


def blob_to_array(b: bytes) -> np.ndarray:
    """Model bytes as a u1 column (what the raw models table stores)."""
    return np.frombuffer(b, dtype=np.uint8).copy()


def resolve_device(requested: str, families) -> str:
    """cpu or cuda for xgb and mlp: auto = cuda when torch sees a GPU (only asked when mlp or xgb run).

    Raises errors.JobError for train.device=cuda without a usable GPU."""
    if requested == "cpu" or not {"xgb", "mlp"} & set(families):
        return "cpu"
    gpu = False
    try:
        import torch

        gpu = bool(torch.cuda.is_available())
    except ImportError:
        pass
    if requested == "cuda" and not gpu:
        raise errors.JobError("train.device=cuda but no usable GPU (torch.cuda.is_available() is False)")
    return "cuda" if gpu else "cpu"


def import_libraries(families, device: str = "cpu") -> None:
    """Import the families' libraries now: after the thread plan set OMP_NUM_THREADS, before enforce();
    torch too where the device is asked of it (resolve_device).

    The tree libraries come without their scikit-learn / pandas glue (runtime.lean: 2 s a rank)."""
    from ...runtime.lean import TREE_EXTRAS, import_without

    if {"lgbm", "rf"} & set(families):
        import_without("lightgbm", TREE_EXTRAS)
    if "xgb" in families:
        import_without("xgboost", TREE_EXTRAS)
    if "mlp" in families or (device != "cpu" and "xgb" in families):
        try:
            import torch  # noqa: F401
        except ImportError:
            if "mlp" in families:
                raise
