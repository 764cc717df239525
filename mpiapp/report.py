"""`python -m mpiapp.report FILE [--top N] [--plot DIR] [--html OUT.html]`: what a results file holds,
as text, charts and one self-contained HTML page."""

from __future__ import annotations

import argparse
import importlib
import sys

from . import exits
from .__main__ import JOBS
from .io.names import safe_name, short_name  # noqa: F401  (the names charts are saved under)
from .io.results import ReportError

#: job -> the engine module that reports its files (`text(path) -> str`, `plot(path, dir) -> [files]`;
#: the scan's take the --top, --max-p and --max-q options too), from the job registry (JobInfo.report);
#: a file without a `job` attribute is a score file
JOB_REPORTS = {job: info.report for job, info in JOBS.items() if info.report}


def check_results_file(path: str) -> dict:
    """The attributes of a finished results file, or ReportError with one line saying why not."""
    import os

    if os.path.isdir(path):
        raise ReportError(f"{path}: is a folder, not a results file")
    try:
        import h5py

        f = h5py.File(path, "r")
    except OSError as exc:
        raise ReportError(f"{path}: not an HDF5 file ({str(exc).split('(')[0].strip()})") from None
    with f:
        attrs = {
            k: (v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v)
            for k, v in f.attrs.items()
        }
        status = attrs.get("status")
        if (status is not None and status != "complete") or "_state" in f:
            try:
                done = int((f["_state"][:, 0] == 1).sum())
                total = int(f["_state"].shape[0])
                progress = f"{done} of {total} work units committed, "
            except Exception:  # a file being written, or damaged
                progress = ""
            out = path[: -len(".partial")] if path.endswith(".partial") else "OUT"
            job = attrs.get("job", "score")
            raise ReportError(
                f"{path}: an unfinished {'scan' if job == 'score' else job + ' run'} (status "
                f"{status or 'unknown'}; {progress}no report until it completes); finish it "
                f"with `python -m mpiapp.{job} --resume --out {out}` and the same config"
            )
        tables = ("patterns", "symbols", "windows") if attrs.get("job", "score") == "score" else ("profile",)
        missing = [g for g in tables if g not in f]
        if missing or "config" not in attrs:
            what = ", ".join(missing) + (" tables" if missing else "")
            what = what or "config attribute"
            raise ReportError(f"{path}: not an mpiapp results file (no {what})")
    return attrs


def _epilog() -> str:
    """The jobs whose files this reads, from the registry, and what --plot writes for each."""
    lines = ["files of every job that writes one (its `job` attribute picks the report):"]
    lines += [f"  {job:<9}{JOBS[job].doc}" for job in JOB_REPORTS]
    lines += [
        "",
        "--plot DIR writes PNG charts into DIR (created if missing; existing charts of the same name "
        "are replaced):",
    ]
    lines += [f"  {job:<9}{PLOTS.get(job, 'its charts')}" for job in JOB_REPORTS]
    lines += [
        "",
        "--html OUT.html writes one self-contained page: the summary, the main tables (sortable) and "
        "every chart inline (no network, no server); with --plot the PNGs are kept in DIR too.",
    ]
    return "\n".join(lines)


