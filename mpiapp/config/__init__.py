"""Configuration: one typed schema, YAML presets, `--set key.path=value` overrides.

Why one schema: every key has a type, a range, a default and a line of documentation in one place,
so validation, the reference table (docs/config.md) and the defaults can never drift apart. An
unknown key is an error that names the nearest valid key (or, for a key that moved, its new place).
Files are read with `yaml.safe_load` only.

Values that could only give a wrong result are refused (ConfigError, exit 2 in every job): NaN and
infinities for float keys; an int key without its own upper bound stays within INT_LIMIT (1e18, what
int64 kernels and columns hold with room to spare). A config path that is a folder, binary, not
UTF-8 or larger than 1 MiB is one error line, never a traceback; so is a key given twice in one
mapping (YAML requires unique keys; PyYAML alone would keep the last silently).

The schema is split by section, one module each: runtime, work, output and data are shared by every
job; each job has its own (scan, ...). This module assembles them and loads configurations.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
from pathlib import Path
from typing import Any

import yaml

from . import data, ddp, hpo, optbench, output, runtime, scan, train, work
from .keys import INT_LIMIT, Key  # noqa: F401  (INT_LIMIT: part of the public face)

#: a config file larger than this is not a config (a data file given by mistake)
MAX_CONFIG_BYTES = 1 << 20

#: Where the presets live: inside the package (mpiapp/configs), so a non-editable install finds
#: `--config high_perf` too; a checkout's top-level configs/ is a link to it.
PRESET_DIR = Path(__file__).resolve().parent.parent / "configs"


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message names the key and what is allowed."""


#: The sections, in the order the reference lists them: shared ones first, then one per job.
SECTIONS = (runtime, work, output, data, scan, train, optbench, hpo, ddp)
SCHEMA: tuple[Key, ...] = tuple(k for section in SECTIONS for k in section.KEYS)

#: Keys that moved: old path -> new path (an old key in a file or --set is an error naming the new one).
MOVED = {
    "score.partition": "work.partition",
    "score.plan_strategy": "work.plan_strategy",
    "score.unit_windows": "work.unit_size",
    "score.shared_memory": "work.shared_memory",
    "score.commit_interval_s": "work.commit_interval_s",
    "score.progress": "work.progress",
    "score.summary_top": "output.summary_top",
}

KEYS: dict[str, Key] = {k.path: k for k in SCHEMA}

