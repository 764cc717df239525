"""The ddp job on GPUs: NCCL, device mapping, fp16 with the gradient scaler (skipped without CUDA)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from conftest import PY, mpi_env, mpiexec_cmd, run  # noqa: E402

GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(GPUS == 0, reason="no CUDA GPU visible to torch")]

BASE = [
    "--data",
    "synthetic:6",
    "--set",
    "data.synthetic_bars=1200",
    "--set",
    "ddp.batch_size=64",
    "--set",
    "ddp.hidden=[16]",
    "--set",
    "ddp.patience=0",
    "--set",
    "ddp.max_steps=20",
    "--no-progress",
]


def _ddp(n, out, store, *extra):
    cmd = mpiexec_cmd(
        n, PY, "-m", "mpiapp.ddp", *BASE, "--out", str(out), "--set", f"ddp.features_path={store}", *extra
    )
    return run(cmd, timeout=600, env=mpi_env())


def _attrs(path):
    from mpiapp.io.results import read_attrs

    return read_attrs(str(path))


def test_nccl_on_every_gpu_and_the_device_mapping(tmp_path):
    n = min(GPUS, 4)
    r = _ddp(n, tmp_path / "a.h5", tmp_path / "f.h5", "--set", "ddp.precision=fp32")
    assert r.returncode == 0, r.output
    a = _attrs(tmp_path / "a.h5")
    assert a["backend"].startswith("nccl on cuda:")


@pytest.mark.skipif(GPUS < 2, reason="needs 2 GPUs")
def test_nccl_two_ranks_equal_one_rank(tmp_path):
    from mpiapp.ddp import load_state

    for n in (1, 2):
        r = _ddp(n, tmp_path / f"n{n}.h5", tmp_path / "f.h5", "--set", "ddp.precision=fp32")
        assert r.returncode == 0, r.output
    a, b = load_state(str(tmp_path / "n1.h5")), load_state(str(tmp_path / "n2.h5"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4


def test_fp16_with_the_gradient_scaler(tmp_path):
    r = _ddp(1, tmp_path / "h.h5", tmp_path / "f.h5", "--set", "ddp.precision=fp16")
    assert r.returncode == 0, r.output
    a = _attrs(tmp_path / "h.h5")
    assert a["precision"] == "fp16"
    assert int(a["skipped_steps"]) >= 0
    from mpiapp.io.results import read_table

    s = read_table(str(tmp_path / "h.h5"), "steps")
    assert (s["scale"] > 1).all()  # the scaler ran (its scale starts at 65536)
