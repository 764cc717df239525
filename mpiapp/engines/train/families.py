"""The model families: one registry, one fit signature, safe model formats.

    model = fit(FitSpec(family="lgbm", params={...}, threads=1, seed=..., task="regression"), X, y)
    model.predict(X)  -> (m,) float64 (a return forecast, or P(up) for task=classification)
    model.gain()      -> (f,) float64 total gain of each feature's splits (MLP: NaN)
    model.blob()      -> bytes in the family's safe format (FORMATS)
    load(family, blob, task) -> a model with predict()

Formats: LightGBM and its random-forest mode: the library's text model; XGBoost: UBJSON
(`save_raw("ubj")`); MLP: a torch `state_dict` written by torch.save and read back with
`weights_only=True` (plain tensors and numbers only). Nothing is ever pickled.

Thread policy: every library gets the explicit count in FitSpec.threads (never -1 / all cores:
in a container those read the host's cores). Determinism: LightGBM runs with deterministic=true
and force_col_wise=true, where each feature's histogram is summed by one thread in row order, so the
model does not depend on the thread count; XGBoost `hist` and torch reduce in thread-dependent
order, so the job fixes their per-model thread count from `train.threads_per_model`, not from the
rank count (see docs/train.md).
"""

from __future__ import annotations

import importlib.util
import zlib
from dataclasses import dataclass, field

import numpy as np

#: family name -> (id stored in tables, python module, what to install, model format)
FAMILIES = {
    "lgbm": (0, "lightgbm", "pip install lightgbm", "lightgbm-text"),
    "xgb": (1, "xgboost", "pip install 'mpiapp[cpu]' (xgboost-cpu) or 'mpiapp[gpu]' (xgboost)", "xgboost-ubj"),
    "rf": (2, "lightgbm", "pip install lightgbm", "lightgbm-text"),
    "mlp": (3, "torch", "pip install torch", "torch-state-dict"),
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
    count (>= 1); seed: from unit_seed; task: regression | classification; device: cpu | cuda."""

    family: str
    params: dict = field(default_factory=dict)
    threads: int = 1
    seed: int = 0
    task: str = "regression"
    device: str = "cpu"


def _lgb_params(spec: FitSpec, rf: bool) -> tuple[dict, int]:
    p = dict(spec.params)
    n_rounds = int(p.pop("n_estimators"))
    base = {
        "objective": "binary" if spec.task == "classification" else "regression",
        "num_threads": int(spec.threads),
        "deterministic": True,
        "force_col_wise": True,
        "seed": int(spec.seed),
        "verbosity": -1,
    }
    if rf:
        base.update(boosting="rf", bagging_freq=1)
    base.update(p)
    return base, n_rounds


class _LGBModel:
    def __init__(self, booster):
        self.b = booster

    def predict(self, X):
        return np.asarray(self.b.predict(np.asarray(X, dtype=np.float64), num_threads=1), dtype=np.float64)

    def gain(self):
        return np.asarray(self.b.feature_importance(importance_type="gain"), dtype=np.float64)

    def blob(self) -> bytes:
        return self.b.model_to_string().encode()


def _fit_lgb(spec: FitSpec, X, y, rf: bool):
    import lightgbm as lgb

    params, rounds = _lgb_params(spec, rf)
    label = (y > 0).astype(np.float64) if spec.task == "classification" else y
    ds = lgb.Dataset(np.asarray(X, dtype=np.float64), label=label, params={"verbosity": -1}, free_raw_data=True)
    # keep_training_booster: predict from the booster just trained; the default (False) round-trips the
    # whole model through its text form (model_to_string + model_from_string) to free the training data,
    # about 40 ms a model here, and the job turns it into text once more for the results file anyway
    return _LGBModel(lgb.train(params, ds, num_boost_round=rounds, keep_training_booster=True))


class _XGBModel:
    def __init__(self, booster, n_features):
        self.b = booster
        self.f = n_features

    def predict(self, X):
        import xgboost as xgb

        return np.asarray(self.b.predict(xgb.DMatrix(np.asarray(X, dtype=np.float64), nthread=1)),
                          dtype=np.float64)

    def gain(self):
        g = self.b.get_score(importance_type="total_gain")
        return np.array([float(g.get(f"f{i}", 0.0)) for i in range(self.f)])

    def blob(self) -> bytes:
        return bytes(self.b.save_raw(raw_format="ubj"))


def _fit_xgb(spec: FitSpec, X, y):
    import xgboost as xgb

    p = dict(spec.params)
    rounds = int(p.pop("n_estimators"))
    params = {
        "objective": "binary:logistic" if spec.task == "classification" else "reg:squarederror",
        "tree_method": "hist",
        "device": spec.device,
        "nthread": int(spec.threads),
        "seed": int(spec.seed),
        "verbosity": 0,
    }
    params.update(p)
    label = (y > 0).astype(np.float64) if spec.task == "classification" else y
    d = xgb.DMatrix(np.asarray(X, dtype=np.float64), label=label, nthread=int(spec.threads))
    b = xgb.train(params, d, num_boost_round=rounds)
    b.set_param({"nthread": 1, "device": "cpu"})
    return _XGBModel(b, X.shape[1])


def fit(spec: FitSpec, X: np.ndarray, y: np.ndarray):
    """Train one model on X (m, f) float64 and y (m,) forward log returns; returns a model (see the
    module docstring). Raises FamilyUnavailable when the library is missing, and whatever the library
    raises on bad input (the job records that as a failed unit)."""
    if spec.family not in FAMILIES:
        raise KeyError(f"unknown model family {spec.family!r}")
    if spec.threads < 1:
        raise ValueError(f"threads must be >= 1 (explicit), got {spec.threads}")
    miss = missing_libraries([spec.family])
    if miss:
        raise FamilyUnavailable(miss[0])
    if spec.family in ("lgbm", "rf"):
        return _fit_lgb(spec, X, y, rf=spec.family == "rf")
    if spec.family == "xgb":
        return _fit_xgb(spec, X, y)
    from .mlp import fit_mlp

    return fit_mlp(spec, X, y)


def load(family: str, blob: bytes, task: str = "regression", n_features: int | None = None):
    """A model with predict() from its stored bytes (safe formats only; see FORMATS)."""
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


def blob_to_array(b: bytes) -> np.ndarray:
    """Model bytes as a u1 column (what the raw models table stores)."""
    return np.frombuffer(b, dtype=np.uint8).copy()

