"""The symbols and skipped tables that every symbol job writes (io/symbols.py) and the UTF-8 cut of
their text (io/text.py): names whole, reasons cut at a character boundary, in score, train and ddp's
feature store alike. The expected texts are the inputs themselves (file names, cut by hand)."""

from __future__ import annotations

import ast

import h5py
import numpy as np
import pytest

from conftest import PY, ROOT, mpiexec_cmd, run
from mpiapp.io.text import cut, width
from mpiapp.io.symbols import SKIPPED_COLUMNS, skip_rows, skipped_rows, symbol_list, symbols_table

# ---- the pieces ----------------------------------------------------------------------------------


def test_cut_never_ends_inside_a_character():
    for ch in ("é", "€", "😀"):  # 2, 3 and 4 bytes
        text = "a" + ch * 100
        for n in range(0, 60):
            b = cut(text, n)
            assert len(b) <= n and text.startswith(b.decode("utf-8"))  # strict decode: whole characters
            assert n - len(b) < len(ch.encode())  # only the character that did not fit is left out
    assert cut("abc", 10) == b"abc" and cut(b"ab\xc3\xa9", 3) == b"ab"  # bytes in, cut the same way


def test_width_of_a_text_column():
    assert width([]) == 8 and width(["AAPL"]) == 8
    assert width(["a" * 20, "é" * 15]) == 30  # bytes, not characters
    assert width(["x" * 5000], most=1024) == 1024


def test_symbols_table_names_whole_reasons_cut():
    names = symbol_list([("SHORT", 10), ("€" * 20, 30)], [("BAD", "empty file")])
    assert names == [("SHORT", 10), ("€" * 20, 30), ("BAD", 0)]
    reasons = {2: "é" * 10}
    cols, rows = symbols_table(names, reasons, 1, 3, reason_bytes=9, extra=[("windows", "i4", [4, 0])])
    assert cols == [("name", "S60"), ("bars", "i8"), ("windows", "i4"), ("skipped_reason", "S9")]
    assert [n.decode() for n in rows["name"]] == ["€" * 20, "BAD"]  # never cut
    assert rows["bars"].tolist() == [30, 0] and rows["windows"].tolist() == [4, 0]
    assert [r.decode() for r in rows["skipped_reason"]] == ["", "é" * 4]  # 9 bytes hold 4 whole é


def test_skipped_rows():
    rows = skipped_rows([(3, "x" * 300), (-1, "n: " + "€" * 100)])
    assert rows["symbol"].dtype == np.dtype("i4") and rows["reason"].dtype == np.dtype(SKIPPED_COLUMNS[1][1])
    assert rows["reason"][0] == b"x" * 240
    assert rows["reason"][1].decode() == "n: " + "€" * 79  # 3 + 237 bytes
    assert skip_rows(5, "why")["skipped"]["symbol"].tolist() == [5]


def test_ddp_imports_nothing_from_the_train_unit_module():
    from test_layering import imports

    pkg = ROOT / "mpiapp"
    used = {m for f in sorted((pkg / "engines" / "ddp").rglob("*.py")) for m in imports(f, pkg)}
    assert not [m for m in used if m.startswith("mpiapp.engines.train.unit")], sorted(used)


# ---- through the jobs ----------------------------------------------------------------------------


