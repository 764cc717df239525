"""Every file a job writes is claimed like its output (work.output.Claim), in every job: refused when
it is an input, when two of them are one file, when an existing file there is not the job's own kind
(checked by content; --force replaces only the job's own), and a damaged or foreign .partial is named
as what it is.

Each test runs the job under mpiexec and asserts exit code, the one line said, and that every file
the user gave is byte-identical afterwards.
"""

import os

import pytest

from fault_helpers import DDP, HPO, OPT, digests, job, mpiapp_file, said, write_csvs

JOBS_ARGS = {  # a quick run of each job (its --out added by the test)
    "score": ["--data", "synthetic:2", "--no-progress"],
    "train": ["--data", "synthetic:2", "--families", "lgbm", "--no-progress"],
    "optbench": OPT,
    "hpo": HPO,
    "ddp": ["--data", "synthetic:2", *DDP],
}


# --- A: files a user gave are never replaced ---------------------------------------------------------
@pytest.mark.parametrize("force", [False, True])
def test_ddp_out_that_is_a_data_file_is_refused_even_with_force(tmp_path, force):
    data = write_csvs(tmp_path / "data")
    before = digests(data)
    out = data / "S0.csv"
    r = job("ddp", 2, "--data", f"csv:{data}", "--out", str(out), *(["--force"] if force else []), *DDP)
    assert r.returncode == 2, r.output
    line = said(r, "ddp")
    assert f"--out {out}: the output is an input of this job" in line and "--force" not in line, line
    assert digests(data) == before


def test_ddp_force_never_replaces_a_file_at_features_path_that_is_not_a_feature_store(tmp_path):
    other = tmp_path / "score.h5"
    mpiapp_file(other, "score")
    before = digests(other)
    r = job(
        "ddp",
        2,
        "--data",
        "synthetic:2",
        "--out",
        str(tmp_path / "o.h5"),
        "--set",
        f"ddp.features_path={other}",
        "--force",
        *DDP,
    )
    assert r.returncode == 2, r.output
    line = said(r, "ddp")
    assert f"{other} exists and is a file of another mpiapp job (score)" in line, line
    assert "even with --force" in line and "ddp.features_path" in line, line
    assert digests(other) == before and not os.path.exists(tmp_path / "o.h5")


@pytest.mark.parametrize("case", ["journal-is-a-note", "journal-is-out", "out-is-space", "journal-is-space"])
def test_hpo_never_replaces_a_file_it_does_not_own(tmp_path, case):
    note = tmp_path / "notes.txt"
    note.write_text("my notes\n")
    space = tmp_path / "space.yaml"
    space.write_text("x: {type: float, low: -1, high: 1}\n")
    out, extra, says = tmp_path / "h.h5", [], None
    if case == "journal-is-a-note":
        extra = ["--set", f"hpo.journal={note}", "--force"]
        says = f"{note} exists and is not an Optuna journal"
    elif case == "journal-is-out":
        extra = ["--set", f"hpo.journal={out}"]
        says = "--out and hpo.journal name the same file"
    elif case == "out-is-space":
        out, extra = space, ["--space", str(space), "--force"]
        says = f"--out {space}: the output is an input of this job"
    else:
        extra = ["--space", str(space), "--set", f"hpo.journal={space}", "--force"]
        says = f"hpo.journal {space}: a file this job writes is one of its inputs"
    before = digests(note, space)
    r = job("hpo", 2, *HPO, "--out", str(out), *extra)
    assert r.returncode == 2, r.output
    assert says in said(r, "hpo"), r.stderr
    assert digests(note, space) == before
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "space.yaml"]  # nothing made, nothing left


def test_optbench_summaries_beside_the_output_are_claimed(tmp_path):
    out = tmp_path / "x.h5"
    (tmp_path / "x.md").write_text("# my notes\n")
    (tmp_path / "x.json").write_text('{"mine": 1}\n')
    before = digests(tmp_path / "x.md", tmp_path / "x.json")
    for extra in ([], ["--force"]):
        r = job("optbench", 2, *OPT, "--out", str(out), *extra)
        assert r.returncode == 2, r.output
        line = said(r, "optbench")
        assert f"{tmp_path / 'x.md'} exists and is not an optbench summary" in line, line
        assert digests(tmp_path / "x.md", tmp_path / "x.json") == before and not out.exists()
    (tmp_path / "x.md").unlink()
    r = job("optbench", 2, *OPT, "--out", str(out))
    assert r.returncode == 2 and f"{tmp_path / 'x.json'} exists and is not an optbench summary" in said(
        r, "optbench"
    )
    (tmp_path / "x.json").unlink()
    r = job("optbench", 2, *OPT, "--out", str(out))
    assert r.returncode == 0, r.output
    r = job("optbench", 2, *OPT, "--out", str(out), "--force")  # its own summaries: replaced
    assert r.returncode == 0, r.output


