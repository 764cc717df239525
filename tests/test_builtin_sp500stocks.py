"""The second embedded universe: 20 S&P 500 stocks shipped inside the skfolio package."""

import numpy as np
import pytest

from mpiapp.io.sources import open_source

pytest.importorskip("skfolio")


def test_twenty_stocks_load_offline_close_only():
    src = open_source("builtin:sp500stocks")
    idx = src.index()
    assert len(idx) == 20 and ("AAPL", 8313) in idx and ("XOM", 8313) in idx
    s = src.load("MSFT")
    assert not s.has_ohlc and s.volume is None
    assert str(s.dates[0])[:10] == "1990-01-02" and str(s.dates[-1])[:10] == "2022-12-28"
    assert s.close[0] == pytest.approx(0.384)  # first row of the file: MSFT adjusted close
    assert np.all(np.diff(s.time) > 0)


def test_one_stock_by_ticker_and_a_clear_error_for_a_wrong_one():
    assert [n for n, _ in open_source("builtin:jpm,ko").index()] == ["JPM", "KO"]
    with pytest.raises(ValueError, match="sp500stocks"):
        open_source("builtin:nosuch")
