"""The README's run of every job, as a user takes it further: `mpiapp.results.load` gives names and
dates (checked against the raw file read with h5py and against the embedded data itself), the train
models load with LightGBM / XGBoost / torch alone and reproduce their stored predictions (the
snippets of docs/train.md, run as they are), and `mpiapp.report FILE --html` makes a page that a
real browser (headless Chromium, driven through chromedriver) shows without a console error, with
every chart loaded, every table's rows and in-page links that land on their section.

The runs are the README's own lines ("Each job on its embedded default"), read from README.md, with
--out pointed into a temporary folder. Chromium and its driver come from Debian (apt-get, installed
here when missing, as the Slurm test does; skipped, saying why, where that cannot be done)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import PY, ROOT, mpi_env, mpiexec_cmd, run

#: slow (~3 min: every README job line, read back, its HTML page in Chromium): `python -m pytest -m slow`
pytestmark = pytest.mark.slow

JOB_LINE = re.compile(r"^mpiexec .*?-n (\d+) \S+ -m mpiapp\.(\w+) (.*?)\s+# (?:.*? )?(results/\S+)")
#: statuses of an optbench cell, as docs/optbench.md names them
OPT_STATUS = {"converged", "budget", "diverged", "failed", "parity"}


def readme_runs() -> dict:
    """{job: (ranks, args)} from the README's block of one line per job."""
    out = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        m = JOB_LINE.match(line.strip())
        if m:
            out.setdefault(m.group(2), (int(m.group(1)), shlex.split(m.group(3))))
    return out


JOBS = ("score", "train", "optbench", "hpo", "ddp")


def test_the_readme_lists_one_run_per_job():
    assert set(readme_runs()) >= set(JOBS), readme_runs()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """job -> its results file, each made by the README's command (with --out here)."""
    folder = tmp_path_factory.mktemp("readme")
    runs = readme_runs()
    out = {}
    for job in JOBS:
        n, args = runs[job]
        path = folder / f"{job}.h5"
        r = run(
            mpiexec_cmd(n, PY, "-m", f"mpiapp.{job}", *args, "--no-progress", "--out", str(path)),
            timeout=900,
            env=mpi_env(),
        )
        assert r.returncode == 0, (job, r.output[-3000:])
        out[job] = str(path)
    return out


def raw(path, table) -> dict:
    with h5py.File(path, "r") as f:
        g = f[table]
        return {c.decode(): g[c.decode()][:] for c in g.attrs["columns"]}


def names_of(path, table="symbols", column="name") -> np.ndarray:
    with h5py.File(path, "r") as f:
        return np.array([x.decode() for x in f[table][column][:]], dtype=object)


# --- 1. results.load: names, not codes ------------------------------------------------------------------
@pytest.mark.parametrize("job", JOBS)
def test_load_returns_every_row_of_the_jobs_table_without_codes(files, job):
    from mpiapp import results
    from mpiapp.__main__ import JOBS as REGISTRY

    path = files[job]
    df = results.load(path)
    stored = raw(path, REGISTRY[job].table)
    assert len(df) == len(next(iter(stored.values())))
    for col in ("symbol", "family", "feature", "problem", "optimizer", "backend", "status"):
        if col in df:
            assert df[col].dtype == "category", (col, df[col].dtype)
            assert all(isinstance(v, str) for v in df[col].cat.categories), col
    if "symbol" in stored:  # the names the symbols table gives those ids (read with h5py)
        assert list(df["symbol"].astype(str)) == list(names_of(path)[stored["symbol"]])


def test_train_names_and_times(files):
    from arch.data import sp500

    from mpiapp import results

    path = files["train"]
    m = results.load(path, "metrics")
    with h5py.File(path, "r") as f:
        families = f.attrs["families"].decode().split(",")
    assert set(m["family"].astype(str)) == set(families)
    # one name per stored id, one id per name
    codes = raw(path, "metrics")["family"]
    assert pd.crosstab(m["family"].astype(str), codes).astype(bool).sum(axis=1).eq(1).all()
    pred = results.load(path, "predictions")
    assert str(pred["time"].dtype) == "datetime64[ns, UTC]"
    days = pd.DatetimeIndex(sp500.load().index).tz_localize("UTC")
    spx = pred.loc[pred["symbol"] == "SP500"]
    assert len(spx) and spx["time"].isin(days).all()
    # the bar of each prediction is that day's position in the embedded series
    assert (days[spx["bar"].to_numpy()] == spx["time"].to_numpy()).all()
    imp = results.load(path, "importances")
    assert set(imp["feature"].astype(str)) <= set(names_of(path, "features", "name"))
    assert results.load(path, "baselines")["baseline"].astype(str).isin({"zero", "historical_mean"}).all()
    r = results.load(path, "metrics", raw=True)
    assert r["family"].dtype.kind == "i" and r["symbol"].dtype.kind == "i"


