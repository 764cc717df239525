"""Data sources: one spec string -> a Source that lists symbols cheaply and loads validated Series.

Specs (``data.source``):

    builtin:NAME[,NAME…]   real series shipped inside installed packages (see BUILTIN); builtin:all;
                           builtin:sp500stocks (20 stocks, skfolio)
    csv:DIR                one CSV file per symbol (*.csv, *.csv.gz); the file stem is the symbol
    parquet:DIR            one Parquet file per symbol (*.parquet, *.pq)
    hdf5:FILE              one group per symbol, or a packed table (layouts: docs/data.md, io/convert.py)
    synthetic:N            N seeded synthetic symbols with planted impulses (io/synthetic.py)

A bare path also works (a folder of .csv or .parquet files, or a .h5/.hdf5 file).

How the job uses a Source: rank 0 calls ``index()`` (cheap: headers, line counts, dataset shapes)
to plan; every rank calls ``load(name)`` for its own symbols only (any subset, any order, each
symbol deterministic). ``load`` validates (io/validate.py) and raises DataError; with ``skip_bad`` the
failure is also recorded in ``skipped`` and the symbol disappears from later ``index()`` calls, and
``try_load`` returns None instead of raising. ``index(full=True)`` loads and validates everything
(exact, not cheap); so is ``index()`` with drop_empty_rows (data.drop_empty_rows), as dropped rows
are known only by reading. Problems visible cheaply (missing columns, empty file, too few bars) are
caught by ``index()`` already.

One module per format (builtin, csv, parquet, hdf5, synthetic), on the Source base class of base.py;
this module turns a spec into the right one and is the public face (`mpiapp.io.sources`).
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import Source, SourceError
from .builtin import BUILTIN, BUILTIN_ALL, SP500_STOCKS, BuiltinSource
from .csv import HEAD_BYTES, MAX_LINE, CSVSource
from .hdf5 import PACKED_BLOCK_ROWS, HDF5Source
from .parquet import ParquetSource
from .synthetic import SyntheticSource

__all__ = [
    "Source",
    "SourceError",
    "BuiltinSource",
    "CSVSource",
    "ParquetSource",
    "HDF5Source",
    "SyntheticSource",
    "BUILTIN",
    "BUILTIN_ALL",
    "SP500_STOCKS",
    "KINDS",
    "MAX_LINE",
    "HEAD_BYTES",
    "PACKED_BLOCK_ROWS",
    "spec_path",
    "open_source",
    "open_from_config",
]


KINDS = ("builtin", "csv", "parquet", "hdf5", "synthetic")


def spec_path(spec: str) -> str | None:
    """The folder or file a source spec reads from (csv:DIR, parquet:DIR, hdf5:FILE, or a bare path);
    None for builtin and synthetic data. Pure: touches nothing."""
    spec = str(spec).strip()
    kind, sep, arg = spec.partition(":")
    if sep and kind in KINDS:
        return arg or None if kind in ("csv", "parquet", "hdf5") else None
    return spec or None


def open_source(
    spec: str,
    *,
    seed: int = 0,
    skip_bad: bool = False,
    min_bars: int = 1,
    synthetic_bars: int = 2000,
    plant_rate: float = 1.0,
    noise: float = 0.1,
    date_format: str = "auto",
    drop_empty_rows: bool = False,
    columns=(),
    timezone: str = "UTC",
) -> Source:
    """A Source for a spec string (see the module docstring). Raises SourceError for a bad spec.

    date_format (data.date_format), drop_empty_rows (data.drop_empty_rows), columns (data.columns:
    the names of header-less CSV columns) and timezone (data.timezone: the zone of times without an
    offset): see docs/data.md. A source that does not read columns or timezone refuses a value.
    """
    spec = str(spec).strip()
    kind, sep, arg = spec.partition(":")
    kw = {
        "skip_bad": skip_bad,
        "min_bars": min_bars,
        "date_format": date_format,
        "drop_empty_rows": drop_empty_rows,
        "columns": columns,
        "timezone": timezone,
    }
    if not sep or kind not in KINDS:
        p = Path(spec)
        if p.is_dir():
            has_csv = any(e.lower().endswith((".csv", ".csv.gz")) for e in os.listdir(p))
            return open_source(("csv:" if has_csv else "parquet:") + spec, seed=seed, **kw)
        if p.is_file() and p.suffix.lower() in (".h5", ".hdf5", ".he5"):
            return open_source("hdf5:" + spec, **kw)
        raise SourceError(
            f"data source {spec!r}: expected builtin:NAME|all, csv:DIR, parquet:DIR, "
            "hdf5:FILE or synthetic:N (or an existing folder / .h5 file)"
        )
    if not arg:
        raise SourceError(f"data source {spec!r}: nothing after '{kind}:'")
    if kind == "builtin":
        keys = []
        for part in arg.split(","):
            key = part.strip().lower()
            if key == "all":
                keys.extend(BUILTIN_ALL)
            elif key == "sp500stocks":
                keys.extend(t.lower() for t in SP500_STOCKS)
            elif key in BUILTIN:
                keys.append(key)
            else:
                raise SourceError(
                    f"data source {spec!r}: no builtin series {part.strip()!r}; "
                    f"choose from all, sp500stocks, {', '.join(BUILTIN)}"
                )
        return BuiltinSource(spec, sorted(set(keys)), **kw)
    if kind == "csv":
        return CSVSource(spec, arg, **kw)
    if kind == "parquet":
        return ParquetSource(spec, arg, **kw)
    if kind == "hdf5":
        return HDF5Source(spec, arg, **kw)
    try:
        n = int(arg)
        if n < 1:
            raise ValueError
    except ValueError:
        raise SourceError(f"data source {spec!r}: synthetic:N needs a positive integer N") from None
    return SyntheticSource(spec, n, seed=seed, bars=synthetic_bars, plant_rate=plant_rate, noise=noise, **kw)


def open_from_config(cfg, *, min_bars: int) -> Source:
    """open_source from a loaded config (mpiapp.config.load()): every data.* key, and nothing
    outside `data` (io knows no job). min_bars: symbols with fewer bars are refused (skipped in skip
    mode) at indexing; the scan passes scan.window_bars (a symbol must hold one window), the jobs that
    judge length themselves pass 1."""
    d = cfg.data
    return open_source(
        d.source,
        seed=d.seed,
        skip_bad=d.skip_bad_symbols,
        min_bars=min_bars,
        synthetic_bars=d.synthetic_bars,
        plant_rate=d.synthetic_plant_rate,
        noise=d.synthetic_noise,
        date_format=d.date_format,
        drop_empty_rows=d.drop_empty_rows,
        columns=d.columns,
        timezone=d.timezone,
    )
