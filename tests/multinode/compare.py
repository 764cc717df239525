"""Two results files of the same command, compared table by table, column by column — what may differ
between a run on one host and the same run across hosts is left out, and said here.

Left out: the `profile` table (per-rank timings, hosts, memory) and optbench's `perf_profile` (made of
median wall-clock times to target); columns that are clock readings or memory measurements (seconds,
`*_s`, `time_to_*`, an optimizer curve's `time`, RSS, allocator peaks, cache bookkeeping); attributes
that say when, where and with how many ranks the file was made, the paths it names, and the OpenMP
runtimes in the order the process happened to load them.
"""

from __future__ import annotations

import re

import numpy as np

#: `perf_profile` is computed from the median times to target (Dolan & More over wall-clock times)
SKIP_TABLES = {"profile", "perf_profile"}
TIMING = re.compile(
    r"(_s|seconds|seconds_med|_us_med)$|^time_to_|rss|tracemalloc|^torch_(allocated|reserved)$"
    r"|^cupy_pool_|^nvml_process$|^cached$|^cache_key$"
)
TIMING_IN = {("curves", "time")}
#: when, where, how many ranks, which paths (the config names the output path)
SKIP_ATTRS = {
    "started",
    "finished",
    "wall_s",
    "hosts",
    "ranks",
    "config",
    "work_counter",
    "journal",
    "best_yaml",
    "feature_store",
    "threads_per_rank",
    "openmp_runtimes",
}


def read(path) -> tuple[dict, dict]:
    """({table: {column: array}} with plain datasets as {"": array}, attributes)."""
    import h5py

    tables = {}
    with h5py.File(path, "r") as f:
        for name, obj in f.items():
            if isinstance(obj, h5py.Group):
                tables[name] = {c: obj[c][()] for c in obj.keys()}
            else:
                tables[name] = {"": obj[()]}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return tables, attrs


def _same(x, y) -> bool:
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    return bool(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"))


def differences(a, b, skip_columns=()) -> list[str]:
    """What differs between results files `a` and `b` beyond what this module leaves out ([] = the same).

    skip_columns: more (table, column) pairs to leave out, each with its reason at the caller."""
    ta, aa = read(a)
    tb, ab = read(b)
    out = []
    if set(ta) != set(tb):
        out.append(f"tables {sorted(ta)} != {sorted(tb)}")
    for t in sorted(set(ta) & set(tb) - SKIP_TABLES):
        if set(ta[t]) != set(tb[t]):
            out.append(f"{t}: columns {sorted(ta[t])} != {sorted(tb[t])}")
        for c in sorted(set(ta[t]) & set(tb[t])):
            if TIMING.search(c) or (t, c) in TIMING_IN or (t, c) in set(skip_columns):
                continue
            if not _same(ta[t][c], tb[t][c]):
                out.append(f"{t}.{c or '(data)'} differs")
    for k in sorted((set(aa) | set(ab)) - SKIP_ATTRS):
        if k not in aa or k not in ab:
            out.append(f"attribute {k} only in one file")
        elif not _same(aa[k], ab[k]):
            out.append(f"attribute {k}: {aa[k]!r} != {ab[k]!r}")
    return out
