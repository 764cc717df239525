"""`--scan FILE`: a score file's patterns become features from the bar each became known."""

import numpy as np
import pytest

from conftest import PY, mpiexec_cmd, mpi_env, run
from test_train_job import FAST, _write_csv


def _scan_file(path, names, with_known_bar=True):
    """A hand-made score results file: symbols and patterns tables (only the columns train reads)."""
    import h5py

    rng = np.random.default_rng(5)
    n = 40
    cols = {
        "symbol": rng.integers(0, len(names), n).astype("i4"),
        "direction": rng.choice([-1, 1], n).astype("i1"),
        "t5": rng.integers(250, 1100, n).astype("i8"),
        "score": rng.uniform(0.3, 0.9, n),
    }
    if with_known_bar:
        cols["known_bar"] = cols["t5"] + rng.integers(1, 30, n)
    with h5py.File(path, "w") as f:
        for name, table in (("patterns", cols), ("symbols", {"name": np.array([x.encode() for x in names])})):
            g = f.create_group(name)
            for c, v in table.items():
                g.create_dataset(c, data=v)
            g.attrs["columns"] = np.array([c.encode() for c in table])
        f.attrs["job"] = "score"


@pytest.fixture(scope="module")
def csvdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("csv")
    for i, nm in enumerate(("AAA", "BBB")):
        _write_csv(d, nm, 1300, i)
    return d


def _train(n, out, data, *extra):
    return run(
        mpiexec_cmd(
            n,
            PY,
            "-m",
            "mpiapp.train",
            "--data",
            data,
            "--out",
            str(out),
            "--families",
            "lgbm",
            *FAST,
            *extra,
        ),
        timeout=300,
        env=mpi_env(),
    )


def test_scan_features_enter_the_models(csvdir, tmp_path):
    from mpiapp.engines.train.dataset import ALL_FEATURES
    from mpiapp.io.results import read_table

    scan = tmp_path / "score.h5"
    _scan_file(scan, ["AAA", "BBB"])
    out = tmp_path / "t.h5"
    r = _train(2, out, f"csv:{csvdir}", "--scan", str(scan))
    assert r.returncode == 0, r.output
    imp = read_table(out, "importances")
    ids = {ALL_FEATURES.index(c) for c in ("scan_score", "scan_dir", "scan_age")}
    assert ids <= set(imp["feature"].tolist())
    trees = imp["family"] == 0  # lgbm (the ridge baseline, trained too, has no gains)
    assert np.sum(imp["gain"][trees & np.isin(imp["feature"], list(ids))]) > 0  # the trees used them


def test_a_scan_file_without_known_bar_is_refused_before_compute(csvdir, tmp_path):
    scan = tmp_path / "old_score.h5"
    _scan_file(scan, ["AAA", "BBB"], with_known_bar=False)
    out = tmp_path / "t.h5"
    r = _train(2, out, f"csv:{csvdir}", "--scan", str(scan))
    assert r.returncode == 2, r.output
    assert (
        f"--scan {scan}: known_bar: the scan's patterns table does not record when each pattern" in r.stderr
    )
    assert not out.exists()