def write_csv(folder, name, n, seed):
    rng = np.random.default_rng(seed)
    c = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    days = np.datetime64("2001-01-01") + np.arange(n)
    lines = ["Date,Close"] + [f"{d},{c[i]:.6f}" for i, d in enumerate(days)]
    (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")


#: two names longer than 32 bytes that share their first 32, and a name whose skip reason (the name,
#: ": ", the file's message) is cut at 240 bytes inside its 80th three-byte character
LONG_A = "LONG_NAME_OF_A_SYMBOL_FROM_A_VENDOR_A"
LONG_B = "LONG_NAME_OF_A_SYMBOL_FROM_A_VENDOR_B"
EUROS = "a" + "€" * 80


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("names")
    for i, nm in enumerate((LONG_A, LONG_B, "PLAIN")):
        write_csv(d, nm, 1300, i)
    (d / f"{EUROS}.csv").write_text("Date,Close\n")  # header only: rejected by the index in skip mode
    return d


def strict(values) -> list[str]:
    return [v.decode("utf-8") for v in values]  # raises on a split character


def test_train_keeps_long_names_whole_and_cuts_reasons_safely(folder, tmp_path):
    out = tmp_path / "train.h5"
    r = run(
        mpiexec_cmd(
            2,
            PY,
            "-m",
            "mpiapp.train",
            "--data",
            f"csv:{folder}",
            "--out",
            str(out),
            "--no-progress",
            "--families",
            "ridge",
            "--set",
            "train.cv.n_folds=2",
            "--set",
            "train.cv.min_train=100",
            "--set",
            "data.skip_bad_symbols=true",
        ),
        timeout=300,
    )
    assert r.returncode == 0, r.output
    with h5py.File(out, "r") as f:
        names = strict(f["symbols"]["name"][()])
        reasons = strict(f["symbols"]["skipped_reason"][()])
        skipped = strict(f["skipped"]["reason"][()])
    assert names == [LONG_A, LONG_B, "PLAIN", EUROS]  # the index (sorted), then the index's rejects
    assert reasons[:3] == ["", "", ""] and reasons[3] and skipped == [reasons[3]]
    message = f"{folder}/{EUROS}.csv: symbol {EUROS}"  # the DataError's start, longer than 240 bytes
    assert message.startswith(reasons[3]) and len(reasons[3].encode()) > 240 - 3


def test_ddp_store_cuts_skip_reasons_at_a_character(folder, tmp_path):
    store = tmp_path / "features.h5"
    r = run(
        mpiexec_cmd(
            2,
            PY,
            "-m",
            "mpiapp.ddp",
            "--data",
            f"csv:{folder}",
            "--out",
            str(tmp_path / "ddp.h5"),
            "--no-progress",
            "--set",
            f"ddp.features_path={store}",
            "--set",
            "ddp.max_steps=1",
            "--set",
            "ddp.hidden=[8]",
            "--set",
            "ddp.precision=fp32",
            "--set",
            "ddp.batch_size=64",
            "--set",
            "data.skip_bad_symbols=true",
        ),
        timeout=300,
    )
    assert r.returncode == 0, r.output
    with h5py.File(store, "r") as f:
        sym = f["skipped"]["symbol"][()].tolist()
        reasons = strict(f["skipped"]["reason"][()])
        names = strict(f["symbols"]["name"][()])
    assert names == [LONG_A, LONG_B, "PLAIN"]
    assert sym == [-1] and reasons == [f"{EUROS}: "[:80]]  # 1 + 79 * 3 bytes: the 80th € left out


def test_score_symbols_table_unchanged_in_form(folder, tmp_path):
    out = tmp_path / "score.h5"
    r = run(
        mpiexec_cmd(
            2,
            PY,
            "-m",
            "mpiapp.score",
            "--data",
            f"csv:{folder}",
            "--out",
            str(out),
            "--no-progress",
            "--set",
            "scan.window_bars=500",
            "--set",
            "data.skip_bad_symbols=true",
        ),
        timeout=300,
    )
    assert r.returncode == 0, r.output
    with h5py.File(out, "r") as f:
        g = f["symbols"]
        assert list(g) == ["bars", "dropped_rows", "name", "skipped_reason", "windows"]
        assert g["name"].dtype == np.dtype("S241")  # the longest name, whole
        names = strict(g["name"][()])
        reasons = strict(g["skipped_reason"][()])
        bars = g["bars"][()].tolist()
    assert names == [LONG_A, LONG_B, "PLAIN", EUROS] and bars == [1300, 1300, 1300, 0]
    assert reasons[:3] == ["", "", ""] and reasons[3].startswith(f"{folder}/{EUROS}.csv: symbol {EUROS}")
    assert "no bars" in reasons[3]  # the scan's column is as wide as its longest reason (up to 1,024 bytes)
