"""Files that brokers' platforms export, as they export them: MetaTrader 4's history CSV (no header
line: data.columns names the columns), MetaTrader 5's tab-separated export (<TICKVOL> beside an
all-zero <VOL>), and server wall-clock times (data.timezone). The expected values are written out
by hand from the lines of each file (times converted to UTC by hand, not by the code under test)."""

from __future__ import annotations

import itertools

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import PY, mpiexec_cmd, run
from mpiapp import config
from mpiapp.io import DataError, SourceError, open_from_config, open_source

MT4_COLUMNS = ["Date", "Time", "Open", "High", "Low", "Close", "Volume"]

#: MetaTrader 4, File > Save as CSV of the history centre: no header line
MT4_LINES = """\
2023.01.02,00:00,1.0700,1.0720,1.0690,1.0710,1234
2023.01.02,01:00,1.0710,1.0730,1.0700,1.0725,1100
2023.07.03,00:00,1.0900,1.0950,1.0880,1.0930,987
"""

MT5_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"


def mt5_file(path, vol=(0, 0, 0), tick=(1234, 1100, 987), header=MT5_HEADER):
    rows = [
        ("2023.01.02", "00:00:00", "1.07000", "1.07200", "1.06900", "1.07100"),
        ("2023.01.02", "01:00:00", "1.07100", "1.07300", "1.07000", "1.07250"),
        ("2023.01.02", "02:00:00", "1.07250", "1.07400", "1.07150", "1.07300"),
    ]
    body = "".join("\t".join(r + (str(t), str(v), "12")) + "\n" for r, t, v in zip(rows, tick, vol))
    path.write_text(header + body)
    return path


def utc(*texts):
    return np.array([np.datetime64(t, "ns").view(np.int64) for t in texts])


@pytest.fixture
def mt4(tmp_path):
    folder = tmp_path / "mt4"
    folder.mkdir()
    (folder / "EURUSD.csv").write_text(MT4_LINES)
    return folder


# ---- MetaTrader 4: no header line ----------------------------------------------------------------


def test_mt4_without_columns_says_there_is_no_header_and_names_the_key(mt4):
    src = open_source(f"csv:{mt4}")
    with pytest.raises(
        DataError, match=r"no header line: line 1 is data \(2023\.01\.02, 00:00, 1\.0700"
    ) as info:
        src.index()
    assert "data.columns" in str(info.value) and "EURUSD.csv" in str(info.value)
    assert "[Date, Time, Open, High, Low, Close, Volume]" in str(info.value)


def test_mt4_with_columns_loads_its_lines(mt4):
    src = open_source(f"csv:{mt4}", columns=MT4_COLUMNS)
    assert src.index() == [("EURUSD", 3)]  # every line is a bar: no header line subtracted
    s = src.load("EURUSD")
    assert np.array_equal(s.time, utc("2023-01-02T00:00", "2023-01-02T01:00", "2023-07-03T00:00"))
    assert s.open.tolist() == [1.07, 1.071, 1.09] and s.high.tolist() == [1.072, 1.073, 1.095]
    assert s.low.tolist() == [1.069, 1.07, 1.088] and s.close.tolist() == [1.071, 1.0725, 1.093]
    assert s.volume.tolist() == [1234, 1100, 987] and s.has_ohlc


def test_mt4_server_time_converted_to_utc(mt4):
    """Europe/Athens: UTC+2 in January, UTC+3 (summer time) in July."""
    s = open_source(f"csv:{mt4}", columns=MT4_COLUMNS, timezone="Europe/Athens").load("EURUSD")
    assert np.array_equal(s.time, utc("2023-01-01T22:00", "2023-01-01T23:00", "2023-07-02T21:00"))
    s = open_source(f"csv:{mt4}", columns=MT4_COLUMNS, timezone="+02:00").load("EURUSD")
    assert np.array_equal(s.time, utc("2023-01-01T22:00", "2023-01-01T23:00", "2023-07-02T22:00"))


def test_columns_against_a_file_with_a_header_or_other_fields(tmp_path):
    (tmp_path / "H.csv").write_text("Date,Time,Open,High,Low,Close,Volume\n" + MT4_LINES)
    err = pytest.raises(DataError, open_source(f"csv:{tmp_path}", columns=MT4_COLUMNS).index).value
    assert "line 1 is a header (Date, Time" in str(err) and "data.columns" in str(err) and "H.csv" in str(err)
    (tmp_path / "H.csv").unlink()
    (tmp_path / "F.csv").write_text(MT4_LINES)
    with pytest.raises(DataError, match=r"line 1 has 7 fields .* but data.columns names 6"):
        open_source(f"csv:{tmp_path}", columns=MT4_COLUMNS[:6]).index()
    (tmp_path / "F.csv").write_text(MT4_LINES + "2023.07.03,01:00,1.0930,1.0950,1.0920,1.0940,5,6\n")
    with pytest.raises(DataError, match="F.csv.*Expected 7 fields in line 4, saw 8"):
        open_source(f"csv:{tmp_path}", columns=MT4_COLUMNS).load("F")


