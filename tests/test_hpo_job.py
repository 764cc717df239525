"""`python -m mpiapp.hpo` under mpiexec: modes, failures, signals, a killed rank, resume, groups, outputs.

Every check reads the study back with Optuna itself (`optuna.load_study` on the journal) or the
results file with h5py, never through the code under test. Objectives: tests/progs/hpo_objectives.py.
"""

import json
import os
import signal

import h5py
import pytest
import yaml

from conftest import PY, Background, leftovers, mpiexec_cmd, run

OBJ = "tests/progs/hpo_objectives.py"


def hpo(n, out, *args, timeout=240, env=None):
    from conftest import mpi_env

    return run(
        mpiexec_cmd(n, PY, "-m", "mpiapp.hpo", "--out", str(out), *args), timeout=timeout, env=mpi_env(env)
    )


def load(journal, name="mpiapp"):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(journal))))


def table(trials):
    return [(t.number, t.state.name, t.params, t.values, dict(t.intermediate_values)) for t in trials]


def test_reproducible_mode_gives_the_same_trials_at_1_2_and_4_ranks(tmp_path):
    args = [
        "--objective",
        f"{OBJ}:quad",
        "--trials",
        "9",
        "--set",
        "hpo.mode=reproducible",
        "--set",
        "hpo.batch_size=3",
        "--set",
        "hpo.pruner=median",
        "--set",
        "hpo.pruner_startup_trials=2",
    ]
    seen, groups = {}, {}
    for n in (1, 2, 4):
        r = hpo(n, tmp_path / f"r{n}.h5", *args)
        assert r.returncode == 0, r.output
        trials = load(tmp_path / f"r{n}.journal").get_trials()
        seen[n] = table(trials)
        groups[n] = {t.user_attrs["mpiapp"]["group"] for t in trials}
    assert len(seen[1]) == 9
    assert seen[1] == seen[2] == seen[4]
    assert groups[1] == {0} and groups[2] == {0, 1} and groups[4] == {0, 1, 2}  # batches of 3: 3 groups busy
    assert {s for _, s, *_ in seen[1]} <= {"COMPLETE", "PRUNED"}


def test_async_search_runs_every_trial_once_rank0_evaluates_and_report_draws(tmp_path):
    out = tmp_path / "a.h5"
    r = hpo(2, out, "--objective", f"{OBJ}:quad", "--trials", "10", "--set", "hpo.prefetch=1")
    assert r.returncode == 0, r.output
    trials = load(tmp_path / "a.journal").get_trials()
    assert [t.number for t in trials] == list(range(10))
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert {t.user_attrs["mpiapp"]["group"] for t in trials} == {0, 1}
    # prefetch: group 1 holds its next trial while it computes (asked before the previous was told);
    # rank 0's own group is never prefetched (each trial asked after its previous one was told)
    by = {
        g: sorted((t for t in trials if t.user_attrs["mpiapp"]["group"] == g), key=lambda t: t.number)
        for g in (0, 1)
    }
    assert any(b.datetime_start < a.datetime_complete for a, b in zip(by[1], by[1][1:]))
    assert all(b.datetime_start >= a.datetime_complete for a, b in zip(by[0], by[0][1:]))
    with h5py.File(out, "r") as f:
        assert list(f["trials/number"][:]) == list(range(10))
        assert [json.loads(p) for p in f["trials/params"][:]] == [t.params for t in trials]
        assert list(f["trials/value"][:]) == [t.value for t in trials]
        assert f.attrs["job"] == b"hpo" or f.attrs["job"] == "hpo"
        assert list(f["profile/rank"][:]) == [0, 1]
    best = yaml.safe_load((tmp_path / "a.best.yaml").read_text())
    study = load(tmp_path / "a.journal")
    assert best == study.best_params
    rep = run([PY, "-m", "mpiapp.report", str(out), "--plot", str(tmp_path / "plots")], timeout=180)
    assert rep.returncode == 0, rep.output
    for name in ("history", "importances", "intermediate_values"):
        assert (tmp_path / "plots" / f"hpo_{name}.png").stat().st_size > 1000, rep.output
    assert "trials 10: complete 10" in rep.stdout


