"""The end-of-run summary the score job prints on rank 0 (and the top-pattern lines report reuses)."""

from __future__ import annotations

import numpy as np

PIV = range(6)


def top_lines(rows: list[dict]) -> list[str]:
    """One line per structure (a group's primary): rank, symbol, direction, S and its terms, its
    number of alternative counts (`alt`), first and last date, pivot bars."""
    lines = [f"  {'#':>3} {'symbol':<10} {'dir':>4} {'score':>6} {'F':>5} {'T':>5} {'A':>5} {'C':>5} "
             f"{'alt':>3}  {'start':<10} {'end':<10} pivots (bar)"]  # fmt: skip
    for i, r in enumerate(rows, 1):
        d0, d5 = (str(r.get(k, ""))[:10] for k in ("d0", "d5"))
        piv = " ".join(str(int(r[f"t{j}"])) for j in PIV)
        lines.append(f"  {i:>3} {str(r['name'])[:10]:<10} {'bull' if r['direction'] > 0 else 'bear':>4} "
                     f"{r['score']:6.3f} {r['F']:5.2f} {r['T']:5.2f} {r['A']:5.2f} {r['C']:5.2f} "
                     f"{int(r.get('n_alternatives', 0)):>3}  {d0:<10} {d5:<10} {piv}")  # fmt: skip
    return lines


def windows_counts(windows: int, skipped_flat: int, truncated: int) -> str:
    """How the job's summary and `mpiapp.report` count windows (one wording for both)."""
    return (f"windows {windows} ({windows - skipped_flat} scanned, {skipped_flat} skipped as flat)   "
            f"truncated (budget) {truncated}")


def fdr_lines(f: dict | None) -> list[str]:
    """The significance lines of a scan with the null on (f: the finalize's "fdr" figures)."""
    if not f:
        return []
    name = {"by": "Benjamini-Yekutieli", "bh": "Benjamini-Hochberg"}[f["method"]]
    lines = [f"  significance: {f['tests']:,} window tests, {name} q-values: {f['discoveries']:,} "
             f"windows with q <= {f['alpha']:g}; smallest attainable p {f['p_min']:.2g}"]
    if f["unreachable"]:
        lines.append(f"  warning: with {f['tests']:,} tests the smallest attainable p-value "
                     f"({f['p_min']:.2g}) cannot reach q <= {f['alpha']:g}: no pattern can be declared "
                     "at that level; raise scan.null_samples or scan fewer windows")
    return lines


def format_summary(s: dict, path: str) -> str:
    """End-of-run summary of the score job (`s`: the scan job's finalize summary)."""
    from ...runtime.profile import table

    prof = s.get("profile") or []
    busy = [r["busy_s"] for r in prof]
    imb = (max(busy) / np.mean(busy)) if busy and np.mean(busy) > 0 else 1.0
    top = []
    for r in s.get("top", []):
        r = dict(r)
        for k in ("d0", "d5"):
            r[k] = np.datetime64(int(r[k]), "ns").astype("datetime64[D]")
        top.append(r)
    lines = [
        f"scan complete: {path}",
        f"  symbols {s['symbols']} ({s['skipped_symbols']} skipped)   "
        + windows_counts(s["windows"], s["skipped_flat"], s["truncated"]),
        f"  candidates visited {s['visited']:,}   patterns kept {s['patterns']:,} "
        f"({s.get('groups', s['patterns']):,} structures: alternative counts grouped)   hdf5 {s['hdf5_mode']}",
        f"  wall {s.get('wall_s', 0):.2f} s on {len(prof)} rank(s); load imbalance (busy max/mean) {imb:.3f}",
    ]
    lines += fdr_lines(s.get("fdr"))
    lines += [f"  warning: {w}" for w in s.get("warnings", [])]
    if top:
        lines += ["", f"top {len(top)} structures (alt: alternative counts of the same structure):"]
        lines += top_lines(top)
    if prof:
        lines += ["", "profile (per rank):", table(prof)]
    return "\n".join(lines)
