"""The launch kit: rendered scripts (bash -n, shellcheck, resume/requeue logic with stand-in Slurm
commands), refused layouts, network profiles, and the mpirun wrapper's binding against the runtime's
thread plan (`mpiapp info`). The real-Slurm test is tests/test_launch_slurm.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import textwrap

import pytest

from conftest import PY, ROOT, mpi_env
from mpiapp import launch

WRAPPER = ROOT / "launch" / "mpirun.sh"
PROFILES = sorted((ROOT / "launch" / "profiles").glob("*.env"))
SMALL = [
    "--data",
    "synthetic:4",
    "--no-progress",
    "--set",
    "data.synthetic_bars=400",
    "--set",
    "scan.window_bars=300",
    "--set",
    "scan.max_windows=4",
]

# every template, and the variants that change the rendered text (name -> launch arguments)
RENDERINGS = {
    "single-node": "-n 32 -t 2 -p compute -A proj -- --force",
    "multi-node": "-N 4 -n 64 -t 4 --net-if ib0 --ib-dev mlx5_0:1",
    "multi-node-mpirun": "-N 2 --launcher mpirun --profile ethernet --report-bindings --exclusive",
    "gpu": "--gpus-per-node 4 -t 16 -N 2",
    "gpu-mpirun": "--gpus-per-node 4 --launcher mpirun",
    "array-config": "--array-config a.yaml b_c.yaml --array-parallel 2 --log-dir logs",
    "array-data": "--array-data builtin:sp500,nasdaq csv:shard1/",
    "local": "--template local -n 2 --report-bindings",
    "info-job": "--job info",
}
CORES = {"local": "2", "info-job": "8"}  # --cores-per-node (default 64)


def render(args, capsys):
    rc = launch.main(["--dry-run", *args])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return out


def tool(binary: str, package: str) -> str:
    """Path of a checker, installed with apt-get where missing and allowed; else skip with the reason."""
    path = shutil.which(binary)
    if path:
        return path
    if os.environ.get("MPIAPP_APT_INSTALL", "1") == "0":
        pytest.skip(f"{binary} not installed and MPIAPP_APT_INSTALL=0")
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{binary} not installed, and installing {package} needs root and apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    path = shutil.which(binary)
    if not path:
        pytest.skip(f"apt-get install {package} failed: {r.stderr.strip()[-300:]}")
    return path


# --- rendered scripts ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rendered")
    out = {}
    for name, args in RENDERINGS.items():
        args = ["--cores-per-node", CORES.get(name, "64"), *args.split()]
        r = subprocess.run(
            [PY, "-m", "mpiapp.launch", "--dry-run", *args],
            capture_output=True,
            text=True,
            cwd=folder,
            timeout=60,
        )
        assert r.returncode == 0, (name, r.stderr)
        path = folder / f"{name}.sh"
        path.write_text(r.stdout)
        out[name] = path
    return out


def test_every_rendered_script_passes_bash_n(rendered):
    for name, path in rendered.items():
        r = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, f"{name}: {r.stderr}"


def test_every_rendered_script_and_the_wrapper_pass_shellcheck(rendered):
    sc = tool("shellcheck", "shellcheck")
    files = [str(p) for p in rendered.values()] + [str(WRAPPER)] + [str(p) for p in PROFILES]
    r = subprocess.run([sc, "--severity=info", "--shell=bash", *files], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_sbatch_headers(rendered):
    single = rendered["single-node"].read_text()
    for line in (
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=32",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --partition=compute",
        "#SBATCH --account=proj",
        "#SBATCH --output=%x-%j.out",
        "#SBATCH --error=%x-%j.err",
        "#SBATCH --signal=USR1@300",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        "export MPIAPP_THREADS=2",
        "exec srun --mpi=pmix",
    ):
        assert line in single, line
    gpu = rendered["gpu"].read_text()
    for line in (
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --cpus-per-task=16",
        '--gpus-per-task=1 "$PYTHON"',
        "TORCH_NCCL_ASYNC_ERROR_HANDLING",
        'OMPI_MCA_pml="${OMPI_MCA_pml:-ucx}"',
    ):
        assert line in gpu, line
    mp = rendered["multi-node-mpirun"].read_text()
    # mpirun lives in the batch step: Slurm's warning goes to the batch shell
    assert "#SBATCH --signal=B:USR1@300" in mp and "#SBATCH --exclusive" in mp
    assert '--map-by "ppr:$RANKS_PER_NODE:node:pe=$MPIAPP_THREADS" --bind-to core --report-bindings' in mp
    assert "-x MPIAPP_THREADS" in mp and "OMPI_MCA_odls_base_sigkill_timeout" in mp
    arr = rendered["array-config"].read_text()
    for line in (
        "#SBATCH --array=0-1%2",
        "#SBATCH --output=logs/%x-%A_%a.out",
        "ITEMS=(a.yaml b_c.yaml)",
        'JOB_ARGS+=(--config "${ITEMS[$SLURM_ARRAY_TASK_ID]}")',
        'OUT=results/score_"$SLURM_ARRAY_TASK_ID".h5',
    ):
        assert line in arr, line
    arr = rendered["array-data"].read_text()
    assert (
        "ITEMS=('builtin:sp500,nasdaq' csv:shard1/)" in arr
        and 'JOB_ARGS+=(--data "${ITEMS[$SLURM_ARRAY_TASK_ID]}")' in arr
    )
    info = rendered["info-job"].read_text()
    assert "JOB=(-m mpiapp.info)" in info and " --resume)" not in info and "OUT=" not in info
    local = rendered["local"].read_text()
    assert "#SBATCH" not in local and "exec mpirun" in local and "scontrol" not in local


def test_render_defaults_and_template_choice(capsys):
    s = render(["--cores-per-node", "64"], capsys)
    assert "#SBATCH --ntasks-per-node=64" in s and "#SBATCH --cpus-per-task=1" in s
    s = render(["--cores-per-node", "64", "-t", "8"], capsys)
    assert "#SBATCH --ntasks-per-node=8" in s and "export MPIAPP_THREADS=8" in s
    s = render(["--cores-per-node", "64", "-n", "16"], capsys)
    assert "export MPIAPP_THREADS=4" in s
    s = render(
        ["--cores-per-node", "64", "--gpus-per-node", "4"], capsys
    )  # one rank per GPU, the cores shared
    assert (
        "#SBATCH --ntasks-per-node=4" in s
        and "#SBATCH --cpus-per-task=16" in s
        and "profile single-node" in s
    )
    s = render(["--cores-per-node", "64", "--array-config", "a.yaml", "b c.yaml"], capsys)
    assert "ITEMS=(a.yaml 'b c.yaml')" in s and "#SBATCH --array=0-1" in s
    s = render(["--cores-per-node", "64", "-N", "3"], capsys)
    assert "#SBATCH --nodes=3" in s and "profile ib-ucx" in s and "UCX_MEMTYPE_CACHE" in s


def test_config_threads_and_output_are_read(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("runtime:\n  threads_per_rank: 4\noutput:\n  path: out/x.h5\n")
    s = render(["--cores-per-node", "64", "--config", str(cfg)], capsys)
    assert "#SBATCH --ntasks-per-node=16" in s and "export MPIAPP_THREADS=4" in s
    assert "OUT=out/x.h5" in s and f"JOB_ARGS=(--config {cfg})" in s


def test_writes_the_script_and_prints_the_command(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = launch.main(["--cores-per-node", "4", "--log-dir", "logs", "--script", "job.sbatch"])
    out = capsys.readouterr().out
    assert rc == 0 and "sbatch job.sbatch" in out
    assert (tmp_path / "logs").is_dir() and os.access(tmp_path / "job.sbatch", os.X_OK)


# --- refusals ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--cores-per-node", "64", "-n", "32", "-t", "4"],
            "impossible layout: 32 ranks per node x 4 threads per rank = 128 CPUs, but a node has 64 cores",
        ),
        (
            ["--cores-per-node", "64", "--gpus-per-node", "4", "-n", "8"],
            "impossible layout: 8 GPU ranks per node but only 4 GPUs per node",
        ),
        (
            ["--cores-per-node", "64", "--gpus-per-node", "8", "-t", "16"],
            "impossible layout: 8 ranks per node x 16 threads per rank = 128 CPUs, but a node has 64 cores",
        ),
        (["--template", "single-node", "-N", "2", "--cores-per-node", "8"], "runs on 1 node, not --nodes 2"),
        (["--template", "gpu", "--cores-per-node", "8"], "needs --gpus-per-node"),
        (["--cores-per-node", "8", "--", "--out", "x.h5"], "--out after --"),
        (["--cores-per-node", "8", "--", "--resume"], "--resume after --"),
        (["--template", "array", "--cores-per-node", "8"], "needs --array-config"),
        (["--job", "nosuch", "--cores-per-node", "8"], "--job 'nosuch'"),
    ],
)
def test_impossible_layouts_are_refused_with_the_numbers(args, message, capsys):
    assert launch.main(["--dry-run", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_wrapper_refuses_an_impossible_layout():
    r = subprocess.run(
        [str(WRAPPER), "-n", "4", "-t", "2", "-c", "2", "true"], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert (
        "impossible layout: 4 ranks per node x 2 threads per rank = 8 CPUs, but a node has 2 cores"
        in r.stderr
    )
    r = subprocess.run(
        [str(WRAPPER), "-N", "2", "-n", "3", "-c", "4", "true"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "-n 3 ranks do not divide evenly over 2 nodes" in r.stderr


def test_n_is_the_total_in_the_wrapper_and_the_launcher(capsys):
    """`-n 8` on 2 nodes: 8 ranks in total, 4 per node, in launch/mpirun.sh and in mpiapp.launch alike;
    the rendered script says the total."""
    r = subprocess.run(
        [str(WRAPPER), "--dry-run", "-c", "8", "-N", "2", "-n", "8", "prog"],
        capture_output=True,
        text=True,
        env=mpi_env(),
    )
    assert r.returncode == 0 and "-n 8 --map-by ppr:4:node:pe=2" in r.stdout, r.stdout + r.stderr
    s = render(["--cores-per-node", "8", "-N", "2", "-n", "8"], capsys)
    assert (
        "#SBATCH --nodes=2" in s and "#SBATCH --ntasks-per-node=4" in s and "#SBATCH --cpus-per-task=2" in s
    )
    assert "8 ranks in total (4 per node) x 2 threads per rank" in s.splitlines()[1]
    s = render(["--cores-per-node", "8", "-N", "2", "--ranks-per-node", "4"], capsys)
    assert "8 ranks in total (4 per node)" in s.splitlines()[1]
    for args, said in (
        (["-N", "2", "-n", "3"], "-n 3 ranks do not divide evenly over 2 nodes"),
        (["-N", "2", "-n", "8", "--ranks-per-node", "2"], "disagree"),
    ):
        assert launch.main(["--dry-run", "--cores-per-node", "8", *args]) == 2
        assert said in capsys.readouterr().err


def test_wrapper_mapping(capsys):
    def dry(*args):
        r = subprocess.run([str(WRAPPER), "--dry-run", *args], capture_output=True, text=True, env=mpi_env())
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert "--map-by ppr:4:node:pe=2 --bind-to core" in dry("-c", "8", "-t", "2", "prog")
    assert "-n 8 --map-by ppr:4:node:pe=2 --bind-to core" in dry("-c", "8", "-N", "2", "-n", "8", "prog")
    assert "-n 8 --map-by ppr:4:node:pe=1 --bind-to core" in dry(
        "-c", "8", "-N", "2", "-n", "8", "-t", "1", "prog"
    )
    s = dry("-c", "2", "-n", "4", "--oversubscribe", "prog")
    assert "--map-by ppr:4:node --bind-to none --oversubscribe" in s
    s = dry("-c", "16", "-N", "2", "--profile", "ib-ucx", "prog")
    assert (
        "-x UCX_TLS" in s and "-x MPIAPP_THREADS" in s and "-x OMPI_" not in s
    )  # mpirun passes OMPI_* itself


# --- the script's own logic: resume, requeue, signal forwarding (stand-in srun/scontrol) --------------
FAKE_SRUN = textwrap.dedent("""\
    #!/bin/bash
    # stand-in srun: records its arguments; exits $FAKE_RC, or 75 when sent SIGUSR1 (like the ranks)
    printf '%s\\n' "$@" > "$FAKE_DIR/srun.args"
    trap 'echo got-usr1 > "$FAKE_DIR/srun.signal"; exit 75' USR1
    if [ -n "${FAKE_WAIT:-}" ]; then
        touch "$FAKE_DIR/srun.started"
        for _ in $(seq 100); do sleep 0.1; done
    fi
    exit "${FAKE_RC:-0}"
