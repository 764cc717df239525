"""The search's pieces without MPI: the space file, journal repair, value checks, trial seeds."""

import math

import pytest

from mpiapp.engines.hpo import space, study
from mpiapp.engines.hpo.driver import trial_seed
from mpiapp.engines.hpo.evaluate import _values


def test_space_parses_every_kind_and_a_conditional():
    ps = space.parse({"params": {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "n": {"type": "int", "low": 1, "high": 9, "step": 2},
        "kind": {"type": "categorical", "choices": ["a", "b"]},
        "extra": {"type": "float", "low": 0, "high": 1, "when": {"kind": "b"}},
    }})
    assert [p.name for p in ps] == ["lr", "n", "kind", "extra"]
    assert ps[0].log and ps[1].step == 2 and ps[2].choices == ("a", "b") and ps[3].when == ("kind", "b")
    assert [p.name for p in space.active(ps, {"kind": "a"})] == ["lr", "n", "kind"]
    assert [p.name for p in space.active(ps, {"kind": "b"})] == ["lr", "n", "kind", "extra"]


@pytest.mark.parametrize("spec,words", [
    ({"x": {"type": "float", "low": 0, "high": 1, "log": True}}, "log scale needs low > 0"),
    ({"x": {"type": "float", "low": 2, "high": 1}}, "low < high"),
    ({"x": {"type": "normal"}}, "type one of"),
    ({"x": {"type": "int", "low": 0, "high": 3, "when": {"k": "a"}}}, "not a categorical parameter listed before"),
    ({"k": {"type": "categorical", "choices": ["a"]}, "x": {"type": "int", "low": 0, "high": 3, "when": {"k": "z"}}},
     "is not one of"),
    ({"x": {"type": "float", "low": 0, "high": 1, "lo": 3}}, "unknown field"),
])  # fmt: skip
def test_space_errors_name_the_file_and_parameter(spec, words):
    with pytest.raises(ValueError) as e:
        space.parse(spec, "s.yaml")
    assert "s.yaml" in str(e.value) and words in str(e.value)


def test_grid_needs_a_finite_space():
    assert space.grid(space.parse({"n": {"type": "int", "low": 1, "high": 3}})) == {"n": [1, 2, 3]}
    with pytest.raises(ValueError, match="needs a `step`"):
        space.grid(space.parse({"x": {"type": "float", "low": 0, "high": 1}}))


def test_repair_drops_only_a_cut_last_record(tmp_path):
    p = tmp_path / "j"
    whole = b'{"op":0}\n{"op":1}\n'
    p.write_bytes(whole + b'{"op":2,"val')
    assert study.repair_journal(str(p)) == len(b'{"op":2,"val')
    assert p.read_bytes() == whole
    assert study.repair_journal(str(p)) == 0 and p.read_bytes() == whole
    q = tmp_path / "k"
    q.write_bytes(b'{"op":0')
    assert study.repair_journal(str(q)) == 7 and q.read_bytes() == b""


def test_values_checks_count_and_finiteness():
    assert _values(1, 1) == ((1.0,), "")
    assert _values((1, 2.5), 2) == ((1.0, 2.5), "")
    assert "not finite" in _values(math.inf, 1)[1]
    assert "expected 2" in _values(1.0, 2)[1]
    assert "expected 1 number" in _values("x", 1)[1]


def test_trial_seed_depends_on_study_seed_and_number_only():
    seeds = {trial_seed(0, n) for n in range(100)}
    assert len(seeds) == 100
    assert trial_seed(0, 5) == trial_seed(0, 5) != trial_seed(1, 5)
