"""Issue 14, report kinds: chart file names are built from a cleaned symbol name and stay inside
the plot folder; a file that is not a finished results file gets one line and exit 2; names that
are not ASCII read back."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pytest

from conftest import PY, ROOT, mpi_env, mpiexec_cmd, run

CASES = ROOT / "tests" / "data" / "faults"
FAULT = str(ROOT / "tests" / "progs" / "score_fault.py")


def score(data, out, *extra, n=2, prog=None, env=None):
    args = [PY, prog] if prog else [PY, "-m", "mpiapp.score"]
    return run(
        mpiexec_cmd(
            n,
            *args,
            "--data",
            str(data),
            "--out",
            str(out),
            "--no-progress",
            "--set",
            "scan.window_bars=100",
            *extra,
        ),
        timeout=180,
        env=mpi_env(env),
    )


def report(*args):
    return run([PY, "-m", "mpiapp.report", *map(str, args)], timeout=120)


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


def one_line(r, *parts):
    assert r.returncode == 2, r.output
    assert "Traceback" not in r.output, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and all(p in lines[0] for p in parts), r.stderr


def test_report_path_case_charts_stay_in_the_folder(tmp_path):
    """The handed file: one symbol named x/../../../../../tmp/probe/ESCAPED."""
    work = tmp_path / "work"
    work.mkdir()
    out = work / "r.h5"
    r = score(f"hdf5:{CASES / 'report-path' / 'packed_escape.h5'}", out)
    assert r.returncode == 0, r.output
    plots = work / "deep" / "png"
    r = report(out, "--top", "3", "--plot", plots)
    assert r.returncode == 0, r.output
    inside = files_under(plots)
    assert len(inside) >= 1 and all("/" not in f and f.endswith(".png") for f in inside), inside
    assert sorted(files_under(work)) == sorted(["r.h5"] + [f"deep/png/{f}" for f in inside])
    assert not os.path.exists("/tmp/probe/ESCAPED_bullish.png")
    assert not os.path.exists("/tmp/probe/ESCAPED_bearish.png")


NAMES = ["a/b", "..", "日経225", "Börse Stuttgart DAX", "N" * 300, "a_b"]


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """Constructed: a packed HDF5 file of planted impulses under hostile and non-ASCII names,
    scanned by the real job."""
    from mpiapp.io import synthetic

    tmp = tmp_path_factory.mktemp("named")
    parts = [synthetic.generate(7, i, 700)[0] for i in range(len(NAMES))]
    src = tmp / "named.h5"
    with h5py.File(src, "w") as f:
        g = f.create_group("packed")
        g.create_dataset("symbols", data=np.array(NAMES, dtype=object), dtype=h5py.string_dtype())
        g["offsets"] = np.cumsum([0] + [len(s) for s in parts])
        for k in ("time", "open", "high", "low", "close"):
            g[k] = np.concatenate([getattr(s, k) for s in parts])
    out = tmp / "r.h5"
    r = score(f"hdf5:{src}", out)
    assert r.returncode == 0, r.output
    return tmp, out


def test_hostile_and_unicode_names_read_back_and_chart_inside_the_folder(named):
    from mpiapp import results

    tmp, out = named
    sym = results.load_table(out, "symbols")
    assert sorted(sym["name"]) == sorted(NAMES)
    pats = results.load(out)
    assert set(pats["symbol"]) <= set(NAMES) and len(set(pats["symbol"])) >= 4
    plots = tmp / "png"
    r = report(out, "--top", "40", "--plot", plots)
    assert r.returncode == 0, r.output
    inside = files_under(plots)
    structures = int((pats["group"] == pats.index).sum())  # one chart per structure (group primary)
    tops = [f for f in inside if f.startswith("top")]
    assert len(tops) == min(40, structures) == len(set(tops)), inside
    # and one live-count chart per symbol with live counts, each under its own name
    lives = [f for f in inside if f.startswith("live_")]
    assert len(lives) == len(set(lives)) == results.load_table(out, "live")["symbol"].nunique() >= 4
    assert sorted(set(inside) - set(tops) - set(lives)) == ["overview.png"]  # and the per-symbol overview
    assert len(inside) == len(tops) + len(lives) + 1
    assert all("/" not in f and not f.startswith(".") and len(f.encode()) < 120 for f in inside)
    assert sorted(os.listdir(tmp)) == ["named.h5", "png", "r.h5"]
    assert "日経225" in r.stdout or "Börse" in r.stdout or "a/b" in r.stdout


def test_safe_name_of_long_and_escaping_symbols():
    from mpiapp.report import safe_name

    long = safe_name("x" * 20_000)
    assert len(long) < 60 and long.startswith("x" * 40)
    assert safe_name("x" * 20_000) != safe_name("x" * 19_999)
    assert safe_name("a/b") != safe_name("a_b") and "/" not in safe_name("../../etc/passwd")
    assert not safe_name("..").startswith(".") and safe_name("AAPL") == "AAPL"


def test_report_on_an_unfinished_run_says_how_to_resume(tmp_path):
    """The handed case: `mpiapp.report OUT.partial` of a run that failed part-way."""
    out = tmp_path / "r.h5"
    r = score(
        "synthetic:6",
        out,
        "--set",
        "data.synthetic_bars=900",
        "--set",
        "work.unit_size=100",
        prog=FAULT,
        env={"FAULT_KIND": "raise", "FAULT_RANK": "1", "FAULT_AFTER": "3", "PYTHONPATH": str(ROOT)},
    )  # this checkout's mpiapp, not an installed one
    assert r.returncode != 0 and os.path.exists(f"{out}.partial"), r.output
    r = report(f"{out}.partial")
    one_line(r, f"{out}.partial", "an unfinished scan", "work units committed", f"--resume --out {out}")


def test_report_on_files_that_are_not_results(tmp_path, named):
    """Handed: an HDF5 file that is not a results file (a price file). Constructed: a CSV, a
    folder, an empty file, a results file cut short."""
    one_line(report(CASES / "hdf5-bad" / "str_close.h5"), "str_close.h5", "not an mpiapp results file")
    csv = tmp_path / "x.csv"
    csv.write_text("Date,Close\n2001-01-01,1\n")
    one_line(report(csv), "x.csv", "not an HDF5 file")
    (tmp_path / "dir.h5").mkdir()
    one_line(report(tmp_path / "dir.h5"), "dir.h5", "is a folder")
    (tmp_path / "empty.h5").write_bytes(b"")
    one_line(report(tmp_path / "empty.h5"), "empty.h5", "not an HDF5 file")
    _, out = named
    cut = tmp_path / "cut.h5"
    shutil.copy(out, cut)
    with open(cut, "r+b") as fh:
        fh.truncate(os.path.getsize(out) // 2)
    one_line(report(cut), "cut.h5")
