"""False-discovery control over a whole scan: one test per scanned window, q-values by
Benjamini-Hochberg or Benjamini-Yekutieli.

Why: `p_value` is per pattern, against surrogates of its own symbol. A scan tests 1e5-1e6 windows,
so at alpha = 0.05 thousands of windows hold a "significant" pattern by chance. The family here is
one test per scanned window of the run (windows skipped by the flat pre-filter are not tested): the
p-value of its best pattern (`windows.best_p_value`), or 1 for a scanned window without a pattern
(nothing found is the least significant outcome). The q-value of a window is the smallest FDR
level at which its test would be rejected (Storey 2002's definition, computed by the step-up
procedure):

    q_(i) = min over k >= i of  min(1, m * c(m) * p_(k) / k),   p_(1) <= ... <= p_(m),

with c(m) = 1 for Benjamini & Hochberg (1995, J. R. Stat. Soc. B 57, 289-300) and
c(m) = sum_{j=1..m} 1/j for Benjamini & Yekutieli (2001, Ann. Statist. 29, 1165-1188, Thm 1.3).
BH controls the FDR for independent or positively dependent (PRDS) tests; BY under any dependence.
Overlapping windows share bars and often their best pattern, and their tests are dependent in ways
nobody has shown to be PRDS, so the default is BY (`scan.fdr_method`); BH is one setting away.

Equal p-values get equal q-values, so a q-value is a function of the p-value alone (for the run's
family): a pattern's `q_value` is the q of its p-value when it is the best of at least one window,
i.e. the smallest `best_q_value` of the windows it is the best of; NaN otherwise.
"""

from __future__ import annotations

import numpy as np

METHODS = ("by", "bh")


def correction(m: int, method: str) -> float:
    """c(m): 1 for BH, the harmonic number H_m for BY. Raises ValueError for another method."""
    if method == "bh":
        return 1.0
    if method == "by":
        return float(np.sum(1.0 / np.arange(1, m + 1))) if m > 0 else 1.0
    raise ValueError(f"fdr method must be one of {', '.join(METHODS)}, not {method!r}")


def family_p(best_p, skipped) -> np.ndarray:
    """The tests of a set of windows: best_p of the scanned ones, 1 where a scanned window has no
    pattern (NaN); skipped windows are not tests (left out)."""
    p = np.asarray(best_p, dtype=np.float64)[~np.asarray(skipped, dtype=bool)]
    return np.where(np.isnan(p), 1.0, p)


def q_of_sorted(p_sorted: np.ndarray, method: str) -> np.ndarray:
    """q-values of the ascending p-values p_sorted (m,), same order (the step-up formula above)."""
    m = p_sorted.shape[0]
    if m == 0:
        return np.empty(0)
    raw = p_sorted * (m * correction(m, method)) / np.arange(1, m + 1)
    return np.minimum(1.0, np.minimum.accumulate(raw[::-1])[::-1])


def q_at(p, p_sorted: np.ndarray, q_sorted: np.ndarray) -> np.ndarray:
    """The q-value of p-values p (any shape; NaN stays NaN) in the family whose ascending p-values
    and q-values are p_sorted, q_sorted. Each p must be one of the family's (else: the q of the
    first family value >= p)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if q_sorted.shape[0] and ok.any():
        i = np.minimum(np.searchsorted(p_sorted, p[ok], side="left"), q_sorted.shape[0] - 1)
        out[ok] = q_sorted[i]
    return out


def smallest_attainable(null_samples: int, windows_per_symbol) -> float:
    """The smallest p-value any pattern can get: 1 / (1 + B * W) for the symbol with the most
    windows W (engines/scan/null.py); 1 when there is none."""
    w = int(np.max(windows_per_symbol)) if np.size(windows_per_symbol) else 0
    return 1.0 / (1.0 + null_samples * w)


def unreachable(p_min: float, m: int, method: str, alpha: float) -> bool:
    """True when even the smallest attainable p-value cannot be declared at level alpha among m
    tests: its q-value, p_min * m * c(m), exceeds alpha."""
    return m > 0 and p_min * m * correction(m, method) > alpha