@pytest.mark.parametrize("name", sorted(JOBS_ARGS))
def test_a_config_file_given_as_out_is_an_input_in_every_job(tmp_path, name):
    cfg = tmp_path / "my.yaml"
    cfg.write_text("runtime:\n  log_level: warning\n")
    before = digests(cfg)
    r = job(name, 2, *JOBS_ARGS[name], "--config", str(cfg), "--out", str(cfg), "--force")
    assert r.returncode == 2, r.output
    assert f"--out {cfg}: the output is an input of this job ({cfg})" in said(r, name)
    assert digests(cfg) == before


# --- I: --out naming a folder by its trailing separator -----------------------------------------------
@pytest.mark.parametrize("name", sorted(JOBS_ARGS))
def test_out_ending_in_a_separator_is_refused_and_makes_no_folder(tmp_path, name):
    r = job(name, 2, *JOBS_ARGS[name], "--out", f"{tmp_path}/x.h5/")
    assert r.returncode == 2, r.output
    assert "ends with a path separator" in said(r, name)
    assert os.listdir(tmp_path) == []


# --- F: a damaged or foreign .partial is named as what it is ----------------------------------------
@pytest.mark.parametrize(
    "kind,says",
    [
        ("zero", "cannot resume {p}: it is empty (0 bytes"),
        ("blank", "cannot resume {p}: it is an empty HDF5 file"),
        ("cut", "cannot resume {p}: it is a damaged HDF5 file"),
        (
            "other",
            "cannot open {p} to resume it: it is a file of another mpiapp job (score), not the .partial file of "
            "an mpiapp train run",
        ),
    ],
)
def test_a_damaged_or_foreign_partial_is_named_and_force_replaces_only_a_damaged_one(tmp_path, kind, says):
    import h5py

    out = tmp_path / "t.h5"
    partial = tmp_path / "t.h5.partial"
    if kind == "zero":
        partial.write_bytes(b"")
    elif kind == "blank":
        h5py.File(partial, "w").close()
    elif kind == "cut":
        mpiapp_file(partial, "train")
        partial.write_bytes(partial.read_bytes()[:1200])
    else:
        mpiapp_file(partial, "score")
    before = digests(partial)
    r = job("train", 2, *JOBS_ARGS["train"], "--out", str(out), "--resume")
    assert r.returncode == 2, r.output
    line = said(r, "train")
    assert says.format(p=partial) in line and len(line) < 400, line
    assert ("start over with --force" in line) == (kind != "other"), line
    assert digests(partial) == before
    r = job("train", 2, *JOBS_ARGS["train"], "--out", str(out), "--force")
    if kind == "other":
        assert r.returncode == 2 and "refusing to replace it, even with --force" in said(r, "train")
        assert digests(partial) == before
    else:
        assert r.returncode == 0, r.output
        assert out.exists() and not partial.exists()


@pytest.mark.parametrize("name", ["hpo", "optbench"])
def test_profile_files_are_claimed_like_the_output(tmp_path, name):
    out = tmp_path / "p.h5"
    mine = tmp_path / "p.h5.rank1.prof"
    mine.write_text("my own profile notes\n")
    before = digests(mine)
    r = job(name, 2, *JOBS_ARGS[name], "--out", str(out), "--profile", "--force")
    assert r.returncode == 2, r.output
    assert f"{mine} exists and is not a cProfile file: refusing to replace it, even with --force" in said(
        r, name
    )
    assert digests(mine) == before and not out.exists()
    mine.unlink()
    r = job(name, 2, *JOBS_ARGS[name], "--out", str(out), "--profile")
    assert r.returncode == 0, r.output
    r = job(name, 2, *JOBS_ARGS[name], "--out", str(out), "--profile", "--force")  # its own: replaced
    assert r.returncode == 0, r.output