def test_random_sampler_prefetches_rank0s_own_group_too(tmp_path):
    """With the random sampler (an ask costs ~0.1 ms) rank 0's group holds its next trial too: some of
    group 0's trials were asked before its previous trial was told."""
    r = hpo(
        2,
        tmp_path / "p.h5",
        "--objective",
        f"{OBJ}:slow",
        "--trials",
        "10",
        "--set",
        "hpo.sampler=random",
        env={"HPO_TEST_SLOW_S": "0.02"},
    )
    assert r.returncode == 0, r.output
    trials = load(tmp_path / "p.journal").get_trials()
    assert [t.number for t in trials] == list(range(10)) and all(t.state.name == "COMPLETE" for t in trials)
    g0 = sorted((t for t in trials if t.user_attrs["mpiapp"]["group"] == 0), key=lambda t: t.number)
    assert any(b.datetime_start < a.datetime_complete for a, b in zip(g0, g0[1:]))


@pytest.mark.parametrize("ahead", [0, 1])
def test_ask_ahead_hands_the_other_group_a_trial_asked_before_its_last_result_was_told(tmp_path, ahead):
    """hpo.ask_ahead at -n 2 (prefetch off): some of group 1's trials were asked (datetime_start) before group 1's
    previous trial was told (datetime_complete); with 0, none. Every trial once, none left RUNNING."""
    r = hpo(
        2,
        tmp_path / "k.h5",
        "--objective",
        f"{OBJ}:slow",
        "--trials",
        "10",
        "--set",
        f"hpo.ask_ahead={ahead}",
        "--set",
        "hpo.prefetch=0",
        env={"HPO_TEST_SLOW_S": "0.02"},
    )
    assert r.returncode == 0, r.output
    trials = load(tmp_path / "k.journal").get_trials()
    assert [t.number for t in trials] == list(range(10))
    assert all(t.state.name == "COMPLETE" for t in trials)
    g1 = [t for t in trials if t.user_attrs["mpiapp"]["group"] == 1]
    early = [b.datetime_start < a.datetime_complete for a, b in zip(g1, g1[1:])]
    assert len(early) >= 2 and any(early) == bool(ahead), early


def test_failing_and_nonfinite_trials_fail_with_their_reason_and_the_search_completes(tmp_path):
    r = hpo(
        2, tmp_path / "f.h5", "--objective", f"{OBJ}:flaky", "--trials", "16", "--set", "hpo.sampler=random"
    )
    assert r.returncode == 0, r.output
    trials = load(tmp_path / "f.journal").get_trials()
    assert len(trials) == 16
    raised = [t for t in trials if t.params["x"] > 0.6]
    nan = [t for t in trials if t.params["x"] < -0.7]
    assert raised and nan
    for t in raised:
        assert t.state.name == "FAIL" and t.user_attrs["mpiapp_failure"] == "error"
        tb = t.user_attrs["mpiapp_traceback"]
        assert "Traceback" in tb and "hpo_objectives.py" in tb and "is too large for this objective" in tb
    for t in nan:
        assert t.state.name == "FAIL" and t.user_attrs["mpiapp_failure"] == "nonfinite"
    rest = [t for t in trials if t not in raised and t not in nan]
    assert all(t.state.name == "COMPLETE" for t in rest)


def test_on_trial_error_abort_ends_the_job(tmp_path):
    r = hpo(
        2,
        tmp_path / "x.h5",
        "--objective",
        f"{OBJ}:flaky",
        "--trials",
        "16",
        "--set",
        "hpo.sampler=random",
        "--set",
        "hpo.on_trial_error=abort",
        timeout=120,
    )
    assert r.returncode not in (0, 75), r.output
    assert "raised (hpo.on_trial_error=abort)" in r.stderr and "is too large" in r.stderr
    assert not (tmp_path / "x.h5").exists()
    assert leftovers(r.pgid) == []


def test_a_trial_over_its_time_limit_fails_as_a_timeout(tmp_path):
    r = hpo(
        1,
        tmp_path / "t.h5",
        "--objective",
        f"{OBJ}:slow",
        "--trials",
        "2",
        "--set",
        "hpo.trial_timeout_s=0.25",
        env={"HPO_TEST_SLOW_S": "0.1"},
    )
    assert r.returncode == 0, r.output
    trials = load(tmp_path / "t.journal").get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    assert all(t.user_attrs["mpiapp_failure"] == "timeout" for t in trials)
    assert all(len(t.intermediate_values) < 5 for t in trials)  # stopped before its last step


