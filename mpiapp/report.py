"""`python -m mpiapp.report FILE [--top N] [--plot DIR]`: what a results file holds, as text and charts."""

from __future__ import annotations

import argparse
import importlib
import sys

#: job -> the engine module that reports its files (`text(path) -> str`, `plot(path, dir) -> [files]`);
#: a file without a `job` attribute, or of the score job, is reported here
JOB_REPORTS = {
    "train": "mpiapp.engines.train.report",
    "optbench": "mpiapp.engines.optbench.report",
    "hpo": "mpiapp.engines.hpo.report",
    "ddp": "mpiapp.engines.ddp.report",
}

PIV = range(6)


def top_patterns(pats, top_n: int, max_p: float | None = None, path: str = "", max_q: float | None = None):
    """The `top_n` best structures (S descending, then t0): group primaries only (each with its
    n_alternatives; files written before groups existed: every row), only those with p_value <= max_p
    and q_value <= max_q if given (q_value: the run's false-discovery control; NaN for a pattern
    that is the best of no window, never listed under max_q).

    Raises ReportError when max_p or max_q is asked of a file scanned without a null
    (scan.null_samples = 0).
    """
    if max_q is not None:
        if "q_value" not in pats or not pats["q_value"].notna().any():
            raise ReportError(f"{path}: no q-values in this file (it was scanned with scan.null_samples = 0); "
                              "scan again with --set scan.null_samples=20 to filter by --max-q")
        pats = pats[pats["q_value"] <= max_q]
    if "group" in pats:
        pats = pats[pats["group"].to_numpy() == pats.index.to_numpy()]
    if max_p is not None:
        if "p_value" not in pats or not pats["p_value"].notna().any():
            raise ReportError(f"{path}: no p-values in this file (it was scanned with scan.null_samples = 0); "
                              "scan again with --set scan.null_samples=20 to filter by --max-p")
        pats = pats[pats["p_value"] <= max_p]
    return pats.sort_values(["score", "t0"], ascending=[False, True], kind="stable").head(top_n)


def file_summary(path: str, top_n: int = 10, max_p: float | None = None, max_q: float | None = None) -> str:
    import numpy as np

    from . import results
    from .engines.scan.summary import top_lines, windows_counts
    from .io.results import read_attrs, read_table
    from .runtime.profile import table

    a = read_attrs(path)
    pats = results.load(path)
    win = read_table(path, "windows")
    sym = results.load_table(path, "symbols")
    prof = results.load_table(path, "profile")
    skipped = int((sym["skipped_reason"] != "").sum())
    lines = [
        f"{path}: {a.get('status')} scan, mpiapp {a.get('mpiapp_version')}, {a.get('ranks')} rank(s) on "
        f"{a.get('hosts')}, backend {a.get('backend')}, hdf5 {a.get('hdf5_mode')}",
        f"  data {a.get('data_source')}   started {a.get('started')}   finished {a.get('finished')}   "
        f"wall {float(a.get('wall_s', 0)):.2f} s",
        f"  symbols {len(sym)} ({skipped} skipped)   "
        + windows_counts(len(win["window"]), int(np.sum(win["skipped_flat"])), int(np.sum(win["truncated"])))
        + f"   candidates {int(np.sum(win['visited'])):,}   patterns {len(pats):,}",
    ]
    for _, r in sym[sym["skipped_reason"] != ""].iterrows():
        lines.append(f"  skipped {r['name']}: {r['skipped_reason']}")
    if len(pats):
        top = top_patterns(pats, top_n, max_p, path, max_q)
        rows = [dict(r, name=r["symbol"], d0=str(r["d0"].date()), d5=str(r["d5"].date())) for _, r in top.iterrows()]
        which = f" with p <= {max_p:g}" if max_p is not None else ""
        which += f" with q <= {max_q:g}" if max_q is not None else ""
        n_groups = int((pats["group"].to_numpy() == pats.index.to_numpy()).sum()) if "group" in pats else len(pats)
        lines[-1] += f" ({n_groups:,} structures)"
        lines += ["", f"top {len(rows)} structures{which} (alt: alternative counts of the same structure):"]
        lines += top_lines(rows)
    if len(prof):
        lines += ["", "profile (per rank):", table(prof.to_dict("records"))]
    return "\n".join(lines)


class ReportError(ValueError):
    """The file cannot be reported on (not HDF5, not a results file, an unfinished run); the
    message is one line naming the file."""


#: the longest symbol text in a chart file name / title (the full name stays in the results file)
NAME_CHARS = 40


def safe_name(symbol: str) -> str:
    """A symbol as a file-name part: letters, digits, '.', '-', '_' only (any other character,
    '/' included, becomes '_'; no leading '.'), at most NAME_CHARS characters; a name that had
    to change gets a short hash of the original, so two symbols never share a chart file."""
    import hashlib
    import re

    s = str(symbol)
    clean = re.sub(r"[^\w.\-]", "_", s, flags=re.UNICODE).lstrip(".") or "_"
    if clean == s and len(clean) <= NAME_CHARS:
        return clean
    digest = hashlib.sha1(s.encode("utf-8", errors="replace")).hexdigest()[:8]
    return f"{clean[:NAME_CHARS]}-{digest}"