def test_optbench_names(files):
    from mpiapp import results

    path = files["optbench"]
    with h5py.File(path, "r") as f:
        grid = json.loads(f.attrs["optbench_grid"])
    cells, stored = results.load(path, "cells"), raw(path, "cells")
    probs = raw(path, "problems")
    by_id = dict(zip(probs["problem"].tolist(), [x.decode() for x in probs["name"]]))
    assert list(cells["problem"].astype(str)) == [by_id[i] for i in stored["problem"]]
    assert list(cells["optimizer"].astype(str)) == [grid["optimizers"][i] for i in stored["optimizer"]]
    assert list(cells["backend"].astype(str)) == [grid["backends"][i] for i in stored["backend"]]
    assert list(cells["batch"]) == [grid["batch_sizes"][i] for i in stored["batch"]]
    assert set(cells["status"].astype(str)) <= OPT_STATUS
    summ = results.load(path)
    assert set(summ["optimizer"].astype(str)) == set(grid["optimizers"])


def test_score_dates_are_the_bars_dates(files):
    from arch.data import sp500

    from mpiapp import results

    pats = results.load(files["score"])
    assert str(pats["d0"].dtype) == "datetime64[ns, UTC]"
    days = pd.DatetimeIndex(sp500.load().index).tz_localize("UTC")
    spx = pats[pats["symbol"] == "SP500"]
    assert len(spx)
    for i in range(6):
        assert (days[spx[f"t{i}"].to_numpy()] == spx[f"d{i}"].to_numpy()).all()
    live = results.load(files["score"], "live")
    assert str(live["d4"].dtype) == "datetime64[ns, UTC]"
    assert (live["d4"].isna() == (raw(files["score"], "live")["t4"] < 0)).all()  # not made yet: NaT


@pytest.mark.parametrize("job", JOBS)
def test_tables_lists_every_table_with_its_rows(files, job):
    from mpiapp import results

    path = files[job]
    t = results.tables(path).set_index("table")
    with h5py.File(path, "r") as f:
        groups = {
            k: len(f[k][f[k].attrs["columns"][0].decode()])
            for k in f
            if isinstance(f[k], h5py.Group) and "columns" in f[k].attrs
        }
    assert {k: int(t.loc[k, "rows"]) for k in groups} == groups
    assert (t.loc[list(groups), "what"].str.len() > 10).all(), t


def test_a_wrong_table_name_lists_the_tables(files):
    from mpiapp import results

    with pytest.raises(KeyError) as e:
        results.load(files["ddp"], "model")
    assert "not a table" in str(e.value) and "epochs" in str(e.value) and "steps" in str(e.value)
    with pytest.raises(KeyError) as e:
        results.load(files["train"], "metric")
    assert "no table 'metric'" in str(e.value) and "metrics" in str(e.value) and "predictions" in str(e.value)