@pytest.mark.parametrize(
    "sig,prefetch,ahead",
    [(signal.SIGTERM, 0, 1), (signal.SIGTERM, 1, 0), (signal.SIGTERM, 0, 3), (signal.SIGUSR1, 0, 1)],
)
def test_sigterm_stops_consistently_and_a_resume_at_another_rank_count_finishes(
    tmp_path, sig, prefetch, ahead
):
    out = tmp_path / "s.h5"
    job = Background(
        mpiexec_cmd(
            2,
            PY,
            "-m",
            "mpiapp.hpo",
            "--out",
            str(out),
            "--objective",
            f"{OBJ}:slow",
            "--trials",
            "8",
            "--set",
            f"hpo.prefetch={prefetch}",
            "--set",
            f"hpo.ask_ahead={ahead}",
        ),
        env={"HPO_TEST_SLOW_S": "0.2"},
    )
    job.wait_for("TRIAL", 3, timeout=120)
    os.kill(job.pid, sig)
    code, _, err = job.wait(timeout=60)
    assert f"stopped by {sig.name}" in err, err
    if sig == signal.SIGUSR1:  # mpiexec forwards it and exits with the ranks' own code
        assert code == 75, (code, err)
    else:  # Open MPI's mpiexec reports its own status after a SIGTERM
        assert code != 0
    journal = tmp_path / "s.journal"
    before = load(journal).get_trials()
    assert not [t for t in before if t.state.name == "RUNNING"]
    interrupted = [t for t in before if t.user_attrs.get("mpiapp_failure") == "interrupted"]
    assert interrupted and not out.exists()
    assert os.path.exists(f"{out}.partial")  # marks it unfinished (the launch kit's requeue resumes it)
    plain = hpo(1, out, "--objective", f"{OBJ}:slow", "--trials", "8", timeout=120)
    assert plain.returncode == 2 and "use --resume to continue it" in plain.stderr, plain.output
    with open(journal, "ab") as f:  # a record cut short, as by a kill mid-write
        f.write(b'{"op_code":6,"worker_id":"x","trial_id"')
    r = hpo(
        1, out, "--objective", f"{OBJ}:slow", "--trials", "8", "--resume", env={"HPO_TEST_SLOW_S": "0.02"}
    )
    assert r.returncode == 0, r.output
    assert "cut short" in r.stderr
    assert out.exists() and not os.path.exists(f"{out}.partial")
    after = load(journal).get_trials()
    assert sum(t.state.name == "COMPLETE" for t in after) == 8
    assert not [t for t in after if t.state.name in ("RUNNING", "WAITING")]
    assert len({t.number for t in after}) == len(after)
    done_params = [t.params for t in after if t.state.name == "COMPLETE"]
    assert all(t.params in done_params for t in interrupted)  # their parameters were asked again


def test_a_stop_signal_that_reaches_one_rank_only_stops_every_rank(tmp_path):
    out = tmp_path / "u.h5"
    job = Background(
        mpiexec_cmd(
            2, PY, "-m", "mpiapp.hpo", "--out", str(out), "--objective", f"{OBJ}:slow", "--trials", "8"
        ),
        env={"HPO_TEST_SLOW_S": "0.2"},
    )
    job.wait_for("TRIAL rank=1", 1, timeout=120)
    rank1 = [int(x.split("pid=")[1].split()[0]) for x in job.out if x.startswith("TRIAL rank=1")][0]
    os.kill(rank1, signal.SIGUSR1)
    code, _, err = job.wait(timeout=60)
    assert code == 75, (code, err)
    assert "stopped by SIGUSR1" in err
    trials = load(tmp_path / "u.journal").get_trials()
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert len([t for t in trials if t.state.name == "COMPLETE"]) < 8