""")
FAKE_SCONTROL = '#!/bin/bash\nprintf \'%s \' "$@" > "$FAKE_DIR/scontrol.args"\n'


@pytest.fixture
def fake_slurm(tmp_path, capsys):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (bin_ / name).write_text(text)
        (bin_ / name).chmod(0o755)
    script = tmp_path / "job.sbatch"
    args = ["--cores-per-node", "2", "-n", "2", "--out", str(tmp_path / "r.h5"), "--max-requeues", "3"]
    script.write_text(render([*args, "--", "--force", "--data", "synthetic:4"], capsys))

    def run(env=None, wait_then_signal=None):
        e = dict(os.environ, PATH=f"{bin_}:{os.environ['PATH']}", FAKE_DIR=str(tmp_path), SLURM_JOB_ID="42")
        e.pop("SLURM_RESTART_COUNT", None)
        e.update(env or {})
        p = subprocess.Popen(
            ["bash", str(script)],
            env=e,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if wait_then_signal:
            for _ in range(100):
                if (tmp_path / "srun.started").exists():
                    break
                subprocess.run(["sleep", "0.05"])
            p.send_signal(wait_then_signal)
        out, err = p.communicate(timeout=30)
        srun_args = (
            (tmp_path / "srun.args").read_text().split("\n") if (tmp_path / "srun.args").exists() else None
        )
        sc = (tmp_path / "scontrol.args").read_text() if (tmp_path / "scontrol.args").exists() else None
        for f in ("srun.args", "scontrol.args", "srun.started"):
            (tmp_path / f).unlink(missing_ok=True)
        return p.returncode, srun_args, sc, err

    run.dir = tmp_path
    return run


def test_fresh_run_passes_force_and_no_resume(fake_slurm):
    rc, args, sc, err = fake_slurm()
    assert rc == 0 and sc is None
    assert "--force" in args and "--resume" not in args and "--out" in args
    assert args[:3] == ["--mpi=pmix", "--ntasks-per-node=2", "--cpus-per-task=1"]


def test_partial_file_means_resume_without_force(fake_slurm):
    (fake_slurm.dir / "r.h5.partial").write_text("")
    rc, args, sc, err = fake_slurm(env={"SLURM_RESTART_COUNT": "1"})
    assert rc == 0 and "--resume" in args and "--force" not in args
    assert "resuming" in err


def test_exit_75_requeues_until_the_limit(fake_slurm):
    rc, args, sc, err = fake_slurm(env={"FAKE_RC": "75"})
    assert rc == 75 and sc.split() == ["requeue", "42"] and "requeueing job 42" in err
    rc, args, sc, err = fake_slurm(env={"FAKE_RC": "75", "SLURM_RESTART_COUNT": "3"})
    assert rc == 75 and sc is None and "MAX_REQUEUES" in err


def test_failure_does_not_requeue(fake_slurm):
    rc, args, sc, err = fake_slurm(env={"FAKE_RC": "1"})
    assert rc == 1 and sc is None and "failed with exit status 1" in err


def test_requeued_after_completion_does_nothing(fake_slurm):
    (fake_slurm.dir / "r.h5").write_text("")
    rc, args, sc, err = fake_slurm(env={"SLURM_RESTART_COUNT": "1"})
    assert rc == 0 and args is None and "nothing left to do" in err


@pytest.mark.parametrize("sig", ["SIGUSR1", "SIGTERM"])
def test_a_signal_to_the_batch_shell_reaches_the_launcher(fake_slurm, sig):
    import signal

    rc, args, sc, err = fake_slurm(env={"FAKE_WAIT": "1"}, wait_then_signal=getattr(signal, sig))
    assert f"got {sig}; passing it to the launcher" in err and "as SIGUSR1" in err
    # both reach the launcher as SIGUSR1; the stand-in srun exits 75 like the ranks do: the script requeues
    assert rc == 75 and (fake_slurm.dir / "srun.signal").exists() and sc.split() == ["requeue", "42"]


# --- network profiles ------------------------------------------------------------------------------
def test_every_profile_variable_has_a_reason():
    for p in PROFILES:
        lines = p.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("export "):
                j = i - 1
                while j >= 0 and lines[j].strip().startswith(("export ", "if ", "else", "fi")):
                    j -= 1
                assert j >= 0 and lines[j].strip().startswith("#"), (
                    f"{p.name}:{i + 1}: no reason above {line.strip()}"
                )


def test_profiles_name_real_open_mpi_parameters():
    ompi_info = shutil.which("ompi_info")
    if ompi_info is None:
        pytest.skip("ompi_info not on PATH")
    known = subprocess.run(
        [ompi_info, "--all", "--parsable"], capture_output=True, text=True, timeout=60
    ).stdout
    params = set(re.findall(r":param:([A-Za-z0-9_]+):value:", known))
    params |= set(re.findall(r":synonym_of:name:([A-Za-z0-9_]+)", known))  # e.g. opal_common_ucx_*
    used = {m for p in PROFILES for m in re.findall(r"export OMPI_MCA_(\w+)=", p.read_text())}
    used |= {"odls_base_sigkill_timeout"}  # set by the wrapper and the mpirun scripts
    assert used and not (used - params), f"unknown to this Open MPI: {sorted(used - params)}"


def test_profiles_name_real_ucx_variables():
    ucx_info = tool("ucx_info", "ucx-utils")
    known = subprocess.run([ucx_info, "-cf"], capture_output=True, text=True, timeout=60).stdout
    names = set(re.findall(r"^(UCX_\w+)=", known, flags=re.M))
    used = {m for p in PROFILES for m in re.findall(r"export (UCX_\w+)=", p.read_text())}
    assert used and not (used - names), f"unknown to this UCX: {sorted(used - names)}"


# --- the wrapper on this machine: one core per rank, and the runtime agrees ------------------------
def _bound_cores(report: str) -> dict[int, set[int]]:
    """Open MPI's --report-bindings lines -> {rank: core indices}; '[B/.][./.]' = core 0 of socket 0."""
    out = {}
    for m in re.finditer(r"MCW rank (\d+) bound to .*?: ((?:\[[^\]]*\])+)", report):
        cores, idx = set(), 0
        for sock in re.findall(r"\[([^\]]*)\]", m.group(2)):
            for core in sock.split("/"):
                if "B" in core:
                    cores.add(idx)
                idx += 1
        out[int(m.group(1))] = cores
    return out


