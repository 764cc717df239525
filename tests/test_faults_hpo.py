"""The search's faults at its edges, under real mpiexec: two searches on one journal, a grid asked
twice, bad input that used to leave files behind, a damaged journal, a resume with other settings,
and a stop signal while a finished search exits (held there by MPIAPP_TEST_HOLD=exit). Each checks
exit code, the one line said, and that the files a user gave are byte-identical afterwards. The
study is read back with Optuna itself."""

import os
import signal

import pytest

from conftest import PY, Background, mpiexec_cmd
from fault_helpers import HPO, HPO_OBJ, digests, job, said


def trials(journal):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(
        study_name="mpiapp", storage=JournalStorage(JournalFileBackend(str(journal)))
    ).trials


@pytest.mark.parametrize("second", ["plain", "resume"])
def test_a_second_search_on_the_same_journal_is_refused_while_the_first_runs(tmp_path, second):
    journal = tmp_path / "shared.journal"
    args = ["--objective", f"{HPO_OBJ}:slow", "--trials", "4", "--set", f"hpo.journal={journal}"]
    first = Background(
        mpiexec_cmd(2, PY, "-m", "mpiapp.hpo", *args, "--out", str(tmp_path / "a.h5")),
        env={"HPO_TEST_SLOW_S": "1.0"},
    )  # (about 10 s)
    first.wait_for("TRIAL", 1, timeout=120)
    r = job("hpo", 2, *args, "--out", str(tmp_path / "b.h5"), *(["--resume"] if second == "resume" else []))
    assert first.proc.poll() is None, "the first search ended before the second was refused: a slower first"
    assert r.returncode == 2, r.output
    assert f"{journal} is held by another mpiapp job" in said(r, "hpo"), r.stderr
    code, _, err = first.wait(timeout=240)
    assert code == 0, err
    assert len(trials(journal)) == 4  # the first search's trials only
    assert not (tmp_path / "b.h5").exists() and not (tmp_path / "b.h5.partial").exists()


@pytest.mark.parametrize("n", [2, 3])
def test_the_grid_sampler_asks_each_point_once_at_any_rank_count(tmp_path, n):
    space = tmp_path / "grid.yaml"
    space.write_text("x: {type: int, low: 1, high: 8}\n")
    r = job(
        "hpo",
        n,
        "--objective",
        f"{HPO_OBJ}:quad",
        "--space",
        str(space),
        "--set",
        "hpo.sampler=grid",
        "--trials",
        "20",
        "--out",
        str(tmp_path / "g.h5"),
    )
    assert r.returncode == 0, r.output
    xs = sorted(t.params["x"] for t in trials(tmp_path / "g.journal"))
    assert xs == list(range(1, 9)), xs


@pytest.mark.parametrize(
    "bad,says",
    [
        (["--objective", "nosuch"], "unknown objective 'nosuch'"),
        (["--space", "{tmp}/space.yaml"], "not valid YAML"),
        (["--set", "hpo.sampler=grid"], "float parameter 'x' needs a `step`"),
        (["--set", "hpo.ranks_per_trial=3"], "ranks_per_trial"),
        (["--objective", "train", "--set", "data.source=csv:{tmp}/nodata"], "nodata"),
    ],
)
def test_bad_input_leaves_nothing_behind_and_the_corrected_command_runs(tmp_path, bad, says):
    (tmp_path / "space.yaml").write_text("x: {type: float, low: [oops\n")
    bad = [b.format(tmp=tmp_path) for b in bad]
    out = tmp_path / "c.h5"
    r = job("hpo", 2, *HPO, "--out", str(out), *bad)
    assert r.returncode == 2, r.output
    assert says in said(r, "hpo"), r.stderr
    assert sorted(os.listdir(tmp_path)) == ["space.yaml"], os.listdir(tmp_path)  # no marker, journal or lock
    r = job("hpo", 2, *HPO, "--out", str(out))
    assert r.returncode == 0, r.output


def test_a_journal_with_a_line_that_is_not_a_record_is_named_on_resume(tmp_path):
    out = tmp_path / "h.h5"
    assert job("hpo", 2, *HPO, "--out", str(out)).returncode == 0
    journal = tmp_path / "h.journal"
    lines = journal.read_text().splitlines()
    lines[3] = "{not json"
    journal.write_text("\n".join(lines) + "\n")
    before = digests(journal, out)
    r = job("hpo", 2, *HPO, "--trials", "8", "--out", str(out), "--resume")
    assert r.returncode == 2, r.output
    line = said(r, "hpo")
    assert f"hpo.journal {journal}: line 4 is not a journal record" in line and "--force" in line, line
    assert digests(journal, out) == before


@pytest.mark.parametrize(
    "change,says",
    [
        (["--set", "hpo.sampler=random"], "hpo.sampler: 'tpe' -> 'random'"),
        (["--set", "hpo.seed=5"], "hpo.seed: 0 -> 5"),
        (["--space", "{tmp}/other.yaml"], "space: the search space changed"),
        ("edit", "inputs: a file the objective reads changed"),
    ],
)
def test_a_resume_with_other_settings_is_refused_naming_them(tmp_path, change, says):
    (tmp_path / "other.yaml").write_text("x: {type: float, low: 0, high: 5}\n")
    obj = tmp_path / "obj.py"
    obj.write_text(open(HPO_OBJ).read())
    args = [*HPO, "--objective", f"{obj}:quad"]
    out = tmp_path / "h.h5"
    assert job("hpo", 2, *args, "--out", str(out)).returncode == 0
    if change == "edit":  # the objective's module, changed at the same path
        obj.write_text(obj.read_text().replace('(params["x"] - 0.3) ** 2', '(params["x"] - 0.4) ** 2'))
        change = []
    given = (out, tmp_path / "h.journal", obj, tmp_path / "other.yaml")
    before = digests(*given)
    r = job(
        "hpo",
        2,
        *args,
        "--trials",
        "8",
        "--out",
        str(out),
        "--resume",
        *[c.format(tmp=tmp_path) for c in change],
    )
    assert r.returncode == 2, r.output
    line = said(r, "hpo")
    assert "was made with other settings" in line and says in line and "--force" in line, line
    assert digests(*given) == before
    if says.startswith("inputs"):
        return
    r = job("hpo", 2, *args, "--trials", "8", "--out", str(out), "--resume", "--set", "hpo.prefetch=0")
    assert r.returncode == 0, r.output  # what does not shape the results may change
    assert len(trials(tmp_path / "h.journal")) == 8


def test_a_stop_signal_while_a_finished_search_exits_is_not_a_signal_death(tmp_path):
    out = tmp_path / "h.h5"
    held = Background(
        mpiexec_cmd(2, PY, "-m", "mpiapp.hpo", *HPO, "--out", str(out)), env={"MPIAPP_TEST_HOLD": "exit"}
    )
    held.wait_for("mpiapp test hold exit", 2, timeout=120)
    os.kill(held.pid, signal.SIGUSR1)  # mpiexec forwards it to every rank
    code, stdout, err = held.wait(timeout=60)
    assert code == 0, err
    assert "search complete" in stdout and "exited on signal" not in err, err
    assert out.exists() and not os.path.exists(f"{out}.partial")