@pytest.mark.parametrize("victim_rank", [0, 1])
def test_a_killed_rank_fails_the_job_and_resume_reruns_its_lost_trial(tmp_path, victim_rank):
    """SIGKILL of rank 0 (the study owner) leaves its trials RUNNING: the resume marks them lost. SIGKILL of
    rank 1: mpiexec then sends rank 0 a SIGTERM, and rank 0 records the trials in flight as interrupted
    before it exits. Either way the resume asks their parameters again, once."""
    out = tmp_path / "k.h5"
    job = Background(
        mpiexec_cmd(
            2, PY, "-m", "mpiapp.hpo", "--out", str(out), "--objective", f"{OBJ}:slow", "--trials", "6"
        ),
        env={"HPO_TEST_SLOW_S": "0.3"},
    )
    job.wait_for("TRIAL", 3, timeout=120)
    victim = [
        int(x.split("pid=")[1].split()[0]) for x in job.out if x.startswith(f"TRIAL rank={victim_rank}")
    ][-1]
    os.kill(victim, signal.SIGKILL)
    try:
        code, _, _ = job.wait(timeout=30)
    except Exception:
        pytest.fail("job still running 30 s after SIGKILL of one rank")
    assert code not in (0, 75)
    assert leftovers(job.pid) == []
    r = hpo(
        2, out, "--objective", f"{OBJ}:slow", "--trials", "6", "--resume", env={"HPO_TEST_SLOW_S": "0.02"}
    )
    assert r.returncode == 0, r.output
    trials = load(tmp_path / "k.journal").get_trials()
    gone = [t for t in trials if t.user_attrs.get("mpiapp_failure") in ("lost", "interrupted")]
    lost = [t for t in gone if t.user_attrs["mpiapp_failure"] == "lost"]
    if victim_rank == 0:
        assert lost, [(t.number, t.state.name, t.user_attrs) for t in trials]
        assert "left RUNNING" in r.stderr
    assert gone
    for t in gone:
        again = [u for u in trials if u.user_attrs.get("mpiapp_retry_of") == t.number]
        if "not all drawn" in t.user_attrs.get("mpiapp_traceback", ""):  # killed mid-ask: nothing to re-run
            assert again == [] and victim_rank == 0
            continue
        assert len(again) == 1 and again[0].params == t.params and again[0].state.name == "COMPLETE"
    assert sum(t.state.name == "COMPLETE" for t in trials) == 6
    assert not [t for t in trials if t.state.name == "RUNNING"]


@pytest.mark.parametrize("n", [2, 4])  # one group (rank 0's thread and rank 1), or two groups of two
def test_sample_parallel_groups_prune_at_the_same_step_on_every_rank(tmp_path, n):
    r = hpo(
        n,
        tmp_path / "g.h5",
        "--objective",
        f"{OBJ}:stepped",
        "--trials",
        "10",
        "--set",
        "hpo.ranks_per_trial=2",
        "--set",
        "hpo.pruner=median",
        "--set",
        "hpo.pruner_startup_trials=2",
        "--set",
        "hpo.sampler=random",
        env={"HPO_TEST_LOG": str(tmp_path)},
    )
    assert r.returncode == 0, r.output
    ends: dict = {}
    for line in "".join(p.read_text() for p in tmp_path.glob("rank*.log")).splitlines():
        if line.startswith("END "):
            f = dict(kv.split("=") for kv in line.split()[1:])
            ends.setdefault(int(f["n"]), []).append((int(f["rank"]), int(f["at"])))
    trials = load(tmp_path / "g.journal").get_trials()
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, [(t.number, t.state.name) for t in trials]
    for t in trials:
        ranks = sorted(rk for rk, _ in ends[t.number])
        g = t.user_attrs["mpiapp"]["group"]
        assert ranks == [2 * g, 2 * g + 1]  # both ranks of its group evaluated it
        assert len({at for _, at in ends[t.number]}) == 1  # and stopped at the same step
    for t in pruned:
        # every rank stopped at the step the pruner decided on (the last step, 5, is possible too)
        assert {at for _, at in ends[t.number]} == {max(t.intermediate_values)}


def test_a_rank_that_leaves_its_group_fails_the_trial_without_a_hang(tmp_path):
    r = hpo(
        2,
        tmp_path / "l.h5",
        "--objective",
        f"{OBJ}:lopsided",
        "--trials",
        "4",
        "--set",
        "hpo.ranks_per_trial=2",
        timeout=120,
    )
    assert r.returncode == 0, r.output
    trials = load(tmp_path / "l.journal").get_trials()
    assert [t.state.name for t in trials] == ["FAIL"] * 4
    for t in trials:
        tb = t.user_attrs["mpiapp_traceback"]
        who = t.number % 2
        assert f"rank-dependent failure on group rank {who}" in tb and f"[group rank {who}]" in tb, tb
        assert "Traceback" in tb