@pytest.mark.parametrize(
    "columns, says",
    [
        (["Date", "Open", "High", "Low"], "no Close column"),
        (["Time", "Close", "Close"], "names Close twice"),
        (["Date", 3], "expected a list of column names"),
        ("Date,Close", "expected a list of column names"),
    ],
)
def test_bad_columns_are_refused_naming_the_key(mt4, columns, says):
    with pytest.raises(SourceError, match="data.columns") as info:
        open_source(f"csv:{mt4}", columns=columns)
    assert says in str(info.value)


def test_columns_and_timezone_refused_where_a_source_does_not_read_them(tmp_path):
    with pytest.raises(SourceError, match="data.columns names the columns of CSV files"):
        open_source("builtin:vix", columns=MT4_COLUMNS)
    with pytest.raises(SourceError, match="data.timezone = 'Europe/Athens' .* synthetic times are UTC"):
        open_source("synthetic:2", timezone="Europe/Athens")
    with pytest.raises(SourceError, match="data.timezone = 'Mars/Olympus': not a time zone"):
        open_source(f"csv:{tmp_path}", timezone="Mars/Olympus")


# ---- MetaTrader 5: <TICKVOL> and <VOL> -----------------------------------------------------------


def test_mt5_tick_volume_wins_over_an_all_zero_vol(tmp_path):
    mt5_file(tmp_path / "EURUSD.csv")
    s = open_source(f"csv:{tmp_path}").load("EURUSD")
    assert np.array_equal(s.time, utc("2023-01-02T00:00", "2023-01-02T01:00", "2023-01-02T02:00"))
    assert s.close.tolist() == [1.071, 1.0725, 1.073]
    assert s.volume.tolist() == [1234, 1100, 987]


def test_mt5_real_volume_wins_where_it_has_values(tmp_path):
    mt5_file(tmp_path / "ES.csv", vol=(500, 0, 700))
    assert open_source(f"csv:{tmp_path}").load("ES").volume.tolist() == [500, 0, 700]


def test_mt5_tickvolume_spelling_beside_vol_and_tick_volume_alone(tmp_path):
    mt5_file(tmp_path / "A.csv", header=MT5_HEADER.replace("<TICKVOL>", "<TICKVOLUME>"))
    mt5_file(tmp_path / "B.csv", header=MT5_HEADER.replace("<VOL>", "<REAL>"))
    src = open_source(f"csv:{tmp_path}")
    assert src.load("A").volume.tolist() == [1234, 1100, 987]  # was "2 columns could be Volume"
    assert src.load("B").volume.tolist() == [1234, 1100, 987]


def test_two_tick_volume_columns_are_refused(tmp_path):
    mt5_file(tmp_path / "A.csv", header=MT5_HEADER.replace("<SPREAD>", "<TICKVOLUME>"))
    with pytest.raises(
        DataError, match="2 columns could be tick volume: '<TICKVOLUME>', '<TICKVOL>'; keep one"
    ):
        open_source(f"csv:{tmp_path}").index()


def test_mt5_server_time_with_a_named_zone(tmp_path):
    mt5_file(tmp_path / "EURUSD.csv")
    s = open_source(f"csv:{tmp_path}", timezone="Europe/Athens").load("EURUSD")
    assert np.array_equal(s.time, utc("2023-01-01T22:00", "2023-01-01T23:00", "2023-01-02T00:00"))


# ---- data.timezone -------------------------------------------------------------------------------


def write(folder, name, text):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def bars(times):
    return "".join(f"{t},1.0,1.1,0.9,1.05\n" for t in times)


def test_timezone_clock_changes(tmp_path):
    """Athens, 2023: clocks forward 03:00 -> 04:00 on 26 March, back 04:00 -> 03:00 on 29 October."""
    head = "Date,Open,High,Low,Close\n"
    back = write(
        tmp_path / "a",
        "X.csv",
        head + bars(["2023-10-29 02:00", "2023-10-29 03:00", "2023-10-29 03:00", "2023-10-29 04:00"]),
    )
    s = open_source(f"csv:{back}", timezone="Europe/Athens").load("X")  # 03:00 twice, in order
    assert np.array_equal(
        s.time, utc("2023-10-28T23:00", "2023-10-29T00:00", "2023-10-29T01:00", "2023-10-29T02:00")
    )
    once = write(
        tmp_path / "b", "X.csv", head + bars(["2023-10-29 02:00", "2023-10-29 03:30", "2023-10-29 04:00"])
    )
    err = pytest.raises(DataError, open_source(f"csv:{once}", timezone="Europe/Athens").load, "X").value
    assert err.row == 1 and "'2023-10-29 03:30' is ambiguous in Europe/Athens" in str(err)
    gap = write(
        tmp_path / "c", "X.csv", head + bars(["2023-03-26 02:00", "2023-03-26 03:30", "2023-03-26 04:00"])
    )
    err = pytest.raises(DataError, open_source(f"csv:{gap}", timezone="Europe/Athens").load, "X").value
    assert err.row == 1 and "'2023-03-26 03:30' does not exist in Europe/Athens" in str(err)
    fixed = open_source(f"csv:{gap}", timezone="UTC+02:00").load("X")  # a fixed offset has no gap
    assert np.array_equal(fixed.time, utc("2023-03-26T00:00", "2023-03-26T01:30", "2023-03-26T02:00"))


