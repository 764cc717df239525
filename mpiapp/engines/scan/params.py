"""Scan parameters: the `scan.*` config section as one frozen, hashable value."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ...kernels.windows import window_step


@dataclass(frozen=True)
class ScanParams:
    pivot_mode: str = "percent"
    pivot_pct: float = 0.03
    atr_period: int = 14
    atr_multiple: float = 2.0
    window_bars: int = 500
    window_overlap_ratio: float = 0.98
    max_windows: int = 500
    skip_flat_windows: bool = True
    flat_min_volatility: float = 0.002
    flat_min_range: float = 0.05
    flat_min_pivots: int = 6
    scan_pattern_types: tuple = ("bullish", "bearish")
    up_to: int = 2
    enable_multi_start: bool = True
    max_start_points: int = 3
    max_combinations: int = 100_000
    top_k: int = 5
    rule_no_truncation: bool = True
    weight_fib: float = 0.40
    weight_time: float = 0.20
    weight_alternation: float = 0.20
    weight_channel: float = 0.20
    fib_tolerance: float = 0.05
    backend: str = "auto"
    gpu_batch_size: int = 65536

    def __post_init__(self):
        object.__setattr__(self, "scan_pattern_types", tuple(self.scan_pattern_types))
        bad = set(self.scan_pattern_types) - {"bullish", "bearish"}
        if bad or not self.scan_pattern_types:
            raise ValueError("scan_pattern_types must be drawn from bullish, bearish: "
                             f"{self.scan_pattern_types}")
        if self.window_bars < 6:
            raise ValueError(f"window_bars must be >= 6, not {self.window_bars}")
        if sum(self.raw_weights) <= 0:
            raise ValueError("the four score weights must not all be 0")

    @classmethod
    def from_config(cls, section, **overrides) -> "ScanParams":
        """From a config section (`mpiapp.config.load().scan`, or any mapping with these keys);
        keys the section lacks take the schema defaults; keyword overrides win."""
        names = {f.name for f in fields(cls)}
        vals = {k: section[k] for k in section if k in names} if hasattr(section, "keys") else {}
        vals.update(overrides)
        return cls(**vals)

    @property
    def directions(self) -> tuple:
        """(+1 for bullish, -1 for bearish) in that fixed order, whatever the config order."""
        return tuple(d for d, n in ((1, "bullish"), (-1, "bearish")) if n in self.scan_pattern_types)

    @property
    def n_starts(self) -> int:
        """Start points per window and direction."""
        return self.max_start_points if self.enable_multi_start else 1

    @property
    def step(self) -> int:
        return window_step(self.window_bars, self.window_overlap_ratio)

    @property
    def raw_weights(self) -> tuple:
        return (self.weight_fib, self.weight_time, self.weight_alternation, self.weight_channel)

    @property
    def weights(self) -> tuple:
        """The four weights divided by their sum (S stays in [0, 1])."""
        s = ((self.weight_fib + self.weight_time) + self.weight_alternation) + self.weight_channel
        return tuple(w / s for w in self.raw_weights)

    def kernel_args(self) -> dict:
        """Keyword arguments of the kernels' scan_windows."""
        return dict(directions=self.directions, n_starts=self.n_starts, up_to=self.up_to,
                    budget=self.max_combinations, top_k=self.top_k,
                    rule_r4=self.rule_no_truncation, tol=self.fib_tolerance, weights=self.weights)