def test_nsga2_two_values_and_the_grid_sampler(tmp_path):
    r = hpo(
        2,
        tmp_path / "m.h5",
        "--objective",
        "tests/progs/hpo_pair.py:pair",
        "--trials",
        "8",
        "--set",
        "hpo.sampler=nsga2",
    )
    assert r.returncode == 0, r.output
    study = load(tmp_path / "m.journal")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MAXIMIZE"]
    trials = study.get_trials()
    assert len(trials) == 8 and all(t.state.name == "COMPLETE" and len(t.values) == 2 for t in trials)
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert [list(p) for p in zip(f["trials/value"][:], f["trials/value_1"][:])] == [
            t.values for t in trials
        ]
    front = {t.number for t in study.best_trials}
    head = (tmp_path / "m.best.yaml").read_text().splitlines()[0]
    assert int(head.split(", trial ")[1].split(",")[0]) in front
    space = tmp_path / "grid.yaml"
    space.write_text("a: {type: int, low: 1, high: 3}\nb: {type: categorical, choices: [x, y]}\n")
    r = hpo(
        1,
        tmp_path / "g.h5",
        "--objective",
        f"{OBJ}:gridded",
        "--space",
        str(space),
        "--trials",
        "6",
        "--set",
        "hpo.sampler=grid",
    )
    assert r.returncode == 0, r.output
    seen = sorted((t.params["a"], t.params["b"]) for t in load(tmp_path / "g.journal").get_trials())
    assert seen == [(a, b) for a in (1, 2, 3) for b in ("x", "y")]


def test_scan_objective_best_yaml_runs_the_score_job(tmp_path):
    r = hpo(
        2,
        tmp_path / "s.h5",
        "--objective",
        "scan",
        "--trials",
        "3",
        "--set",
        "hpo.scan_symbols=1",
        "--set",
        "hpo.scan_bars=600",
        "--set",
        "scan.window_bars=300",
    )
    assert r.returncode == 0, r.output
    best = tmp_path / "s.best.yaml"
    study = load(tmp_path / "s.journal")
    assert yaml.safe_load(best.read_text())["scan"] == {k[5:]: v for k, v in study.best_params.items()}
    sc = run(
        mpiexec_cmd(
            1,
            PY,
            "-m",
            "mpiapp.score",
            "--config",
            str(best),
            "--data",
            "synthetic:1",
            "--set",
            "data.synthetic_bars=600",
            "--set",
            "scan.window_bars=300",
            "--out",
            str(tmp_path / "x.h5"),
            "--no-progress",
        ),
        timeout=240,
    )
    assert sc.returncode == 0, sc.output
    with h5py.File(tmp_path / "x.h5", "r") as f:
        cfg = yaml.safe_load(f.attrs["config"])
    for k, v in study.best_params.items():
        assert cfg["scan"][k[5:]] == v


@pytest.mark.parametrize(
    "args,words",
    [
        (
            ["--objective", "train", "--set", "data.source=synthetic:1", "--set", "data.synthetic_bars=400"],
            "train objective: no symbol of synthetic:1 has enough bars for the folds",
        ),
        (
            ["--objective", "train", "--set", "hpo.train_metric=rmse", "--set", "train.task=classification"],
            "hpo.train_metric=rmse needs train.task=regression",
        ),
        (["--objective", "optbench", "--set", "hpo.optbench_problem=nosuch"], "optbench objective: "),
        (["--objective", "nosuch"], "unknown objective 'nosuch'"),
        (
            ["--objective", f"{OBJ}:quad", "--set", "hpo.ranks_per_trial=3"],
            "must divide the number of ranks (2)",
        ),
        (
            ["--objective", f"{OBJ}:quad", "--set", "hpo.mode=reproducible", "--set", "hpo.pruner=hyperband"],
            "in hpo.mode=reproducible use none or median",
        ),
        (["--objective", f"{OBJ}:quad", "--resume"], "no journal"),
        (
            [
                "--objective",
                "tests/progs/hpo_pair.py:pair",
                "--set",
                "hpo.sampler=nsga2",
                "--set",
                "hpo.pruner=median",
            ],
            "pruning needs one objective value",
        ),
        (["--objective", f"{OBJ}:quad", "--set", "hpo.sampler=cmaes"], "needs the cmaes package"),
    ],
)
def test_bad_requests_exit_2_on_every_rank_before_any_trial(tmp_path, args, words):
    r = hpo(2, tmp_path / "b.h5", *args, timeout=120)
    assert r.returncode == 2, r.output
    assert words in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "b.journal").exists() or "--resume" not in args
