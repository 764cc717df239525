"""Configuration: one typed schema, YAML presets, `--set key.path=value` overrides.

Why one schema: every key has a type, a range, a default and a line of documentation in one place,
so validation, the reference table (docs/config.md) and the defaults can never drift apart. An
unknown key is an error that names the nearest valid key. Files are read with `yaml.safe_load` only.
"""

from __future__ import annotations

import copy
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Where the presets live (a checkout's configs/ folder); `--config NAME` looks here too.
PRESET_DIR = Path(__file__).resolve().parent.parent / "configs"


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message names the key and what is allowed."""


@dataclass(frozen=True)
class Key:
    path: str
    type: type | tuple
    default: Any
    doc: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple | None = None
    item_choices: tuple | None = None  # for list-valued keys
    nullable: bool = False

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        if self.item_choices is not None:
            return "a list drawn from " + ", ".join(map(repr, self.item_choices))
        tname = _type_name(self.type)
        if self.lo is not None or self.hi is not None:
            lo = "-inf" if self.lo is None else self.lo
            hi = "inf" if self.hi is None else self.hi
            return f"{tname} in [{lo}, {hi}]"
        return tname + (" or null" if self.nullable else "")


def _type_name(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__


# fmt: off
SCHEMA: tuple[Key, ...] = (
    # --- runtime: MPI, threads, logging --------------------------------------------------------
    Key("runtime.mpi_thread_level", str, "funneled",
        "MPI thread level requested at init (mpi4py.rc.thread_level); env MPIAPP_MPI_THREAD_LEVEL",
        choices=("single", "funneled", "serialized", "multiple")),
    Key("runtime.threads_per_rank", int, 0,
        "compute threads per rank; 0 = node CPUs divided by ranks on the node (affinity/cgroup aware); "
        "env MPIAPP_THREADS", lo=0, hi=4096),
    Key("runtime.numba_threading_layer", str, "omp",
        "Numba threading layer (omp, workqueue, default)", choices=("omp", "workqueue", "tbb", "default")),
    Key("runtime.log_level", str, "info", "log level; env MPIAPP_LOG_LEVEL",
        choices=("debug", "info", "warning", "error")),
    Key("runtime.log_all_ranks", bool, False,
        "log from every rank (rank prefix on each line), not only rank 0; env MPIAPP_LOG_ALL_RANKS"),
    # --- score job: distribution, results file ---------------------------------------------------
    Key("score.partition", str, "static",
        "static: cost-balanced plan scattered by rank 0; dynamic: units claimed from an RMA counter",
        choices=("static", "dynamic")),
    Key("score.plan_strategy", str, "lpt", "static plan: lpt (cost-balanced), block or cyclic",
        choices=("lpt", "block", "cyclic")),
    Key("score.unit_windows", int, 100,
        "windows per work unit: longer symbols are split into window ranges", lo=1),
    Key("score.shared_memory", bool, True,
        "price arrays once per node in an MPI-3 shared-memory window, not once per rank"),
    Key("score.commit_interval_s", float, 5.0,
        "seconds between collective commits of finished units to the .partial file", lo=0.0, hi=86400.0),
    Key("score.progress", str, "auto", "progress bar on rank 0: auto = only when stderr is a terminal",
        choices=("auto", "on", "off")),
    Key("score.summary_top", int, 10, "patterns listed in the end-of-run summary", lo=0, hi=10_000),
    Key("output.path", str, "results/score.h5", "results file (written as PATH.partial, renamed when complete)"),
    Key("output.hdf5_mpi", str, "auto",
        "auto: collective writes (driver=mpio) when h5py has MPI; off: gather to rank 0 (recorded in the file)",
        choices=("auto", "off")),
    # --- data ------------------------------------------------------------------------------------
    Key("data.source", str, "builtin:all",
        "builtin:NAME|all, csv:DIR, parquet:DIR, hdf5:FILE or synthetic:N"),
    Key("data.skip_bad_symbols", bool, False,
        "skip (and record) symbols that fail validation instead of stopping the job"),
    Key("data.seed", int, 0, "seed of the synthetic universe", lo=0),
    Key("data.synthetic_bars", int, 2000, "bars per synthetic symbol", lo=10, hi=10_000_000),
    Key("data.synthetic_plant_rate", float, 1.0,
        "planted impulses per 1,000 synthetic bars", lo=0.0, hi=100.0),
    Key("data.synthetic_noise", float, 0.1,
        "noise of planted impulses, relative to the wave length", lo=0.0, hi=1.0),
    # --- scan: pivots ----------------------------------------------------------------------------
    Key("scan.pivot_mode", str, "percent", "zig-zag reversal threshold kind", choices=("percent", "atr")),
    Key("scan.pivot_pct", float, 0.03, "reversal threshold as a fraction of price (pivot_mode=percent)",
        lo=1e-6, hi=10.0),
    Key("scan.atr_period", int, 14, "ATR period (pivot_mode=atr)", lo=1, hi=10_000),
    Key("scan.atr_multiple", float, 2.0, "reversal threshold in ATRs (pivot_mode=atr)", lo=1e-6, hi=1000.0),
    # --- scan: windows ---------------------------------------------------------------------------
    Key("scan.window_bars", int, 500, "bars per window", lo=6, hi=10_000_000),
    Key("scan.window_overlap_ratio", float, 0.98,
        "overlap of consecutive windows; step = max(1, window_bars*(1-ratio))", lo=0.0, hi=1.0),
    Key("scan.max_windows", int, 500, "at most this many windows per symbol", lo=1),
    Key("scan.skip_flat_windows", bool, True, "skip windows that cannot hold an impulse (pre-filter)"),
    Key("scan.flat_min_volatility", float, 0.002,
        "pre-filter: minimum std of log returns in a window", lo=0.0),
    Key("scan.flat_min_range", float, 0.05,
        "pre-filter: minimum (max High - min Low) / min Low in a window", lo=0.0),
    Key("scan.flat_min_pivots", int, 6, "pre-filter: minimum pivots in a window", lo=0),
    # --- scan: candidates ------------------------------------------------------------------------
    Key("scan.scan_pattern_types", list, ["bullish", "bearish"], "directions to scan",
        item_choices=("bullish", "bearish")),
    Key("scan.up_to", int, 2, "a wave may skip up to this many intermediate swings", lo=0, hi=64),
    Key("scan.enable_multi_start", bool, True, "false: only the single most extreme start pivot"),
    Key("scan.max_start_points", int, 0,
        "0: every pivot of a window may start an impulse; N: only its N most extreme per direction",
        lo=0, hi=10_000),
    # --- scan: added by the scan engine (issue 13); one block ------------------------------------
    Key("scan.start_swing_ratio", float, 0.382,
        "start rule: the swing that ended at p0 must be >= this x wave 1 (0: no rule)",
        lo=0.0, hi=100.0),
    Key("scan.null_samples", int, 0,
        "surrogate series per symbol for each pattern's p-value (0: off; cost ~ that many scans)",
        lo=0, hi=100_000),
    Key("scan.null_block_bars", float, 20.0,
        "mean block length (bars) of the stationary bootstrap that builds the surrogates", lo=1.0,
        hi=1e9),
    Key("scan.null_seed", int, 0, "seed of the surrogates (with the symbol's name)", lo=0),
    Key("scan.null_statistic", str, "strength",
        "what the p-value ranks: strength = score x wave efficiency, or score",
        choices=("strength", "score")),
    Key("scan.max_combinations", int, 100_000, "candidate budget per window (flagged when hit)", lo=1),
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
)
# fmt: on

KEYS: dict[str, Key] = {k.path: k for k in SCHEMA}

#: Environment variables that mirror keys (applied after files, before --set).
ENV_MIRRORS = {
    "MPIAPP_MPI_THREAD_LEVEL": "runtime.mpi_thread_level",
    "MPIAPP_THREADS": "runtime.threads_per_rank",
    "MPIAPP_LOG_LEVEL": "runtime.log_level",
    "MPIAPP_LOG_ALL_RANKS": "runtime.log_all_ranks",
}


class Section(dict):
    """A dict whose keys also read as attributes: cfg.scan.window_bars."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def defaults() -> Section:
    tree: dict = {}
    for k in SCHEMA:
        _put(tree, k.path, copy.deepcopy(k.default))
    return _sections(tree)


def _put(tree: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[leaf] = value


def _sections(tree: dict) -> Section:
    return Section({k: _sections(v) if isinstance(v, dict) else v for k, v in tree.items()})


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in tree.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and not any(key.path == path for key in SCHEMA):
            out.update(_flatten(v, path + "."))
        else:
            out[path] = v
    return out


def _unknown(path: str, origin: str) -> ConfigError:
    near = difflib.get_close_matches(path, KEYS, n=1, cutoff=0.5)
    if not near:  # a misspelt leaf under a right section still deserves a suggestion
        leaf = path.rsplit(".", 1)[-1]
        leaves = {k.rsplit(".", 1)[-1]: k for k in KEYS}
        near = [leaves[m] for m in difflib.get_close_matches(leaf, leaves, n=1, cutoff=0.6)]
    hint = f"; did you mean '{near[0]}'?" if near else ""
    return ConfigError(f"{origin}: unknown key '{path}'{hint}")


def coerce(key: Key, value, origin: str):
    """Check (and for strings from --set / env, convert) one value; raise naming key and range."""
    where = f"{origin}: {key.path}"
    if value is None and key.nullable:
        return None
    if isinstance(value, str) and key.type is not str:
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where}: cannot parse {value!r}: {exc}") from None
    if key.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, key.type) and not (key.type in (int, float) and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{where} = {value!r} has type {type(value).__name__}; expected {key.allowed()}")
    if key.choices is not None and value not in key.choices:
        raise ConfigError(f"{where} = {value!r} is not allowed; expected {key.allowed()}")
    if key.item_choices is not None:
        bad = [v for v in value if v not in key.item_choices]
        if bad or not value:
            raise ConfigError(f"{where} = {value!r} is not allowed; expected {key.allowed()} (non-empty)")
    if (key.lo is not None and value < key.lo) or (key.hi is not None and value > key.hi):
        raise ConfigError(f"{where} = {value!r} is out of range; expected {key.allowed()}")
    return value


def _resolve_file(name: str | os.PathLike) -> Path:
    p = Path(name)
    if p.exists():
        return p
    for cand in (PRESET_DIR / name, PRESET_DIR / f"{name}.yaml"):
        if cand.exists():
            return cand
    raise ConfigError(f"config file not found: {name} (presets: {', '.join(presets())})")


def presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) if PRESET_DIR.is_dir() else []


