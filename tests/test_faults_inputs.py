"""Inputs every job shares, under real mpiexec: a config file giving a key twice (refused at load in
every job, said once), and a packed HDF5 price file whose per-symbol flags do not match its symbols
(refused at open, one line). The files given are byte-identical afterwards."""

import pytest

from mpiapp.__main__ import JOBS

from fault_helpers import digests, job, said, write_csvs

MPI_JOBS = sorted(j for j, info in JOBS.items() if info.mpi and info.resume)


@pytest.mark.parametrize("name", MPI_JOBS)
def test_a_key_given_twice_in_a_config_file_is_refused_once(tmp_path, name):
    cfg = tmp_path / "dup.yaml"
    cfg.write_text("runtime:\n  log_level: info\n  log_level: warning\n")
    before = digests(cfg)
    r = job(name, 2, "--config", str(cfg), "--out", str(tmp_path / "x.h5"))
    assert r.returncode == 2, r.output
    line = said(r, name)
    assert f"config error: {cfg}: key 'log_level' is given twice (lines 2 and 3)" in line, line
    assert digests(cfg) == before and sorted(p.name for p in tmp_path.iterdir()) == ["dup.yaml"]


@pytest.mark.parametrize("name", ["train", "ddp"])
def test_a_packed_file_with_flags_for_other_symbols_is_one_line(tmp_path, name):
    import h5py

    from mpiapp.io.convert import write_hdf5
    from mpiapp.io.sources import open_source

    data = write_csvs(tmp_path / "csv", n=4, bars=1500)
    packed = tmp_path / "p.h5"
    write_hdf5(open_source(f"csv:{data}"), str(packed), packed=True)
    with h5py.File(packed, "r+") as f:
        g = f["packed"]
        flags = g["has_ohlc"][:]
        del g["has_ohlc"]
        g["has_ohlc"] = flags[:-1]
    before = digests(packed)
    extra = ["--families", "lgbm"] if name == "train" else ["--set", "ddp.max_steps=1"]
    r = job(name, 2, "--data", f"hdf5:{packed}", *extra, "--out", str(tmp_path / "o.h5"), "--no-progress")
    assert r.returncode == 2, r.output
    assert "/packed/has_ohlc has shape (3,); expected one flag per symbol (4, as /packed/symbols)" in said(
        r, name
    )
    assert digests(packed) == before and not (tmp_path / "o.h5").exists()
