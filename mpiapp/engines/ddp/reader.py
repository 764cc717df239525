"""Reading samples from the feature store in blocks, with memory bounded by `ddp.buffer_rows`.

Each rank opens the store read-only on its own (no collective I/O: ranks read different rows at
different moments) and reads contiguous row ranges only: a shuffle block of the training order
(order.py) is a run of consecutive samples, so it is one read per symbol it touches, plus the
`window - 1` rows before it that a sequence model looks back on. Blocks are kept in a small
least-recently-used cache (a block shared by two global batches is read once), whose size in rows
never exceeds `ddp.buffer_rows`; besides it, HDF5 keeps a fixed chunk cache per dataset
(CHUNK_CACHE_BYTES), independent of the data size.

A sample is a window of feature rows, shape (window, F) (window = 1 for the MLP), and its target y.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: HDF5's chunk cache per dataset (its default is 1 MiB): recently read chunks of X and y stay in memory
CHUNK_CACHE_BYTES = 4 << 20


class StoreReader:
    """Samples of one split of the store at `path`, read in blocks.

    index: order.SampleIndex of the split; window: rows per sample; block: samples per shuffle block;
    buffer_rows: most feature rows cached at once (at least `min_buffer_rows`; the caller checks).
    """

    def __init__(self, path: str, index, window: int, block: int, buffer_rows: int, timers=None):
        import h5py

        self.f = h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
        self.X = self.f["X"]
        self.y = self.f["rows"]["y"]
        self.index, self.window, self.block = index, int(window), int(block)
        self.buffer_rows = int(buffer_rows)
        self.cache: OrderedDict = OrderedDict()
        self.cached_rows = 0
        self.timers = timers
        self.rows_read = 0
        self.peak_rows = 0

    def close(self) -> None:
        self.f.close()

    def _read(self, s0: int, s1: int) -> tuple[np.ndarray, np.ndarray]:
        """Windows (s1 - s0, window, F) float32 and y (s1 - s0,) of samples [s0, s1)."""
        W = self.window
        xs, ys = [], []
        for a, b, r0 in self.index.segments(s0, s1):
            n = b - a
            x = self.X[r0 - (W - 1) : r0 + n]
            ys.append(self.y[r0 : r0 + n])
            self.rows_read += x.shape[0]
            if W == 1:
                xs.append(x[:, None, :])
            else:
                xs.append(np.ascontiguousarray(sliding_window_view(x, W, axis=0).transpose(0, 2, 1)))
        if not xs:
            F = self.X.shape[1]
            return np.zeros((0, W, F), np.float32), np.zeros(0, np.float32)
        return np.concatenate(xs), np.concatenate(ys)

    def _block(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        hit = self.cache.get(j)
        if hit is not None:
            self.cache.move_to_end(j)
            return hit
        s0 = j * self.block
        s1 = min(self.index.n, s0 + self.block)
        data = self._read(s0, s1)
        cost = data[0].shape[0] * self.window
        while self.cache and self.cached_rows + cost > self.buffer_rows:
            _, old = self.cache.popitem(last=False)
            self.cached_rows -= old[0].shape[0] * self.window
        self.cache[j] = data
        self.cached_rows += cost
        self.peak_rows = max(self.peak_rows, self.cached_rows)
        return data

    def samples(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """Windows (len(ids), window, F) and targets of sample ids (any order; blocks read whole)."""
        ids = np.asarray(ids, dtype=np.int64)
        blocks = ids // self.block
        uniq, inv = np.unique(blocks, return_inverse=True)
        parts = [self._block(int(j)) for j in uniq]
        if len(parts) == 1:
            x, y = parts[0]
        else:
            x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        starts = np.cumsum([0] + [p[1].shape[0] for p in parts[:-1]])
        at = starts[inv.reshape(-1)] + (ids - blocks * self.block)
        return x[at], y[at]

    def chunks(self, s0: int, s1: int):
        """Samples [s0, s1) in order, as (windows, y) pieces of at most buffer_rows rows each."""
        step = max(1, self.buffer_rows // self.window)
        for a in range(s0, s1, step):
            yield self._read(a, min(s1, a + step))


def min_buffer_rows(block: int, window: int) -> int:
    """Rows one cached block takes: the least `ddp.buffer_rows` can be (a block is read whole)."""
    return int(block) * int(window)