def short_name(symbol: str) -> str:
    s = str(symbol)
    return s if len(s) <= NAME_CHARS else s[: NAME_CHARS - 1] + "…"


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


def plot(path: str, out_dir: str, top_n: int = 10, max_p: float | None = None,
         max_q: float | None = None) -> list[str]:
    """One PNG per top pattern: High/Low band and close, pivots 0-5, channel lines, score terms."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from . import config, results
    from .io import sources

    cfg = config.loads(results.attrs(path)["config"], origin=f"{path} (attribute config)")
    src = sources.open_from_config(cfg)
    top = top_patterns(results.load(path), top_n, max_p, path, max_q)
    os.makedirs(out_dir, exist_ok=True)
    root = os.path.realpath(out_dir)
    written = []
    cache = {}
    for rank_i, (_, r) in enumerate(top.iterrows(), 1):
        name = r["symbol"]
        if name not in cache:
            cache[name] = src.load(name)
        s = cache[name]
        t = np.array([int(r[f"t{i}"]) for i in PIV])
        p = np.array([float(r[f"p{i}"]) for i in PIV])
        span = t[5] - t[0]
        lo, hi = max(0, t[0] - span // 3), min(len(s) - 1, t[5] + span // 3)
        x = s.dates[lo : hi + 1]
        fig, ax = plt.subplots(figsize=(11, 5.5), dpi=100)
        ax.fill_between(x, s.low[lo : hi + 1], s.high[lo : hi + 1], color="tab:blue", alpha=0.25, lw=0,
                        label="High-Low")  # fmt: skip
        ax.plot(x, s.close[lo : hi + 1], color="tab:blue", lw=0.8, label="Close")
        ax.plot(s.dates[t], p, "-o", color="tab:red", lw=1.6, ms=5, label="waves 1-5")
        for i in PIV:
            ax.annotate(str(i), (s.dates[t[i]], p[i]), textcoords="offset points",
                        xytext=(0, 9 if (i % 2 == 1) == (r["direction"] > 0) else -15), ha="center",
                        fontsize=11, fontweight="bold", color="tab:red")  # fmt: skip
        # channel: line through pivots 2 and 4, its parallel through pivot 3 (DESIGN §5, term C)
        slope = (p[4] - p[2]) / (t[4] - t[2]) if t[4] != t[2] else 0.0
        tt = np.array([t[1], t[5]])
        ax.plot(s.dates[tt], p[2] + slope * (tt - t[2]), "--", color="gray", lw=1, label="channel 2-4")
        ax.plot(s.dates[tt], p[3] + slope * (tt - t[3]), ":", color="gray", lw=1, label="parallel through 3")
        if "known_bar" in r and 0 <= int(r["known_bar"]) <= hi:  # from when a scan of the bars so far reports it
            ax.axvline(s.dates[int(r["known_bar"])], color="tab:green", lw=1, ls="-.", label="known from (known_bar)")
        kind = "bullish" if r["direction"] > 0 else "bearish"
        ax.set_title(f"#{rank_i} {short_name(name)} {kind} impulse  S={r['score']:.3f}  F={r['F']:.2f} T={r['T']:.2f} "
                     f"A={r['A']:.2f} C={r['C']:.2f}  (chosen by {int(r['n_windows'])} windows, "
                     f"{int(r.get('n_alternatives', 0))} alternative counts)", fontsize=10)  # fmt: skip
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        f = os.path.join(out_dir, f"top{rank_i:02d}_{safe_name(name)}_{kind}.png")
        if os.path.dirname(os.path.realpath(f)) != root:  # never outside DIR, whatever the name
            raise ReportError(f"chart file name {f!r} leaves {out_dir}")
        fig.savefig(f, bbox_inches="tight")
        plt.close(fig)
        written.append(f)
    return written


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
        return 2
    from .config import ConfigError
    from .io.sources import SourceError
    from .io.validate import DataError

    try:
        job = check_results_file(a.file).get("job", "score")
        own = importlib.import_module(JOB_REPORTS[job]) if job in JOB_REPORTS else None
        text = own.text(a.file) if own is not None else file_summary(a.file, a.top, a.max_p, a.max_q)
    except ReportError as exc:
        print(f"mpiapp report: {exc}", file=sys.stderr)
        return 2
    except (OSError, KeyError, ValueError) as exc:  # a damaged file
        print(f"mpiapp report: {a.file}: cannot read as a results file: {exc}", file=sys.stderr)
        return 2
    print(text)
    if a.plot:
        try:
            for f in own.plot(a.file, a.plot) if own is not None else plot(a.file, a.plot, a.top, a.max_p,
                                                                            a.max_q):
                print(f"wrote {f}")
        except (ReportError, ConfigError, SourceError, DataError) as exc:
            print(f"mpiapp report: --plot: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"mpiapp report: --plot {a.plot}: {exc.strerror or exc}"
                  f"{': ' + str(exc.filename) if getattr(exc, 'filename', None) else ''}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