def load(files=(), overrides=(), env=None) -> Section:
    """Defaults, then each YAML file in order, then environment mirrors, then `key.path=value` strings."""
    flat = _flatten(defaults())
    for f in files or ():
        path = _resolve_file(f)
        _apply_yaml(flat, path.read_text(), str(path))
    env = os.environ if env is None else env
    for var, k in ENV_MIRRORS.items():
        if env.get(var, "") != "":
            flat[k] = coerce(KEYS[k], env[var], f"environment {var}")
    for item in overrides or ():
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        k, v = item.split("=", 1)
        k = k.strip()
        if k not in KEYS:
            raise _unknown(k, "--set")
        flat[k] = coerce(KEYS[k], v, "--set")
    return _build(flat)


def _apply_yaml(flat: dict, text: str, origin: str) -> None:
    try:
        tree = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level")
    for k, v in _flatten(tree).items():
        if k not in KEYS:
            raise _unknown(k, origin)
        flat[k] = coerce(KEYS[k], v, origin)


def _build(flat: dict) -> Section:
    tree: dict = {}
    for k, v in flat.items():
        _put(tree, k, v)
    cfg = _sections(tree)
    _check_cross(cfg)
    return cfg


def loads(text: str, origin: str = "<string>") -> Section:
    """A config from YAML text (e.g. the effective config stored in a results file)."""
    flat = _flatten(defaults())
    _apply_yaml(flat, text, origin)
    return _build(flat)


