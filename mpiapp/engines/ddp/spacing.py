"""Bar spacing: one pooled model needs series of one bar spacing.

Why: the target is the forward return over `ddp.horizon` bars and the features are windows of bars
(5-bar return, 20-bar volatility, ...). Pooled, an hourly series beside daily ones makes "5 bars" mean
five hours for one and a week for the others: one model then fits two different targets on features
that mean different things. The feature store refuses such a pool unless `ddp.mixed_spacing` is true.

A series' spacing is the median time between consecutive bars (robust to weekends, holidays and a
few missing bars: a daily stock series has spacing 1 day). Two series have different spacings when the
larger is more than RATIO times the smaller. Pure functions.
"""

from __future__ import annotations

import numpy as np

#: spacings within this factor of each other count as one spacing
RATIO = 1.5

_UNITS = (("day", 86_400 * 10**9), ("hour", 3_600 * 10**9), ("minute", 60 * 10**9), ("second", 10**9))


def median_spacing(time_ns) -> int:
    """Median of the differences of consecutive int64 nanosecond timestamps; 0 for fewer than 2."""
    t = np.asarray(time_ns, dtype=np.int64)
    if t.shape[0] < 2:
        return 0
    return int(np.median(np.diff(t)))


def describe(ns: int) -> str:
    """A spacing in words: '1 day', '7 days', '1 hour', '30 minutes' (the largest whole unit)."""
    ns = int(ns)
    for name, size in _UNITS:
        if ns >= size and ns % size == 0 or (name == "second" and ns >= size):
            n = ns / size
            n = int(n) if n == int(n) else round(n, 2)
            return f"{n} {name}{'' if n == 1 else 's'}"
    return f"{ns} ns"


def groups(names, spacing_ns) -> list[tuple[int, list[str]]]:
    """The symbols grouped by spacing: [(representative spacing ns, [names])], spacings ascending; a
    symbol joins the group whose smallest spacing is within RATIO of its own. Symbols with spacing 0
    (fewer than two bars) are left out."""
    order = sorted((int(s), n) for n, s in zip(names, spacing_ns) if int(s) > 0)
    out: list[tuple[int, list[str]]] = []
    for s, n in order:
        if out and s <= RATIO * out[-1][0]:
            out[-1][1].append(n)
        else:
            out.append((s, [n]))
    return out


def problem(names, spacing_ns, allowed: bool, most: int = 8) -> str | None:
    """Why these series cannot be pooled (None when they can, or when `allowed`): each spacing with
    its symbols (at most `most` named per spacing)."""
    g = groups(names, spacing_ns)
    if allowed or len(g) < 2:
        return None
    parts = []
    for s, ns in g:
        shown = ", ".join(sorted(ns)[:most]) + (f" and {len(ns) - most} more" if len(ns) > most else "")
        parts.append(f"{describe(s)}: {shown}")
    return (
        "the series have different bar spacings (median time between consecutive bars) — "
        + "; ".join(parts)
        + " — and one pooled model with one horizon in bars needs one spacing: choose "
        "series of one spacing (--data), or set ddp.mixed_spacing=true to pool them anyway"
    )
