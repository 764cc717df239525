"""Which samples each rank trains on at each step: a function of (seed, epoch, sample index) only.

Why not a DataLoader with a DistributedSampler: its order depends on the rank count (each rank
draws every world_size-th sample), it forks worker processes (no fork after MPI is initialised) and
it holds a permutation of every sample in memory. Here the order of an epoch is a keyed bijection of
[0, n): positions are cut into blocks of `block` samples; the full blocks are permuted by a Feistel
network keyed by (seed, epoch), the samples inside each block by one keyed by (seed, epoch, block);
the last partial block (n mod block samples) stays last. Memory is O(1) in n, and the global batch
at step b is positions [b B, (b+1) B) whatever the rank count; each rank takes a contiguous part of
it (so it reads whole blocks of consecutive rows from the feature store).

The Feistel construction on a power-of-four domain with cycle walking is the standard way to build
a permutation of an arbitrary range from a keyed round function (Black and Rogaway 2002,
"Ciphers with arbitrary finite domains"); the round function is the SplitMix64 finaliser
(Steele, Lea and Flood 2014).
"""

from __future__ import annotations

import numpy as np

ROUNDS = 6
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, element-wise on uint64 (wrapping arithmetic)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def key(*parts: int) -> np.uint64:
    """A 64-bit key from integers (seed, epoch, block, ...)."""
    with np.errstate(over="ignore"):
        k = np.uint64(0x5DEECE66D)
        for p in parts:
            k = _mix(np.array([k ^ np.uint64(int(p) & 0xFFFFFFFFFFFFFFFF)], dtype=np.uint64))[0]
    return k


def permute(x, n: int, k) -> np.ndarray:
    """π_k(x) for positions x in [0, n): a bijection of [0, n) for every key k (scalar or per element).

    x: int array; n >= 1; k: uint64 key, or an array of keys one per element. Returns int64.
    """
    x = np.asarray(x, dtype=np.int64)
    if n <= 1:
        return np.zeros_like(x)
    half = max(1, ((int(n) - 1).bit_length() + 1) // 2)
    mask = np.uint64((1 << half) - 1)
    keys = np.broadcast_to(np.asarray(k, dtype=np.uint64), x.shape)
    out = x.astype(np.uint64)
    todo = np.ones(x.shape, dtype=bool)
    with np.errstate(over="ignore"):
        while todo.any():
            v, kk = out[todo], keys[todo]
            lo, hi = v & mask, v >> np.uint64(half)
            for r in range(ROUNDS):
                f = _mix(lo ^ _mix(kk + np.uint64(r))) & mask
                lo, hi = hi ^ f, lo
            v = (hi << np.uint64(half)) | lo
            out[todo] = v
            todo[todo] = v >= np.uint64(n)  # cycle walking: apply again until inside [0, n)
    return out.astype(np.int64)


class EpochOrder:
    """The sample at each position of one epoch: positions -> sample indices in [0, n)."""

    def __init__(self, n: int, block: int, seed: int, epoch: int):
        self.n, self.block = int(n), int(block)
        self.full = self.n // self.block
        self.seed, self.epoch = int(seed), int(epoch)
        self.k_blocks = key(seed, epoch, 0xB10C)

    def block_keys(self, j) -> np.ndarray:
        """Keys of the in-block permutation of blocks j (int array)."""
        j = np.asarray(j, dtype=np.int64)
        base = key(self.seed, self.epoch, 0x5A3F)
        with np.errstate(over="ignore"):
            return _mix(np.uint64(base) ^ _mix(j.astype(np.uint64)))

    def samples(self, positions) -> np.ndarray:
        """Sample index at each position (int64 array in [0, n))."""
        p = np.asarray(positions, dtype=np.int64)
        out = np.empty_like(p)
        K, nf = self.block, self.full
        in_full = p < nf * K
        q, o = p[in_full] // K, p[in_full] % K
        j = permute(q, nf, self.k_blocks) if nf else q
        out[in_full] = j * K + permute(o, K, self.block_keys(j))
        rest = ~in_full
        if rest.any():
            r = self.n - nf * K
            out[rest] = nf * K + permute(p[rest] - nf * K, r, self.block_keys(np.full(int(rest.sum()), nf)))
        return out


def even_part(lo: int, hi: int, parts: int, i: int) -> tuple[int, int]:
    """Part i of [lo, hi) cut into `parts` contiguous pieces whose sizes differ by at most one."""
    n = hi - lo
    return lo + (n * i) // parts, lo + (n * (i + 1)) // parts


def micro_batches(step: int, batch: int, accumulation: int) -> list[tuple[int, int]]:
    """Position ranges of the micro-batches of optimizer step `step` (0-based, within its epoch)."""
    lo = step * batch
    return [even_part(lo, lo + batch, accumulation, m) for m in range(accumulation)]


def steps_per_epoch(n: int, batch: int) -> int:
    """Full global batches in an epoch (the last partial batch is dropped: every step sees B samples)."""
    return int(n) // int(batch)


class SampleIndex:
    """The samples of one split: per symbol a contiguous range of store rows.

    lo, hi: (symbols,) global row bounds of the split per symbol, already narrowed so each sample has
    `window - 1` rows of the same symbol before it. Sample i is row lo[k] + (i - start[k]) of the
    symbol k whose range holds it. Memory: O(symbols).
    """

    def __init__(self, lo, hi):
        self.lo = np.asarray(lo, dtype=np.int64)
        self.hi = np.maximum(np.asarray(hi, dtype=np.int64), self.lo)
        counts = self.hi - self.lo
        self.start = np.concatenate(([0], np.cumsum(counts)))
        self.n = int(self.start[-1])

    def rows(self, samples) -> np.ndarray:
        s = np.asarray(samples, dtype=np.int64)
        k = np.searchsorted(self.start, s, side="right") - 1
        return self.lo[k] + (s - self.start[k])

    def segments(self, s0: int, s1: int) -> list[tuple[int, int, int]]:
        """Contiguous pieces of samples [s0, s1): (first sample, end sample, first row)."""
        out = []
        k = int(np.searchsorted(self.start, s0, side="right") - 1)
        s = s0
        while s < s1:
            while self.start[k + 1] <= s:
                k += 1
            e = min(s1, int(self.start[k + 1]))
            out.append((s, e, int(self.lo[k] + (s - self.start[k]))))
            s = e
        return out
