"""The command line says a refusal once: at -n 2 an exit-2 message (bad flags, bad configuration, bad
data, a flag the job cannot use) is one line, and nothing from mpiapp follows it in the combined
output (Open MPI's own banner may). `report --help` lists every job and what --plot writes."""

from __future__ import annotations

import subprocess

import pytest

from conftest import PY, ROOT, mpi_env, mpiexec_cmd

#: Open MPI's banner after a rank exits non-zero (its lines, not mpiapp's)
BANNER = (
    "---",
    "Primary job",
    "a non-zero exit code",
    "mpiexec detected",
    "the job to be terminated",
    "Process name",
    "Exit code",
    "Per user-direction",
    "mpiexec has exited",
)

CASES = {  # id -> (job, arguments, a part of the one line)
    "score-unknown-flag": ("score", ["--bogus"], "unrecognized arguments: --bogus"),
    "train-bad-family": ("train", ["--families", "nosuch"], "'nosuch': choose from lgbm"),
    "ddp-bad-set": ("ddp", ["--set", "ddp.model=foo"], "config error: --set: ddp.model"),
    "score-missing-data": (
        "score",
        ["--data", "csv:/nonexistent-folder"],
        "folder '/nonexistent-folder' not found",
    ),
    "train-missing-data": (
        "train",
        ["--data", "csv:/nonexistent-folder"],
        "folder '/nonexistent-folder' not found",
    ),
    "ddp-missing-data": (
        "ddp",
        ["--data", "csv:/nonexistent-folder"],
        "folder '/nonexistent-folder' not found",
    ),
    "hpo-data-for-scan": (
        "hpo",
        ["--data", "csv:/x"],
        "--data: the scan objective does not read data.source",
    ),
    "optbench-no-data-flag": ("optbench", ["--data", "csv:/x"], "unrecognized arguments: --data csv:/x"),
    "optbench-unknown-problem": ("optbench", ["--problems", "nosuch"], "unknown problem 'nosuch'"),
    "hpo-unknown-objective": ("hpo", ["--objective", "nosuch"], "unknown objective 'nosuch'"),
}


def mpiapp_line(line: str) -> bool:
    return (
        line.startswith(("mpiapp", "[mpiapp", "usage:", "python -m mpiapp", "Traceback")) or "mpiapp" in line
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_exit_2_message_is_said_once_and_last(tmp_path, case):
    job, args, part = CASES[case]
    cmd = mpiexec_cmd(2, PY, "-m", f"mpiapp.{job}", *args, "--out", str(tmp_path / "x.h5"), "--no-progress")
    r = subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, env=mpi_env(), cwd=ROOT
    )
    assert r.returncode == 2, r.stdout
    lines = [x for x in r.stdout.splitlines() if x.strip()]
    said = [i for i, x in enumerate(lines) if part in x]
    assert len(said) == 1, r.stdout  # once, not once per rank
    after = [x for x in lines[said[0] + 1 :] if not x.startswith(BANNER) and not x.startswith("  ")]
    assert not [x for x in after if mpiapp_line(x)], r.stdout
    assert "Traceback" not in r.stdout and r.stdout.count("usage:") <= 1
    assert not (tmp_path / "x.h5").exists()


def test_report_help_lists_every_job_and_what_plot_writes():
    from mpiapp.__main__ import JOBS

    r = subprocess.run(
        [PY, "-m", "mpiapp.report", "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    text = r.stdout
    for job, info in JOBS.items():
        if info.report:
            assert f"\n  {job} " in text, job  # in the list of jobs and in the --plot list
            assert text.count(f"\n  {job} ") == 2, job
    assert "--plot DIR writes PNG" in text and "--html OUT.html" in text
    for chart in (
        "ic_per_symbol.png",
        "curves_<problem>.png",
        "loss.png",
        "hpo_history",
        "live_<symbol>.png",
    ):
        assert chart in text, chart
