"""Bad input gets a named error (docs/data.md, "Validation"): one test per rule, skip mode, column spellings."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pandas as pd
import pytest

from mpiapp.io import DataError, open_source
from mpiapp.io import validate as V

GOOD = "Date,Open,High,Low,Close,Volume\n" + "".join(
    f"2003-02-{d:02d},10,11,9,10.5,100\n" for d in range(3, 8)
)


def write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


def load_error(tmp_path, text, symbol="AAPL", min_bars=1) -> DataError:
    path = write(tmp_path, f"{symbol}.csv", text)
    src = open_source(f"csv:{tmp_path}", min_bars=min_bars)
    with pytest.raises(DataError) as info:
        src.index()
        src.load(symbol)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.file == str(path) and err.symbol == symbol
    msg = str(err)
    assert msg.startswith(f"{path}: symbol {symbol}")
    assert f"(rule: {err.rule})" in msg
    if err.row is not None:
        assert f"row {err.row} ({err.timestamp})" in msg
    assert "Traceback" not in msg and "numpy" not in msg
    return err


def csv_rows(rows, header="Date,Open,High,Low,Close"):
    return header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)


# ---- one test per rule ---------------------------------------------------------------------------


def test_high_below_close_names_file_symbol_row_timestamp_rule(tmp_path):
    text = csv_rows([("2003-02-03", 10, 10.6, 9.9, 10.1), ("2003-02-04", 10.1, 10.2, 9.9, 10.5)])
    err = load_error(tmp_path, text)
    assert err.rule == V.RULE_HIGH == "High >= max(Open, Close)"
    assert (err.row, err.timestamp) == (1, "2003-02-04")
    assert str(err) == (
        f"{tmp_path}/AAPL.csv: symbol AAPL, row 1 (2003-02-04): High 10.2 < Close "
        "10.5 (rule: High >= max(Open, Close))"
    )


def test_high_below_open(tmp_path):
    err = load_error(tmp_path, csv_rows([("2003-02-03", 10.7, 10.6, 9.9, 10.1)]))
    assert err.rule == V.RULE_HIGH and "High 10.6 < Open 10.7" in str(err)


def test_low_above_open_close(tmp_path):
    rows = [
        ("2003-02-03", 10, 10.6, 9.9, 10.1),
        ("2003-02-04", 10, 10.6, 9.9, 10.1),
        ("2003-02-05", 10.3, 10.6, 10.32, 10.4),
        ("2003-02-06", 10.3, 10.6, 10.35, 10.4),
    ]
    err = load_error(tmp_path, csv_rows(rows))
    assert err.rule == V.RULE_LOW == "Low <= min(Open, Close)"
    assert (err.row, err.timestamp) == (2, "2003-02-05")
    assert "Low 10.32 > Open 10.3; 1 more row likewise" in str(err)


def test_missing_low_column(tmp_path):
    err = load_error(tmp_path, "Date,Open,High,Close\n2003-02-03,10,10.6,10.1\n")
    assert err.rule == V.RULE_COLUMNS and err.row is None
    assert "no Low column" in str(err) and "header" in str(err)


def test_missing_close_column(tmp_path):
    err = load_error(tmp_path, "Date,Open,High,Low\n2003-02-03,10,10.6,9\n")
    assert err.rule == V.RULE_COLUMNS and "no Close column" in str(err)
    assert "columns found: Date, Open, High, Low" in str(err)


def test_missing_date_column(tmp_path):
    err = load_error(tmp_path, "Open,High,Low,Close\n10,10.6,9,10\n")
    assert err.rule == V.RULE_COLUMNS and "no Date column" in str(err)


def test_ambiguous_columns(tmp_path):
    err = load_error(tmp_path, "Date,Close,close\n2003-02-03,1,2\n")
    assert err.rule == V.RULE_COLUMNS and "'Close', 'close'" in str(err)


def test_unparsable_date(tmp_path):
    err = load_error(tmp_path, "Date,Close\n2003-02-03,1\n2003-02-04,2\n2003-02-3x,3\n")
    assert err.rule == V.RULE_TIME_PARSE == "timestamps parse"
    assert (err.row, err.timestamp) == (2, "2003-02-3x")
    assert "Date '2003-02-3x' does not parse as a timestamp" in str(err)


def test_missing_date_value(tmp_path):
    err = load_error(tmp_path, "Date,Close\n2003-02-03,1\n,2\n")
    assert err.rule == V.RULE_TIME_PARSE and err.row == 1 and "Date is missing" in str(err)


def test_empty_file(tmp_path):
    err = load_error(tmp_path, "")
    assert err.rule == V.RULE_EMPTY == "non-empty file" and "the file is empty" in str(err)


def test_header_only_file(tmp_path):
    err = load_error(tmp_path, "Date,Open,High,Low,Close\n")
    assert err.rule == V.RULE_EMPTY and "no bars" in str(err)


def test_unsorted_timestamps(tmp_path):
    err = load_error(tmp_path, "Date,Close\n2003-02-03,1\n2003-02-05,2\n2003-02-04,3\n")
    assert err.rule == V.RULE_SORTED and (err.row, err.timestamp) == (2, "2003-02-04")
    assert "earlier than row 1 (2003-02-05)" in str(err)


def test_duplicate_timestamps(tmp_path):
    err = load_error(tmp_path, "Date,Close\n2003-02-03,1\n2003-02-04,2\n2003-02-04,3\n")
    assert err.rule == V.RULE_UNIQUE and (err.row, err.timestamp) == (2, "2003-02-04")
    assert "repeats row 1" in str(err)


@pytest.mark.parametrize(
    "value, says",
    [
        ("", "Close is missing"),
        ("nan", "Close is missing"),
        ("inf", "Close inf is not finite"),
        ("abc", "Close 'abc' is not a number"),
    ],
)
def test_non_finite_price(tmp_path, value, says):
    err = load_error(tmp_path, f"Date,Close\n2003-02-03,1\n2003-02-04,{value}\n")
    assert err.rule == V.RULE_FINITE and (err.row, err.timestamp) == (1, "2003-02-04")
    assert says in str(err)


def test_nan_in_ohlc_names_the_column(tmp_path):
    err = load_error(tmp_path, csv_rows([("2003-02-03", 10, "", 9.9, 10.1)]))
    assert err.rule == V.RULE_FINITE and "High is missing" in str(err)


@pytest.mark.parametrize("value", ["0", "-1.5"])
def test_non_positive_price(tmp_path, value):
    err = load_error(tmp_path, f"Date,Close\n2003-02-03,1\n2003-02-04,{value}\n")
    assert err.rule == V.RULE_POSITIVE and err.row == 1
    assert f"Close {float(value)!r} is not positive" in str(err)


def test_too_few_bars_in_index_and_load(tmp_path):
    write(tmp_path, "AAPL.csv", GOOD)
    src = open_source(f"csv:{tmp_path}", min_bars=6)
    with pytest.raises(DataError) as info:
        src.index()
    assert info.value.rule == V.RULE_MIN_BARS and "5 bars, fewer than min_bars 6" in str(info.value)
    with pytest.raises(DataError) as info:
        src.load("AAPL")
    assert info.value.rule == V.RULE_MIN_BARS
    assert "2003-02-03 .. 2003-02-07" in str(info.value)


def test_malformed_csv(tmp_path):
    err = load_error(tmp_path, "Date,Close\n2003-02-03,1\n2003-02-04,2,3\n")
    assert err.rule == V.RULE_READABLE and "line 3" in str(err)


def test_error_pickles(tmp_path):
    err = load_error(tmp_path, "Date,Close\n2003-02-03,1\n2003-02-03,2\n")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and (back.rule, back.row, back.symbol, back.file) == (
        err.rule,
        err.row,
        err.symbol,
        err.file,
    )


# ---- skip mode -----------------------------------------------------------------------------------


def test_skip_mode_records_each_skip_with_reason(tmp_path):
    write(tmp_path, "GOOD.csv", GOOD)
    write(tmp_path, "NOCLOSE.csv", "Date,Open\n2003-02-03,1\n")  # cheap: header
    write(tmp_path, "EMPTY.csv", "")  # cheap: empty
    write(tmp_path, "SHORT.csv", "Date,Close\n2003-02-03,1\n")  # cheap: too few bars
    write(tmp_path, "DUP.csv", "Date,Close\n2003-02-03,1\n2003-02-03,1\n")  # only on load
    write(tmp_path, "NEG.csv", "Date,Close\n2003-02-03,1\n2003-02-04,-1\n")  # only on load
    src = open_source(f"csv:{tmp_path}", skip_bad=True, min_bars=2)
    assert src.index() == [("DUP", 2), ("GOOD", 5), ("NEG", 2)]
    assert [s for s, _ in src.skipped] == ["EMPTY", "NOCLOSE", "SHORT"]
    assert src.try_load("DUP") is None
    with pytest.raises(DataError):
        src.load("NEG")  # load still raises, and records
    assert src.try_load("GOOD") is not None
    assert src.index() == [("GOOD", 5)]
    reasons = dict(src.skipped)
    assert set(reasons) == {"EMPTY", "NOCLOSE", "SHORT", "DUP", "NEG"}
    for sym, rule in [
        ("EMPTY", V.RULE_EMPTY),
        ("NOCLOSE", V.RULE_COLUMNS),
        ("SHORT", V.RULE_MIN_BARS),
        ("DUP", V.RULE_UNIQUE),
        ("NEG", V.RULE_POSITIVE),
    ]:
        assert f"symbol {sym}" in reasons[sym] and f"(rule: {rule})" in reasons[sym]
        assert src.errors[sym].rule == rule
    assert "5 skipped" in src.describe()


def test_full_index_validates_everything(tmp_path):
    write(tmp_path, "GOOD.csv", GOOD)
    write(tmp_path, "DUP.csv", "Date,Close\n2003-02-03,1\n2003-02-03,1\n")
    src = open_source(f"csv:{tmp_path}", skip_bad=True)
    assert src.index(full=True) == [("GOOD", 5)]
    assert [s for s, _ in src.skipped] == ["DUP"]
    strict = open_source(f"csv:{tmp_path}")
    assert len(strict.index()) == 2
    with pytest.raises(DataError, match="timestamps unique"):
        strict.index(full=True)


# ---- column spellings ----------------------------------------------------------------------------

VARIANTS = {
    "lower": ("date,open,high,low,close,volume\n2003-02-03,10,11,9,10.5,7\n", True, 10.5),
    "adj_both": (
        "Datetime,Open,High,Low,Close,Adj Close,Volume\n2003-02-03,10,11,9,10.5,5.2,7\n",
        True,
        10.5,
    ),
    "adj_only": ("Date,Adj Close\n2003-02-03,5.25\n", False, 5.25),
    "adj_snake": ("date,adj_close\n2003-02-03,5.25\n", False, 5.25),
    "short": ("timestamp,o,h,l,c,v\n2003-02-03,10,11,9,10.5,7\n", True, 10.5),
    "upper_semicolon": ("DATE;OPEN;HIGH;LOW;CLOSE\n2003-02-03;10;11;9;10.5\n", True, 10.5),
    "angle": ("<DATE>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>\n20030203,10,11,9,10.5,7\n", True, 10.5),
    "split_time": ("Date,Time,Open,High,Low,Close\n2003-02-03,00:00,10,11,9,10.5\n", True, 10.5),
    "price": ("time,price\n2003-02-03,10.5\n", False, 10.5),
    "epoch_s": ("timestamp,close\n1044230400,10.5\n", False, 10.5),
    "epoch_ms": ("timestamp,close\n1044230400000,10.5\n", False, 10.5),
    "tz": ("Date,Close\n2003-02-03T01:00:00+01:00,10.5\n", False, 10.5),
    "index_col": (",Open,High,Low,Close,Volume\n2003-02-03,10,11,9,10.5,7\n", True, 10.5),
    "spaces": ("Date, Open, High, Low, Close\n2003-02-03, 10, 11, 9, 10.5\n", True, 10.5),
}


@pytest.mark.parametrize("key", sorted(VARIANTS))
def test_column_variants(tmp_path, key):
    text, has_ohlc, close = VARIANTS[key]
    write(tmp_path, "X.csv", text)
    s = open_source(f"csv:{tmp_path}").load("X")
    assert s.has_ohlc is has_ohlc
    assert s.close[0] == close
    assert s.time[0] == np.datetime64("2003-02-03", "ns").view(np.int64)
    if has_ohlc:
        assert (s.open[0], s.high[0], s.low[0]) == (10.0, 11.0, 9.0)
    else:
        assert s.open is s.close and s.high is s.close and s.low is s.close


def test_gzip_csv_and_volume(tmp_path):
    with gzip.open(tmp_path / "Z.csv.gz", "wt") as fh:
        fh.write(GOOD)
    src = open_source(f"csv:{tmp_path}")
    assert src.index() == [("Z", 5)]
    s = src.load("Z")
    assert s.volume.tolist() == [100.0] * 5 and s.dates[-1] == np.datetime64("2003-02-07")


def test_parquet_with_datetime_index_and_variants(tmp_path):
    idx = pd.date_range("2020-01-01", periods=4, freq="D")
    pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5}, index=idx).to_parquet(
        tmp_path / "A.parquet"
    )
    pd.DataFrame({"Timestamp": idx.tz_localize("UTC"), "Adj Close": [1.0, 2, 3, 4]}).to_parquet(
        tmp_path / "B.parquet", index=False
    )
    src = open_source(f"parquet:{tmp_path}")
    assert src.index() == [("A", 4), ("B", 4)]
    a, b = src.load("A"), src.load("B")
    assert a.has_ohlc and a.close.tolist() == [1.5] * 4
    assert not b.has_ohlc and b.close.tolist() == [1, 2, 3, 4]
    assert np.array_equal(a.time, b.time) and np.array_equal(a.time, idx.as_unit("ns").asi8)


def test_parquet_bad_data_named(tmp_path):
    pd.DataFrame({"Date": ["2020-01-02", "2020-01-01"], "Close": [1.0, 2.0]}).to_parquet(
        tmp_path / "Q.parquet", index=False
    )
    with pytest.raises(DataError) as info:
        open_source(f"parquet:{tmp_path}").load("Q")
    assert info.value.rule == V.RULE_SORTED and info.value.file == str(tmp_path / "Q.parquet")
