"""`python -m mpiapp.launch`: render an sbatch (or mpirun) script that places ranks and threads right.

    python -m mpiapp.launch --nodes 1 --ranks-per-node 32 --threads-per-rank 2 --dry-run
    python -m mpiapp.launch --nodes 4 --profile ib-ucx --time 12:00:00 -p compute --config high_perf
    python -m mpiapp.launch --gpus-per-node 4 --threads-per-rank 16 --cores-per-node 64
    python -m mpiapp.launch --array-config configs/a.yaml configs/b.yaml
    python -m mpiapp.launch --template local -n 2            # a workstation: mpirun, no Slurm

`-n` is the total number of ranks, as in mpirun, srun and launch/mpirun.sh (with -N nodes it must
divide evenly over them); `--ranks-per-node` says the same per node. The script's first line says
both.

Arguments after `--` go to the job. The script is written (default JOBNAME.sbatch, or .sh for the
local template) and the command that submits it is printed; --dry-run prints the script instead.
Templates (launch/templates): single-node, multi-node, gpu, array (sbatch) and local (mpirun).
Network profiles (launch/profiles): single-node, ethernet, ib-ucx; GPU scripts add nccl.

Every sbatch script asks for `--signal=USR1@SECONDS` and `--requeue`: the ranks get SIGUSR1 that long
before the time limit, commit their finished work and exit 75; the script then requeues the job,
and the requeued run finds OUT.partial and continues it with --resume.

The lead must fit the time limit: an explicit --signal-seconds not shorter than --time is refused
(exit 2); the default 300 s is shortened to half of a --time under 10 minutes, with a note.

Impossible layouts are refused (exit 2) with the numbers that do not fit: ranks x threads per node
more than the cores of a node, more GPU ranks than GPUs.
"""

from __future__ import annotations

import argparse
import string
import sys

from . import exits

TEMPLATES = ("single-node", "multi-node", "gpu", "array", "local")
PROFILES = ("single-node", "ethernet", "ib-ucx")
DEFAULT_CORES = 64  # a cluster node when neither --cores-per-node nor sinfo says otherwise
DEFAULT_SIGNAL_S = 300  # the preemption warning's lead before the time limit


class LayoutError(ValueError):
    """The requested ranks/threads/GPUs do not fit the nodes; the message names the numbers."""


