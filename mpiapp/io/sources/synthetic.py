"""synthetic:N — N seeded symbols with planted impulses (the generator is io/synthetic.py).

A symbol is generated on demand from (seed, its index): any rank loads any subset, in any order,
with the same bars.
"""

from __future__ import annotations

from .. import synthetic as _syn
from ..validate import check_arrays
from .base import Source, _fresh


class SyntheticSource(Source):
    kind = "synthetic"

    def __init__(self, spec: str, n: int, *, seed=0, bars=2000, plant_rate=1.0, noise=0.1, **kw):
        super().__init__(spec, **kw)
        self.n, self.seed, self.bars = int(n), int(seed), int(bars)
        self.plant_rate, self.noise = float(plant_rate), float(noise)
        self._list = [_syn.symbol_name(i, self.n) for i in range(self.n)]

    def _names(self):
        return self._list

    def _name_set(self):
        return self

    def __contains__(self, name):  # O(1) membership without building a set of N names
        try:
            _syn.symbol_index(name, self.n)
            return True
        except KeyError:
            return False

    def _count(self, name):
        return self.bars

    def _gen(self, name):
        return _syn.generate(
            self.seed, _syn.symbol_index(name, self.n), self.bars, self.plant_rate, self.noise, self.n
        )

    def _read(self, name, min_bars):
        s, _ = self._gen(name)
        s = check_arrays(
            s.symbol,
            s.origin,
            s.time,
            s.open,
            s.high,
            s.low,
            s.close,
            volume=s.volume,
            has_ohlc=True,
            min_bars=min_bars,
        )
        return _fresh(s)

    def truth(self, name: str) -> tuple:
        """The impulses planted in one symbol (synthetic.Impulse: direction, t0..t5, p0..p5)."""
        self._check_name(name)
        return self._gen(name)[1]

    def describe(self):
        return (
            f"{super().describe()} (seed {self.seed}, {self.bars} bars each, "
            f"{self.plant_rate:g} planted impulses per 1,000 bars, noise {self.noise:g})"
        )
