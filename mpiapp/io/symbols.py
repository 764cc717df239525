"""The symbols and skipped tables of a job whose units name symbols (score, train, ddp's feature store).

Why one place: each of these jobs lists the symbols it was given — those of the source's index, then
those the index already rejected in skip mode (data.skip_bad_symbols) — says why any were skipped,
and writes names and reasons into fixed-width text columns. One builder keeps the tables alike in
every job: names whole (the column is as wide as the longest name), reasons cut at a character
boundary (text.py), the same raw `skipped` rows from a unit.
"""

from __future__ import annotations

import numpy as np

from .text import cut, width

#: bytes of a skip reason in a `skipped` table (a DataError's one line fits; longer ones are cut)
REASON_BYTES = 240
#: the raw `skipped` table a unit writes for a symbol it could not use
SKIPPED_COLUMNS = [("symbol", "i4"), ("reason", f"S{REASON_BYTES}")]


def symbol_list(index, index_skips) -> list[tuple[str, int]]:
    """[(name, bars)]: the index (symbol ids 0..len(index)-1), then the symbols the index rejected
    (`index_skips`, [(name, reason)]), with 0 bars, at the ids after it."""
    return list(index) + [(name, 0) for name, _ in index_skips]


def skip_rows(symbol: int, reason: str) -> dict:
    """The raw rows of a unit that skipped symbol id `symbol`: {"skipped": one row}."""
    return {"skipped": skipped_rows([(symbol, reason)])}


def skipped_rows(items, reason_bytes: int = REASON_BYTES) -> dict:
    """Rows of a `skipped` table (SKIPPED_COLUMNS, or reasons `reason_bytes` wide) from (symbol id,
    reason) pairs, in their order; reasons (str or UTF-8 bytes) cut to reason_bytes."""
    items = list(items)
    return {
        "symbol": np.array([int(s) for s, _ in items], dtype="i4"),
        "reason": np.array([cut(r, reason_bytes) for _, r in items], dtype=f"S{reason_bytes}"),
    }


def symbols_table(
    names: list[tuple[str, int]], reasons: dict, lo: int, hi: int, *, reason_bytes: int, extra=()
) -> tuple[list, dict]:
    """(columns, rows) of the `symbols` table for the ids lo..hi-1 of `names` ([(name, bars)], as
    `symbol_list` gives; the same on every rank, so every rank gets the same columns).

    Columns: name (UTF-8, as wide as the longest name of `names`, at least 8 bytes: never cut), bars
    (i8), then `extra` ((column, dtype, values of ids lo..hi-1) each), then skipped_reason (reasons:
    {id: str or bytes}, '' for a symbol not skipped, cut to `reason_bytes`)."""
    name_len = width(nm for nm, _ in names)
    cols = (
        [("name", f"S{name_len}"), ("bars", "i8")]
        + [(c, dt) for c, dt, _ in extra]
        + [("skipped_reason", f"S{reason_bytes}")]
    )
    rows = {
        "name": np.array([nm.encode() for nm, _ in names[lo:hi]], dtype=f"S{name_len}"),
        "bars": np.array([n for _, n in names[lo:hi]], dtype=np.int64),
    }
    for c, dt, values in extra:
        rows[c] = np.asarray(values, dtype=dt)
    rows["skipped_reason"] = np.array(
        [cut(reasons.get(s, ""), reason_bytes) for s in range(lo, hi)], dtype=f"S{reason_bytes}"
    )
    return cols, rows
