"""`train.*`: the train job (mpiapp.train): targets, purged CV, model families and their parameters;
docs/train.md."""

from .keys import ConfigError, Items, Key

# fmt: off
KEYS = (
    # --- train job (mpiapp.train): data, targets, CV, families -----------------------------------
    Key("train.families", list, ["lgbm", "xgb", "rf", "mlp", "ridge"],
        "model families trained per symbol (--families); each has its own train.<family>.* block; ridge, the "
        "baseline of every family, is trained even when not listed",
        items=Items(str, choices=("lgbm", "xgb", "rf", "mlp", "ridge"))),
    Key("train.task", str, "regression",
        "regression: forecast the forward log return; classification: P(forward return > 0)",
        choices=("regression", "classification")),
    Key("train.horizon", int, 5, "forward return horizon k in bars; the sample at bar t has label interval "
        "[t+1, t+k]", lo=1, hi=10_000),
    Key("train.seed", int, 0, "base seed; each model's seed is CRC-32 of (symbol, family, fold, seed)", lo=0),
    Key("train.scan_file", str, None, "a score results file (--scan): its patterns become features from the bar "
        "each became known (needs the known_bar column)", nullable=True),
    Key("train.scan_lookback", int, 20, "scan features (--scan): a pattern counts for this many bars from the "
        "bar it became known", lo=1, hi=1_000_000),
    Key("train.threads_per_model", int, 0, "threads each model trains with; 0 = the rank's budget from the "
        "thread plan (results do not depend on it: docs/train.md)", lo=0, hi=4096),
    Key("train.device", str, "auto", "xgb and mlp device: auto = cuda when a GPU is usable, else cpu",
        choices=("auto", "cpu", "cuda")),
    Key("train.on_error", str, "record",
        "a model that raises: record (unit recorded as failed, job goes on, exit 3 at the end) or abort "
        "(exit 1 at once)", choices=("record", "abort")),
    Key("train.min_bars", int, 300, "symbols with fewer bars are skipped (recorded) before any training",
        lo=1),
    Key("train.cv.scheme", str, "walk_forward",
        "walk_forward: train before each test block; kfold: purged k-fold with embargo",
        choices=("walk_forward", "kfold")),
    Key("train.cv.n_folds", int, 5, "test blocks per symbol (walk_forward cuts n_folds + 1 blocks)", lo=2, hi=1000),
    Key("train.cv.window", str, "expanding", "walk_forward training window: expanding or rolling",
        choices=("expanding", "rolling")),
    Key("train.cv.train_bars", int, 1000, "rolling window length in samples (train.cv.window=rolling)", lo=1),
    Key("train.cv.embargo_bars", int, 5, "bars after each test interval also withheld from training", lo=0),
    Key("train.cv.min_train", int, 200, "fewest training samples a fold may keep after purging; fewer = the "
        "symbol is skipped (recorded)", lo=1),
    Key("train.inner.fraction", float, 0.33, "share of each fold's training samples, its latest, held out as the "
        "inner validation slice (purged and embargoed like a test block) on which a family chooses its ridge "
        "penalty, boosting rounds or epochs", lo=0.05, hi=0.5),
    Key("train.lgbm.n_estimators", int, 200, "LightGBM boosting rounds (the most, with early stopping)", lo=1,
        hi=100_000),
    Key("train.lgbm.learning_rate", float, 0.02, "LightGBM learning rate", lo=1e-6, hi=1.0),
    Key("train.lgbm.num_leaves", int, 2, "LightGBM leaves per tree", lo=2, hi=131072),
    Key("train.lgbm.min_data_in_leaf", int, 20, "LightGBM minimum samples per leaf (the floor of "
        "train.lgbm.min_leaf_fraction)", lo=1),
    Key("train.lgbm.min_leaf_fraction", float, 0.1, "LightGBM: each leaf holds at least this share of the rows "
        "the tree is grown on (0 = train.lgbm.min_data_in_leaf alone)", lo=0.0, hi=0.5),
    Key("train.lgbm.feature_fraction", float, 0.8, "LightGBM share of features per tree", lo=0.01, hi=1.0),
    Key("train.lgbm.early_stopping_rounds", int, 0, "LightGBM: > 0 = choose the rounds on the inner validation "
        "slice, stopping this many rounds after the best, then refit on the whole fold; 0 = all rounds",
        lo=0, hi=100_000),
    Key("train.xgb.n_estimators", int, 200, "XGBoost boosting rounds (tree_method=hist; the most, with early "
        "stopping)", lo=1, hi=100_000),
    Key("train.xgb.learning_rate", float, 0.02, "XGBoost eta", lo=1e-6, hi=1.0),
    Key("train.xgb.max_depth", int, 1, "XGBoost maximum tree depth", lo=1, hi=64),
    Key("train.xgb.min_child_weight", float, 20.0, "XGBoost minimum hessian per child (the floor of "
        "train.xgb.min_child_fraction)", lo=0.0),
    Key("train.xgb.min_child_fraction", float, 0.1, "XGBoost: each child holds at least this share of the rows "
        "the tree is grown on, in hessian units (a row weighs 1 under squared error, 1/4 under the logistic "
        "loss); 0 = train.xgb.min_child_weight alone", lo=0.0, hi=0.5),
    Key("train.xgb.subsample", float, 0.8, "XGBoost row subsample per tree (seeded)", lo=0.01, hi=1.0),
    Key("train.xgb.early_stopping_rounds", int, 0, "XGBoost: > 0 = choose the rounds on the inner validation "
        "slice, stopping this many rounds after the best, then refit on the whole fold; 0 = all rounds",
        lo=0, hi=100_000),
    Key("train.rf.n_estimators", int, 200, "random forest trees (LightGBM boosting=rf)", lo=1, hi=100_000),
    Key("train.rf.num_leaves", int, 4, "random forest leaves per tree", lo=2, hi=131072),
    Key("train.rf.min_data_in_leaf", int, 20, "random forest minimum samples per leaf (the floor of "
        "train.rf.min_leaf_fraction)", lo=1),
    Key("train.rf.min_leaf_fraction", float, 0.1, "random forest: each leaf holds at least this share of the "
        "rows the tree is grown on (0 = train.rf.min_data_in_leaf alone)", lo=0.0, hi=0.5),
    Key("train.rf.bagging_fraction", float, 0.632, "random forest row sample per tree", lo=0.01, hi=0.999),
    Key("train.rf.feature_fraction", float, 0.6, "random forest share of features per tree", lo=0.01, hi=1.0),
    Key("train.mlp.hidden", list, [32, 16], "MLP hidden layer widths", items=Items(int, lo=1, hi=65536)),
    Key("train.mlp.epochs", int, 20, "MLP passes over the training samples (the most, with early stopping)",
        lo=1, hi=100_000),
    Key("train.mlp.batch_size", int, 256, "MLP mini-batch size", lo=1),
    Key("train.mlp.learning_rate", float, 1e-3, "MLP Adam learning rate", lo=1e-8, hi=1.0),
    Key("train.mlp.weight_decay", float, 1e-4, "MLP Adam weight decay", lo=0.0, hi=1.0),
    Key("train.mlp.early_stopping_epochs", int, 0, "MLP: > 0 = choose the epochs on the inner validation slice, "
        "stopping this many epochs after the best, then refit on the whole fold; 0 = all epochs", lo=0,
        hi=100_000),
    Key("train.ridge.penalties", list, [0.01, 0.03, 0.1, 0.3, 1.0], "ridge penalties per training row on "
        "standardised features (docs/train.md); the one with the lowest error on the inner validation slice is "
        "used (one value: no choice)", items=Items(float, lo=0.0, hi=1e6, lo_open=True)),
)
# fmt: on


def _rolling(cv) -> None:
    if cv.scheme == "walk_forward" and cv.window == "rolling" and cv.train_bars < cv.min_train:
        raise ConfigError(
            f"train.cv.train_bars = {cv.train_bars} < train.cv.min_train = {cv.min_train}: a rolling "
            "window that short leaves every fold too few training samples"
        )


#: cross-key rules: section path -> function of that section's values (config.load and the params classes)
CHECKS = {"train.cv": _rolling}
