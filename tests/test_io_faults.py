"""Issue 14, input kinds: what a data source would misread, or choke on, is refused with one line
naming file, symbol, row and problem (or skipped in skip mode), and real exports load.

Each handed case (tests/data/faults/<case>/, copied from the fault report) runs through the real
score job under mpiexec; each kind also gets inputs constructed here.
"""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import PY, ROOT, mpiexec_cmd, run
from mpiapp import config
from mpiapp.io import DataError, SourceError, open_source

CASES = ROOT / "tests" / "data" / "faults"


_RUNS = itertools.count()


def score(tmp_path, data, *sets, n=2, timeout=180):
    out = tmp_path / f"r{next(_RUNS)}.h5"  # a fresh output for each run
    args = [
        PY,
        "-m",
        "mpiapp.score",
        "--data",
        str(data),
        "--out",
        str(out),
        "--no-progress",
        "--set",
        "scan.window_bars=100",
    ]
    for s in sets:
        args += ["--set", s]
    return run(mpiexec_cmd(n, *args), timeout=timeout), out


def one_line_error(r, *parts):
    assert r.returncode == 2, r.output
    assert "Traceback" not in r.output, r.output
    lines = [x for x in r.stderr.splitlines() if all(p in x for p in parts)]
    assert lines, f"no line with {parts} in:\n{r.stderr}"


def load_err(spec, symbol, index=True, **kw) -> DataError:
    src = open_source(spec, **kw)
    with pytest.raises(DataError) as info:
        if index:
            src.index()
        src.load(symbol)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return info.value


def ns(text):
    return np.datetime64(text, "ns").view(np.int64)


def ohlc_rows(dates, start=100.0):
    rng = np.random.default_rng(1)
    c = start * np.exp(np.cumsum(rng.normal(0, 0.02, len(dates))))
    return [(d, f"{x:.4f}", f"{x * 1.01:.4f}", f"{x * 0.99:.4f}", f"{x:.4f}") for d, x in zip(dates, c)]


def write_csv(path, rows, header="Date,Open,High,Low,Close", sep=","):
    path.write_text(header.replace(",", sep) + "\n" + "".join(sep.join(map(str, r)) + "\n" for r in rows))
    return path


def symbols_table(out):
    from mpiapp import results

    return results.load_table(out, "symbols").set_index("name")


# ==================================================================================================
# kind 7: real exports that should load — yfinance's multi-row header, Yahoo's null rows
# ==================================================================================================


def test_yfinance_multiheader_case_scans(tmp_path):
    r, out = score(tmp_path, f"csv:{CASES / 'yfinance-multiheader'}")
    assert r.returncode == 0, r.output
    assert symbols_table(out).loc["ACME", "bars"] == 700


def test_yfinance_multiheader_reads_as_the_plain_file(tmp_path):
    lines = (CASES / "yfinance-multiheader" / "ACME.csv").read_text().splitlines()
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "ACME.csv").write_text("\n".join(["Date" + lines[0][len("Price") :]] + lines[3:]) + "\n")
    want = open_source(f"csv:{plain}").load("ACME")
    got = open_source(f"csv:{CASES / 'yfinance-multiheader'}")
    assert got.index() == [("ACME", 700)]
    s = got.load("ACME")
    for k in ("time", "open", "high", "low", "close"):
        assert np.array_equal(getattr(s, k), getattr(want, k)), k
    assert str(s.dates[0])[:10] == "2015-01-02"


