"""Sources: builtin series, specs, HDF5 layouts and the csv/parquet -> HDF5 converter."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest

from mpiapp import config
from mpiapp.io import BUILTIN_ALL, DataError, SourceError, open_from_config, open_source
from mpiapp.io import validate as V
from mpiapp.io.convert import main as convert_main

# documented lengths and ranges (docs/data.md); WTI/VIX: FRED rows with no value are dropped
BUILTIN_FACTS = {
    "SP500": (5031, "1999-01-04", "1999-01-04", "2018-12-31", True),
    "NASDAQ": (5031, "1999-01-04", "1999-01-04", "2018-12-31", True),
    "WTI": (8321, "1986-01-02", "1986-01-02", "2019-01-03", False),
    "VIX": (1259, "2014-01-03", "2014-01-03", "2019-01-03", False),
    "GOOG": (2148, "2004-08-19", "2004-08-19", "2013-03-01", True),
    "EURUSD": (5000, "2017-04-19", "2017-04-19T09:00", "2018-02-07T15:00", True),
    "BTCUSD": (156, "2012-01-31", "2012-01-31", "2024-12-31", True),
}


def ns(text):
    return np.datetime64(text, "ns").view(np.int64)


def test_builtin_all_index_and_lengths():
    src = open_source("builtin:all", min_bars=500)
    idx = src.index()
    assert [n for n, _ in idx] == ["EURUSD", "GOOG", "NASDAQ", "SP500", "VIX", "WTI"]
    assert len(BUILTIN_ALL) == 6 and "BTCUSD" not in dict(idx)
    for name, n in idx:
        s = src.load(name)
        want_n, _, first, last, ohlc = BUILTIN_FACTS[name]
        assert n == len(s) == want_n
        assert (s.time[0], s.time[-1]) == (ns(first), ns(last))
        assert s.has_ohlc is ohlc and s.symbol == name
        assert np.all(np.diff(s.time) > 0) and np.all(s.close > 0)


def test_builtin_btcusd_by_name_and_too_short_for_a_window():
    s = open_source("builtin:btcusd").load("BTCUSD")
    assert len(s) == 156 and s.time[0] == ns("2012-01-31") and s.time[-1] == ns("2024-12-31")
    with pytest.raises(DataError) as info:
        open_source("builtin:btcusd", min_bars=500).index()
    assert info.value.rule == V.RULE_MIN_BARS and "156 bars" in str(info.value)
    assert open_source("builtin:btcusd", min_bars=500, skip_bad=True).index() == []


def test_builtin_matches_the_packages_loaders():
    import arch.data.sp500

    ref = arch.data.sp500.load()
    s = open_source("builtin:sp500").load("SP500")
    assert np.array_equal(ref["Close"].to_numpy(), s.close)  # Close, not Adj Close
    assert np.array_equal(ref["High"].to_numpy(), s.high)
    assert np.array_equal(ref.index.as_unit("ns").asi8, s.time)


@pytest.mark.parametrize("key", ["sp500", "wti", "eurusd", "jpm", "btcusd"])
def test_builtin_cache_equals_a_fresh_parse(key, tmp_path, monkeypatch):
    """The parsed arrays kept on disk come back identical (OHLCV, close-only, hourly, one column of a
    shared file), without pandas; a damaged cache file is parsed again and replaced."""
    from mpiapp.io.sources import builtin as S

    monkeypatch.setattr(S, "_cache_dirs", lambda: [tmp_path])
    fields = (
        "time",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "symbol",
        "origin",
        "has_ohlc",
        "dropped_rows",
    )

    def fresh():
        S._builtin_cached.cache_clear()
        return S._builtin_cached(key)

    parsed = fresh()  # miss: parsed through pandas, then written
    files = list(tmp_path.glob(f"builtin-{key}-*.npz"))
    assert len(files) == 1
    monkeypatch.setattr(S, "_builtin_frame", lambda k: pytest.fail("parsed again despite the cache"))
    cached = fresh()
    for f in fields:
        a, b = getattr(parsed, f), getattr(cached, f)
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            assert a is not None and b is not None and a.dtype == b.dtype and np.array_equal(a, b), f
            assert not b.flags.writeable
        else:
            assert a == b, f
    assert S._fresh(cached).close.flags.writeable  # handed out as writable copies, as before

    files[0].write_bytes(b"not an npz file")
    monkeypatch.undo()
    monkeypatch.setattr(S, "_cache_dirs", lambda: [tmp_path])
    again = fresh()
    assert np.array_equal(again.close, parsed.close)
    assert files[0].stat().st_size > 100  # replaced by a good copy
    S._builtin_cached.cache_clear()


def test_builtin_cache_key_follows_the_data_file(tmp_path, monkeypatch):
    from mpiapp.io.sources import builtin as S

    data = tmp_path / "x.csv"
    data.write_text("a")
    first = S._cache_name("x", data)
    data.write_text("ab")
    assert S._cache_name("x", data) != first


def test_builtin_from_cache_imports_no_pandas():
    code = (
        "import sys; from mpiapp.io import open_source; s = open_source('builtin:all', min_bars=500); "
        "[s.load(n) for n, _ in s.index()]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)  # fills the cache if empty
    check = code + "; assert 'pandas' not in sys.modules, 'pandas imported'"
    r = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def test_builtin_list_and_errors():
    src = open_source("builtin:goog,vix")
    assert src.names() == ["GOOG", "VIX"]
    assert "Alphabet" in src.describe()
    with pytest.raises(SourceError, match="no builtin series 'spx'"):
        open_source("builtin:spx")
    with pytest.raises(SourceError, match="no symbol 'AAPL'"):
        src.load("AAPL")


@pytest.mark.parametrize("spec", ["nope:1", "synthetic:0", "synthetic:x", "csv:", "/no/such/dir"])
def test_bad_specs(spec):
    with pytest.raises(SourceError):
        open_source(spec)


def test_missing_folder_and_file(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        open_source(f"csv:{tmp_path}/none")
    with pytest.raises(SourceError, match="no \\*.csv"):
        open_source(f"csv:{tmp_path}")
    with pytest.raises(SourceError, match="not found"):
        open_source(f"hdf5:{tmp_path}/none.h5")


def test_open_from_config_passes_min_bars():
    cfg = config.load(
        overrides=["data.source=synthetic:3", "data.synthetic_bars=400", "data.skip_bad_symbols=true"]
    )
    src = open_from_config(cfg, min_bars=cfg.scan.window_bars)
    assert src.min_bars == cfg.scan.window_bars == 500 and src.skip_bad
    assert src.index() == [] and len(src.skipped) == 3  # 400 bars < one 500-bar window
    cfg = config.load()
    assert open_from_config(cfg, min_bars=1).spec == "builtin:all"


def test_open_from_config_reads_only_the_data_section():
    """io knows no job: a config with a data section alone opens (the caller says min_bars)."""
    cfg = config.load(overrides=["data.source=synthetic:2", "data.synthetic_bars=300"])
    only_data = type("Cfg", (), {"data": cfg.data})()
    src = open_from_config(only_data, min_bars=300)
    assert src.index() == [("SYN0000", 300), ("SYN0001", 300)]
    with pytest.raises(TypeError, match="min_bars"):
        open_from_config(cfg)  # no silent default taken from a job's section


# ---- csv / parquet -> hdf5 -----------------------------------------------------------------------


def make_csv_universe(folder):
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2010-01-04", periods=40)
    for k, sym in enumerate(["AAA", "BBB", "CCC"]):
        c = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 40)))
        o = c * np.exp(rng.normal(0, 0.005, 40))
        h = np.maximum(o, c) * (1 + rng.random(40) * 0.01)
        lo = np.minimum(o, c) * (1 - rng.random(40) * 0.01)
        df = pd.DataFrame(
            {
                "Date": days[: 40 - k],
                "Open": o[: 40 - k],
                "High": h[: 40 - k],
                "Low": lo[: 40 - k],
                "Close": c[: 40 - k],
            }
        )
        if sym != "BBB":
            df["Volume"] = rng.integers(1, 10**6, 40 - k)
        df.to_csv(folder / f"{sym}.csv", index=False)
    pd.DataFrame({"Date": days[:10], "Adj Close": np.linspace(1, 2, 10)}).to_csv(
        folder / "DDD.csv", index=False
    )  # close-only


def same_series(a, b):
    assert a.symbol == b.symbol and a.has_ohlc == b.has_ohlc
    for k in ("time", "open", "high", "low", "close"):
        x, y = getattr(a, k), getattr(b, k)
        assert x.dtype == y.dtype and np.array_equal(x, y), k
    assert (a.volume is None) == (b.volume is None)
    if a.volume is not None:
        assert np.array_equal(a.volume, b.volume)


@pytest.mark.parametrize("packed", [False, True])
def test_csv_to_hdf5_round_trip_exact(tmp_path, packed):
    (tmp_path / "csv").mkdir()
    make_csv_universe(tmp_path / "csv")
    out = tmp_path / "prices.h5"
    argv = [f"csv:{tmp_path / 'csv'}", str(out)] + (["--packed"] if packed else [])
    assert convert_main(argv) == 0
    assert not (tmp_path / "prices.h5.partial").exists()
    csv_src = open_source(f"csv:{tmp_path / 'csv'}")
    h5_src = open_source(f"hdf5:{out}")
    assert h5_src.layout == ("packed" if packed else "groups")
    assert h5_src.index() == csv_src.index() == [("AAA", 40), ("BBB", 39), ("CCC", 38), ("DDD", 10)]
    for name in ["DDD", "AAA", "CCC", "BBB"]:  # any order
        same_series(csv_src.load(name), h5_src.load(name))
    assert h5_src.load("DDD").has_ohlc is False and h5_src.load("BBB").volume is None
    with h5py.File(out, "r") as f:
        assert f.attrs["mpiapp_layout"] == ("packed" if packed else "groups")
        if packed:
            assert f["packed/offsets"][()].tolist() == [0, 40, 79, 117, 127]
            assert f["packed/time"].dtype == np.int64
        else:
            assert f["AAA/time"].dtype == np.int64 and f["AAA/close"].dtype == np.float64
    h5_src.close()


def test_parquet_to_hdf5_cli(tmp_path):
    (tmp_path / "pq").mkdir()
    idx = pd.date_range("2021-03-01", periods=12, freq="h")
    pd.DataFrame(
        {"Open": 2.0, "High": 3.0, "Low": 1.0, "Close": np.linspace(1.5, 2.6, 12)},
        index=idx.rename("Datetime"),
    ).to_parquet(tmp_path / "pq" / "EUR.parquet")
    out = tmp_path / "pq.h5"
    run = subprocess.run(
        [sys.executable, "-m", "mpiapp.io.convert", f"parquet:{tmp_path / 'pq'}", str(out), "--packed"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "1 symbols, 12 bars, packed" in run.stdout
    same_series(open_source(f"parquet:{tmp_path / 'pq'}").load("EUR"), open_source(str(out)).load("EUR"))


def test_convert_refuses_bad_data_and_skips_with_flag(tmp_path, capsys):
    (tmp_path / "csv").mkdir()
    make_csv_universe(tmp_path / "csv")
    (tmp_path / "csv" / "BAD.csv").write_text("Date,Close\n2003-02-03,1\n2003-02-03,2\n")
    out = tmp_path / "o.h5"
    assert convert_main([f"csv:{tmp_path / 'csv'}", str(out)]) == 2
    assert "symbol BAD, row 1 (2003-02-03)" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "o.h5.partial").exists()
    assert convert_main([f"csv:{tmp_path / 'csv'}", str(out), "--skip-bad"]) == 0
    assert "skipped BAD" in capsys.readouterr().err
    assert [n for n, _ in open_source(f"hdf5:{out}").index()] == ["AAA", "BBB", "CCC", "DDD"]


# ---- hdf5 written by hand (the documented layouts) ------------------------------------------------


def test_hdf5_groups_by_hand_and_bad_rows(tmp_path):
    path = tmp_path / "hand.h5"
    t = pd.bdate_range("2001-01-01", periods=5).as_unit("ns").asi8
    with h5py.File(path, "w") as f:
        g = f.create_group("OK")
        g["time"], g["close"] = t, np.arange(1.0, 6.0)  # close-only (no open/high/low)
        g = f.create_group("BADHIGH")
        g["time"], g["open"], g["high"] = t, np.full(5, 2.0), np.array([3, 3, 1.9, 3, 3.0])
        g["low"], g["close"] = np.ones(5), np.full(5, 2.5)
        g = f.create_group("SHORTCOL")
        g["time"], g["close"] = t, np.ones(4)
        g = f.create_group("NOCLOSE")
        g["time"] = t
        g = f.create_group("FLOATTIME")
        g["time"], g["close"] = t.astype(float), np.ones(5)
    src = open_source(f"hdf5:{path}", skip_bad=True)
    assert src.layout == "groups"
    assert [n for n, _ in src.index()] == ["BADHIGH", "FLOATTIME", "OK", "SHORTCOL"]
    ok = src.load("OK")
    assert not ok.has_ohlc and ok.close.tolist() == [1, 2, 3, 4, 5]
    assert src.try_load("BADHIGH") is None and src.try_load("SHORTCOL") is None
    assert src.try_load("FLOATTIME") is None
    errs = src.errors
    assert errs["NOCLOSE"].rule == V.RULE_COLUMNS
    assert errs["BADHIGH"].rule == V.RULE_HIGH and errs["BADHIGH"].row == 2
    assert str(errs["BADHIGH"]).startswith(f"{path}: symbol BADHIGH, row 2 (2001-01-03): High 1.9")
    assert errs["SHORTCOL"].rule == V.RULE_LENGTHS
    assert errs["FLOATTIME"].rule == V.RULE_TIME_PARSE and "int64" in str(errs["FLOATTIME"])
    assert src.index() == [("OK", 5)]


def test_hdf5_packed_by_hand(tmp_path):
    path = tmp_path / "packed.h5"
    t = pd.bdate_range("2001-01-01", periods=3).as_unit("ns").asi8
    with h5py.File(path, "w") as f:
        g = f.create_group("packed")
        g.create_dataset("symbols", data=["ZZZ", "AAA"], dtype=h5py.string_dtype())
        g["offsets"] = np.array([0, 3, 6])
        g["time"] = np.concatenate([t, t])
        g["close"] = np.array([1, 2, 3, 4, 5, 6.0])
        g["open"] = g["high"] = g["low"] = np.array([1, 2, 3, 4, 5, 6.0])
    with open_source(str(path)) as src:
        assert src.index() == [("AAA", 3), ("ZZZ", 3)]
        assert src.load("AAA").close.tolist() == [4, 5, 6] and src.load("AAA").has_ohlc
        assert src.load("ZZZ").volume is None
    with h5py.File(path, "a") as f:
        f["packed/offsets"][2] = 5
    with pytest.raises(SourceError, match="offsets"):
        open_source(f"hdf5:{path}")


@pytest.mark.parametrize("spec", ["builtin:vix", "builtin:goog", "synthetic:2"])
def test_loads_are_fresh_writable_arrays(spec):
    src = open_source(spec)
    name = src.names()[0]
    a = src.load(name)
    assert a.close.flags.writeable and a.time.flags.writeable
    keep = a.close[0]
    a.close[0] = -1.0
    assert src.load(name).close[0] == keep


# ---- the converter never removes what it was given (issue 14, kind 2) ----------------------------


def test_convert_refuses_to_write_over_its_input(tmp_path, capsys):
    (tmp_path / "csv").mkdir()
    make_csv_universe(tmp_path / "csv")
    h5 = tmp_path / "prices.h5"
    assert convert_main([f"csv:{tmp_path / 'csv'}", str(h5)]) == 0
    before = h5.read_bytes()
    capsys.readouterr()
    # the output is the HDF5 input itself (also with --force), or a CSV file of the input folder
    for argv in (
        [f"hdf5:{h5}", str(h5)],
        [f"hdf5:{h5}", str(h5), "--force"],
        [f"csv:{tmp_path / 'csv'}", str(tmp_path / "csv" / "AAA.csv"), "--force"],
    ):
        assert convert_main(argv) == 2
        assert "the output is an input" in capsys.readouterr().err
    assert h5.read_bytes() == before and (tmp_path / "csv" / "AAA.csv").read_text().startswith("Date")
    # an existing output needs --force; someone else's OUT.partial is never touched
    assert convert_main([f"hdf5:{h5}", str(tmp_path / "copy.h5")]) == 0
    assert convert_main([f"hdf5:{h5}", str(tmp_path / "copy.h5")]) == 2
    assert "exists: choose another path, or --force" in capsys.readouterr().err
    (tmp_path / "other.h5.partial").write_text("a user's file")
    assert convert_main([f"hdf5:{h5}", str(tmp_path / "other.h5"), "--force"]) == 2
    assert "other.h5.partial exists" in capsys.readouterr().err
    assert (tmp_path / "other.h5.partial").read_text() == "a user's file"
    assert convert_main([f"hdf5:{h5}", str(tmp_path / "no" / "such" / "x.h5")]) == 2
    assert "does not exist" in capsys.readouterr().err
