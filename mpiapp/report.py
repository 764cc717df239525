"""`python -m mpiapp.report FILE [--top N] [--plot DIR]`: what a results file holds, as text and charts."""

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
        attrs = {k: (v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v)
                 for k, v in f.attrs.items()}
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
            raise ReportError(f"{path}: an unfinished {'scan' if job == 'score' else job + ' run'} (status "
                              f"{status or 'unknown'}; {progress}no report until it completes); finish it "
                              f"with `python -m mpiapp.{job} --resume --out {out}` and the same config")
        tables = ("patterns", "symbols", "windows") if attrs.get("job", "score") == "score" else ("profile",)
        missing = [g for g in tables if g not in f]
        if missing or "config" not in attrs:
            what = ", ".join(missing) + (" tables" if missing else "")
            what = what or "config attribute"
            raise ReportError(f"{path}: not an mpiapp results file (no {what})")
    return attrs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mpiapp.report", description=__doc__)
    ap.add_argument("file", help="a results file written by any mpiapp job (score, train, optbench, hpo)")
    ap.add_argument("--top", type=int, default=10, metavar="N", help="patterns to list and plot")
    ap.add_argument("--plot", metavar="DIR", help="write one PNG per top pattern into DIR")
    ap.add_argument("--max-p", type=float, metavar="P",
                    help="scan files: only patterns whose p-value (scan.null_samples > 0) is at most P")
    ap.add_argument("--max-q", type=float, metavar="Q",
                    help="scan files: only patterns whose q-value (false-discovery control over the run's "
                         "windows, scan.null_samples > 0) is at most Q")
    a = ap.parse_args(argv)
    import os
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `report FILE | head` ends quietly, like any filter

    if not os.path.exists(a.file):
        partial = a.file + ".partial"
        hint = f" ({partial} exists: the run was interrupted; finish it with --resume)" if os.path.exists(partial) else ""
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
    print(text)
    if a.plot:
        try:
            for f in own.plot(a.file, a.plot, **scan_opts):
                print(f"wrote {f}")
        except (ReportError, ConfigError, SourceError, DataError) as exc:
            print(f"mpiapp report: --plot: {exc}", file=sys.stderr)
            return exits.USAGE
        except OSError as exc:
            print(f"mpiapp report: --plot {a.plot}: {exc.strerror or exc}"
                  f"{': ' + str(exc.filename) if getattr(exc, 'filename', None) else ''}", file=sys.stderr)
            return exits.USAGE
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
