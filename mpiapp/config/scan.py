"""`scan.*`: the Elliott-wave impulse scan (pivots, windows, candidates, score, backend); docs/scan.md."""

from .keys import ConfigError, Items, Key

# fmt: off
KEYS = (
    # --- scan: pivots ----------------------------------------------------------------------------
    Key("scan.pivot_mode", str, "percent", "zig-zag reversal threshold kind", choices=("percent", "atr")),
    Key("scan.pivot_pct", float, 0.03,
        "reversal threshold as a fraction of price (pivot_mode=percent), for a series of volatility "
        "scan.scale_reference when scan.scale=volatility", lo=1e-6, hi=10.0),
    Key("scan.atr_period", int, 14, "ATR period (pivot_mode=atr)", lo=1, hi=10_000),
    Key("scan.atr_multiple", float, 2.0, "reversal threshold in ATRs (pivot_mode=atr)", lo=1e-6, hi=1000.0),
    Key("scan.scale", str, "volatility",
        "volatility: pivot_pct, flat_min_volatility and flat_min_range follow each symbol's own "
        "trailing volatility (x sigma / scan.scale_reference); fixed: used as given (daily-bar numbers)",
        choices=("volatility", "fixed")),
    Key("scan.scale_reference", float, 0.010,
        "the volatility (std of log Close returns per bar) the fixed numbers are made for: the S&P 500's "
        "median over 500-bar stretches of daily bars, 1999-2018", lo=1e-9, hi=10.0),
    Key("scan.scale_bars", int, 500, "bars of the trailing volatility (scan.scale=volatility)",
        lo=20, hi=10_000_000),
    # --- scan: windows ---------------------------------------------------------------------------
    Key("scan.window_bars", int, 500, "bars per window", lo=6, hi=10_000_000),
    Key("scan.window_overlap_ratio", float, 0.98,
        "overlap of consecutive windows; step = max(1, window_bars*(1-ratio))", lo=0.0, hi=1.0),
    Key("scan.max_windows", int, 500,
        "at most this many windows per symbol: the most recent of the fixed grid (older ones dropped)",
        lo=1),
    Key("scan.skip_flat_windows", bool, True, "skip windows that cannot hold an impulse (pre-filter)"),
    Key("scan.flat_min_volatility", float, 0.002,
        "pre-filter: minimum std of log returns in a window (scaled like pivot_pct)", lo=0.0),
    Key("scan.flat_min_range", float, 0.05,
        "pre-filter: minimum (max High - min Low) / min Low in a window (scaled like pivot_pct)",
        lo=0.0),
    Key("scan.flat_min_pivots", int, 6, "pre-filter: minimum pivots in a window", lo=0),
    # --- scan: candidates ------------------------------------------------------------------------
    Key("scan.scan_pattern_types", list, ["bullish", "bearish"], "directions to scan",
        items=Items(str, choices=("bullish", "bearish"))),
    Key("scan.up_to", int, 2, "a wave may skip up to this many intermediate swings", lo=0, hi=64),
    Key("scan.enable_multi_start", bool, True, "false: only the single most extreme start pivot"),
    Key("scan.max_start_points", int, 0,
        "0: every pivot of a window may start an impulse; N: only its N most extreme per direction",
        lo=0, hi=10_000),
    Key("scan.start_swing_ratio", float, None,
        "start rule: the swing that ended at p0 must be >= this x wave 1 (0: no rule; null: the "
        "smallest wave the Fibonacci bands accept, (0.236 - fib_tolerance) x (1 - fib_tolerance))",
        lo=0.0, hi=100.0, nullable=True),
    Key("scan.max_combinations", int, 100_000,
        "budget per window: complete six-pivot sequences whose waves pass the validity rule, in the "
        "fixed order (the window is flagged truncated when hit)", lo=1),
    Key("scan.top_k", int, 5, "patterns kept per window", lo=1, hi=10_000),
    Key("scan.rule_no_truncation", bool, True, "R4: waves 3 and 5 must pass the ends of waves 1 and 3"),
    # --- scan: score -----------------------------------------------------------------------------
    Key("scan.weight_fib", float, 0.40, "weight of the Fibonacci term F", lo=0.0, hi=1.0),
    Key("scan.weight_time", float, 0.20, "weight of the time term T", lo=0.0, hi=1.0),
    Key("scan.weight_alternation", float, 0.20, "weight of the alternation term A", lo=0.0, hi=1.0),
    Key("scan.weight_channel", float, 0.20, "weight of the channel term C", lo=0.0, hi=1.0),
    Key("scan.fib_tolerance", float, 0.05, "ratio tolerance outside each Fibonacci band", lo=0.0, hi=1.0),
    # --- scan: backend ---------------------------------------------------------------------------
    Key("scan.backend", str, "auto", "auto: cupy when a GPU is usable, else numba",
        choices=("auto", "numpy", "numba", "cupy")),
    Key("scan.gpu_batch_size", int, 65536, "candidates per batch on the array-module (cupy) path",
        lo=1, hi=1 << 30),
    # --- scan: significance against surrogates of the symbol's own bars (docs/scan.md) ------------
    Key("scan.null_samples", int, 0,
        "surrogate series per symbol for each pattern's p-value (0: off; cost ~ that many scans)",
        lo=0, hi=100_000),
    Key("scan.null_block_bars", float, 20.0,
        "mean block length (bars) of the stationary bootstrap that builds the surrogates", lo=1.0,
        hi=1e9),
    Key("scan.null_seed", int, 0, "seed of the surrogates (with the symbol's name)", lo=0),
    # --- scan: live counts and their walk-forward outcomes (docs/scan.md "Live counts") ------------
    Key("scan.live_top", int, 3, "live counts kept per symbol and degree (0: no live table)", lo=0,
        hi=1000),
    Key("scan.live_degrees", list, [1.0, 2.0],
        "degrees of the live count: multiples of the scan's zig-zag threshold (which follows the "
        "series' scale), ascending",
        items=Items(float, lo=0.0, hi=1000.0, lo_open=True, max_len=8, ascending=True)),
    Key("scan.outcomes", bool, False,
        "walk-forward outcome study: every count that was live, at its known_bar, and what followed"),
    Key("scan.outcome_bars", int, 200, "outcome study: bars followed after a count's known_bar",
        lo=1, hi=10_000_000),
    Key("scan.outcome_surrogates", int, 10,
        "outcome study: block-bootstrap surrogates of each symbol for the rates under the null "
        "(the p-value's surrogates: scan.null_block_bars, scan.null_seed)", lo=0, hi=100_000),
    Key("scan.fdr_method", str, "by",
        "false-discovery control over the run's windows (one test per scanned window): by = "
        "Benjamini-Yekutieli (any dependence), bh = Benjamini-Hochberg", choices=("by", "bh")),
    Key("scan.fdr_alpha", float, 0.05,
        "FDR level the summary counts discoveries at (and warns when no p-value could reach it)",
        lo=1e-12, hi=1.0),
    Key("scan.null_statistic", str, "strength",
        "what the p-value ranks: strength = score x wave efficiency, or score",
        choices=("strength", "score")),
)
# fmt: on


def _weights(s) -> None:
    if s.weight_fib + s.weight_time + s.weight_alternation + s.weight_channel <= 0:
        raise ConfigError("scan.weight_*: the four score weights must not all be 0")


#: cross-key rules: section path -> function of that section's values (config.load and ScanParams)
CHECKS = {"scan": _weights}
