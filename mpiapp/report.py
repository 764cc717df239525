"""`python -m mpiapp.report FILE [--top N] [--plot DIR]`: what a results file holds, as text and charts."""

from __future__ import annotations

import argparse
import sys

PIV = range(6)


def file_summary(path: str, top_n: int = 10) -> str:
    import numpy as np

    from . import results
    from .engines.scan.summary import top_lines
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
        f"  symbols {len(sym)} ({skipped} skipped)   windows {len(win['window'])}   skipped (flat) "
        f"{int(np.sum(win['skipped_flat']))}   truncated {int(np.sum(win['truncated']))}   "
        f"candidates {int(np.sum(win['visited'])):,}   patterns {len(pats):,}",
    ]
    for _, r in sym[sym["skipped_reason"] != ""].iterrows():
        lines.append(f"  skipped {r['name']}: {r['skipped_reason']}")
    if len(pats):
        top = pats.sort_values(["score", "t0"], ascending=[False, True], kind="stable").head(top_n)
        rows = [dict(r, name=r["symbol"], d0=str(r["d0"].date()), d5=str(r["d5"].date())) for _, r in top.iterrows()]
        lines += ["", f"top {len(rows)} patterns:"] + top_lines(rows)
    if len(prof):
        lines += ["", "profile (per rank):", table(prof.to_dict("records"))]
    return "\n".join(lines)


def plot(path: str, out_dir: str, top_n: int = 10) -> list[str]:
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
    pats = results.load(path)
    top = pats.sort_values(["score", "t0"], ascending=[False, True], kind="stable").head(top_n)
    os.makedirs(out_dir, exist_ok=True)
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
        kind = "bullish" if r["direction"] > 0 else "bearish"
        ax.set_title(f"#{rank_i} {name} {kind} impulse  S={r['score']:.3f}  F={r['F']:.2f} T={r['T']:.2f} "
                     f"A={r['A']:.2f} C={r['C']:.2f}  (chosen by {int(r['n_windows'])} windows)", fontsize=10)  # fmt: skip
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        f = os.path.join(out_dir, f"top{rank_i:02d}_{name}_{kind}.png")
        fig.savefig(f, bbox_inches="tight")
        plt.close(fig)
        written.append(f)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mpiapp.report", description=__doc__)
    ap.add_argument("file", help="a results file written by mpiapp.score or mpiapp.hpo")
    ap.add_argument("--top", type=int, default=10, metavar="N", help="patterns to list and plot")
    ap.add_argument("--plot", metavar="DIR", help="write one PNG per top pattern into DIR")
    a = ap.parse_args(argv)
    import os

    if not os.path.exists(a.file):
        partial = a.file + ".partial"
        hint = f" ({partial} exists: the run was interrupted; finish it with --resume)" if os.path.exists(partial) else ""
        print(f"mpiapp report: {a.file}: no such file{hint}", file=sys.stderr)
        return 2
    from .io.results import read_attrs

    if read_attrs(a.file).get("job") == "hpo":  # a search: its own tables and Optuna's charts
        from .engines.hpo import report as hpo_report

        return hpo_report.main(a.file, a.plot, a.top)
    print(file_summary(a.file, a.top))
    if a.plot:
        for f in plot(a.file, a.plot, a.top):
            print(f"wrote {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
