"""The code is formatted by `ruff format` with the project's settings (pyproject.toml: line length 110),
so a diff shows changes, not re-wrapping; no line opts out of it (the skip marker)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ruff() -> list[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (the dev extra brings it: ./setup.sh)")
    return [exe]


def test_the_code_is_formatted():
    r = subprocess.run(
        ruff() + ["format", "--check", "."], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_check_finds_an_unformatted_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "bad.py").write_text("x = [1,2 ,3]\n")
    r = subprocess.run(
        ruff() + ["format", "--check", "."], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 1 and "bad.py" in r.stdout


def test_no_line_opts_out_of_the_formatter():
    marker = "fmt: " + "skip"
    found = [
        f"{p}:{i}"
        for d in ("mpiapp", "tests", "bench", "launch")
        for p in sorted((ROOT / d).rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if marker in line
    ]
    assert found == []
