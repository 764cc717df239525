"""What a scan of one symbol returns, and how window-range pieces of a symbol are merged."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...kernels.reference import STATS

#: windows table columns (end_bar is exclusive: the window is bars start_bar .. end_bar - 1)
WINDOW_FIELDS = (
    (
        ("window", np.int64),
        ("start_bar", np.int64),
        ("end_bar", np.int64),
        ("skipped_flat", np.bool_),
        ("flat_reason", np.int8),
        ("truncated", np.bool_),
    )
    + tuple((s, np.int64) for s in STATS)
    + (("kept", np.int64), ("best_score", np.float64), ("best_p_value", np.float64))
)

#: patterns table columns
PATTERN_FIELDS = (
    (("direction", np.int8),)
    + tuple((f"t{k}", np.int64) for k in range(6))
    + tuple((f"p{k}", np.float64) for k in range(6))
    + tuple((n, np.float64) for n in ("score", "F", "T", "A", "C", "r2", "r3", "r4", "r5"))
    + (
        ("window", np.int64),
        ("n_windows", np.int64),
        ("n_best", np.int64),
        ("truncated", np.bool_),
        ("known_bar", np.int64),
        ("efficiency", np.float64),
        ("p_value", np.float64),
    )
)


def empty_table(spec, n=0) -> dict:
    return {name: np.zeros(n, dtype=dt) for name, dt in spec}


def pattern_order(pat: dict) -> np.ndarray:
    """The scan's row order (docs/scan.md): score descending, then t0 ascending, then t1..t5 ascending."""
    keys = tuple(pat[f"t{k}"] for k in range(5, -1, -1)) + (-pat["score"],)
    return np.lexsort(keys)


def sort_patterns(pat: dict) -> dict:
    o = pattern_order(pat)
    return {k: v[o] for k, v in pat.items()}


@dataclass
class SymbolScan:
    """Scan of windows [w0, w1) of one symbol.

    windows: dict of per-window columns (WINDOW_FIELDS), ascending window index.
      visited: complete six-pivot candidates examined (after pruning; the budget counts these);
      rejected_extreme: wave ends rejected by the extreme condition; rejected_r1..r4: partial or
      complete sequences pruned by that rule; valid: visited candidates passing all rules (scored);
      kept: how many entered the window's top-k; truncated: the budget stopped the window's search;
      end_bar is exclusive.
    patterns: dict of columns (PATTERN_FIELDS), one row per distinct pattern chosen by at least
      one window's top-k, in the scan's order; score is S; window / n_windows: the lowest window index that
      chose it and how many windows did; n_best: of those, how many had it as their best;
      truncated: that first window's flag; known_bar: the bar at
      which p5 was confirmed by the zig-zag (the first bar j such that the zig-zag run on bars
      0..j alone has p5 as a pivot; always > t5; docs/scan.md "When a pattern is known");
      efficiency: mean efficiency ratio of the five waves (kernels/strength.py); p_value: the
      pattern's empirical p-value (engines/scan/null.py; NaN when scan.null_samples is 0).
      windows also carry best_score (S of the window's best pattern; NaN: none) and best_p_value
      (that pattern's p-value; NaN: none, or the null is off).
    pivots: the symbol's pivot sequence (t, kind, price), always of the whole series.
    """

    symbol: str
    n_bars: int
    n_windows: int  # windows of the whole symbol
    backend: str
    windows: dict
    patterns: dict
    pivots: dict = field(default_factory=dict)

    @property
    def window_range(self) -> tuple:
        w = self.windows["window"]
        return (int(w[0]), int(w[-1]) + 1) if w.size else (0, 0)

    def __len__(self) -> int:
        return int(self.patterns["score"].shape[0])

    def equals(self, other: "SymbolScan", rtol: float = 0.0) -> bool:
        """Same tables (integer/bool columns exactly, floats within rtol)."""
        for a, b in ((self.windows, other.windows), (self.patterns, other.patterns)):
            if a.keys() != b.keys():
                return False
            for k in a:
                if a[k].shape != b[k].shape:
                    return False
                if a[k].dtype.kind == "f":
                    if not np.allclose(a[k], b[k], rtol=rtol, atol=0.0, equal_nan=True):
                        return False
                elif not np.array_equal(a[k], b[k]):
                    return False
        return True