class _Template(string.Template):
    """{{name}} placeholders: bash's own ${...} and $x stay untouched."""

    delimiter = "{{"
    pattern = r"\{\{(?:(?P<escaped>(?!))|(?P<named>[a-z_]+)\}\}|(?P<braced>(?!))|(?P<invalid>))"


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m mpiapp.launch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = ap.add_argument_group("what runs")
    g.add_argument("--job", default="score", help="the mpiapp job (default score)")
    g.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="config file or preset; passed to the job, read for output.path and threads_per_rank",
    )
    g.add_argument("--out", metavar="FILE", help="results file (default: output.path of the config)")
    g.add_argument("--python", metavar="PATH", help="interpreter on the nodes (default: this one)")
    g.add_argument(
        "--program",
        metavar="FILE.py",
        help="run this Python file instead of -m mpiapp.JOB (a site wrapper; tests inject faults)",
    )
    g = ap.add_argument_group("layout")
    g.add_argument(
        "--template",
        choices=TEMPLATES,
        help="default: gpu with --gpus-per-node, array with --array-*, multi-node with "
        "--nodes > 1, else single-node",
    )
    g.add_argument("-N", "--nodes", type=int, default=1)
    g.add_argument(
        "-n",
        "--ranks",
        type=int,
        metavar="N",
        help="MPI ranks in total, over all nodes (as mpirun -n, srun -n, launch/mpirun.sh -n)",
    )
    g.add_argument(
        "--ranks-per-node",
        type=int,
        metavar="R",
        help="MPI ranks per node (default: -n / nodes, else cores / threads, or GPUs on GPU nodes)",
    )
    g.add_argument(
        "-t",
        "--threads-per-rank",
        type=int,
        metavar="T",
        help="compute threads per rank (default: runtime.threads_per_rank, else cores / ranks)",
    )
    g.add_argument(
        "--cores-per-node",
        type=int,
        metavar="C",
        help="cores of a node (default: this machine for local; sinfo, else 64, for Slurm)",
    )
    g.add_argument("--gpus-per-node", type=int, default=0, metavar="G", help="GPUs per node: 1 rank per GPU")
    g.add_argument("--launcher", choices=("srun", "mpirun"), help="srun (default in sbatch) or mpirun")
    g.add_argument("--report-bindings", action="store_true", help="print each rank's CPU binding at start")
    g.add_argument("--srun-mpi", default="pmix", metavar="PLUGIN", help="srun --mpi= (default %(default)s)")
    g = ap.add_argument_group("Slurm")
    g.add_argument("--name", help="job name (default mpiapp-JOB)")
    g.add_argument("--time", default="01:00:00", help="time limit (default %(default)s)")
    g.add_argument("-p", "--partition")
    g.add_argument("-A", "--account")
    g.add_argument("--exclusive", action="store_true", help="whole nodes (#SBATCH --exclusive)")
    g.add_argument(
        "--signal-seconds",
        type=int,
        default=None,
        metavar="S",
        help=f"SIGUSR1 this long before the time limit (default {DEFAULT_SIGNAL_S}, shortened to "
        "half the limit for a shorter --time; Slurm may deliver it up to 60 s late)",
    )
    g.add_argument("--max-requeues", type=int, default=20, metavar="K", help="requeue at most K times")
    g.add_argument("--log-dir", default="", metavar="DIR", help="where %%x-%%j.out/.err go (default: here)")
    g.add_argument("--array-config", nargs="+", metavar="FILE", help="job array: one task per config file")
    g.add_argument(
        "--array-data",
        nargs="+",
        metavar="SOURCE",
        help="job array: one task per data source, e.g. builtin:sp500,nasdaq csv:shard0/",
    )
    g.add_argument("--array-parallel", type=int, metavar="K", help="at most K array tasks at once (%%K)")
    g = ap.add_argument_group("network")
    g.add_argument(
        "--profile",
        choices=PROFILES,
        help="network profile (default: single-node on one node, ib-ucx on several)",
    )
    g.add_argument("--net-if", metavar="IFACE", help="data network interface or CIDR (ethernet, NCCL)")
    g.add_argument("--ib-dev", metavar="HCA:PORT", help="InfiniBand port for UCX, e.g. mlx5_0:1 (ib-ucx)")
    g = ap.add_argument_group("output")
    g.add_argument("--dry-run", action="store_true", help="print the script, write nothing")
    g.add_argument("-o", "--script", metavar="PATH", help="script path (default NAME.sbatch / .sh)")
    ap.add_argument("job_args", nargs=argparse.REMAINDER, help="-- then the job's own arguments")
    args = ap.parse_args(argv)
    if args.job_args and args.job_args[0] == "--":
        args.job_args = args.job_args[1:]
    return args


# --- layout ---------------------------------------------------------------------------------------
def choose_template(a) -> str:
    if a.template:
        return a.template
    if a.gpus_per_node:
        return "gpu"
    if a.array_config or a.array_data:
        return "array"
    return "multi-node" if a.nodes > 1 else "single-node"


def local_cores() -> int:
    """Physical cores this process may use (affinity, divided by hardware threads per core)."""
    import os

    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
    cores = set()
    for c in cpus:
        try:
            with open(f"/sys/devices/system/cpu/cpu{c}/topology/core_id") as f:
                core = f.read().strip()
            with open(f"/sys/devices/system/cpu/cpu{c}/topology/physical_package_id") as f:
                cores.add((f.read().strip(), core))
        except OSError:
            cores.add(("?", c))
    return max(1, len(cores))