def _check_cross(cfg: Section) -> None:
    s = cfg.scan
    total = s.weight_fib + s.weight_time + s.weight_alternation + s.weight_channel
    if total <= 0:
        raise ConfigError("scan.weight_*: the four score weights must not all be 0")


def to_plain(cfg) -> dict:
    return {k: to_plain(v) if isinstance(v, dict) else v for k, v in cfg.items()}


def dump(cfg) -> str:
    """The effective config as YAML (what results files carry in their attributes)."""
    return yaml.safe_dump(to_plain(cfg), sort_keys=True)


def reference_markdown() -> str:
    """The key reference table (docs/config.md is this text; a test keeps them equal)."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `mpiapp/config.py` (`python -m mpiapp.config --reference`). Set keys in a YAML",
        "file (`--config FILE`), with `--set key.path=value`, or for the keys marked env, with the",
        "environment variable named.",
        "",
        "| key | default | allowed | meaning |",
        "|---|---|---|---|",
    ]
    for k in SCHEMA:
        lines.append(f"| `{k.path}` | `{k.default!r}` | {k.allowed()} | {k.doc} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m mpiapp.config", description="show or check configuration")
    ap.add_argument("--config", action="append", default=[], metavar="FILE")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    ap.add_argument("--reference", action="store_true", help="print the key reference (Markdown)")
    a = ap.parse_args(argv)
    if a.reference:
        print(reference_markdown(), end="")
        return 0
    try:
        print(dump(load(a.config, a.overrides)), end="")
    except ConfigError as exc:
        print(f"mpiapp: config error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