# --- 2. models usable outside mpiapp ----------------------------------------------------------------------
def doc_blocks(doc: str, heading: str) -> list[str]:
    """The ```python blocks of a docs section (from `heading` to the next '## ')."""
    text = (ROOT / "docs" / doc).read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_docs_snippet_loads_a_lightgbm_model_alone_and_reproduces_its_predictions(files, tmp_path):
    code = doc_blocks("train.md", "## Using a model outside mpiapp")[0]
    assert "lgb.Booster" in code and "np.array_equal" in code
    code = code.replace('"results/train.h5"', repr(files["train"]))
    r = subprocess.run(
        [PY, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert r.returncode == 0, r.stderr[-3000:]


def _model(path, symbol, family_id, fold):
    import zlib

    with h5py.File(path, "r") as f:
        s = list(names_of(path)).index(symbol)
        m = {k: f["models"][k][:] for k in ("symbol", "family", "fold", "start", "count")}
        i = np.flatnonzero((m["symbol"] == s) & (m["family"] == family_id) & (m["fold"] == fold))[0]
        blob = zlib.decompress(f["model_bytes/byte"][m["start"][i] : m["start"][i] + m["count"][i]].tobytes())
    p = raw(path, "predictions")
    rows = (p["symbol"] == s) & (p["family"] == family_id) & (p["fold"] == fold)
    return blob, p["bar"][rows], p["yhat"][rows]


@pytest.mark.parametrize("symbol,fold", [("GOOG", 0), ("WTI", 4)])
def test_xgboost_and_lightgbm_rf_load_alone_and_reproduce_predictions(files, symbol, fold):
    import lightgbm as lgb
    import xgboost as xgb

    import mpiapp.features

    path = files["train"]
    X = mpiapp.features.build(symbol, path)
    blob, bars, stored = _model(path, symbol, 1, fold)  # xgb
    b = xgb.Booster()
    b.load_model(bytearray(blob))
    assert b.feature_names == mpiapp.features.names(X)
    assert np.array_equal(b.predict(xgb.DMatrix(X.loc[bars, b.feature_names])), stored)
    blob, bars, stored = _model(path, symbol, 2, fold)  # rf: LightGBM's random forest
    booster = lgb.Booster(model_str=blob.decode())
    assert booster.feature_name() == mpiapp.features.names(X)
    assert np.array_equal(booster.predict(X.loc[bars, booster.feature_name()].to_numpy()), stored)
    assert X.loc[bars, "trained"].all()


def test_the_docs_mlp_lines_rebuild_it_with_torch_alone(files):
    import torch  # noqa: F401  (the snippet's only library besides the standard one)

    import mpiapp.features

    path = files["train"]
    blob, bars, stored = _model(path, "NASDAQ", 3, 1)
    X = mpiapp.features.build("NASDAQ", path).loc[bars]
    import zlib

    scope = {"stored_bytes": zlib.compress(blob), "X": X}
    exec(doc_blocks("train.md", "## Using a model outside mpiapp")[1], scope)
    got = scope["forecast"].double().numpy()
    assert np.allclose(got, stored, rtol=1e-5, atol=1e-9), np.max(np.abs(got - stored))


def test_the_ddp_spec_rebuilds_the_model_with_torch_alone(files):
    import torch

    from mpiapp.ddp import load_model

    code = doc_blocks("ddp.md", "## Results file")[0].replace('"results/ddp.h5"', repr(files["ddp"]))
    scope = {}
    exec(code, scope)
    ref = load_model(files["ddp"])
    spec = scope["spec"]
    x = torch.randn(64, spec["window"], spec["inputs"]) * 0.01
    with torch.no_grad():
        assert torch.allclose(scope["predict"](x), ref(x) * ref.y_scale, rtol=1e-5, atol=1e-8)


# --- 3. the HTML page in a real browser ---------------------------------------------------------------------
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
]


def install_chromium() -> str | None:
    """None when chromium and chromedriver are there (installed now with apt-get when missing and
    allowed), else why not."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return None
    if os.environ.get("MPIAPP_APT_INSTALL", "1") == "0":
        return "chromium / chromedriver not installed and MPIAPP_APT_INSTALL=0"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "chromium / chromedriver not installed, and installing them needs root and apt-get"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", "chromium-driver"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:  # the package lists may be missing on a fresh machine
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return f"apt-get install chromium chromium-driver failed ({r.returncode}): {r.stderr.strip()[-400:]}"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    why = install_chromium()
    if why:
        pytest.skip(why)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip(
            "selenium is not installed (it is in the dev extra: ./setup.sh, or pip install 'mpiapp[dev]')"
        )
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def screenshot_dir(tmp_path_factory):
    """Where the pages' screenshots are kept: $MPIAPP_SCREENSHOTS, else pytest's base temp folder."""
    d = os.environ.get("MPIAPP_SCREENSHOTS") or str(tmp_path_factory.getbasetemp() / "report-screenshots")
    os.makedirs(d, exist_ok=True)
    return d


@pytest.mark.parametrize("job", JOBS)
def test_the_html_page_in_headless_chromium(files, browser, job, tmp_path, tmp_path_factory):
    from selenium.webdriver.common.by import By

    from mpiapp.engines.page import MAX_ROWS

    page, charts = tmp_path / f"{job}.html", tmp_path / "png"
    r = run([PY, "-m", "mpiapp.report", files[job], "--html", str(page), "--plot", str(charts)], timeout=600)
    assert r.returncode == 0, r.output[-3000:]
    pngs = sorted(p for p in os.listdir(charts) if p.endswith(".png"))
    assert pngs
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # nothing fetched from anywhere
    browser.get(page.as_uri())
    browser.get_log("browser")  # (cleared: only what this page logs from here on counts below)
    browser.refresh()
    # every chart of the job, loaded
    imgs = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
    )
    assert sorted(a + ".png" for a, _, _ in imgs) == pngs
    assert all(done and w > 0 for _, done, w in imgs), imgs
    # every table with its rows (as many as the file has, up to the page's cap)
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('table.data'))"
        ".map(t => [t.dataset.table, t.tBodies[0].rows.length])"
    )
    assert shown
    with h5py.File(files[job], "r") as f:
        for name, n in shown:
            g = f[name]
            assert n == min(len(g[g.attrs["columns"][0].decode()]), MAX_ROWS), (name, n)
    # an in-page link lands on its section
    target = shown[0][0]
    link = browser.find_element(By.CSS_SELECTOR, f'nav a[href="#table-{target}"]')
    link.click()
    top = browser.execute_script(
        "return [location.hash, document.getElementById(arguments[0])"
        ".getBoundingClientRect().top, window.scrollY]",
        f"table-{target}",
    )
    assert top[0] == f"#table-{target}" and abs(top[1]) < 2 and top[2] > 0, top
    # sorting by a column header reorders the rows
    th = browser.find_element(By.CSS_SELECTOR, f'table[data-table="{target}"] th')
    th.click()
    assert "sorted-asc" in th.get_attribute("class")
    logs = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not logs, logs
    browser.execute_script("window.scrollTo(0, 0)")
    shot = os.path.join(screenshot_dir(tmp_path_factory), f"report-{job}.png")
    assert browser.save_screenshot(shot)
