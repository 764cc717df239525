"""The end-of-run summary the score job prints on rank 0 (and the top-pattern lines report reuses)."""

from __future__ import annotations

import numpy as np

PIV = range(6)


def top_lines(rows: list[dict]) -> list[str]:
    """One line per structure (a group's primary): rank, symbol, direction, S and its terms, its
    number of alternative counts (`alt`), first and last date, pivot bars."""
    lines = [
        f"  {'#':>3} {'symbol':<10} {'dir':>4} {'score':>6} {'F':>5} {'T':>5} {'A':>5} {'C':>5} "
        f"{'alt':>3}  {'start':<10} {'end':<10} pivots (bar)"
    ]
    for i, r in enumerate(rows, 1):
        d0, d5 = (str(r.get(k, ""))[:10] for k in ("d0", "d5"))
        piv = " ".join(str(int(r[f"t{j}"])) for j in PIV)
        lines.append(
            f"  {i:>3} {str(r['name'])[:10]:<10} {'bull' if r['direction'] > 0 else 'bear':>4} "
            f"{r['score']:6.3f} {r['F']:5.2f} {r['T']:5.2f} {r['A']:5.2f} {r['C']:5.2f} "
            f"{int(r.get('n_alternatives', 0)):>3}  {d0:<10} {d5:<10} {piv}"
        )
    return lines


def _num(x: float) -> str:
    """A price, with significant digits that suit its size (NaN: '-')."""
    if x != x:
        return "-"
    return f"{x:.5g}" if abs(x) < 1e5 else f"{x:,.0f}"


def live_lines(rows: list[dict]) -> list[str]:
    """One line per live count: symbol, direction, the wave in progress and since when, where the
    count is wrong (invalidation), the other side that re-labels it (cap), the target band."""
    lines = [
        f"  {'symbol':<10} {'dir':>4} {'wave':>4} {'score':>6}  {'since':<10} {'invalid':>10} "
        f"{'cap':>10} {'target band':>23}  known"
    ]
    for r in rows:
        since = str(r.get("since", ""))[:10]
        band = f"{_num(r['target_lo'])}..{_num(r['target_hi'])}"
        lines.append(
            f"  {str(r['name'])[:10]:<10} {'bull' if r['direction'] > 0 else 'bear':>4} "
            f"{int(r['wave']):>4} {r['score']:6.3f}  {since:<10} {_num(r['invalidation']):>10} "
            f"{_num(r['cap']):>10} {band:>23}  {str(r.get('known', ''))[:10]}"
        )
    return lines


def rate_lines(rates: dict | None) -> list[str]:
    """The outcome study against its null, one line per degree level and wave in progress."""
    if not rates:
        return []
    lines = [f"  {'degree':>6} {'wave':>4} {'counts':>7} {'target first':>12} {'null':>7} {'p':>8}"]
    for i in range(len(rates["wave"])):
        if not rates["n"][i]:
            continue
        lines.append(
            f"  {rates['degree'][i]:>5g}x {int(rates['wave'][i]):>4} {int(rates['n'][i]):>7} "
            f"{rates['rate'][i]:>12.3f} {rates['null_rate'][i]:>7.3f} {rates['p_value'][i]:>8.3g}"
        )
    return lines


def windows_counts(windows: int, skipped_flat: int, truncated: int) -> str:
    """How the job's summary and `mpiapp.report` count windows (one wording for both)."""
    return (
        f"windows {windows} ({windows - skipped_flat} scanned, {skipped_flat} skipped as flat)   "
        f"truncated (budget) {truncated}"
    )


def fdr_lines(f: dict | None) -> list[str]:
    """The significance lines of a scan with the null on (f: the finalize's "fdr" figures)."""
    if not f:
        return []
    name = {"by": "Benjamini-Yekutieli", "bh": "Benjamini-Hochberg"}[f["method"]]
    lines = [
        f"  significance: {f['tests']:,} window tests, {name} q-values: {f['discoveries']:,} "
        f"windows with q <= {f['alpha']:g}; smallest attainable p {f['p_min']:.2g}"
    ]
    if f["unreachable"]:
        lines.append(
            f"  warning: with {f['tests']:,} tests the smallest attainable p-value "
            f"({f['p_min']:.2g}) cannot reach q <= {f['alpha']:g}: no pattern can be declared "
            "at that level; raise scan.null_samples or scan fewer windows"
        )
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
    live = []
    for r in s.get("live", []):
        r = dict(r)
        r["since"] = np.datetime64(int(r[f"d{int(r['wave']) - 1}"]), "ns").astype("datetime64[D]")
        r["known"] = np.datetime64(int(r["d_known"]), "ns").astype("datetime64[D]")
        live.append(r)
    if live:
        lines += [
            "",
            "live counts at the last bar (best per symbol, lowest degree; wave: the one in progress, "
            "since: its start):",
        ] + live_lines(live)
    if s.get("outcome_rates"):
        lines += [
            "",
            "outcome study (counts taken at their known_bar: target band first, against block-bootstrap "
            "surrogates; Fisher's exact p):",
        ] + rate_lines(s["outcome_rates"])
    if prof:
        lines += ["", "profile (per rank):", table(prof)]
    return "\n".join(lines)