#: what --plot writes per job (for --help; each report module's plot() docstring has the detail)
PLOTS = {
    "score": "top<N>_<symbol>_<direction>.png per top structure (group primaries, p / q-value, known_bar); "
    "overview.png (per symbol: where patterns were found, which windows were skipped and why); "
    "live_<symbol>.png, outcomes.png",
    "train": "ic_per_symbol.png, equity_<family>.png (out-of-fold long/short against buy-and-hold, turnover), "
    "ic_over_time.png, importance.png, deciles.png, folds_<symbol>.png for every symbol",
    "optbench": "curves_<problem>.png (medians with bootstrap bands over the seeds), time_to_target.png, "
    "profile.png (by time and by iterations), memory.png",
    "hpo": "hpo_history (hpo_pareto_front for two objectives), hpo_importances, hpo_intermediate_values, "
    "hpo_parallel_coordinate, hpo_slice, hpo_contour (top two parameters), hpo_holdout (search beside "
    "held-out values) (.png), the objective named on the value axis",
    "ddp": "loss.png (train loss smoothed, validation and test beside their baselines, best epoch), "
    "metrics.png (IC and hit rate per epoch), lr.png (learning-rate schedule), symbols.png (per-symbol "
    "test IC beside the ridge baseline's), throughput.png",
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m mpiapp.report",
        description=__doc__,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("file", help="a results file written by any mpiapp job: " + ", ".join(JOB_REPORTS))
    ap.add_argument(
        "--top", type=int, default=10, metavar="N", help="score files: structures to list and plot"
    )
    ap.add_argument("--plot", metavar="DIR", help="write the job's charts as PNG files into DIR (see below)")
    ap.add_argument(
        "--html",
        metavar="OUT.html",
        help="write one self-contained HTML page: summary, tables, every chart inline",
    )
    ap.add_argument(
        "--max-p",
        type=float,
        metavar="P",
        help="scan files: only patterns whose p-value (scan.null_samples > 0) is at most P",
    )
    ap.add_argument(
        "--max-q",
        type=float,
        metavar="Q",
        help="scan files: only patterns whose q-value (false-discovery control over the run's "
        "windows, scan.null_samples > 0) is at most Q",
    )
    a = ap.parse_args(argv)
    import os
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `report FILE | head` ends quietly, like any filter

    if not os.path.exists(a.file):
        partial = a.file + ".partial"
        hint = (
            f" ({partial} exists: the run was interrupted; finish it with --resume)"
            if os.path.exists(partial)
            else ""
        )
        print(f"mpiapp report: {a.file}: no such file{hint}", file=sys.stderr)
        return exits.USAGE
    from .config import ConfigError
    from .io.sources import SourceError
    from .io.validate import DataError

    try:
        job = check_results_file(a.file).get("job", "score")
        if job not in JOB_REPORTS:
            raise ReportError(f"{a.file}: written by an unknown job {job!r}")
        own = importlib.import_module(JOB_REPORTS[job])
        scan_opts = dict(top_n=a.top, max_p=a.max_p, max_q=a.max_q) if job == "score" else {}
        text = own.text(a.file, **scan_opts)
    except ReportError as exc:
        print(f"mpiapp report: {exc}", file=sys.stderr)
        return exits.USAGE
    except (OSError, KeyError, ValueError) as exc:  # a damaged file
        print(f"mpiapp report: {a.file}: cannot read as a results file: {exc}", file=sys.stderr)
        return exits.USAGE
    if a.html:
        problem = html_target_problem(a.file, a.html)
        if problem:
            print(f"mpiapp report: --html {a.html}: {problem}", file=sys.stderr)
            return exits.USAGE
    print(text)
    if not (a.plot or a.html):
        return exits.OK
    import tempfile

    flag = "--plot" if a.plot else "--html"
    with tempfile.TemporaryDirectory(prefix="mpiapp-report-") as scratch:
        where = a.plot or scratch
        try:
            charts = own.plot(a.file, where, **scan_opts)
            if a.plot:
                for f in charts:
                    print(f"wrote {f}")
            if a.html:
                write_html(a.file, a.html, own, text, charts, scan_opts)
                print(f"wrote {a.html}")
        except (ReportError, ConfigError, SourceError, DataError) as exc:
            print(f"mpiapp report: {flag}: {exc}", file=sys.stderr)
            return exits.USAGE
        except OSError as exc:
            print(
                f"mpiapp report: {flag} {where if flag == '--plot' else a.html}: {exc.strerror or exc}"
                f"{': ' + str(exc.filename) if getattr(exc, 'filename', None) else ''}",
                file=sys.stderr,
            )
            return exits.USAGE
    return exits.OK


def html_target_problem(results: str, out: str) -> str | None:
    """Why OUT.html cannot be written (None when it can): the results file itself, a folder, or an
    existing file that is not a page of this report (nothing a user has is overwritten)."""
    import os

    from .engines.page import is_page

    if os.path.isdir(out):
        return "is a folder; give a file name, e.g. report.html"
    if os.path.exists(out):
        if os.path.samefile(out, results):
            return "is the results file itself"
        if not is_page(out):
            return "exists and is not a page written by mpiapp report; remove it or choose another name"
    return None


def write_html(path: str, out: str, own, text: str, charts: list, scan_opts: dict) -> None:
    """The page of a results file (engines.page): summary text, the module's HTML_TABLES read with
    mpiapp.results.load (names, not codes), every chart."""
    import h5py

    from . import results
    from .engines import page

    with h5py.File(path, "r") as f:
        present = set(f.keys())
    tables = []
    for item in getattr(own, "HTML_TABLES", ()):
        name, note = (item, "") if isinstance(item, str) else item
        if name in present:
            tables.append((name, results.load(path, name), note))
    if "profile" in present and not any(n == "profile" for n, _, _ in tables):
        tables.append(("profile", results.load(path, "profile"), "per rank"))
    page.write(out, page.page(path, results.attrs(path), text, tables, charts, []))


if __name__ == "__main__":
    sys.exit(main())