def test_yfinance_header_variants(tmp_path):
    """Constructed: the header without its Date row (index saved unnamed), gzipped, with Adj Close;
    a download of two tickers in one file is refused, naming the multi-row header."""
    rows = ohlc_rows(pd.bdate_range("2020-01-01", periods=30).strftime("%Y-%m-%d"))
    d = tmp_path / "a"
    d.mkdir()
    text = "Price,Open,High,Low,Close,Adj Close\nTicker,XYZ,XYZ,XYZ,XYZ,XYZ\n" + "".join(
        ",".join(r) + f",{float(r[4]) * 0.9:.4f}\n" for r in rows
    )
    with gzip.open(d / "XYZ.csv.gz", "wt") as fh:
        fh.write(text)
    src = open_source(f"csv:{d}")
    assert src.index() == [("XYZ", 30)]
    s = src.load("XYZ")
    assert s.close[0] == float(rows[0][4]) and str(s.dates[-1])[:10] == rows[-1][0]
    e = tmp_path / "b"
    e.mkdir()
    (e / "TWO.csv").write_text("Price,Close,Close\nTicker,AAA,BBB\nDate,,\n2020-01-02,1,2\n")
    err = load_err(f"csv:{e}", "TWO")
    assert "multi-row header" in str(err) and "AAA, BBB" in str(err) and "one ticker per file" in str(err)


def test_decimal_comma_and_thousands_separators(tmp_path):
    """Constructed (kind 7, exports that should load; kind 1, never a silent misreading): a
    European semicolon file with decimal commas and dot thousands, a US file with quoted thousands
    commas, and a column where every comma could be either, refused."""
    eu = tmp_path / "eu"
    eu.mkdir()
    (eu / "DAX.csv").write_text(
        "Date;Open;High;Low;Close\n"
        "2020-01-02;13.233,71;13.385,93;13.228,11;13.385,93\n"
        "2020-01-03;13.280,31;13.293,56;13.175,74;13.219,14\n"
        "2020-01-06;999,5;1.000,0;998;999,75\n"
    )
    s = open_source(f"csv:{eu}").load("DAX")
    assert s.close.tolist() == [13385.93, 13219.14, 999.75] and s.low[2] == 998.0
    us = tmp_path / "us"
    us.mkdir()
    (us / "SPX.csv").write_text(
        'Date,Close\n2020-01-02,"3,257.85"\n2020-01-03,"3,234.85"\n2020-01-06,999.5\n'
    )
    assert open_source(f"csv:{us}").load("SPX").close.tolist() == [3257.85, 3234.85, 999.5]
    amb = tmp_path / "amb"
    amb.mkdir()
    (amb / "X.csv").write_text("Date;Close\n2020-01-02;1,234\n2020-01-03;1,250\n")
    err = load_err(f"csv:{amb}", "X")
    assert err.row == 0 and "'1,234' is ambiguous: a decimal comma or a thousands separator" in str(err)


NULLS = CASES / "stale-partial"


def test_yahoo_null_rows_are_dropped_and_counted_when_asked(tmp_path):
    d = tmp_path / "nulls"
    d.mkdir()
    shutil.copy(NULLS / "MLPD-with-null-rows.csv", d / "MLPD.csv")
    fixed = tmp_path / "fixed"
    fixed.mkdir()
    shutil.copy(NULLS / "MLPD-fixed.csv", fixed / "MLPD.csv")
    err = load_err(f"csv:{d}", "MLPD")  # default: a row with no price is an error
    assert err.row == 120 and "Close is missing" in str(err) and "2 more rows" in str(err)
    assert "a row with no price: data.drop_empty_rows=true drops such rows" in str(err)  # the way out
    src = open_source(f"csv:{d}", drop_empty_rows=True)
    s = src.load("MLPD")
    want = open_source(f"csv:{fixed}").load("MLPD")
    assert s.dropped_rows == 3 and src.dropped == {"MLPD": 3} and want.dropped_rows == 0
    for k in ("time", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(s, k), getattr(want, k)), k
    r, out = score(tmp_path, f"csv:{d}", "data.drop_empty_rows=true")
    assert r.returncode == 0, r.output
    assert symbols_table(out).loc["MLPD", "bars"] == 697


