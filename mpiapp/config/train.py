"""`train.*`: the train job (mpiapp.train): targets, purged CV, model families and their parameters;
docs/train.md."""

from .keys import Key

# fmt: off
KEYS = (
    # --- train job (mpiapp.train): data, targets, CV, families -----------------------------------
    Key("train.families", list, ["lgbm", "xgb", "rf", "mlp"],
        "model families trained per symbol (--families); each has its own train.<family>.* block",
        item_choices=("lgbm", "xgb", "rf", "mlp")),
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
    Key("train.lgbm.n_estimators", int, 200, "LightGBM boosting rounds", lo=1, hi=100_000),
    Key("train.lgbm.learning_rate", float, 0.03, "LightGBM learning rate", lo=1e-6, hi=1.0),
    Key("train.lgbm.num_leaves", int, 15, "LightGBM leaves per tree", lo=2, hi=131072),
    Key("train.lgbm.min_data_in_leaf", int, 50, "LightGBM minimum samples per leaf", lo=1),
    Key("train.lgbm.feature_fraction", float, 0.8, "LightGBM share of features per tree", lo=0.01, hi=1.0),
    Key("train.xgb.n_estimators", int, 200, "XGBoost boosting rounds (tree_method=hist)", lo=1, hi=100_000),
    Key("train.xgb.learning_rate", float, 0.03, "XGBoost eta", lo=1e-6, hi=1.0),
    Key("train.xgb.max_depth", int, 4, "XGBoost maximum tree depth", lo=1, hi=64),
    Key("train.xgb.min_child_weight", float, 5.0, "XGBoost minimum hessian per child", lo=0.0),
    Key("train.xgb.subsample", float, 0.8, "XGBoost row subsample per tree (seeded)", lo=0.01, hi=1.0),
    Key("train.rf.n_estimators", int, 200, "random forest trees (LightGBM boosting=rf)", lo=1, hi=100_000),
    Key("train.rf.num_leaves", int, 31, "random forest leaves per tree", lo=2, hi=131072),
    Key("train.rf.min_data_in_leaf", int, 20, "random forest minimum samples per leaf", lo=1),
    Key("train.rf.bagging_fraction", float, 0.632, "random forest row sample per tree", lo=0.01, hi=0.999),
    Key("train.rf.feature_fraction", float, 0.6, "random forest share of features per tree", lo=0.01, hi=1.0),
    Key("train.mlp.hidden", list, [32, 16], "MLP hidden layer widths"),
    Key("train.mlp.epochs", int, 20, "MLP passes over the training samples", lo=1, hi=100_000),
    Key("train.mlp.batch_size", int, 256, "MLP mini-batch size", lo=1),
    Key("train.mlp.learning_rate", float, 1e-3, "MLP Adam learning rate", lo=1e-8, hi=1.0),
    Key("train.mlp.weight_decay", float, 1e-4, "MLP Adam weight decay", lo=0.0, hi=1.0),
)
# fmt: on
