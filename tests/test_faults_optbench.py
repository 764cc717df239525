"""The optimizer benchmark's faults at its edges, under real mpiexec: problem names it cannot build, a
problem too large for the memory here, a cache folder that is a file, cache entries and cached
reference solutions changed since they were written, a data file with object arrays, a grid list
naming a value twice, and suboptimality below zero by rounding. Each checks exit code, the one line
said, and that the files a user gave are byte-identical afterwards."""

import glob
import json
import os
import shutil

import numpy as np
import pytest

from fault_helpers import OPT, digests, job, said


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """A finished tiny grid and its cache folder (cell entries and the logistic reference)."""
    d = tmp_path_factory.mktemp("optfaults")
    r = job("optbench", 2, *OPT, "--out", str(d / "x.h5"))
    assert r.returncode == 0, r.output
    return d


@pytest.mark.parametrize(
    "problem,says",
    [
        ("lsq-k1e400-d100", "kappa = 1e400 must be a finite number in [1, 1e+300]"),
        ("lsq-k0.5-d100", "kappa = 0.5 must be a finite number"),
        ("logreg-d0", "d = 0: a logistic problem needs at least 2 dimensions"),
        ("lsq-k1e3-d1", "d = 1: a least-squares problem needs at least 2 dimensions"),
        ("lsq-k1e3-d2000000", "lsq-k1e3-d2000000 needs about"),
        ("lsq-k1e3-d60000", "lsq-k1e3-d60000 needs about"),
    ],
)
def test_a_problem_it_cannot_build_is_one_line_before_anything_runs(tmp_path, problem, says):
    if problem == "lsq-k1e3-d60000":
        import psutil

        if psutil.virtual_memory().available > 150 * 2**30:
            pytest.skip("this machine could build it (150 GiB free)")
    r = job("optbench", 2, *OPT, "--problems", problem, "--out", str(tmp_path / "x.h5"))
    assert r.returncode == 2, r.output
    line = said(r, "optbench")
    assert says in line, line
    if "needs about" in says:
        assert "GiB to build (X is" in line and "GiB of memory free here" in line, line
    assert os.listdir(tmp_path) == []


def test_a_cache_dir_that_is_a_file_is_refused_and_kept(tmp_path):
    f = tmp_path / "cachefile"
    f.write_text("a user's file\n")
    before = digests(f)
    r = job("optbench", 2, *OPT, "--set", f"optbench.cache_dir={f}", "--out", str(tmp_path / "x.h5"))
    assert r.returncode == 2, r.output
    assert f"optbench.cache_dir {f}: is a file, not a folder" in said(r, "optbench")
    assert digests(f) == before and sorted(os.listdir(tmp_path)) == ["cachefile"]


def test_a_cache_entry_changed_since_it_was_written_is_named(cached, tmp_path):
    w = tmp_path / "w"
    shutil.copytree(cached, w)
    entry = sorted(glob.glob(str(w / "x.h5.cache" / "*" / "*.json")))[0]
    doc = json.load(open(entry))
    doc["curve"]["time"] = doc["curve"]["time"][:-1]
    json.dump(doc, open(entry, "w"))
    before = digests(w)
    r = job("optbench", 2, *OPT, "--out", str(w / "x.h5"), "--force")
    assert r.returncode == 2, r.output
    line = said(r, "optbench")
    assert f"optbench cache entry {entry}: curves of unequal length" in line and "remove it" in line, line
    assert digests(w) == before


def test_a_cached_reference_solution_changed_since_it_was_written_is_refused(cached, tmp_path):
    w = tmp_path / "w"
    shutil.copytree(cached, w)
    ref = glob.glob(str(w / "x.h5.cache" / "ref-*.json"))
    assert len(ref) == 1
    doc = json.load(open(ref[0]))
    doc["f_star"] += 1e-3
    json.dump(doc, open(ref[0], "w"))
    before = digests(w)
    r = job("optbench", 2, *OPT, "--out", str(w / "x.h5"), "--force")
    assert r.returncode == 2, r.output
    line = said(r, "optbench")
    assert f"logreg-d10: the cached reference solution {ref[0]} is not this problem's optimum" in line, line
    assert "but the recorded f*" in line and "remove it" in line
    assert digests(w) == before


def test_a_data_file_with_object_arrays_is_named_not_unpickled(tmp_path):
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=np.array([object()] * 3, dtype=object), y_train=np.arange(3))
    before = digests(npz)
    r = job(
        "optbench",
        2,
        *OPT,
        "--problems",
        "mnist",
        "--data-dir",
        str(tmp_path),
        "--out",
        str(tmp_path / "x.h5"),
    )
    assert r.returncode == 2, r.output
    line = said(r, "optbench")
    assert (
        f"mnist: {npz} (--data-dir) cannot be read: it holds object arrays (pickles), which are never loaded"
        in line
    ), line
    assert digests(npz) == before


@pytest.mark.parametrize(
    "key,value", [("step_scales", "[1.0,1.0]"), ("batch_sizes", "[0,64,0]"), ("targets", "[0.001,0.001]")]
)
def test_a_grid_list_naming_a_value_twice_is_refused(tmp_path, key, value):
    r = job("optbench", 2, *OPT, "--set", f"optbench.{key}={value}", "--out", str(tmp_path / "x.h5"))
    assert r.returncode == 2, r.output
    assert f"optbench.{key} lists" in said(r, "optbench") and "twice" in r.stderr
    assert os.listdir(tmp_path) == []


def test_suboptimality_below_zero_by_rounding_is_recorded_as_zero(tmp_path):
    """Least squares with a closed-form f*: Nesterov reaches f* to rounding, where f - f* came out as
    -7e-18 (a few units in the last place of f*) before."""
    from mpiapp.io.results import read_table

    out = tmp_path / "x.h5"
    r = job(
        "optbench",
        2,
        "--problems",
        "lsq-k10-d20",
        "--optimizers",
        "sgd,nesterov",
        "--backends",
        "numpy",
        "--set",
        "optbench.repeats=1",
        "--set",
        "optbench.batch_sizes=[0]",
        "--set",
        "optbench.max_iters=3000",
        "--set",
        "optbench.stop_rel=0",
        "--set",
        "optbench.cache=false",
        "--out",
        str(out),
        "--no-progress",
    )
    assert r.returncode == 0, r.output
    sub = read_table(out, "curves")["subopt"]
    assert sub.min() == 0.0, sub.min()  # reached, and never below
    cells = read_table(out, "cells")
    assert all(m == b"" for m in cells["message"]), cells["message"]