def test_timezone_leaves_offsets_and_epoch_numbers_alone(tmp_path):
    head = "Date,Open,High,Low,Close\n"
    f = write(tmp_path / "a", "X.csv", head + bars(["2023-01-02T00:00:00+01:00", "2023-01-03 00:00"]))
    s = open_source(f"csv:{f}", timezone="America/New_York").load("X")
    assert np.array_equal(s.time, utc("2023-01-01T23:00", "2023-01-03T05:00"))  # EST: UTC-5
    e = write(tmp_path / "b", "X.csv", head + bars(["1672617600", "1672704000"]))
    s = open_source(f"csv:{e}", timezone="America/New_York").load("X")
    assert np.array_equal(s.time, utc("2023-01-02T00:00", "2023-01-03T00:00"))
    d = write(tmp_path / "c", "X.csv", head + bars(["20230102", "20230703"]))
    s = open_source(f"csv:{d}", timezone="America/New_York").load("X")
    assert np.array_equal(s.time, utc("2023-01-02T05:00", "2023-07-03T04:00"))  # EDT: UTC-4


def test_timezone_of_naive_parquet_datetimes(tmp_path):
    pytest.importorskip("pyarrow")
    df = pd.DataFrame(
        {"Close": [1.0, 1.1]}, index=pd.DatetimeIndex(["2023-01-02", "2023-07-03"], name="Date")
    )
    (tmp_path / "p").mkdir()
    df.to_parquet(tmp_path / "p" / "N.parquet")
    df.tz_localize("Asia/Tokyo").to_parquet(tmp_path / "p" / "A.parquet")
    src = open_source(f"parquet:{tmp_path / 'p'}", timezone="America/New_York")
    assert np.array_equal(src.load("N").time, utc("2023-01-02T05:00", "2023-07-03T04:00"))
    assert np.array_equal(src.load("A").time, utc("2023-01-01T15:00", "2023-07-02T15:00"))  # its own zone


def test_default_timezone_is_utc_and_keys_reach_the_source(mt4):
    cfg = config.load(
        overrides=[
            f"data.source=csv:{mt4}",
            "data.columns=[Date, Time, Open, High, Low, Close, Volume]",
            "data.timezone=Europe/Athens",
        ]
    )
    src = open_from_config(cfg, min_bars=1)
    assert src.columns == tuple(MT4_COLUMNS) and src.timezone == "Europe/Athens"
    assert config.load().data.timezone == "UTC" and config.load().data.columns == []


# ---- through the job ----------------------------------------------------------------------------

_RUNS = itertools.count()


def score(tmp_path, data, *sets):
    out = tmp_path / f"r{next(_RUNS)}.h5"
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
    return run(mpiexec_cmd(2, *args), timeout=240), out


def mt4_hours(path, n=300):
    """n hourly MT4 lines of a random walk, from 2023.01.02 00:00 (server time)."""
    rng = np.random.default_rng(3)
    c = 1.07 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    t = pd.date_range("2023-01-02", periods=n, freq="h")
    path.write_text(
        "".join(
            f"{x:%Y.%m.%d},{x:%H:%M},{p:.5f},{p * 1.001:.5f},{p * 0.999:.5f},{p:.5f},{100 + i}\n"
            for i, (x, p) in enumerate(zip(t, c))
        )
    )


def test_score_job_on_an_mt4_folder(tmp_path):
    folder = tmp_path / "mt4"
    folder.mkdir()
    mt4_hours(folder / "EURUSD.csv")
    r, _ = score(tmp_path, f"csv:{folder}")
    assert r.returncode == 2, r.output
    assert "Traceback" not in r.output
    lines = [
        x
        for x in r.stderr.splitlines()
        if "EURUSD.csv" in x and "no header line" in x and "data.columns" in x
    ]
    assert len(lines) == 1, r.stderr  # said once, by one rank
    r, out = score(
        tmp_path,
        f"csv:{folder}",
        "data.columns=[Date,Time,Open,High,Low,Close,Volume]",
        "data.timezone=Europe/Athens",
    )
    assert r.returncode == 0, r.output
    with h5py.File(out, "r") as f:
        assert [n.decode() for n in f["symbols"]["name"][()]] == ["EURUSD"]
        assert f["symbols"]["bars"][()].tolist() == [300]


def test_score_job_refuses_bad_broker_keys_with_exit_2(tmp_path, mt4):
    r, _ = score(tmp_path, f"csv:{mt4}", "data.columns=[Date,Open,High,Low]")
    assert r.returncode == 2 and "Traceback" not in r.output, r.output
    assert "data.columns = ['Date', 'Open', 'High', 'Low']: no Close column" in r.stderr
    r, _ = score(tmp_path, f"csv:{mt4}", "data.timezone=Mars/Olympus")
    assert r.returncode == 2 and "Traceback" not in r.output, r.output
    assert "data.timezone = 'Mars/Olympus': not a time zone" in r.stderr
