"""Convert any source to an HDF5 price file (either layout of docs/data.md).

    python -m mpiapp.io.convert csv:prices prices.h5            # one group per symbol
    python -m mpiapp.io.convert parquet:prices prices.h5 --packed
    python -m mpiapp.io.convert builtin:all builtin.h5 --skip-bad --min-bars 500

Every symbol is loaded and validated first (a bad one stops the conversion with its DataError, or
is skipped and listed with --skip-bad). The file is written under OUT.partial and renamed at the
end, so OUT is either complete or absent. Nothing given is overwritten: an existing OUT needs
--force, an OUT (or OUT.partial) that is an input file is always refused, and an existing
OUT.partial (another conversion, or one that was killed) is left alone and refused. Arrays are stored exactly (time int64 ns, prices
float64): reading OUT back gives bit-identical Series.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from .. import exits
from .sources import Source, SourceError, open_source
from .validate import DataError

FORMAT_VERSION = 1
TIME_UNITS = "ns since 1970-01-01 00:00 UTC"


def write_hdf5(source: Source, out: str, *, packed: bool = False) -> dict:
    """Write every (valid) symbol of source to out; returns {'symbols', 'bars', 'skipped'}."""
    import h5py

    names = [name for name, _ in source.index()]
    tmp = out + ".partial"
    count = bars = 0
    created = False
    try:
        with h5py.File(tmp, "x") as f:  # "x": never truncate a file that is already there
            created = True
            f.attrs["mpiapp_layout"] = "packed" if packed else "groups"
            f.attrs["mpiapp_format_version"] = FORMAT_VERSION
            f.attrs["source"] = source.spec
            f.attrs["time_units"] = TIME_UNITS
            if packed:
                g = f.create_group("packed")
                ds = {
                    k: g.create_dataset(
                        k,
                        shape=(0,),
                        maxshape=(None,),
                        chunks=(1 << 16,),
                        dtype=np.int64 if k == "time" else np.float64,
                    )
                    for k in ("time", "open", "high", "low", "close", "volume")
                }
                syms, offsets, has_ohlc, has_volume = [], [0], [], []
            for name in names:
                s = source.try_load(name)
                if s is None:
                    continue
                count += 1
                bars += len(s)
                if packed:
                    a, b = offsets[-1], offsets[-1] + len(s)
                    vol = s.volume if s.volume is not None else np.full(len(s), np.nan)
                    for k, arr in (
                        ("time", s.time),
                        ("open", s.open),
                        ("high", s.high),
                        ("low", s.low),
                        ("close", s.close),
                        ("volume", vol),
                    ):
                        ds[k].resize((b,))
                        ds[k][a:b] = arr
                    syms.append(name)
                    offsets.append(b)
                    has_ohlc.append(s.has_ohlc)
                    has_volume.append(s.volume is not None)
                else:
                    if name == "packed":
                        raise SourceError("a symbol named 'packed' needs the packed layout (--packed)")
                    g = f.create_group(name)
                    g.attrs["has_ohlc"] = bool(s.has_ohlc)
                    g.attrs["origin"] = str(s.origin)
                    g.create_dataset("time", data=s.time, dtype=np.int64)
                    keys = ("open", "high", "low", "close") if s.has_ohlc else ("close",)
                    for k in keys:
                        g.create_dataset(k, data=getattr(s, k), dtype=np.float64)
                    if s.volume is not None:
                        g.create_dataset("volume", data=s.volume, dtype=np.float64)
            if packed:
                g.create_dataset(
                    "symbols", data=np.array(syms, dtype=object), dtype=h5py.string_dtype("utf-8")
                )
                g.create_dataset("offsets", data=np.array(offsets, dtype=np.int64))
                g.create_dataset("has_ohlc", data=np.array(has_ohlc, dtype=bool))
                g.create_dataset("has_volume", data=np.array(has_volume, dtype=bool))
        os.replace(tmp, out)
    finally:
        if created and os.path.exists(tmp):  # only the file this call made
            os.remove(tmp)
    return {"symbols": count, "bars": bars, "skipped": list(source.skipped)}


def _inputs(source: Source) -> list[str]:
    """The files a source reads (an HDF5 file, the files of a csv/parquet folder)."""
    paths = getattr(source, "_paths", None)
    if paths:
        return list(paths.values())
    path = getattr(source, "path", None)
    return [path] if path else []


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(source: Source, out: str, force: bool) -> str | None:
    """Why OUT may not be written (one line), or None."""
    if not out:
        return "the output path is empty"
    for path in (out, out + ".partial"):
        if any(_same(path, i) for i in _inputs(source)):
            return f"{path} is an input of {source.spec}: the output is an input; choose another path"
    if os.path.isdir(out):
        return f"{out} is a folder; give a file path"
    if os.path.exists(out + ".partial"):
        return (
            f"{out}.partial exists (another conversion writing it, or one that was killed): "
            "remove it or choose another path"
        )
    if os.path.exists(out) and not force:
        return f"{out} exists: choose another path, or --force to replace it"
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        return f"{out}: folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"{out}: folder {folder} is not writable"
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m mpiapp.io.convert",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 1)[1],
    )
    ap.add_argument("source", help="csv:DIR, parquet:DIR, builtin:NAME|all, hdf5:FILE, synthetic:N")
    ap.add_argument("out", help="HDF5 file to write")
    ap.add_argument("--packed", action="store_true", help="one packed table (default: one group per symbol)")
    ap.add_argument("--skip-bad", action="store_true", help="skip (and list) invalid symbols")
    ap.add_argument("--min-bars", type=int, default=1, help="minimum bars per symbol (default 1)")
    ap.add_argument("--force", action="store_true", help="replace an existing OUT (never an input)")
    ap.add_argument(
        "--date-format",
        default="auto",
        metavar="F",
        help="dates in text files: auto, "
        "dayfirst, monthfirst or a strftime format (data.date_format; docs/data.md)",
    )
    ap.add_argument(
        "--drop-empty-rows", action="store_true", help="drop rows with no price at all (data.drop_empty_rows)"
    )
    ap.add_argument(
        "--columns",
        default="",
        metavar="A,B,…",
        help="names of the columns of CSV files "
        "without a header line, comma-separated (data.columns), e.g. "
        "Date,Time,Open,High,Low,Close,Volume for a MetaTrader 4 export",
    )
    ap.add_argument(
        "--timezone",
        default="UTC",
        metavar="TZ",
        help="zone of times without an offset "
        "(data.timezone): UTC, an IANA name or a fixed offset such as +02:00",
    )
    ap.add_argument("--seed", type=int, default=0, help="synthetic: seed")
    ap.add_argument("--bars", type=int, default=2000, help="synthetic: bars per symbol")
    a = ap.parse_args(argv)
    try:
        src = open_source(
            a.source,
            skip_bad=a.skip_bad,
            min_bars=a.min_bars,
            seed=a.seed,
            synthetic_bars=a.bars,
            date_format=a.date_format,
            drop_empty_rows=a.drop_empty_rows,
            columns=[c for c in a.columns.split(",") if c.strip()],
            timezone=a.timezone,
        )
        with src:
            problem = check_output(src, a.out, a.force)
            if problem:
                raise SourceError(problem)
            res = write_hdf5(src, a.out, packed=a.packed)
    except (DataError, SourceError) as exc:
        print(f"mpiapp.io.convert: {exc}", file=sys.stderr)
        return exits.USAGE
    except OSError as exc:
        print(f"mpiapp.io.convert: cannot write {a.out}: {exc.strerror or exc}", file=sys.stderr)
        return exits.USAGE
    for name, reason in res["skipped"]:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    print(
        f"wrote {a.out}: {res['symbols']} symbols, {res['bars']} bars, "
        f"{'packed' if a.packed else 'groups'} layout, {len(res['skipped'])} skipped"
    )
    return exits.OK


if __name__ == "__main__":
    raise SystemExit(main())
