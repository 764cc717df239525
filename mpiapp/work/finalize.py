"""The final results file: what a job's finalize step reads from and writes to.

Why a separate object: a job's finalize only needs "the rows of these units" and "append these rows
to that table"; where the rows live (the .partial file), in which mode the file is written (mpio or
gathered to rank 0) and how chunks are sized stay here.
"""

from __future__ import annotations

import numpy as np

from ..io import results as rio
from ..runtime import sync


class Finalize:
    """Collective to create and close. `units` is the unit table (every rank), see Ledger.units.

    parallel: every rank can read the .partial file and writes its own rows (mpio); otherwise only
    rank 0 reads (`can_read`) and the others pass empty rows.
    """

    def __init__(self, ctx, ledger, tmp: str, mode: str, note: str):
        self.ctx, self.ledger = ctx, ledger
        self.units = ledger.units()
        self.parallel = mode == "mpio"
        self.out = rio.ResultsFile(tmp, mode, comm=ctx.comm, create=True, note=note)
        self.extra_attrs: dict = {}

    @property
    def can_read(self) -> bool:
        return self.ledger.can_read()

    def block(self, weights) -> tuple[int, int]:
        """This rank's contiguous block [lo, hi) of items 0..len(weights)-1 (a job's groups of units),
        balanced by weight (e.g. raw rows), so that rank order is item order in the final tables.

        Parallel mode: every rank gets about 1/size of the weight; gather mode: rank 0 takes them all
        (the others get an empty block). Every rank must pass the same weights.
        """
        n = len(weights)
        if not self.parallel:
            return (0, n) if self.ctx.rank == 0 else (0, 0)
        bounds = contiguous_blocks(weights, self.ctx.size)
        return bounds[self.ctx.rank], bounds[self.ctx.rank + 1]

    def offset(self, n: int) -> int:
        """Collective: the sum of `n` over the ranks before this one (e.g. where this rank's bytes
        start in a table written in rank order)."""
        counts = sync.allgather(int(n), comm=self.ctx.comm)
        return int(sum(counts[: self.ctx.rank]))

    def read(self, table: str, uids) -> dict:
        """Raw rows of units `uids` in table `table`, in ascending row order (this rank only)."""
        uids = np.asarray(uids, dtype=np.int64)
        u = self.units
        return self.ledger.read(table, u[f"{table}_start"][uids], u[f"{table}_count"][uids])

    def write(self, name: str, columns, rows: dict) -> None:
        """Collective: a final table `name` holding every rank's `rows` in rank order.

        columns: [(column, numpy dtype)]; text columns ('S') are stored as UTF-8. rows may be empty.
        """
        n = len(rows[columns[0][0]]) if rows else 0
        total = sync.allreduce_sum(n, comm=self.ctx.comm)
        self.out.create_table(name, columns, rows_hint=max(total, 1))
        self.out.append(name, rows if n else {})

    def attrs(self, **kv) -> None:
        """Job-specific attributes of the final file (e.g. the data source)."""
        self.extra_attrs.update(kv)

    def close(self) -> None:
        self.out.close()


def contiguous_blocks(weights, parts: int) -> list[int]:
    """Boundaries (parts + 1 of them, 0 first, len(weights) last) of `parts` consecutive blocks that
    each hold about 1/parts of the total weight; items of weight 0 at the end fall in the last block."""
    w = np.asarray(weights, dtype=np.float64)
    cum = np.concatenate(([0.0], np.cumsum(w)))
    total = cum[-1]
    bounds = [0]
    for r in range(1, parts):
        bounds.append(
            int(np.searchsorted(cum, total * r / parts, side="left")) if total > 0 else (len(w) * r) // parts
        )
        bounds[-1] = max(bounds[-1], bounds[-2])
    bounds.append(len(w))
    return bounds
