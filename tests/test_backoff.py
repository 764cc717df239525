"""runtime.backoff.Backoff: the one way a rank waits without spinning (doubling sleeps, a ceiling),
and no other module doubling its own sleeps."""

import re
from pathlib import Path

import pytest

from mpiapp.runtime import backoff
from mpiapp.runtime.backoff import Backoff

PKG = Path(__file__).resolve().parent.parent / "mpiapp"


def test_sleeps_double_up_to_the_ceiling_and_reset_starts_over(monkeypatch):
    slept = []
    monkeypatch.setattr(backoff.time, "sleep", slept.append)
    b = Backoff(0.001, 0.01)
    for _ in range(6):
        b.wait()
    b.reset()
    b.wait()
    assert slept == pytest.approx([0.001, 0.002, 0.004, 0.008, 0.01, 0.01, 0.001])


@pytest.mark.parametrize("first, most", [(0.0, 1.0), (-1.0, 1.0), (0.5, 0.1)])
def test_a_backoff_that_cannot_wait_is_refused(first, most):
    with pytest.raises(ValueError, match="need 0 < first <= most"):
        Backoff(first, most)


DOUBLING = re.compile(r"min\(\s*(2\s*\*\s*\w+|\w+\s*\*\s*2)\s*,")


#: not sleeps: hpo's owner loop doubles the timeout of a queue it reads (rank 0's own trial wakes it)
NOT_SLEEPS = ("runtime/backoff.py", "engines/hpo/owner.py")


def hand_written(pkg: Path) -> list[str]:
    """Lines outside runtime/backoff.py that double a delay themselves."""
    skip = {pkg / p for p in NOT_SLEEPS}
    return [
        f"{f}:{i}"
        for f in sorted(pkg.rglob("*.py"))
        if f not in skip
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if DOUBLING.search(line)
    ]


def test_no_module_doubles_its_own_sleeps():
    assert hand_written(PKG) == []


def test_the_check_finds_a_planted_doubling(tmp_path):
    (tmp_path / "runtime").mkdir()
    (tmp_path / "bad.py").write_text("import time\nd = 0.1\ntime.sleep(d)\nd = min(d * 2, 1.0)\n")
    assert hand_written(tmp_path) == [f"{tmp_path / 'bad.py'}:4"]
