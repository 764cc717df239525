"""The time split of the pooled samples: train / validation / test by date, purged at each cut.

Pure functions; the feature store's finalize feeds them the day histogram of every rank's samples
(summed over the ranks) and each symbol's sample times.

A sample at bar t has label interval [t+1, t+h] (h = ddp.horizon); `label_end` is the timestamp of
bar t+h. A sample belongs to the split its own bar's date falls in, and is *purged* (used by no
split) when its label interval reaches the next split: a training label that ends on or after the
validation cut, or a validation label that ends on or after the test cut, would let a model fit
returns that the next split evaluates (Lopez de Prado 2018, ch. 7: purging). Test samples are not
purged (nothing follows them).
"""

from __future__ import annotations

import datetime

import numpy as np

NS_PER_DAY = 86_400 * 10**9
SPLITS = ("train", "validation", "test")


def days(time_ns) -> np.ndarray:
    """UTC day number (days since 1970-01-01) of int64 nanosecond timestamps."""
    return np.floor_divide(np.asarray(time_ns, dtype=np.int64), NS_PER_DAY)


def day_of_date(text: str) -> int:
    """Day number of a YYYY-MM-DD date. Raises ValueError for another format."""
    d = datetime.date.fromisoformat(str(text))
    return (d - datetime.date(1970, 1, 1)).days


def date_of_day(day: int) -> str:
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=int(day))).isoformat()


def cut_days(first_day: int, counts, params) -> tuple[int, int]:
    """(validation day, test day): the first day of each split.

    counts[i]: samples dated first_day + i (every symbol, every rank). An explicit date
    (ddp.validation_from / ddp.test_from) wins; otherwise the validation split starts at the first
    day before which at least 1 - validation_share - test_share of the samples lie, the test split at
    the first day before which at least 1 - test_share lie. Raises ValueError when a split would be
    empty or the cuts are out of order.
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        raise ValueError("no samples to split")
    cum = np.cumsum(counts)

    def share_cut(train_share: float) -> int:
        return first_day + int(np.searchsorted(cum, train_share * total, side="left")) + 1

    v = (
        day_of_date(params.validation_from)
        if params.validation_from
        else share_cut(1.0 - params.validation_share - params.test_share)
    )
    t = day_of_date(params.test_from) if params.test_from else share_cut(1.0 - params.test_share)
    last = first_day + len(counts) - 1
    if v >= t:
        raise ValueError(
            f"the validation split ({date_of_day(v)}) must start before the test split ({date_of_day(t)})"
        )
    if v <= first_day or t > last:
        raise ValueError(
            f"the split dates {date_of_day(v)} / {date_of_day(t)} leave a split empty: the samples "
            f"run from {date_of_day(first_day)} to {date_of_day(last)}"
        )
    return v, t


def symbol_ranges(time_ns, label_end_ns, v_day: int, t_day: int) -> dict:
    """Row ranges of one symbol's samples (rows sorted by time), relative to its first row.

    time_ns, label_end_ns: (m,) strictly increasing int64. Returns {train: (lo, hi), validation:
    (lo, hi), test: (lo, hi), purged: count}; each split's rows are contiguous.
    """
    time_ns = np.asarray(time_ns, dtype=np.int64)
    label_end_ns = np.asarray(label_end_ns, dtype=np.int64)
    vc, tc = v_day * NS_PER_DAY, t_day * NS_PER_DAY
    tr = (0, int(np.searchsorted(label_end_ns, vc, side="left")))
    va = (int(np.searchsorted(time_ns, vc, side="left")), int(np.searchsorted(label_end_ns, tc, side="left")))
    va = (va[0], max(va[0], va[1]))
    te = (int(np.searchsorted(time_ns, tc, side="left")), int(time_ns.shape[0]))
    kept = (tr[1] - tr[0]) + (va[1] - va[0]) + (te[1] - te[0])
    return {"train": tr, "validation": va, "test": te, "purged": int(time_ns.shape[0]) - kept}
