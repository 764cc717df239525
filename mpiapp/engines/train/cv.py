"""Purged cross-validation on time-ordered samples with label intervals.

Samples are the bars b[0] < b[1] < ... of one symbol; the sample at bar t has label interval
[t+1, t+h] (h = horizon). A fold's test set is a contiguous block of samples, bars a..z; its test
interval is [a, z + h] (from the first test bar to the last bar any test label reads) and its
forbidden zone is [a, z + h + embargo]. A training sample is purged when its label interval meets
the forbidden zone (t + h >= a and t + 1 <= z + h + embargo) — this also removes every sample inside
the test block. Purging and embargo after de Prado, *Advances in Financial Machine Learning*
(2018), ch. 7.

Schemes:

    walk_forward   the samples cut into n_folds + 1 contiguous blocks of equal size (the remainder
                   goes to the first block); fold i (0-based) tests block i + 1 and trains on what
                   comes before it: all of it (window=expanding) or its last `train_bars` samples
                   (window=rolling). Training never sees the future.
    kfold          n_folds contiguous blocks; fold i tests block i and trains on all the others,
                   before and after, purged with the embargo on the far side.

Inner slice (`inner_split`): what a family chooses from data (boosting rounds, epochs, a ridge penalty)
it chooses on the latest `fraction` of its training samples, never on the fold's test block; the
samples before that slice whose label interval meets it, or its embargo, are purged exactly as for
a test block, so the choice is as out-of-sample as the fold itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config.params import Params


class CVSpec(Params, section="train.cv"):
    """The `train.cv.*` keys (mpiapp/config/train.py declares and checks each one): scheme:
    walk_forward | kfold; n_folds; window: expanding | rolling (walk_forward only); train_bars: rolling
    window length in samples; embargo_bars: bars after the test interval also forbidden; min_train:
    fewest training samples a fold may have after purging."""


@dataclass(frozen=True)
class Fold:
    """One fold: indices into the samples (int64, ascending) and what was removed.

    test_bars / train_bars: (first, last) bar of the test block and of the kept training samples;
    n_purged: training candidates removed because their label interval meets [a, z + h];
    n_embargoed: removed only because of the embargo (z + h, z + h + embargo].
    """

    fold: int
    train: np.ndarray
    test: np.ndarray
    n_purged: int
    n_embargoed: int
    test_bar_range: tuple
    train_bar_range: tuple


class FoldError(ValueError):
    """The series is too short for the folds asked for (the message says what is missing)."""


def _blocks(m: int, k: int) -> list[tuple[int, int]]:
    """k contiguous [lo, hi) blocks over m samples; equal sizes, the remainder to the first."""
    size = m // k
    first = m - size * (k - 1)
    edges = [0, first] + [first + size * i for i in range(1, k)]
    return list(zip(edges[:-1], edges[1:]))


def purge_mask(bars: np.ndarray, horizon: int, test_lo_bar: int, test_hi_bar: int, embargo: int):
    """(purged, embargoed) boolean masks over `bars` for a test block of bars test_lo..test_hi.

    purged: label interval [t+1, t+h] meets [test_lo, test_hi + h], or t is in the test block;
    embargoed: not purged but meets (test_hi + h, test_hi + h + embargo].
    """
    t = np.asarray(bars, dtype=np.int64)
    lab_lo, lab_hi = t + 1, t + horizon
    end = test_hi_bar + horizon
    purged = ((lab_hi >= test_lo_bar) & (lab_lo <= end)) | ((t >= test_lo_bar) & (t <= test_hi_bar))
    embargoed = ~purged & (lab_hi >= test_lo_bar) & (lab_lo <= end + embargo)
    return purged, embargoed


def make_folds(bars: np.ndarray, horizon: int, spec: CVSpec) -> list[Fold]:
    """The folds of one symbol's samples (bars ascending, int). Raises FoldError when a fold would
    have no test sample or fewer than spec.min_train training samples after purging."""
    bars = np.asarray(bars, dtype=np.int64)
    m = bars.shape[0]
    k = spec.n_folds + 1 if spec.scheme == "walk_forward" else spec.n_folds
    if m < k:
        raise FoldError(f"{m} samples cannot make {k} contiguous blocks")
    blocks = _blocks(m, k)
    tests = blocks[1:] if spec.scheme == "walk_forward" else blocks
    folds = []
    for i, (lo, hi) in enumerate(tests):
        if spec.scheme == "walk_forward":
            cand = np.arange(0, lo)
            if spec.window == "rolling":
                cand = cand[-spec.train_bars :]
        else:
            cand = np.concatenate([np.arange(0, lo), np.arange(hi, m)])
        purged, embargoed = purge_mask(bars[cand], horizon, bars[lo], bars[hi - 1], spec.embargo_bars)
        train = cand[~purged & ~embargoed]
        if train.size < spec.min_train:
            raise FoldError(
                f"fold {i}: {train.size} training samples after purging "
                f"(train.cv.min_train = {spec.min_train}); {m} samples in all"
            )
        folds.append(
            Fold(
                fold=i,
                train=train.astype(np.int64),
                test=np.arange(lo, hi, dtype=np.int64),
                n_purged=int(purged.sum()),
                n_embargoed=int(embargoed.sum()),
                test_bar_range=(int(bars[lo]), int(bars[hi - 1])),
                train_bar_range=(int(bars[train[0]]), int(bars[train[-1]])),
            )
        )
    return folds


def min_samples(spec: CVSpec, horizon: int) -> int:
    """A lower bound on the samples make_folds needs (used to skip short symbols when planning)."""
    k = spec.n_folds + 1 if spec.scheme == "walk_forward" else spec.n_folds
    if spec.scheme == "walk_forward":
        # the first fold trains on block 0 minus the purge before block 1
        return max(k, k * (spec.min_train + horizon))
    return max(k, spec.min_train + horizon + spec.embargo_bars + 1)


@dataclass(frozen=True)
class InnerSplit:
    """fit, val: positions into one fold's training samples (int64, ascending); val is the latest."""

    fit: np.ndarray
    val: np.ndarray


def inner_split(bars: np.ndarray, horizon: int, fraction: float, embargo: int) -> InnerSplit:
    """The inner validation slice of one fold's training samples (`bars`: their bar indices, ascending).

    val: the last max(1, round(fraction * m)) of the m samples (in time); fit: the samples before it
    whose label interval [t+1, t+h] meets neither [first val bar, last val bar + h] nor the `embargo`
    bars after it (purge_mask). Raises FoldError when fewer than 2 samples would be left to fit on.
    """
    bars = np.asarray(bars, dtype=np.int64)
    m = bars.shape[0]
    n_val = min(m - 1, max(1, int(round(fraction * m))))
    lo = m - n_val
    if lo < 1:
        raise FoldError(f"{m} training samples cannot hold an inner validation slice")
    purged, embargoed = purge_mask(bars[:lo], horizon, bars[lo], bars[-1], embargo)
    fit = np.flatnonzero(~purged & ~embargoed).astype(np.int64)
    if fit.size < 2:
        raise FoldError(
            f"{m} training samples leave {fit.size} to fit on before the inner validation slice "
            f"of {n_val} (train.inner.fraction = {fraction})"
        )
    return InnerSplit(fit, np.arange(lo, m, dtype=np.int64))