def test_drop_empty_rows_in_every_source_keeps_input_row_numbers(tmp_path):
    """Constructed: empty rows in a semicolon CSV (words null/NaN/empty), a Parquet file (None)
    and an HDF5 file (NaN); a later bad row is still named by its row in the input."""
    dates = list(pd.bdate_range("2021-01-01", periods=12).strftime("%Y-%m-%d"))
    rows = [list(r) for r in ohlc_rows(dates)]
    for i, word in ((2, "null"), (3, ""), (5, "NaN")):
        rows[i][1:] = [word] * 4
    rows[9][2] = "1.0"  # High below Close at input row 9
    d = tmp_path / "csv"
    d.mkdir()
    write_csv(d / "S.csv", rows, sep=";")
    err = load_err(f"csv:{d}", "S", drop_empty_rows=True)
    assert err.row == 9 and err.rule == "High >= max(Open, Close)"
    rows[9][2] = rows[9][4]
    write_csv(d / "S.csv", rows, sep=";")
    s = open_source(f"csv:{d}", drop_empty_rows=True).load("S")
    assert len(s) == 9 and s.dropped_rows == 3
    assert [str(x)[:10] for x in s.dates] == [x for i, x in enumerate(dates) if i not in (2, 3, 5)]
    # a row with only some prices missing is still an error
    rows[4][1] = "null"
    write_csv(d / "S.csv", rows, sep=";")
    err = load_err(f"csv:{d}", "S", drop_empty_rows=True)
    assert err.row == 4 and "Open is missing" in str(err) and "drops such rows" not in str(err)

    p = tmp_path / "pq"
    p.mkdir()
    df = pd.DataFrame({"Date": pd.to_datetime(dates), "Close": [1.0, None, 2.0, None] + [3.0] * 8})
    df.to_parquet(p / "P.parquet")
    assert load_err(f"parquet:{p}", "P").row == 1
    assert open_source(f"parquet:{p}", drop_empty_rows=True).load("P").dropped_rows == 2

    h = tmp_path / "x.h5"
    with h5py.File(h, "w") as f:
        g = f.create_group("H")
        g["time"] = pd.to_datetime(dates).as_unit("ns").asi8
        g["close"] = np.array([1.0, np.nan, 2.0] + [3.0] * 9)
    assert load_err(f"hdf5:{h}", "H").row == 1
    s = open_source(f"hdf5:{h}", drop_empty_rows=True).load("H")
    assert len(s) == 11 and s.dropped_rows == 1


# ==================================================================================================
# kind 1: silent wrong results — day/month order, True as a price
# ==================================================================================================


def test_dayfirst_monthly_case_is_refused_then_read_with_the_setting(tmp_path):
    d = CASES / "dayfirst-monthly"
    r, _ = score(tmp_path, f"csv:{d}")
    one_line_error(r, "FTSE.csv", "symbol FTSE", "row 1", "'01/02/2000'", "ambiguous", "data.date_format")
    s = open_source(f"csv:{d}", date_format="dayfirst").load("FTSE")
    want = pd.date_range("2000-01-01", periods=240, freq="MS").as_unit("ns").asi8
    assert np.array_equal(s.time, want)
    r, out = score(tmp_path, f"csv:{d}", "data.date_format=dayfirst")
    assert r.returncode == 0, r.output
    assert symbols_table(out).loc["FTSE", "bars"] == 240


@pytest.mark.parametrize("fmt", ["%d.%m.%Y", "%d/%m/%Y %H:%M", "%d-%m-%y"])
def test_day_month_order_decided_by_the_data(tmp_path, fmt):
    """Constructed: daily files in D.M.Y, D/M/Y H:M and D-M-YY, whose first rows (days 1-12) are
    ambiguous; a later day above 12 decides the order for the whole column, read right."""
    days = pd.bdate_range("2003-02-03", periods=40)
    write_csv(tmp_path / "D.csv", ohlc_rows(days.strftime(fmt)))
    s = open_source(f"csv:{tmp_path}").load("D")
    assert np.array_equal(s.time, days.as_unit("ns").asi8)