#: Environment variables that mirror keys (applied after files, before --set).
ENV_MIRRORS = {
    "MPIAPP_MPI_THREAD_LEVEL": "runtime.mpi_thread_level",
    "MPIAPP_THREADS": "runtime.threads_per_rank",
    "MPIAPP_WORK_COUNTER": "runtime.work_counter",
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
    if path in MOVED:
        return ConfigError(f"{origin}: key '{path}' has moved to '{MOVED[path]}'")
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
            value = yaml_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where}: cannot parse {value!r}: {yaml_problem(exc)}") from None
    if key.type is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise ConfigError(f"{where} = {value!r} is out of range; expected {key.allowed()}") from None
    ok = isinstance(value, key.type) and not (key.type in (int, float) and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{where} = {value!r} has type {type(value).__name__}; expected {key.allowed()}")
    if key.choices is not None and isinstance(value, str) and value not in key.choices \
            and value.lower() in key.choices:
        value = value.lower()  # the choices are lower-case words: DEBUG means debug
    if key.choices is not None and value not in key.choices:
        raise ConfigError(f"{where} = {value!r} is not allowed; expected {key.allowed()}")
    if key.item_choices is not None:
        bad = [v for v in value if v not in key.item_choices]
        if bad or not value:
            raise ConfigError(f"{where} = {value!r} is not allowed; expected {key.allowed()} (non-empty)")
    if key.type is float and not math.isfinite(value):
        raise ConfigError(f"{where} = {value!r} is not a finite number; expected {key.allowed()}")
    lo, hi = key.bounds()
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{where} = {value!r} is out of range; expected {key.allowed()}")
    if key.type is str and "\0" in value:
        raise ConfigError(f"{where}: the value holds a NUL character")
    return value


def _resolve_file(name: str | os.PathLike) -> Path:
    try:
        p = Path(name)
        exists = p.exists()
    except (ValueError, OSError) as exc:  # a NUL in the name, a name too long
        raise ConfigError(f"config file {str(name)!r}: {exc}") from None
    if exists:
        if p.is_dir():
            raise ConfigError(f"config file {name}: is a folder, not a YAML file")
        return p
    for cand in (PRESET_DIR / name, PRESET_DIR / f"{name}.yaml"):
        if cand.exists():
            return cand
    raise ConfigError(f"config file not found: {name} (presets: {', '.join(presets())})")


def _read_text(path: Path) -> str:
    """A config file's text: UTF-8, no NUL bytes, at most MAX_CONFIG_BYTES; else ConfigError."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path}: larger than {MAX_CONFIG_BYTES >> 20} MiB; "
                          "not a YAML config")
    if b"\0" in data:
        at = data.index(b"\0")
        raise ConfigError(f"config file {path}: not a text file (NUL byte at byte {at}); "
                          "expected YAML")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start}); expected "
                          "YAML") from None


def files(names) -> list[str]:
    """The paths of the config files `names` name (presets included), as load() reads them."""
    return [str(_resolve_file(n)) for n in names or ()]


def presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) if PRESET_DIR.is_dir() else []


def load(files=(), overrides=(), env=None) -> Section:
    """Defaults, then each YAML file in order, then environment mirrors, then `key.path=value` strings."""
    flat = _flatten(defaults())
    for f in files or ():
        path = _resolve_file(f)
        _apply_yaml(flat, _read_text(path), str(path))
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


class DuplicateKey(yaml.YAMLError):
    """A mapping gives one key twice (YAML requires unique keys; PyYAML alone keeps the last)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping."""


def _unique_mapping(loader, node, deep=False):
    seen: dict = {}
    for key_node, _ in node.value:  # the mapping's own keys (a merged `<<` mapping may be overridden)
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:  # an unhashable key: the SafeLoader refuses it below
            continue
        if first != key_node.start_mark.line + 1:
            raise DuplicateKey(f"key {key!r} is given twice (lines {first} and {key_node.start_mark.line + 1}); "
                               "give each key once")  # fmt: skip
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def yaml_problem(exc) -> str:
    """A YAML error as one line: what is wrong and where (PyYAML's own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    what = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    ctx = getattr(exc, "context", None)
    return f"{what}{where}" + (f" ({ctx})" if ctx else "")


def yaml_load(text):
    """YAML text (or an open file) -> Python values: yaml.safe_load (no tags that build objects),
    refusing a key given twice in one mapping (DuplicateKey, a yaml.YAMLError)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  (a SafeLoader subclass)


def _apply_yaml(flat: dict, text: str, origin: str) -> None:
    try:
        tree = yaml_load(text) or {}
    except DuplicateKey as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {yaml_problem(exc)}") from None
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
    deg = s.live_degrees
    if not deg or len(deg) > 8 or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                          and math.isfinite(x) and 0 < x <= 1000 for x in deg) \
            or any(b <= a for a, b in zip(deg, deg[1:])):
        raise ConfigError(f"scan.live_degrees = {deg!r}: expected 1 to 8 ascending multiples in (0, 1000]")
    hidden = cfg.train.mlp.hidden
    if not hidden or not all(isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 65536 for h in hidden):
        raise ConfigError(f"train.mlp.hidden = {hidden!r}: expected a non-empty list of widths in [1, 65536]")
    pens = cfg.train.ridge.penalties
    if not pens or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1e6 for v in pens):
        raise ConfigError(f"train.ridge.penalties = {pens!r}: expected a non-empty list of numbers in (0, 1e6]")
    cv = cfg.train.cv
    if cv.scheme == "walk_forward" and cv.window == "rolling" and cv.train_bars < cv.min_train:
        raise ConfigError(f"train.cv.train_bars = {cv.train_bars} < train.cv.min_train = {cv.min_train}: a rolling "
                          "window that short leaves every fold too few training samples")
    _check_ddp(cfg.ddp)


def _check_ddp(d) -> None:
    import datetime

    if not d.hidden or not all(isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 65536 for h in d.hidden):
        raise ConfigError(f"ddp.hidden = {d.hidden!r}: expected a non-empty list of widths in [1, 65536]")
    dates = {}
    for k in ("validation_from", "test_from"):
        v = d[k]
        if v is not None:
            try:
                dates[k] = datetime.date.fromisoformat(str(v))
            except ValueError:
                raise ConfigError(f"ddp.{k} = {v!r}: expected a date YYYY-MM-DD or null") from None
    if len(dates) == 2 and dates["validation_from"] >= dates["test_from"]:
        raise ConfigError(f"ddp.validation_from = {d.validation_from} must come before ddp.test_from = "
                          f"{d.test_from}")
    if d.validation_share + d.test_share >= 0.9:
        raise ConfigError(f"ddp.validation_share + ddp.test_share = {d.validation_share + d.test_share:g}: "
                          "leaves less than 10 % of the samples to train on")
    if d.batch_size < d.accumulation_steps:
        raise ConfigError(f"ddp.batch_size = {d.batch_size} < ddp.accumulation_steps = {d.accumulation_steps}: "
                          "every micro-batch needs a sample")


def output_path(cfg, job: str) -> str:
    """The results file of `job`: output.path, or results/<job>.h5 when it is null."""
    return cfg.output.path if cfg.output.path is not None else f"results/{job}.h5"


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
        "Generated from `mpiapp/config/` (one module per section) (`python -m mpiapp.config --reference`). Set keys in a YAML",
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