def test_wrapper_gives_each_rank_its_own_core_and_info_agrees():
    if launch.local_cores() < 2:
        pytest.skip("needs 2 cores")
    env = mpi_env()
    for k in ("OMPI_MCA_rmaps_base_oversubscribe", "PRTE_MCA_rmaps_default_mapping_policy"):
        env.pop(k, None)  # the point is a layout that fits
    r = subprocess.run(
        [str(WRAPPER), "-n", "2", "--report-bindings", PY, "-m", "mpiapp", "info", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    bound = _bound_cores(r.stderr)
    assert sorted(bound) == [0, 1], r.stderr
    assert bound[0] and bound[1] and not (bound[0] & bound[1]), bound  # its own core(s), disjoint
    rows = {row["rank"]: row for row in json.loads(r.stdout)["per_rank"]}
    threads = launch.local_cores() // 2
    for rank in (0, 1):
        cpus = _cpus(rows[rank]["cpus"])
        assert rows[rank]["threads"] == threads == len(bound[rank]), rows[rank]
        assert rows[rank]["numba_threads"] == threads
        assert len(cpus) >= len(bound[rank])  # hardware threads of the bound cores
    assert not (_cpus(rows[0]["cpus"]) & _cpus(rows[1]["cpus"]))


def _cpus(text: str) -> set[int]:
    out = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def test_help_is_fast_and_light():
    heavy = ("yaml", "numpy", "mpi4py", "h5py")
    code = f"import sys, mpiapp.launch; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
    r = subprocess.run([PY, "-m", "mpiapp", "launch", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "--ranks-per-node" in r.stdout


def test_local_script_runs_and_resumes_nothing_left(tmp_path, capsys):
    """The local (mpirun) template end to end on this machine: a small scan at 2 ranks."""
    if launch.local_cores() < 2:
        pytest.skip("needs 2 cores")
    script = tmp_path / "run.sh"
    script.write_text(
        render(["--template", "local", "-n", "2", "--out", str(tmp_path / "r.h5"), "--", *SMALL], capsys)
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env = mpi_env()
    env.pop("OMPI_MCA_rmaps_base_oversubscribe", None)
    r = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "on 2 rank(s)" in r.stdout and (tmp_path / "r.h5").exists()


def test_every_registered_job_renders_from_the_registry(capsys):
    """The launch kit knows jobs only through mpiapp.__main__.JOBS: resumable ones resume their own file."""
    from mpiapp.__main__ import JOBS

    runnable = [j for j, info in JOBS.items() if info.mpi or info.resume]
    assert "score" in runnable and "report" not in runnable
    for job in runnable:
        s = render(["--job", job, "--cores-per-node", "8"], capsys)
        assert f"JOB=(-m mpiapp.{job})" in s, job
        if JOBS[job].resume:
            assert f"OUT=results/{job}.h5" in s and "--resume" in s, job
        else:
            assert "OUT=" not in s, job
    assert launch.main(["--job", "report", "--cores-per-node", "8", "--dry-run"]) == 2
    assert "--job 'report': not one of" in capsys.readouterr().err


# --- the warning signal must fit the time limit (issue 14, kind 6) ---------------------------------
def test_short_time_limit_shortens_the_default_signal_lead(capsys):
    """The handed case: --time 00:01:00 with the default 300 s lead rendered USR1@300, a warning
    that comes before the job starts. The default lead is now half of such a short limit."""
    rc = launch.main(["--dry-run", "--cores-per-node", "64", "-N", "1", "-n", "2", "--time", "00:01:00"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "#SBATCH --signal=USR1@30\n" in out and "USR1@300" not in out
    assert "--time 00:01:00 is shorter than twice the default 300 s warning" in err


def test_every_slurm_time_form_gets_a_lead_inside_the_limit(capsys):
    """Constructed: the other forms Slurm accepts (minutes, M:S, D-H:M, unlimited) are read as
    Slurm reads them, and the lead always lies inside the limit (300 s where it fits)."""
    for time, lead in (
        ("5", 150),
        ("2:00", 60),
        ("0-0:04", 120),
        ("9:00", 270),
        ("10:00", 300),
        ("1-00", 300),
        ("UNLIMITED", 300),
    ):
        out = render(["--cores-per-node", "64", "--time", time], capsys)
        assert f"#SBATCH --signal=USR1@{lead}\n" in out and f"#SBATCH --time={time}\n" in out, time


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--time", "00:01:00", "--signal-seconds", "300"],
            "--signal-seconds 300 is not shorter than --time 00:01:00 (60 s)",
        ),
        (
            ["--time", "2", "--signal-seconds", "120", "--launcher", "mpirun"],
            "--signal-seconds 120 is not shorter than --time 2 (120 s)",
        ),
        (["--time", "1h"], "--time '1h': not a Slurm time limit"),
        (["--time", "00:00:00"], "the time limit must be positive"),
        (["--signal-seconds", "-5"], "--signal-seconds -5: must be 0 or more"),
    ],
)
def test_a_lead_that_does_not_fit_is_refused(args, message, capsys):
    assert launch.main(["--dry-run", "--cores-per-node", "8", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
