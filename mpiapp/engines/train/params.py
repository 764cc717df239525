"""TrainParams: the `train.*` config section as one frozen value the engine reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from .cv import CVSpec


def family_params(section, family: str) -> dict:
    """The parameter block train.<family>.* as a plain dict (copied: fit() may pop from it)."""
    b = section[family]
    if family == "lgbm":
        keys = ("n_estimators", "learning_rate", "num_leaves", "min_data_in_leaf", "min_leaf_fraction",
                "feature_fraction", "early_stopping_rounds")
    elif family == "xgb":
        keys = ("n_estimators", "learning_rate", "max_depth", "min_child_weight", "min_child_fraction", "subsample",
                "early_stopping_rounds")
    elif family == "rf":
        keys = ("n_estimators", "num_leaves", "min_data_in_leaf", "min_leaf_fraction", "bagging_fraction",
                "feature_fraction")
    elif family == "mlp":
        keys = ("hidden", "epochs", "batch_size", "learning_rate", "weight_decay", "early_stopping_epochs")
    elif family == "ridge":
        keys = ("penalties",)
    else:
        raise KeyError(f"unknown model family {family!r}")
    return {k: (list(b[k]) if isinstance(b[k], list) else b[k]) for k in keys}


#: the linear family every other family is judged against; trained whatever train.families lists
BASELINE_FAMILY = "ridge"


@dataclass(frozen=True)
class TrainParams:
    """families: names in train.families order, then ridge (the baseline) when the list lacks it;
    task: regression | classification; horizon: k bars; seed: base seed; scan_lookback: bars a known
    pattern counts; threads_per_model: 0 = rank budget; device: auto | cpu | cuda; on_error: record |
    abort; min_bars: shorter symbols are skipped; cv: the fold spec; inner_fraction: share of each
    training fold held out (its latest samples) as the inner validation slice; params: family -> its
    parameter block."""

    families: tuple
    task: str = "regression"
    horizon: int = 5
    seed: int = 0
    scan_lookback: int = 20
    threads_per_model: int = 0
    device: str = "auto"
    on_error: str = "record"
    min_bars: int = 300
    cv: CVSpec = CVSpec()
    inner_fraction: float = 0.33
    params: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, t) -> "TrainParams":
        fams = tuple(dict.fromkeys(list(t.families) + [BASELINE_FAMILY]))  # unique, in the order given
        return cls(families=fams, task=t.task, horizon=t.horizon, seed=t.seed, scan_lookback=t.scan_lookback,
                   threads_per_model=t.threads_per_model, device=t.device, on_error=t.on_error,
                   min_bars=t.min_bars, cv=CVSpec.from_config(t.cv), inner_fraction=t.inner.fraction,
                   params={f: family_params(t, f) for f in fams})

    @property
    def proba(self) -> bool:
        return self.task == "classification"

    def model_threads(self, budget: int) -> int:
        """Threads for each model: train.threads_per_model (capped at the rank's budget) or the budget."""
        return max(1, min(self.threads_per_model, budget) if self.threads_per_model else budget)