def test_day_month_ambiguity_in_other_forms_is_refused(tmp_path):
    """Constructed: two-digit years, a Parquet file of text dates, a column mixing both orders,
    an explicit order contradicted by a row, and an explicit strftime format."""
    weeks = pd.date_range("2004-01-05", periods=10, freq="7D")  # days 5, 12, 19 .. with months 1-3
    monthly = pd.date_range("2004-01-03", periods=10, freq="MS") + pd.Timedelta(days=2)
    write_csv(tmp_path / "YY.csv", ohlc_rows(monthly.strftime("%d/%m/%y")))
    err = load_err(f"csv:{tmp_path}", "YY")
    assert err.row == 0 and "ambiguous" in str(err) and "data.date_format" in str(err)
    p = tmp_path / "pq"
    p.mkdir()
    pd.DataFrame({"Date": monthly.strftime("%d.%m.%Y"), "Close": 1.0 + np.arange(10)}).to_parquet(
        p / "P.parquet"
    )
    assert "ambiguous" in str(load_err(f"parquet:{p}", "P"))
    m = tmp_path / "mixed"
    m.mkdir()
    dates = list(weeks.strftime("%d/%m/%Y"))
    dates[-1] = "03/15/2004"  # month first, where earlier rows were day first
    write_csv(m / "M.csv", ohlc_rows(dates))
    err = load_err(f"csv:{m}", "M")
    assert "mixes day-first dates" in str(err) and "'03/15/2004', row 9" in str(err)
    err = load_err(f"csv:{m}", "M", date_format="dayfirst")
    assert err.row == 9 and "is not day/month/year" in str(err)
    good = tmp_path / "fmt"
    good.mkdir()
    write_csv(good / "F.csv", ohlc_rows(monthly.strftime("%d|%m|%Y")))
    s = open_source(f"csv:{good}", date_format="%d|%m|%Y").load("F")
    assert np.array_equal(s.time, monthly.as_unit("ns").asi8)
    with pytest.raises(SourceError, match="data.date_format = 'day-first'"):
        open_source(f"csv:{good}", date_format="day-first")


def test_date_format_key_reaches_the_source():
    from mpiapp.io import open_from_config

    cfg = config.load(
        overrides=["data.date_format=dayfirst", "data.drop_empty_rows=true", "data.source=synthetic:2"]
    )
    src = open_from_config(cfg, min_bars=1)
    assert src.date_format == "dayfirst" and src.drop_empty_rows is True


def test_bool_close_case_is_refused(tmp_path):
    r, _ = score(tmp_path, f"csv:{CASES / 'bool-close'}")
    one_line_error(r, "BAD.csv", "symbol BAD", "row 0", "Close 'True' is not a number")


def test_true_false_prices_in_other_sources(tmp_path):
    """Constructed: upper-case TRUE/FALSE in a CSV Open column, a Parquet bool column, an HDF5
    bool dataset; and True/False objects mixed into numbers."""
    rows = [list(r) for r in ohlc_rows(pd.bdate_range("2020-01-01", periods=10).strftime("%Y-%m-%d"))]
    for r in rows:
        r[1] = "TRUE"
    write_csv(tmp_path / "U.csv", rows)
    err = load_err(f"csv:{tmp_path}", "U")
    assert "Open" in str(err) and "is not a number" in str(err) and err.row == 0
    p = tmp_path / "pq"
    p.mkdir()
    pd.DataFrame(
        {"Date": pd.bdate_range("2020-01-01", periods=4), "Close": [True, False, True, True]}
    ).to_parquet(p / "B.parquet")
    assert "Close 'True' is not a number" in str(load_err(f"parquet:{p}", "B"))
    h = tmp_path / "b.h5"
    with h5py.File(h, "w") as f:
        f["B/time"] = pd.bdate_range("2020-01-01", periods=4).as_unit("ns").asi8
        f["B/close"] = np.array([True, False, True, True])
    err = load_err(f"hdf5:{h}", "B")
    assert "/B/close holds True/False values" in str(err)
    from mpiapp.io.validate import parse_prices

    with pytest.raises(DataError, match="row 1 .*Close 'True' is not a number"):
        parse_prices(
            pd.Series([1.5, True, 2.0], dtype=object),
            file="f",
            symbol="S",
            column="Close",
            times=np.arange(3) * 86_400_000_000_000,
        )


# ==================================================================================================
# kind 5: named errors — truncated gzip, broken HDF5 datasets, out-of-range dates
# ==================================================================================================