def slurm_cores(partition: str | None) -> int | None:
    """Cores per node of the partition's smallest node, from sinfo (None where there is no Slurm)."""
    import shutil
    import subprocess

    if shutil.which("sinfo") is None:
        return None
    cmd = ["sinfo", "-h", "-o", "%X %Y %Z"] + (["-p", partition] if partition else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.split()
        vals = [int(out[i]) * int(out[i + 1]) for i in range(0, len(out) - 2, 3)]  # sockets x cores
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return min(vals) if vals else None


def layout(a, template: str, cfg_threads: int = 0, note=print) -> dict:
    """Nodes, ranks per node, threads per rank, GPUs: defaults filled in, impossible ones refused."""
    if a.nodes < 1:
        raise LayoutError(f"--nodes {a.nodes}: need at least 1 node")
    if template in ("single-node", "array", "local") and a.nodes != 1:
        raise LayoutError(f"the {template} template runs on 1 node, not --nodes {a.nodes} (use multi-node)")
    cores = a.cores_per_node
    if cores is None:
        if template == "local":
            cores = local_cores()
        else:
            cores = slurm_cores(a.partition)
            if cores is None:
                cores = DEFAULT_CORES
                note(f"note: assuming {cores} cores per node (no sinfo here; --cores-per-node to change)")
    if cores < 1:
        raise LayoutError(f"--cores-per-node {cores}: need at least 1 core")
    gpus = a.gpus_per_node
    if gpus and template != "gpu":
        raise LayoutError(f"--gpus-per-node {gpus} needs the gpu template, not {template}")
    if template == "gpu" and gpus < 1:
        raise LayoutError("the gpu template needs --gpus-per-node G (one rank per GPU)")
    threads = a.threads_per_rank or cfg_threads or 0
    rpn = ranks_per_node(a)
    if rpn is None:
        rpn = gpus if template == "gpu" else max(1, cores // threads) if threads else cores
    if rpn < 1:
        raise LayoutError(f"--ranks-per-node {rpn}: need at least 1 rank per node")
    if not threads:
        threads = max(1, cores // rpn)
    if threads < 1:
        raise LayoutError(f"--threads-per-rank {threads}: need at least 1 thread per rank")
    if template == "gpu" and rpn > gpus:
        raise LayoutError(
            f"impossible layout: {rpn} GPU ranks per node but only {gpus} GPUs per node "
            f"(one rank per GPU: --ranks-per-node <= --gpus-per-node)"
        )
    if rpn * threads > cores:
        raise LayoutError(
            f"impossible layout: {rpn} ranks per node x {threads} threads per rank = {rpn * threads} CPUs, "
            f"but a node has {cores} cores (--cores-per-node); lower --ranks-per-node or --threads-per-rank"
        )
    if rpn * threads < cores:
        note(f"note: {rpn} ranks x {threads} threads use {rpn * threads} of {cores} cores per node")
    return {"nodes": a.nodes, "ranks_per_node": rpn, "threads": threads, "cores": cores, "gpus": gpus}


def ranks_per_node(a) -> int | None:
    """Ranks per node from -n (total) and --ranks-per-node; None when neither is given. Raises
    LayoutError when -n does not divide over the nodes or the two disagree."""
    rpn = a.ranks_per_node
    if a.ranks is None:
        return rpn
    if a.ranks < 1:
        raise LayoutError(f"-n {a.ranks}: need at least 1 rank")
    if a.ranks % a.nodes:
        raise LayoutError(f"-n {a.ranks} ranks do not divide evenly over {a.nodes} nodes (-N)")
    if rpn is not None and rpn * a.nodes != a.ranks:
        raise LayoutError(
            f"-n {a.ranks} (ranks in total) and --ranks-per-node {rpn} x {a.nodes} nodes disagree"
        )
    return a.ranks // a.nodes


# --- time limit and the warning signal -------------------------------------------------------------
def time_limit_seconds(text: str) -> int | None:
    """Slurm's --time forms -> seconds (None for UNLIMITED/infinite): M, M:S, H:M:S, D-H, D-H:M,
    D-H:M:S. Raises LayoutError for anything else."""
    import re

    s = str(text).strip()
    if s.lower() in ("unlimited", "infinite", "-1"):
        return None
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", s)
    if not m:
        raise LayoutError(
            f"--time {text!r}: not a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"
        )
    d, a, b, c = (int(x) if x is not None else None for x in m.groups())
    if d is None:
        if b is None:  # minutes
            secs = a * 60
        elif c is None:  # minutes:seconds
            secs = a * 60 + b
        else:  # hours:minutes:seconds
            secs = a * 3600 + b * 60 + c
    else:  # days-hours[:minutes[:seconds]]
        secs = d * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    if secs <= 0:
        raise LayoutError(f"--time {text!r}: the time limit must be positive")
    return secs


def signal_lead(a, note=print) -> int:
    """Seconds of warning before the time limit. An explicit --signal-seconds that is not shorter
    than the limit is refused; the default 300 s is shortened to half of a shorter limit (with a
    note), so the warning never comes before the job has started working."""
    limit = time_limit_seconds(a.time)
    if a.signal_seconds is not None:
        if a.signal_seconds < 0:
            raise LayoutError(f"--signal-seconds {a.signal_seconds}: must be 0 or more")
        if limit is not None and a.signal_seconds >= limit:
            raise LayoutError(
                f"--signal-seconds {a.signal_seconds} is not shorter than --time {a.time} "
                f"({limit} s): the warning would come before the job starts; give a lead below "
                f"{limit} s or a longer --time"
            )
        return a.signal_seconds
    if limit is not None and DEFAULT_SIGNAL_S * 2 > limit:
        lead = max(1, limit // 2)
        note(
            f"note: --time {a.time} is shorter than twice the default {DEFAULT_SIGNAL_S} s "
            f"warning: SIGUSR1 comes {lead} s before the limit (--signal-seconds to choose)"
        )
        return lead
    return DEFAULT_SIGNAL_S


# --- rendering ------------------------------------------------------------------------------------
def _root():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "launch"


def _read(rel: str) -> str:
    path = _root() / rel
    try:
        return path.read_text()
    except FileNotFoundError:
        raise SystemExit(f"mpiapp launch: {path} not found (needs a checkout's launch/ folder)") from None


def _fill(rel: str, **values) -> str:
    return _Template(_read(rel)).substitute(**values).rstrip("\n")


def _profile_text(name: str) -> str:
    lines = _read(f"profiles/{name}.env").splitlines()
    return "\n".join(x for x in lines if not x.startswith("# shellcheck shell=")).strip()


def _exported(text: str) -> list[str]:
    import re

    return sorted(set(re.findall(r"^\s*export (\w+)=", text, flags=re.M)))


def _quote(word) -> str:
    """Shell quoting; words with commas are quoted too (shellcheck SC2054 reads them as array typos)."""
    import shlex

    word = str(word)
    q = shlex.quote(word)
    return f"'{word}'" if "," in word and q == word else q


def _check_job(a) -> None:
    from .__main__ import JOBS

    runnable = [j for j, info in JOBS.items() if info.mpi or info.resume]
    if a.job not in runnable:
        raise LayoutError(f"--job {a.job!r}: not one of {', '.join(runnable)}")
    for bad in ("--resume", "--out"):
        if any(x == bad or x.startswith(bad + "=") for x in a.job_args):
            raise LayoutError(f"{bad} after --: give --out to the launcher; the script adds --resume")
    if a.array_config and a.array_data:
        raise LayoutError("--array-config and --array-data: choose one")


def render(a, argv=()) -> tuple[str, str, str]:
    """(script text, script path, the command to run it). Raises LayoutError for impossible layouts."""
    import os

    from . import config

    q = _quote
    template = choose_template(a)
    _check_job(a)
    if template == "array" and not (a.array_config or a.array_data):
        raise LayoutError("the array template needs --array-config FILE... or --array-data SOURCE...")
    cfg = config.load(a.config)
    notes = []
    lay = layout(a, template, cfg.runtime.threads_per_rank, note=notes.append)
    lead = signal_lead(a, note=notes.append) if template != "local" else DEFAULT_SIGNAL_S
    launcher = a.launcher or ("mpirun" if template == "local" else "srun")
    if template == "local" and launcher != "mpirun":
        raise LayoutError("the local template runs mpirun (srun needs an sbatch template)")
    profile = a.profile or ("ib-ucx" if lay["nodes"] > 1 else "single-node")
    from .__main__ import JOBS

    resumable = JOBS[a.job].resume
    name = a.name or f"mpiapp-{a.job}"
    script = a.script or name + (".sh" if template == "local" else ".sbatch")
    job_cmd = [a.program] if a.program else ["-m", f"mpiapp.{a.job}"]
    job_args = [x for c in a.config for x in ("--config", c)] + list(a.job_args)
    out = a.out or config.output_path(cfg, a.job)

    # a job array's items, and where each run writes
    items_block = out_block = ""
    items = a.array_config or a.array_data or []
    if template == "array":
        flag = "--config" if a.array_config else "--data"
        items_block = (
            f"ITEMS=({' '.join(map(q, items))})  # one per array task ({flag})\n"
            f'JOB_ARGS+=({flag} "${{ITEMS[$SLURM_ARRAY_TASK_ID]}}")\n'
        )
    if resumable:
        out_expr = q(out)
        if template == "array":  # results/score.h5 -> results/score_<task>.h5
            stem, dot, ext = out.rpartition(".")
            stem, ext = (stem, "." + ext) if dot and "/" not in ext else (out, "")
            out_expr = q(stem + "_") + '"$SLURM_ARRAY_TASK_ID"' + (q(ext) if ext else "")
        out_block = (
            f"OUT={out_expr}  # results; OUT.partial holds the committed work of an unfinished run\n"
            'JOB_ARGS+=(--out "$OUT")\n'
        )

    # the network: profile, and NCCL on GPU nodes
    env_lines = [f"export MPIAPP_NET_IF={q(a.net_if)}  # data network, for the profile"] if a.net_if else []
    env_lines += [f"export MPIAPP_IB_DEV={q(a.ib_dev)}  # InfiniBand port, for UCX"] if a.ib_dev else []
    profile_text = "\n".join(env_lines + [_profile_text(profile)])
    if template == "gpu":
        profile_text += "\n\n# --- NCCL for torch DDP (launch/profiles/nccl.env) ---\n"
        profile_text += _profile_text("nccl")

    # the launcher, and which process Slurm's warning signal must reach
    if launcher == "srun":
        launcher_block = _fill(
            "templates/parts/srun.sh",
            srun_mpi=a.srun_mpi,
            cpu_bind="verbose,cores" if a.report_bindings else "cores",
            gpu=" --gpus-per-task=1" if template == "gpu" else "",
        )
        signal = f"USR1@{lead}"  # every task of the srun step
    else:
        forward = ["MPIAPP_THREADS", "PYTHONUNBUFFERED"]
        forward += [v for v in _exported(profile_text) if not v.startswith("OMPI_")]  # mpirun passes OMPI_*
        if template == "local":
            note = "# mpirun forwards SIGUSR1 (and SIGTERM, see above) to every rank: each commits, exits 75."
        else:
            note = (
                "# mpirun runs in the batch step: Slurm's warning comes to this shell\n"
                "# (--signal=B:USR1@T); the trap below passes it to mpirun, which forwards it to every rank."
            )
        launcher_block = _fill(
            "templates/parts/mpirun.sh",
            signal_note=note,
            report=" --report-bindings" if a.report_bindings else "",
            forward=" ".join(f"-x {v}" for v in forward),
        )
        signal = f"B:USR1@{lead}"  # the batch shell, which forwards it

    # resume after a stop, and what the script does with the exit status
    if resumable:
        resume_block = _fill("templates/parts/resume.sh")
        done_msg, again = '"mpiapp: complete: $OUT"', "resumes $OUT.partial"
    else:
        resume_block = f"# the {a.job} job has no --resume: a stopped run starts over"
        done_msg, again = f'"mpiapp: {a.job} finished"', "starts it again"
    after = "after-local.sh" if template == "local" else "after-sbatch.sh"
    after_block = _fill(
        f"templates/parts/{after}", max_requeues=a.max_requeues, done_msg=done_msg, again=again
    )

    body = _fill(
        "templates/body.sh",
        python=q(a.python or sys.executable),
        job_cmd=" ".join(map(q, job_cmd)),
        job_args=" ".join(map(q, job_args)),
        items_block=items_block,
        out_block=out_block,
        ranks_per_node=lay["ranks_per_node"],
        threads=lay["threads"],
        profile=profile,
        profile_text=profile_text,
        resume_block=resume_block,
        launcher_block=launcher_block,
        after_block=after_block,
    )
    site = [f"#SBATCH --partition={a.partition}"] if a.partition else []
    site += [f"#SBATCH --account={a.account}"] if a.account else []
    site += ["#SBATCH --exclusive"] if a.exclusive else []
    array = f"0-{len(items) - 1}" + (f"%{a.array_parallel}" if a.array_parallel else "") if items else ""
    where = "this machine" if template == "local" else f"{lay['nodes']} node(s)"
    total = lay["ranks_per_node"] * lay["nodes"]
    title = (
        f"mpiapp {a.job} on {where}: {total} ranks in total ({lay['ranks_per_node']} per node) x "
        f"{lay['threads']} threads per rank{', 1 GPU per rank' if template == 'gpu' else ''} "
        f"({lay['cores']} cores per node), profile {profile}, launcher {launcher}"
    )
    text = _fill(
        f"templates/{template}{'.sh' if template == 'local' else '.sbatch'}",
        title=title,
        rendered_by=" ".join(["python -m mpiapp.launch", *map(q, argv)]),
        script_name=os.path.basename(script),
        name=name,
        nodes=lay["nodes"],
        ranks_per_node=lay["ranks_per_node"],
        threads=lay["threads"],
        time=a.time,
        sbatch_site="".join(x + "\n" for x in site),
        signal=signal,
        array=array,
        body=body,
        log_dir=a.log_dir.rstrip("/") + "/" if a.log_dir else "",
    )
    text = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    for n in notes:
        print(n, file=sys.stderr)
    return text, script, ("bash " if template == "local" else "sbatch ") + q(script)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    from . import config

    try:
        text, script, run = render(args, argv)
    except LayoutError as exc:
        print(f"mpiapp launch: {exc}", file=sys.stderr)
        return exits.USAGE
    except config.ConfigError as exc:
        print(f"mpiapp launch: config error: {exc}", file=sys.stderr)
        return exits.USAGE
    if args.dry_run:
        print(text, end="")
        return exits.OK
    import os
    from pathlib import Path

    if args.log_dir:
        Path(args.log_dir).mkdir(parents=True, exist_ok=True)  # Slurm does not create it
    Path(script).write_text(text)
    os.chmod(script, 0o755)
    print(f"wrote {script}; run it with:\n  {run}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
