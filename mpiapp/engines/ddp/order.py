"""Which samples each rank trains on at each step: a function of (seed, epoch, sample index) only.

Why not a DataLoader with a DistributedSampler: its order depends on the rank count (each rank
draws every world_size-th sample), it forks worker processes (no fork after MPI is initialised) and
it holds a permutation of every sample in memory. Here the order of an epoch is a keyed bijection of
[0, n): positions are cut into blocks of `block` samples; the full blocks are permuted by a Feistel
network keyed by (seed, epoch), the samples inside each block by a keyed affine bijection
o -> (a o + c) mod size (a coprime to the block's size; a and c from (seed, epoch, block)); the
last partial block (n mod block samples) stays last. A global batch holds whole blocks but at its
edges, so the order inside a block only decides which rank and micro-batch gets which of its
samples: a cheap bijection suffices there. Memory is O(1) in n, and the global batch
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
_MASK = 0xFFFFFFFFFFFFFFFF
SCALAR_MAX = 64  # permute this many distinct positions or fewer with Python ints


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, element-wise on uint64 (wrapping arithmetic)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _mix_int(z: int) -> int:
    """The SplitMix64 finaliser on a Python int (the same values as _mix)."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def key(*parts: int) -> np.uint64:
    """A 64-bit key from integers (seed, epoch, block, ...)."""
    with np.errstate(over="ignore"):
        k = np.uint64(0x5DEECE66D)
        for p in parts:
            k = _mix(np.array([k ^ np.uint64(int(p) & 0xFFFFFFFFFFFFFFFF)], dtype=np.uint64))[0]
    return k


def permute(x, n: int, k) -> np.ndarray:
    """π_k(x) for positions x in [0, n): a bijection of [0, n) for every 64-bit key k.

    x: int array in [0, n); n >= 1. Returns int64. Raises ValueError for a position outside [0, n).
    """
    x = np.asarray(x, dtype=np.int64)
    if x.size and (x.min() < 0 or x.max() >= n):
        raise ValueError(f"permute: positions must lie in [0, {n})")
    if n <= 1 or x.size == 0:
        return np.zeros_like(x)
    half = max(1, ((int(n) - 1).bit_length() + 1) // 2)
    rk = [_mix_int((int(k) + r) & _MASK) for r in range(ROUNDS)]
    uniq, inv = np.unique(x, return_inverse=True)  # each distinct position once
    if uniq.size <= SCALAR_MAX:  # a few positions (one step's blocks): Python ints beat numpy's call cost
        m = (1 << half) - 1
        vals = []
        for v in uniq.tolist():
            while True:
                lo, hi = v & m, v >> half
                for r in range(ROUNDS):
                    lo, hi = hi ^ (_mix_int(lo ^ rk[r]) & m), lo
                v = (hi << half) | lo
                if v < n:
                    break
            vals.append(v)
        return np.asarray(vals, dtype=np.int64)[inv.reshape(x.shape)]
    mask = np.uint64((1 << half) - 1)
    rk = [np.uint64(r) for r in rk]
    with np.errstate(over="ignore"):
        out = uniq.astype(np.uint64)
        todo = np.ones(out.shape, dtype=bool)
        while todo.any():
            v = out[todo]
            lo, hi = v & mask, v >> np.uint64(half)
            for r in range(ROUNDS):
                lo, hi = hi ^ (_mix(lo ^ rk[r]) & mask), lo
            v = (hi << np.uint64(half)) | lo
            out[todo] = v
            todo[todo] = v >= np.uint64(n)  # cycle walking: apply again until inside [0, n)
    return out.astype(np.int64)[inv.reshape(x.shape)]


def _units(m: int) -> np.ndarray:
    """The multipliers a in [1, m) coprime to m (m = 1: [1])."""
    a = np.arange(1, max(m, 2), dtype=np.int64)
    return a[np.gcd(a, m) == 1] if m > 1 else np.array([1], dtype=np.int64)


class EpochOrder:
    """The sample at each position of one epoch: positions -> sample indices in [0, n)."""

    def __init__(self, n: int, block: int, seed: int, epoch: int):
        self.n, self.block = int(n), int(block)
        self.full = self.n // self.block
        self.seed, self.epoch = int(seed), int(epoch)
        self.k_blocks = key(seed, epoch, 0xB10C)
        self.k_inner = key(seed, epoch, 0x5A3F)
        self._unit_cache: dict = {}

    def _affine(self, j, size: int, o) -> np.ndarray:
        """(a_j o + c_j) mod size for blocks j of `size` samples: a_j coprime to size, from the key."""
        j = np.asarray(j, dtype=np.int64)
        with np.errstate(over="ignore"):
            h = _mix(np.uint64(self.k_inner) ^ _mix(j.astype(np.uint64)))
        units = self._unit_cache.get(size)
        if units is None:
            units = self._unit_cache[size] = _units(size)
        a = units[(h >> np.uint64(32)) % np.uint64(len(units))]
        c = (h % np.uint64(size)).astype(np.int64)
        return (a * np.asarray(o, dtype=np.int64) + c) % size

    def samples(self, positions) -> np.ndarray:
        """Sample index at each position (int64 array in [0, n))."""
        p = np.asarray(positions, dtype=np.int64)
        if p.size and (p.min() < 0 or p.max() >= self.n):
            raise ValueError(f"positions must lie in [0, {self.n})")
        out = np.empty_like(p)
        K, nf = self.block, self.full
        in_full = p < nf * K
        q, o = p[in_full] // K, p[in_full] % K
        j = permute(q, nf, self.k_blocks) if nf else q
        out[in_full] = j * K + self._affine(j, K, o)
        rest = ~in_full
        if rest.any():
            r = self.n - nf * K
            out[rest] = nf * K + self._affine(np.full(int(rest.sum()), nf), r, p[rest] - nf * K)
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