def test_truncated_gz_case(tmp_path):
    d = CASES / "truncated-gz"
    r, _ = score(tmp_path, f"csv:{d}")
    one_line_error(r, "TRUNC.csv.gz", "symbol TRUNC", "truncated or corrupt gzip")
    r, out = score(tmp_path, f"csv:{d}", "data.skip_bad_symbols=true")
    assert r.returncode == 0, r.output
    sym = symbols_table(out)
    assert sym.loc["OK", "skipped_reason"] == "" and sym.loc["OK", "bars"] == 700
    assert "TRUNC.csv.gz" in sym.loc["TRUNC", "skipped_reason"]


def test_other_broken_compressed_and_binary_files(tmp_path):
    """Constructed: a gzip with a damaged middle (zlib error, not end of file), a .csv.gz that is
    not gzip, a UTF-16 CSV, a truncated Parquet file; skip mode skips each."""
    text = "".join(f"2001-01-{d:02d},1,2,0.5,1.5\n" for d in range(1, 29)) * 40
    blob = bytearray(gzip.compress(("Date,Open,High,Low,Close\n" + text).encode()))
    blob[len(blob) // 2 : len(blob) // 2 + 40] = b"\xff" * 40
    (tmp_path / "MID.csv.gz").write_bytes(bytes(blob))
    (tmp_path / "NOTGZ.csv.gz").write_bytes(b"Date,Close\n2001-01-01,1\n")
    (tmp_path / "WIDE.csv").write_bytes("Date,Close\n2001-01-01,1\n".encode("utf-16"))
    for name, says in (("MID", "gzip"), ("NOTGZ", "gzip"), ("WIDE", "not a text file")):
        one = tmp_path / f"only-{name}"
        one.mkdir()
        file = next(tmp_path.glob(name + ".*"))
        shutil.copy(file, one / file.name)
        err = load_err(f"csv:{one}", name)
        assert err.file.endswith(name + (".csv" if name == "WIDE" else ".csv.gz")), err
        assert says in str(err) and err.rule == "readable file"
    src = open_source(f"csv:{tmp_path}", skip_bad=True)
    assert src.index() == [] and sorted(n for n, _ in src.skipped) == ["MID", "NOTGZ", "WIDE"]
    p = tmp_path / "pq"
    p.mkdir()
    pd.DataFrame({"Date": pd.bdate_range("2020-01-01", periods=50), "Close": 1.0}).to_parquet(p / "T.parquet")
    data = (p / "T.parquet").read_bytes()
    (p / "T.parquet").write_bytes(data[: len(data) // 2])
    assert "not a readable Parquet file" in str(load_err(f"parquet:{p}", "T"))


@pytest.mark.parametrize(
    "name,says",
    [
        ("str_close", "/BAD/close holds text"),
        ("compound_close", "/BAD/close holds compound records"),
        ("corrupt_chunk", "cannot read dataset /BAD/close"),
    ],
)
def test_hdf5_bad_cases(tmp_path, name, says):
    h5 = CASES / "hdf5-bad" / f"{name}.h5"
    r, _ = score(tmp_path, f"hdf5:{h5}")
    one_line_error(r, f"{name}.h5", "symbol BAD", says)
    r, out = score(tmp_path, f"hdf5:{h5}", "data.skip_bad_symbols=true")
    assert r.returncode == 0, r.output
    sym = symbols_table(out)
    assert sym.loc["GOOD", "skipped_reason"] == "" and says in sym.loc["BAD", "skipped_reason"]
    s = open_source(f"hdf5:{h5}").load("GOOD")  # these files hold microseconds, not 1970 dates
    assert str(s.dates[0])[:10] == "2000-01-03" and str(s.dates[-1])[:10] == "2002-04-19"


def _corrupt_chunk(path, dataset, chunk=0):
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(chunk)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + 10)
        fh.write(b"\x00\xff" * 16)


def test_other_broken_hdf5_datasets(tmp_path):
    """Constructed: a 2-D close, a scalar time, a group where a dataset belongs, float times, a
    corrupt chunk in the time of a packed file, a dangling link; each one line, skipped in skip
    mode; microsecond and millisecond times (units attribute) are read right."""
    t = pd.bdate_range("2020-01-01", periods=20).as_unit("ns").asi8
    c = np.linspace(10, 12, 20)
    h = tmp_path / "g.h5"
    with h5py.File(h, "w") as f:
        f["TWOD/time"] = t
        f["TWOD/close"] = np.stack([c, c], 1)
        f["SCALAR/time"] = np.int64(t[0])
        f["SCALAR/close"] = c
        f.create_group("GRP/time")
        f["GRP/close"] = c
        f["FLT/time"] = t.astype(np.float64)
        f["FLT/close"] = c
        f["LINK/time"] = t
        f["LINK/close"] = h5py.SoftLink("/nowhere")
        f["US/time"] = t // 1000  # pandas >= 3 datetimes: microseconds
        f["US/close"] = c
        f["MS/time"] = t // 10**6
        f["MS/time"].attrs["units"] = "ms"
        f["MS/close"] = c
    for name, says in (
        ("TWOD", "close has shape (20, 2)"),
        ("SCALAR", "time has shape ()"),
        ("GRP", "/GRP/time is a group, not a dataset"),
        ("FLT", "dtype float64"),
        ("LINK", "cannot open dataset /LINK/close"),
    ):
        err = load_err(f"hdf5:{h}", name, index=False)
        assert err.symbol == name and says in str(err), str(err)
    for name in ("US", "MS"):
        assert np.array_equal(open_source(f"hdf5:{h}").load(name).time, t), name
    src = open_source(f"hdf5:{h}", skip_bad=True)
    got = {n: src.try_load(n) for n, _ in src.index()}
    assert sorted(n for n, s in got.items() if s is not None) == ["MS", "US"]
    assert sorted(n for n, _ in src.skipped) == ["FLT", "GRP", "LINK", "SCALAR", "TWOD"]

    def packed_ab(path, chunk_rows, bad_chunk):
        """symbols A and B, 20 rows each, time in gzip chunks of chunk_rows, chunk bad_chunk corrupt"""
        with h5py.File(path, "w") as f:
            g = f.create_group("packed")
            g["symbols"] = np.array([b"A", b"B"])
            g["offsets"] = np.array([0, 20, 40])
            g.create_dataset("time", data=np.concatenate([t, t]), chunks=(chunk_rows,), compression="gzip")
            g["close"] = np.concatenate([c, c])
        _corrupt_chunk(path, "packed/time", chunk=bad_chunk)
        return path

    p = packed_ab(tmp_path / "p.h5", 40, 0)
    err = load_err(f"hdf5:{p}", "A")
    assert "cannot read dataset /packed/time" in str(err) and err.symbol == "A"

    # packed columns are read many symbols at a time: a corrupt chunk in B's rows is B's fault
    # (reading A first, then B), and A reads right
    p2 = packed_ab(tmp_path / "p2.h5", 20, 1)
    src = open_source(f"hdf5:{p2}")
    assert np.array_equal(src.load("A").time, t)
    with pytest.raises(DataError) as ei:
        src.load("B")
    assert "cannot read dataset /packed/time" in str(ei.value) and ei.value.symbol == "B"


def test_a_packed_column_of_the_wrong_type_is_said_once(tmp_path):
    """A packed file's column serves every symbol: text prices are the file's problem, one line and
    exit 2 (also in skip mode, which would otherwise skip every symbol), not a line per symbol."""
    t = pd.bdate_range("2020-01-01", periods=300).as_unit("ns").asi8
    p = tmp_path / "p_text.h5"
    names = [f"S{i:02d}" for i in range(12)]
    with h5py.File(p, "w") as f:
        g = f.create_group("packed")
        g["symbols"] = np.array([n.encode() for n in names])
        g["offsets"] = np.arange(len(names) + 1) * len(t)
        g["time"] = np.tile(t, len(names))
        g["close"] = np.array([b"%.4f" % x for x in np.linspace(10, 20, len(t) * len(names))])
    with pytest.raises(SourceError, match=r"/packed/close holds text \(dtype \|S7\); expected numbers"):
        open_source(f"hdf5:{p}")
    for sets in ((), ("data.skip_bad_symbols=true",)):
        r, out = score(tmp_path, f"hdf5:{p}", *sets)
        one_line_error(r, str(p), "/packed/close holds text")
        assert sum("holds text" in x for x in r.stderr.splitlines()) == 1, r.stderr
        assert not os.path.exists(out)


def test_dates_out_of_range_case(tmp_path):
    r, _ = score(tmp_path, f"csv:{CASES / 'dates-out-of-range'}")
    one_line_error(r, "BAD.csv", "symbol BAD", "row 599", "'2999-01-01'", "outside the range")


def test_other_out_of_range_dates(tmp_path):
    """Constructed: year 1500 in ISO text, YYYYMMDD integers of 2300, epoch seconds of year 4000,
    a time zone offset, a Parquet file of second-resolution timestamps in 2999."""
    cases = {
        "OLD": ["2000-01-03", "1500-06-01T00:00:00"],
        "YMD": [20000103, 23000101],
        "EPOCH": [946857600, 64060588800],
        "TZ": ["2000-01-03", "2500-01-01 00:00:00+02:00"],
    }
    for name, dates in cases.items():
        d = tmp_path / name
        d.mkdir()
        write_csv(d / f"{name}.csv", [(dates[0], 1, 2, 0.5, 1.5), (dates[1], 1, 2, 0.5, 1.5)])
        err = load_err(f"csv:{d}", name)
        assert err.row == 1 and "outside the range of timestamps" in str(err), str(err)
    p = tmp_path / "pq"
    p.mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    times = pa.array(np.array(["2000-01-03", "2999-01-01"], dtype="datetime64[s]"))
    pq.write_table(pa.table({"Date": times, "Close": [1.0, 2.0]}), p / "S.parquet")
    err = load_err(f"parquet:{p}", "S")
    assert err.row == 1 and "outside the range of timestamps" in str(err)


# ==================================================================================================
# kind 3: cost follows the work — a one-line binary file is refused in bounded memory
# ==================================================================================================

PROBE = r"""
import sys
from mpiapp.io import DataError, open_source


def hwm_kb():
    # this process's own peak (VmHWM starts afresh at exec; ru_maxrss would start at the peak of the
    # pytest process that spawned it, and growth below that could not be seen)
    return int([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1])


src = open_source("csv:" + sys.argv[1])
before = hwm_kb()
try:
    src.index()
    src.load(src.names()[0])
    print("LOADED")
except DataError as exc:
    print("ERROR", exc)
print("GROWTH_KB", hwm_kb() - before)
"""


def _probe(folder):
    r = subprocess.run(
        [sys.executable, "-c", "import pandas, numpy\n" + PROBE, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    growth = int(r.stdout.split("GROWTH_KB")[1])
    return r.stdout, growth


@pytest.mark.parametrize("compressed", [False, True])
def test_one_line_binary_file_costs_bounded_memory(tmp_path, compressed):
    """The handed case (a header, then 2 GB of NUL bytes on one line) at 96 MB, sparse on disk;
    constructed: the same inside a .csv.gz (a 96 MB line from a 100 kB file)."""
    size = 96 << 20
    if compressed:
        with gzip.open(tmp_path / "BIN.csv.gz", "wb", compresslevel=1) as fh:
            fh.write(b"Date,Open,High,Low,Close\n")
            block = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                fh.write(block)
    else:
        with open(tmp_path / "BIN.csv", "wb") as fh:
            fh.write(b"Date,Open,High,Low,Close\n")
            fh.truncate(size)
    out, growth = _probe(tmp_path)
    assert "ERROR" in out and "not a text file" in out and "BIN.csv" in out, out
    assert growth < 24 * 1024, f"peak memory grew {growth} kB reading a {size >> 20} MB binary file"


def test_long_lines_without_nul_are_refused_in_bounded_memory(tmp_path):
    """Constructed: no NUL at all, but a 64 MB 'line' of digits after the first rows."""
    with open(tmp_path / "LONG.csv", "wb") as fh:
        fh.write(b"Date,Close\n2001-01-01,1\n2001-01-02,")
        block = b"7" * (1 << 20)
        for _ in range(64):
            fh.write(block)
    out, growth = _probe(tmp_path)
    assert "ERROR" in out and "line 3 is longer than 1 MiB" in out, out
    assert growth < 24 * 1024, growth


# ==================================================================================================
# config: values that would give silent wrong results or fail deep inside
# ==================================================================================================


@pytest.mark.parametrize(
    "item,says",
    [
        ("scan.weight_fib=.nan", "is not a finite number"),  # the handed case
        ("scan.flat_min_volatility=.inf", "is not a finite number"),  # a key with no upper bound
        ("scan.pivot_pct=.NaN", "is not a finite number"),
        ("scan.max_combinations=100000000000000000000000", "int in [1, 1000000000000000000]"),  # handed
        ("data.seed=99999999999999999999", "int in [0, 1000000000000000000]"),
    ],
)
def test_config_values_that_cannot_mean_anything_are_refused(item, says):
    with pytest.raises(config.ConfigError) as info:
        config.load(overrides=[item])
    assert item.split("=")[0] in str(info.value) and says in str(info.value)


def test_config_nan_through_the_job_and_a_file(tmp_path):
    r = run(
        mpiexec_cmd(
            2,
            PY,
            "-m",
            "mpiapp.score",
            "--data",
            "synthetic:2",
            "--out",
            str(tmp_path / "r.h5"),
            "--set",
            "scan.weight_fib=.nan",
        ),
        timeout=120,
    )
    one_line_error(r, "scan.weight_fib", "not a finite number")
    f = tmp_path / "c.yaml"
    f.write_text("scan:\n  weight_channel: .NaN\n")
    with pytest.raises(config.ConfigError, match="scan.weight_channel = nan is not a finite"):
        config.load([str(f)])


@pytest.mark.parametrize("kind", ["folder", "binary", "latin1", "huge"])
def test_config_path_that_is_not_a_yaml_text_file(tmp_path, kind):
    p = tmp_path / "cfg"
    if kind == "folder":  # the handed case
        p.mkdir()
        says = "is a folder"
    elif kind == "binary":  # the handed case
        p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)))
        says = "not a text file"
    elif kind == "latin1":
        p.write_bytes("data:\n  source: csv:B\xf6rse\n".encode("latin-1"))
        says = "not UTF-8 text"
    else:
        p.write_text("# " + "x" * (2 << 20) + "\n")
        says = "larger than 1 MiB"
    with pytest.raises(config.ConfigError, match=says):
        config.load([str(p)])
    r = run([PY, "-m", "mpiapp.score", "--config", str(p), "--data", "synthetic:1"], timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1 and str(p) in r.stderr and says in r.stderr


def test_a_pipe_or_folder_named_like_a_data_file_is_named_not_opened(tmp_path):
    """Constructed (kind 5): a FIFO called X.csv would block the reader forever; a folder called
    Y.parquet would be a traceback. Both are one DataError, and skipped in skip mode."""
    c = tmp_path / "c"
    c.mkdir()
    os.mkfifo(c / "X.csv")
    write_csv(c / "OK.csv", ohlc_rows(pd.bdate_range("2020-01-01", periods=5).strftime("%Y-%m-%d")))
    p = tmp_path / "p"
    p.mkdir()
    (p / "Y.parquet").mkdir()
    for spec, name, says in ((f"csv:{c}", "X", "not a regular file"), (f"parquet:{p}", "Y", "is a folder")):
        r = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\nfrom mpiapp.io import open_source\n"
                f"s = open_source({spec!r}, skip_bad=True)\nprint(s.index())\n"
                "print(s.skipped)",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert r.returncode == 0, r.stderr
        assert says in r.stdout and name in r.stdout, r.stdout
    assert "symbol X" in str(load_err(f"csv:{c}", "X", index=False))
