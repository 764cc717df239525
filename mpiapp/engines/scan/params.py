"""Scan parameters: the `scan.*` config section as one frozen, hashable value."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ... import config as _config
from ...kernels.windows import window_step


def _default(name: str):
    d = _config.KEYS[f"scan.{name}"].default
    return tuple(d) if isinstance(d, list) else d


@dataclass(frozen=True)
class ScanParams:
    """Defaults are the schema's (mpiapp/config.py), so the two can never disagree."""

    pivot_mode: str = _default("pivot_mode")
    pivot_pct: float = _default("pivot_pct")
    atr_period: int = _default("atr_period")
    atr_multiple: float = _default("atr_multiple")
    scale: str = _default("scale")
    scale_reference: float = _default("scale_reference")
    scale_bars: int = _default("scale_bars")
    window_bars: int = _default("window_bars")
    window_overlap_ratio: float = _default("window_overlap_ratio")
    max_windows: int = _default("max_windows")
    skip_flat_windows: bool = _default("skip_flat_windows")
    flat_min_volatility: float = _default("flat_min_volatility")
    flat_min_range: float = _default("flat_min_range")
    flat_min_pivots: int = _default("flat_min_pivots")
    scan_pattern_types: tuple = _default("scan_pattern_types")
    up_to: int = _default("up_to")
    enable_multi_start: bool = _default("enable_multi_start")
    max_start_points: int = _default("max_start_points")
    start_swing_ratio: float = _default("start_swing_ratio")
    null_samples: int = _default("null_samples")
    null_block_bars: float = _default("null_block_bars")
    null_seed: int = _default("null_seed")
    null_statistic: str = _default("null_statistic")
    live_top: int = _default("live_top")
    live_degrees: tuple = _default("live_degrees")
    outcomes: bool = _default("outcomes")
    outcome_bars: int = _default("outcome_bars")
    outcome_surrogates: int = _default("outcome_surrogates")
    fdr_method: str = _default("fdr_method")  # read by the job's finalize (engines/scan/fdr.py)
    fdr_alpha: float = _default("fdr_alpha")
    max_combinations: int = _default("max_combinations")
    top_k: int = _default("top_k")
    rule_no_truncation: bool = _default("rule_no_truncation")
    weight_fib: float = _default("weight_fib")
    weight_time: float = _default("weight_time")
    weight_alternation: float = _default("weight_alternation")
    weight_channel: float = _default("weight_channel")
    fib_tolerance: float = _default("fib_tolerance")
    backend: str = _default("backend")
    gpu_batch_size: int = _default("gpu_batch_size")

    def __post_init__(self):
        object.__setattr__(self, "scan_pattern_types", tuple(self.scan_pattern_types))
        object.__setattr__(self, "live_degrees", tuple(float(x) for x in self.live_degrees))
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
        """Start points per window and direction: 0 = every pivot of the right kind; else the
        n most extreme (1 when enable_multi_start is false)."""
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

    @property
    def start_ratio(self) -> float:
        """The start rule's ratio: start_swing_ratio, or (null) the smallest wave the bands accept
        (kernels.score.smallest_wave)."""
        if self.start_swing_ratio is None:
            from ...kernels.score import smallest_wave

            return smallest_wave(self.fib_tolerance)
        return float(self.start_swing_ratio)

    @property
    def scaled(self) -> bool:
        """Thresholds follow each symbol's trailing volatility (scale = volatility)."""
        return self.scale == "volatility"

    def kernel_args(self) -> dict:
        """Keyword arguments of the kernels' scan_windows."""
        # the budget is an int64 in the kernels; 2**62 candidates are beyond any search
        return dict(directions=self.directions, n_starts=self.n_starts,
                    start_ratio=self.start_ratio, up_to=self.up_to,
                    budget=min(int(self.max_combinations), 2**62), top_k=self.top_k,
                    rule_r4=self.rule_no_truncation, tol=self.fib_tolerance, weights=self.weights)
