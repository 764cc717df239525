"""The search's pieces without MPI: the space file, journal repair, value checks, trial seeds."""

import math

import pytest

from mpiapp.engines.hpo import space, study
from mpiapp.engines.hpo.evaluate import _values, trial_seed


def test_space_parses_every_kind_and_a_conditional():
    ps = space.parse(
        {
            "params": {
                "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                "n": {"type": "int", "low": 1, "high": 9, "step": 2},
                "kind": {"type": "categorical", "choices": ["a", "b"]},
                "extra": {"type": "float", "low": 0, "high": 1, "when": {"kind": "b"}},
            }
        }
    )
    assert [p.name for p in ps] == ["lr", "n", "kind", "extra"]
    assert ps[0].log and ps[1].step == 2 and ps[2].choices == ("a", "b") and ps[3].when == ("kind", "b")
    assert [p.name for p in space.active(ps, {"kind": "a"})] == ["lr", "n", "kind"]
    assert [p.name for p in space.active(ps, {"kind": "b"})] == ["lr", "n", "kind", "extra"]


@pytest.mark.parametrize(
    "spec,words",
    [
        ({"x": {"type": "float", "low": 0, "high": 1, "log": True}}, "log scale needs low > 0"),
        ({"x": {"type": "float", "low": 2, "high": 1}}, "low < high"),
        ({"x": {"type": "normal"}}, "type one of"),
        (
            {"x": {"type": "int", "low": 0, "high": 3, "when": {"k": "a"}}},
            "not a categorical parameter listed before",
        ),
        (
            {
                "k": {"type": "categorical", "choices": ["a"]},
                "x": {"type": "int", "low": 0, "high": 3, "when": {"k": "z"}},
            },
            "is not one of",
        ),
        ({"x": {"type": "float", "low": 0, "high": 1, "lo": 3}}, "unknown field"),
    ],
)
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


def test_journal_backend_reads_its_own_records_from_memory_and_the_file_agrees(tmp_path):
    # rank 0's backend serves its own appends from memory: what the study sees must be what a fresh
    # Optuna backend reads from the file, for a new journal and for one resumed with records in it
    optuna = pytest.importorskip("optuna")
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = str(tmp_path / "s.journal")

    def view(trials):
        return [(t.number, t.state.name, t.params, t.values, t.user_attrs) for t in trials]

    found = []
    for resume, seed in ((False, 0), (True, 1)):
        storage, backend = study.storage(path)
        s = optuna.create_study(
            storage=storage,
            study_name="s",
            load_if_exists=resume,
            sampler=optuna.samplers.RandomSampler(seed=seed),
        )
        for _ in range(5):
            t = s.ask()
            t.set_user_attr("k", t.number)
            s.tell(t, t.suggest_float("x", -1.0, 1.0) ** 2)
        t = s.ask()  # left running
        backend.sync()
        fresh = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(path)))
        assert view(s.get_trials()) == view(fresh.get_trials())
        assert len(fresh.get_trials()) == (12 if resume else 6)
        found.append(backend.n_file)
    assert found[0] == 0 and found[1] > 6  # the resumed backend read the first run's records from the file


def test_journal_backend_keeps_optunas_reading_of_a_cut_or_bad_line(tmp_path):
    # the backend is Optuna's public contract; on a file it reads what Optuna's file backend reads: a
    # last line without its newline (a kill mid-write) is not a record, a line that is not JSON raises
    pytest.importorskip("optuna")
    from optuna.storages.journal import BaseJournalBackend, JournalFileBackend

    path = tmp_path / "j.journal"
    path.write_bytes(b'{"op_code":0,"worker_id":"w","study_name":"s","directions":[1]}\n{"op_code":5,"wor')
    _, backend = study.storage(str(path))
    assert isinstance(backend, BaseJournalBackend)
    assert backend.read_logs(0) == list(JournalFileBackend(str(path)).read_logs(0))
    assert backend.n_file == 1
    path.write_bytes(b'{"op_code":0}\nnot json\n{"op_code":1}\n')
    with pytest.raises(ValueError, match="line 2"):
        study.storage(str(path))[1].read_logs(0)


def test_a_finished_grid_is_told_to_the_caller_and_nothing_is_attached_to_the_study(tmp_path):
    # the grid sampler stops the study once every point was tried: `tell` says so (True) and leaves
    # the study object as Optuna made it (no attribute of ours on it)
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage, _ = study.storage(str(tmp_path / "g.journal"))
    s = optuna.create_study(
        storage=storage, study_name="g", sampler=optuna.samplers.GridSampler({"x": [0, 1]})
    )
    own = set(vars(s))
    told = []
    for _ in range(2):
        t = s.ask()
        told.append(study.tell(s, t, float(t.suggest_categorical("x", [0, 1]))))
    assert told == [False, True]
    assert set(vars(s)) == own
    assert [t.state.name for t in s.get_trials()] == ["COMPLETE", "COMPLETE"]


def test_a_trial_lost_while_being_asked_is_not_queued_again(tmp_path):
    # rank 0 killed between a trial's parameter records: its partial parameters are not re-run (the
    # sampler would complete them with new draws); a trial with all its parameters is queued again
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    params = space.parse(
        {"x": {"type": "float", "low": 0.0, "high": 1.0}, "y": {"type": "float", "low": 0.0, "high": 1.0}}
    )
    storage, _ = study.storage(str(tmp_path / "j.journal"))
    s = optuna.create_study(storage=storage, study_name="s")
    whole, part = s.ask(), s.ask()
    space.suggest(whole, params)
    part.suggest_float("x", 0.0, 1.0)  # killed before y was drawn
    assert study.mark_lost(s, params) == ([whole.number, part.number], False)
    by = {t.number: t for t in s.get_trials()}
    assert by[part.number].state.name == by[whole.number].state.name == "FAIL"
    retries = [t for t in by.values() if t.user_attrs.get("mpiapp_retry_of") is not None]
    assert [t.user_attrs["mpiapp_retry_of"] for t in retries] == [whole.number]
    assert (
        retries[0].system_attrs["fixed_params"] == by[whole.number].params
        and retries[0].state.name == "WAITING"
    )
    assert study.counts(s) == 0  # neither counts toward hpo.trials
