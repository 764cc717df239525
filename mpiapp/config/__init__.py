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
job; each job has its own (scan, ...). A section module declares its keys (`KEYS`, mpiapp.config.keys.Key:
type, bounds, choices, items of a list, a job's own default of a shared key) and its cross-key rules
(`CHECKS`: section path -> function of that section's values, raising ConfigError). This module
assembles them and loads configurations; the params object each engine reads is generated from the
same declarations (mpiapp.config.params.Params), so neither a default nor a rule is written twice.

A job loads its configuration with `load(..., job=NAME)`: a key's `by_job` default for that job
replaces the key's own before any file is read (the pooled model reads the 20 S&P 500 stocks by
default, the scan every embedded series).
"""

from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Any

import yaml

from .. import exits
from . import data, ddp, hpo, optbench, output, runtime, scan, train, work
from .keys import INT_LIMIT, ConfigError, Items, Key  # noqa: F401  (part of the public face)

#: a config file larger than this is not a config (a data file given by mistake)
MAX_CONFIG_BYTES = 1 << 20

#: Where the presets live: inside the package (mpiapp/configs), so a non-editable install finds
#: `--config high_perf` too; a checkout's top-level configs/ is a link to it.
PRESET_DIR = Path(__file__).resolve().parent.parent / "configs"


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


def defaults(job: str | None = None) -> Section:
    """Every key's default; with `job`, that job's own default where a key has one (Key.by_job)."""
    tree: dict = {}
    for k in SCHEMA:
        _put(tree, k.path, copy.deepcopy(k.default_for(job)))
    return _sections(tree)


def section_checks(path: str) -> list:
    """The cross-key rules of the section at `path` (e.g. "scan", "train.cv"): functions of its values."""
    return [fn for section in SECTIONS for p, fn in getattr(section, "CHECKS", {}).items() if p == path]


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
    if isinstance(value, str) and key.type is not str:
        try:
            value = yaml_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{origin}: {key.path}: cannot parse {value!r}: {yaml_problem(exc)}") from None
    return key.check(value, origin)


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
        raise ConfigError(f"config file {path}: larger than {MAX_CONFIG_BYTES >> 20} MiB; not a YAML config")
    if b"\0" in data:
        at = data.index(b"\0")
        raise ConfigError(f"config file {path}: not a text file (NUL byte at byte {at}); expected YAML")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start}); expected YAML") from None


def files(names) -> list[str]:
    """The paths of the config files `names` name (presets included), as load() reads them."""
    return [str(_resolve_file(n)) for n in names or ()]


def presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) if PRESET_DIR.is_dir() else []


def load(files=(), overrides=(), env=None, job: str | None = None) -> Section:
    """Defaults (`job`'s own where a key has one), then each YAML file in order, then environment
    mirrors, then `key.path=value` strings. Raises ConfigError."""
    flat = _flatten(defaults(job))
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
            raise DuplicateKey(
                f"key {key!r} is given twice (lines {first} and {key_node.start_mark.line + 1}); "
                "give each key once"
            )
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


def loads(text: str, origin: str = "<string>", job: str | None = None) -> Section:
    """A config from YAML text (e.g. the effective config stored in a results file)."""
    flat = _flatten(defaults(job))
    _apply_yaml(flat, text, origin)
    return _build(flat)


def _check_cross(cfg: Section) -> None:
    """Every section's cross-key rules (the section modules' CHECKS)."""
    for section in SECTIONS:
        for path, check in getattr(section, "CHECKS", {}).items():
            values = cfg
            for part in path.split("."):
                values = values[part]
            check(values)


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
        default = f"`{k.default!r}`" + "".join(f"; {job}: `{v!r}`" for job, v in k.by_job)
        lines.append(f"| `{k.path}` | {default} | {k.allowed()} | {k.doc} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m mpiapp.config", description="show or check configuration")
    ap.add_argument("--config", action="append", default=[], metavar="FILE")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    ap.add_argument("--job", help="the job whose own defaults apply (e.g. ddp)")
    ap.add_argument("--reference", action="store_true", help="print the key reference (Markdown)")
    a = ap.parse_args(argv)
    if a.reference:
        print(reference_markdown(), end="")
        return exits.OK
    try:
        print(dump(load(a.config, a.overrides, job=a.job)), end="")
    except ConfigError as exc:
        print(f"mpiapp: config error: {exc}")
        return exits.USAGE
    return exits.OK