def dedup_patterns(pat: dict, extra_keys: tuple = ()) -> dict:
    """One row per pattern (extra_keys, direction, t0..t5): the row of the lowest window that chose
    it (its window and truncated flag), with n_windows and n_best summed over the rows. Row order:
    by key."""
    n = pat["score"].shape[0]
    if not n:
        return pat
    key = np.stack(
        [pat[c].astype(np.int64) for c in extra_keys]
        + [pat["direction"].astype(np.int64)]
        + [pat[f"t{k}"] for k in range(6)],
        1,
    )
    # rows of one pattern sorted so that the one with the lowest window comes first
    o = np.lexsort((pat["window"],) + tuple(key[:, k] for k in range(key.shape[1] - 1, -1, -1)))
    key = key[o]
    pat = {k: v[o] for k, v in pat.items()}
    new = np.ones(n, dtype=bool)
    new[1:] = np.any(key[1:] != key[:-1], axis=1)
    grp = np.cumsum(new) - 1
    lead = np.flatnonzero(new)
    out = {k: v[lead] for k, v in pat.items()}
    for c in ("n_windows", "n_best"):  # summed over the rows of a pattern
        if c in pat:
            out[c] = np.bincount(grp, weights=pat[c], minlength=lead.size).astype(pat[c].dtype)
    return out


#: at least this many of a pattern's six pivot bars shared with a better one make it an alternative
#: count of the same structure
GROUP_SHARED_BARS = 4


def group_alternatives(symbol, direction, t6, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """One structure, one line: group the rows of a patterns table in its order (symbol, then S
    desc, t0, pivot bars).

    A row joins the group of the first row before it of the same symbol and direction that shares
    at least GROUP_SHARED_BARS of its six pivot bars (as sets of bar indices); otherwise it starts
    a group. symbol, direction: (m,) integer arrays; t6: (m, 6) pivot bars. Returns (group: (m,)
    int64, the row of each row's group primary; n_alternatives: (m,) int64, on a primary the
    number of other rows in its group, 0 on the others). Pure; O(m_s^2) per symbol of m_s rows,
    in blocks of `block` rows. A group depends on every pattern of the table, later ones
    included, so it is not a point-in-time fact: the train job does not use it.
    """
    symbol = np.asarray(symbol)
    direction = np.asarray(direction)
    t6 = np.asarray(t6, dtype=np.int64).reshape(-1, 6)
    m = t6.shape[0]
    group = np.arange(m, dtype=np.int64)
    if m == 0:
        return group, np.zeros(0, dtype=np.int64)
    key = symbol.astype(np.int64) * 3 + (direction.astype(np.int64) + 1)
    cuts = np.flatnonzero(np.diff(symbol.astype(np.int64))) + 1
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, m]):
        for c in np.unique(key[a:b]):
            rows = a + np.flatnonzero(key[a:b] == c)  # ascending: table order
            tt = t6[rows]
            for i0 in range(0, rows.shape[0], block):
                i1 = min(rows.shape[0], i0 + block)
                # shared[i, j] = |bars(i) & bars(j)| for rows i in the block, j before i1
                shared = (tt[i0:i1, None, :, None] == tt[None, :i1, None, :]).any(axis=3).sum(axis=2)
                near = (shared >= GROUP_SHARED_BARS) & (np.arange(i1)[None, :] < np.arange(i0, i1)[:, None])
                has = near.any(axis=1)
                first = np.argmax(near, axis=1)
                for k in np.flatnonzero(has):
                    group[rows[i0 + k]] = group[rows[first[k]]]
    n_alt = np.bincount(group, minlength=m).astype(np.int64) - 1
    n_alt[group != np.arange(m)] = 0
    return group, n_alt


def merge(parts: list[SymbolScan]) -> SymbolScan:
    """Combine window-range pieces of one symbol into what one scan of their union gives.

    Pieces must cover disjoint window ranges. Order of `parts` does not matter (deterministic);
    merge(merge(a, b), c) == merge(a, merge(b, c)).
    """
    if not parts:
        raise ValueError("merge: nothing to merge")
    first = parts[0]
    for p in parts[1:]:
        if p.symbol != first.symbol or p.n_bars != first.n_bars:
            raise ValueError(f"merge: pieces of different symbols ({first.symbol!r}, {p.symbol!r})")
    win = {k: np.concatenate([p.windows[k] for p in parts]) for k in first.windows}
    o = np.argsort(win["window"], kind="stable")
    win = {k: v[o] for k, v in win.items()}
    if np.any(np.diff(win["window"]) == 0):
        raise ValueError(f"merge: {first.symbol}: pieces overlap (a window appears twice)")
    pat = dedup_patterns({k: np.concatenate([p.patterns[k] for p in parts]) for k in first.patterns})
    return SymbolScan(
        symbol=first.symbol,
        n_bars=first.n_bars,
        n_windows=first.n_windows,
        backend=first.backend,
        windows=win,
        patterns=sort_patterns(pat) if pat["score"].shape[0] else pat,
        pivots=first.pivots,
    )
