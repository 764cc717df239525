"""The ddp job's faults at its edges, under real mpiexec: a feature store reused or resumed over data
that changed (content hashes), a checkpoint that is a pickle or cut short, a store whose split lies
outside its rows, two jobs in one folder. Each asserts exit code, the one line said, and that the
files a user gave are byte-identical afterwards.
"""

import os
import pickle
import shutil

import pytest

from conftest import PY, ROOT, Background, mpiexec_cmd
from fault_helpers import DDP, digests, edit_close, job, said, write_csvs

FAULT = str(ROOT / "tests" / "progs" / "ddp_fault.py")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """CSV data and a complete run on it: o.h5 and its store o.features.h5."""
    d = tmp_path_factory.mktemp("ddpfaults")
    write_csvs(d / "data", n=3, bars=700)
    r = job(
        "ddp",
        2,
        "--data",
        f"csv:{d / 'data'}",
        "--out",
        str(d / "o.h5"),
        *DDP,
        "--set",
        f"ddp.features_path={d / 'o.features.h5'}",
    )
    assert r.returncode == 0, r.output
    return d


def copy_of(built, tmp_path):
    shutil.copytree(built, tmp_path / "w")
    return tmp_path / "w"


def test_a_store_built_from_data_that_changed_is_not_reused(tmp_path):
    w = tmp_path
    write_csvs(w / "data", n=3, bars=700)
    args = ["--data", f"csv:{w / 'data'}", *DDP]
    r = job(
        "ddp",
        2,
        *args,
        "--set",
        "ddp.max_steps=1",
        "--out",
        str(w / "o.h5"),
        "--set",
        f"ddp.features_path={w / 'o.features.h5'}",
    )
    assert r.returncode == 0, r.output
    edit_close(w / "data" / "S1.csv")  # the same path, the same bars, one other price
    before = digests(w / "data")
    r = job("ddp", 2, *args, "--set", f"ddp.features_path={w / 'o.features.h5'}", "--out", str(w / "p.h5"))
    assert r.returncode == 2, r.output
    line = said(r, "ddp")
    assert "o.features.h5 was built from data that has changed since (changed: S1.csv)" in line, line
    assert "--force" in line
    r = job(
        "ddp",
        2,
        *args,
        "--out",
        str(w / "o.h5"),
        "--set",
        f"ddp.features_path={w / 'o.features.h5'}",
        "--force",
    )  # rebuilds the store (it was reused as it was)
    assert r.returncode == 0, r.output
    assert "feature store" in r.stderr and "rebuild" in r.stderr and "reused" not in r.stderr, r.stderr
    assert digests(w / "data") == before


def test_a_resume_after_the_store_was_rebuilt_from_other_data_is_refused(built, tmp_path):
    w = copy_of(built, tmp_path)
    store = w / "shared.h5"
    base = [
        "--data",
        f"csv:{w / 'data'}",
        *DDP,
        "--set",
        "ddp.max_steps=6",
        "--set",
        f"ddp.features_path={store}",
    ]
    r = job(
        "ddp",
        2,
        *base,
        "--out",
        str(w / "a.h5"),
        prog=FAULT,
        env={"FAULT_KIND": "signal", "FAULT_STEP": "2", "FAULT_RANK": "0"},
    )
    assert r.returncode == 75, r.output
    assert (w / "a.h5.partial").exists()
    edit_close(w / "data" / "S2.csv")
    r = job(
        "ddp", 2, *base, "--set", "ddp.max_steps=1", "--out", str(w / "b.h5"), "--force"
    )  # another job rebuilds it
    assert r.returncode == 0, r.output
    ckpt = digests(w / "a.h5.partial")
    r = job("ddp", 2, *base, "--out", str(w / "a.h5"), "--resume")
    assert r.returncode == 2, r.output
    line = said(r, "ddp")
    assert (
        f"{w / 'a.h5.partial'} was trained on another feature store than {store} (built from other data)"
        in line
    )
    assert "start over with --force" in line
    assert digests(w / "a.h5.partial") == ckpt and not (w / "a.h5").exists()


@pytest.mark.parametrize("kind", ["pickle", "cut", "empty"])
def test_a_checkpoint_that_is_a_pickle_or_cut_short_is_named_before_torch_reads_it(built, tmp_path, kind):
    ckpt = tmp_path / "c.h5.partial"
    if kind == "pickle":
        ckpt.write_bytes(pickle.dumps({"model": {"w": [1.0, 2.0]}, "config": {}}))
        says = f"cannot open {ckpt} to resume it: it is a pickle file (never loaded"
    elif kind == "cut":
        import io

        import torch

        buf = io.BytesIO()
        torch.save({"model": {"w": torch.zeros(4000)}, "config": {}}, buf)
        ckpt.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
        says = f"cannot resume {ckpt}: it is a cut-short checkpoint"
    else:
        ckpt.write_bytes(b"")
        says = f"cannot resume {ckpt}: it is empty (0 bytes"
    before = digests(ckpt, built / "o.features.h5")
    r = job(
        "ddp",
        2,
        "--data",
        f"csv:{built / 'data'}",
        "--out",
        str(tmp_path / "c.h5"),
        *DDP,
        "--set",
        f"ddp.features_path={built / 'o.features.h5'}",
        "--resume",
    )
    assert r.returncode == 2, r.output
    assert says in said(r, "ddp"), r.stderr
    assert digests(ckpt, built / "o.features.h5") == before


def test_a_store_whose_split_lies_outside_its_rows_is_named_damaged(built, tmp_path):
    import h5py

    store = tmp_path / "o.features.h5"
    shutil.copy(built / "o.features.h5", store)
    with h5py.File(store, "r+") as f:
        t = f["symbols"]["train_hi"]
        v = t[:]
        v[1] = 10**9
        t[:] = v
    before = digests(store, built / "data")
    r = job(
        "ddp",
        2,
        "--data",
        f"csv:{built / 'data'}",
        "--out",
        str(tmp_path / "n.h5"),
        *DDP,
        "--set",
        f"ddp.features_path={store}",
    )
    assert r.returncode == 2, r.output
    line = said(r, "ddp")
    assert f"{store} is a damaged feature store: symbol 1's train rows [" in line and "--force" in line, line
    assert digests(store, built / "data") == before


def test_two_jobs_with_different_outputs_in_one_folder_both_finish(tmp_path):
    write_csvs(tmp_path / "data", n=3, bars=700)
    args = ["--data", "csv:data", *DDP, "--set", "ddp.max_steps=3"]
    first = Background(mpiexec_cmd(2, PY, "-m", "mpiapp.ddp", *args, "--out", "results/a.h5"), cwd=tmp_path)
    second = job("ddp", 2, *args, "--out", "results/b.h5", cwd=tmp_path)
    code, _, err = first.wait(timeout=300)
    assert code == 0, err
    assert second.returncode == 0, second.output
    assert sorted(os.listdir(tmp_path / "results")) == ["a.features.h5", "a.h5", "b.features.h5", "b.h5"]
    r = job("ddp", 2, *args, "--out", "results/a.h5", "--force", cwd=tmp_path)
    assert r.returncode == 0 and "results/a.features.h5: reused" in r.stderr, r.output  # its own store
