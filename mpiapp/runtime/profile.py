"""Named phase timers per rank, gathered into one per-rank profile table."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager

from . import comm as _comm


class Timers:
    """Accumulating wall-clock timers: `with timers.phase("read"): ...`. Thread-safe: units run in
    worker threads (work.loop) add to the same timers; their seconds add up across threads."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.counters: dict[str, float] = defaultdict(float)
        self.labels: dict[str, str] = {}
        self._lock = threading.Lock()

    @contextmanager
    def phase(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] += seconds
            self.calls[name] += 1

    def count(self, name: str, amount: float = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def label(self, name: str, text: str) -> None:
        """A text fact about this rank (e.g. whose copy of the inputs it read): a text column of the profile."""
        with self._lock:
            self.labels[name] = str(text)

    def row(self) -> dict:
        row = {f"{k}_s": v for k, v in self.seconds.items()}
        row.update(self.counters)
        row.update(self.labels)
        return row


def gather(timers: Timers, comm=None, root: int = 0, extra: dict | None = None) -> list[dict] | None:
    """Every rank's timers (plus `extra` fields) as a list of rows on `root`, None elsewhere."""
    comm = _comm.world(comm)
    row = {"rank": comm.Get_rank(), "host": _comm.hostname()}
    row.update(timers.row())
    row.update(extra or {})
    rows = comm.gather(row, root=root)
    return rows


def table(rows: list[dict], busy_key: str = "busy_s") -> str:
    """A fixed-width per-rank table plus the load imbalance of `busy_key` (max / mean)."""
    if not rows:
        return "(no profile)"
    cols = ["rank", "host"] + sorted({k for r in rows for k in r} - {"rank", "host"})
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(x.rjust(w) for x, w in zip(row, widths)) for row in cells]
    busy = [r.get(busy_key, 0.0) for r in rows]
    if any(busy):
        from .partition import imbalance

        lines.append(f"load imbalance ({busy_key} max/mean): {imbalance(busy):.3f}")
    return "\n".join(lines)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MiB (getrusage: Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cprofile(on: bool):
    """A running cProfile.Profile when `on` (the caller disables it and dumps the stats), else None."""
    if not on:
        return None
    import cProfile

    prof = cProfile.Profile()
    prof.enable()
    return prof
