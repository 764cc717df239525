"""What a score results file says: the run, the top structures with their charts, the live counts at
the last bar with theirs, and the outcome study against its null (`mpiapp.report FILE`)."""

from __future__ import annotations

import numpy as np

from ...io.names import safe_name, short_name
from ...io.results import ReportError

PIV = range(6)

TABLES = {  # what `mpiapp.results.tables(path)` says of each table (the README and docs/scan.md: every column)
    "patterns": "unique impulse per symbol: pivots (bars, dates, prices), score and its terms, known_bar, "
    "p- and q-value, group",
    "symbols": "symbol id -> name, bars, windows, why skipped",
    "windows": "per window of a symbol: bars, skipped as flat (and why), candidates visited and rejected, "
    "best score",
    "live": "counts in progress at the last bar per symbol and degree: waves so far, invalidation, cap, "
    "target band",
    "outcomes": "every count that was ever live, at its known_bar: target band or invalidation first",
    "outcome_rates": "per degree and wave in progress: target-first rate beside the surrogates' (Fisher p)",
    "profile": "per rank: units, candidates, busy / wait / read / write seconds, peak RSS",
}
#: the tables of the HTML page (mpiapp.report --html), in order, with a note
HTML_TABLES = (
    (
        "patterns",
        "one row per pattern; a structure's alternative counts share its group (the row of its primary)",
    ),
    ("live", "counts in progress at the last bar"),
    ("outcome_rates", "target-first rates against the surrogates"),
    ("symbols", ""),
)
TIME_COLUMNS = [f"d{i}" for i in PIV] + ["d_ext", "d_known"]


def decoding(path: str, attrs: dict) -> dict:
    """What the codes of a score file mean (mpiapp.results.load): symbol ids name the `symbols`
    rows; d0..d5, d_ext and d_known are nanoseconds (the minimum int64: not made yet)."""
    from ...io.results import decode_text, read_table

    names = list(decode_text(read_table(path, "symbols")["name"]))
    times = {t: TIME_COLUMNS for t in ("patterns", "live", "outcomes")}
    return {"codes": {"symbol": {"names": names, "source": "symbols"}}, "times": times}


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
            raise ReportError(
                f"{path}: no q-values in this file (it was scanned with scan.null_samples = 0); "
                "scan again with --set scan.null_samples=20 to filter by --max-q"
            )
        pats = pats[pats["q_value"] <= max_q]
    if "group" in pats:
        pats = pats[pats["group"].to_numpy() == pats.index.to_numpy()]
    if max_p is not None:
        if "p_value" not in pats or not pats["p_value"].notna().any():
            raise ReportError(
                f"{path}: no p-values in this file (it was scanned with scan.null_samples = 0); "
                "scan again with --set scan.null_samples=20 to filter by --max-p"
            )
        pats = pats[pats["p_value"] <= max_p]
    return pats.sort_values(["score", "t0"], ascending=[False, True], kind="stable").head(top_n)


def text(path: str, top_n: int = 10, max_p: float | None = None, max_q: float | None = None) -> str:
    """What a score file holds: the run, its windows and structures, the top structures, the live
    counts, the outcome study, the per-rank profile."""
    import numpy as np

    from ... import results
    from ...io.results import read_attrs, read_table
    from ...runtime.profile import table
    from .summary import top_lines, windows_counts

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
        rows = [
            dict(r, name=r["symbol"], d0=str(r["d0"].date()), d5=str(r["d5"].date()))
            for _, r in top.iterrows()
        ]
        which = f" with p <= {max_p:g}" if max_p is not None else ""
        which += f" with q <= {max_q:g}" if max_q is not None else ""
        n_groups = (
            int((pats["group"].to_numpy() == pats.index.to_numpy()).sum()) if "group" in pats else len(pats)
        )
        lines[-1] += f" ({n_groups:,} structures)"
        lines += ["", f"top {len(rows)} structures{which} (alt: alternative counts of the same structure):"]
        lines += top_lines(rows)
    lines += live_text(path, sym["name"].to_numpy())
    if len(prof):
        lines += ["", "profile (per rank):", table(prof.to_dict("records"))]
    return "\n".join(lines)


def _table_or_none(path: str, name: str) -> dict | None:
    import h5py

    from ...io.results import read_table

    with h5py.File(path, "r") as f:
        if name not in f:
            return None
    return read_table(path, name)


def live_text(path: str, names) -> list[str]:
    """The live table (every row: symbol, degree, rank, the count, its levels, since when it is
    known, its parent) and the outcome study, when the file has them."""
    from .summary import _num, rate_lines

    live = _table_or_none(path, "live")
    lines = []
    if live is not None and len(live["rank"]):
        lines += [
            "",
            "live counts at the last bar (lvl: degree level, x the scan's zig-zag threshold; wave: the one "
            "in progress; parent: row of the higher degree's count):",
            f"  {'row':>4} {'symbol':<10} {'lvl':>3} {'thr':>7} {'#':>2} {'dir':>4} {'wave':>4} {'score':>6} "
            f"{'since':<10} {'invalid':>10} {'cap':>10} {'target band':>23} {'known':<10} {'parent':>6}",
        ]
        for i in range(len(live["rank"])):
            k = int(live["wave"][i])
            since = str(np.datetime64(int(live[f"d{k - 1}"][i]), "ns").astype("datetime64[D]"))
            known = str(np.datetime64(int(live["d_known"][i]), "ns").astype("datetime64[D]"))
            band = f"{_num(live['target_lo'][i])}..{_num(live['target_hi'][i])}"
            lines.append(
                f"  {i:>4} {short_name(names[int(live['symbol'][i])])[:10]:<10} {int(live['level'][i]):>3} "
                f"{live['degree'][i]:>7.2%} {int(live['rank'][i]):>2} "
                f"{'bull' if live['direction'][i] > 0 else 'bear':>4} {k:>4} {live['score'][i]:6.3f} "
                f"{since:<10} {_num(live['invalidation'][i]):>10} {_num(live['cap'][i]):>10} {band:>23} "
                f"{known:<10} {int(live['parent'][i]):>6}"
            )
    rates = _table_or_none(path, "outcome_rates")
    if rates is not None and len(rates["wave"]):
        lines += [
            "",
            "outcome study (every count that was live, at its known_bar: target band first, against "
            "block-bootstrap surrogates; Fisher's exact p):",
        ] + rate_lines(rates)
    return lines


def plot(
    path: str, out_dir: str, top_n: int = 10, max_p: float | None = None, max_q: float | None = None
) -> list[str]:
    """One PNG per top pattern (High/Low band and close, pivots 0-5, channel lines, score terms,
    known_bar, p- and q-value; group primaries only), the per-symbol overview (overview.png: where
    patterns were found, where windows were skipped and why), one per symbol with live counts (live_SYMBOL.png), and the outcome study against
    its null (outcomes.png) when the file has it."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ... import config, results
    from ...io import sources

    cfg = config.loads(results.attrs(path)["config"], origin=f"{path} (attribute config)")
    src = sources.open_from_config(cfg, min_bars=cfg.scan.window_bars)
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
        kb = int(r["known_bar"]) if "known_bar" in r else -1
        # the chart reaches past known_bar (the bar from which the pattern is known) whenever the file has it
        lo, hi = max(0, t[0] - span // 3), min(len(s) - 1, max(t[5] + span // 3, kb + max(5, span // 10)))
        x = s.dates[lo : hi + 1]
        fig, ax = plt.subplots(figsize=(11, 5.5), dpi=100)
        ax.fill_between(
            x, s.low[lo : hi + 1], s.high[lo : hi + 1], color="tab:blue", alpha=0.25, lw=0, label="High-Low"
        )
        ax.plot(x, s.close[lo : hi + 1], color="tab:blue", lw=0.8, label="Close")
        ax.plot(s.dates[t], p, "-o", color="tab:red", lw=1.6, ms=5, label="waves 1-5")
        for i in PIV:
            ax.annotate(
                str(i),
                (s.dates[t[i]], p[i]),
                textcoords="offset points",
                xytext=(0, 9 if (i % 2 == 1) == (r["direction"] > 0) else -15),
                ha="center",
                fontsize=11,
                fontweight="bold",
                color="tab:red",
            )
        # channel: line through pivots 2 and 4, its parallel through pivot 3 (docs/scan.md, term C)
        slope = (p[4] - p[2]) / (t[4] - t[2]) if t[4] != t[2] else 0.0
        tt = np.array([t[1], t[5]])
        ax.plot(s.dates[tt], p[2] + slope * (tt - t[2]), "--", color="gray", lw=1, label="channel 2-4")
        ax.plot(s.dates[tt], p[3] + slope * (tt - t[3]), ":", color="gray", lw=1, label="parallel through 3")
        if 0 <= kb <= hi:  # from when a scan of the bars so far reports it
            ax.axvline(
                s.dates[kb],
                color="tab:green",
                lw=1,
                ls="-.",
                label=f"known from {str(s.dates[kb])[:10]} (known_bar)",
            )
        ax.text(
            0.99,
            0.98,
            significance_label(r),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=9,
            bbox=dict(boxstyle="round", fc="white", ec="0.6", alpha=0.9),
        )
        kind = "bullish" if r["direction"] > 0 else "bearish"
        ax.set_title(
            f"#{rank_i} {short_name(name)} {kind} impulse  S={r['score']:.3f}  F={r['F']:.2f} T={r['T']:.2f} "
            f"A={r['A']:.2f} C={r['C']:.2f}  (chosen by {int(r['n_windows'])} windows, "
            f"{int(r.get('n_alternatives', 0))} alternative counts)",
            fontsize=10,
        )
        ax.set_xlabel("date")
        ax.set_ylabel(f"price ({short_name(name)})")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        written.append(_save(plt, fig, out_dir, root, f"top{rank_i:02d}_{safe_name(name)}_{kind}.png"))
    written.append(plot_overview(path, out_dir, src, cache))
    written += plot_live(path, out_dir, src, cache)
    written += plot_outcomes(path, out_dir)
    return written


def significance_label(r) -> str:
    """The p- and q-value of a pattern row for its chart ("not computed" when the file was scanned
    without a null, scan.null_samples = 0)."""
    p, q = r.get("p_value", np.nan), r.get("q_value", np.nan)
    if not (p == p):
        return "p, q: not computed (scan.null_samples = 0)"
    return f"p = {p:.3g} (null)\nq = {q:.3g} (false discovery)" if q == q else f"p = {p:.3g} (null)\nq: none"


#: window classes of the overview, in drawing order: (name, colour)
WINDOW_CLASSES = (
    ("pattern kept", "tab:green"),
    ("no valid count", "0.8"),
    ("truncated (budget)", "tab:orange"),
    ("skipped: volatility", "tab:purple"),
    ("skipped: range", "tab:brown"),
    ("skipped: pivots", "tab:pink"),
    ("skipped: several reasons", "black"),
)


def window_classes(w) -> np.ndarray:
    """Index into WINDOW_CLASSES of each row of a windows table (dict of arrays or DataFrame): a
    skipped window by its flat_reason bits (1 volatility, 2 range, 4 pivots), else truncated, else
    whether the window kept a count."""
    from ...kernels.windows import FLAT_PIVOTS, FLAT_RANGE, FLAT_VOLATILITY

    reason = np.asarray(w["flat_reason"]).astype(int)
    out = np.where(np.asarray(w["kept"]) > 0, 0, 1)
    out = np.where(np.asarray(w["truncated"]).astype(bool), 2, out)
    one = {FLAT_VOLATILITY: 3, FLAT_RANGE: 4, FLAT_PIVOTS: 5}
    flat = np.asarray(w["skipped_flat"]).astype(bool)
    out = np.where(flat, [one.get(int(v), 6) for v in reason], out)
    return out


def plot_overview(path: str, out_dir: str, src, cache: dict) -> str:
    """overview.png: one row per symbol on dates: its windows coloured by what became of them (a
    pattern kept, no valid count, truncated, skipped as flat and why), the spans of its group
    primaries (pivot 0 to 5) above them, and a symbol without windows named with its reason."""
    import os

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from ... import results

    syms = results.load(path, "symbols")
    w = results.load(path, "windows")
    pats = results.load(path)
    if "group" in pats:
        pats = pats[pats["group"].to_numpy() == pats.index.to_numpy()]
    n = len(syms)
    fig, ax = plt.subplots(figsize=(12, 1.0 + 0.62 * max(n, 1)), dpi=100)
    used = set()
    for row, (sid, sr) in enumerate(syms.iterrows()):
        y = n - 1 - row
        name = sr["name"]
        rows = w[w["symbol"].astype(str) == name] if len(w) else w
        if not len(rows):
            why = str(sr.get("skipped_reason") or "too short")
            why = why if len(why) <= 110 else why[:107] + "..."  # the symbols table has it whole
            ax.text(
                0.01,
                y,
                f"{short_name(name)}: no windows ({why})",
                transform=ax.get_yaxis_transform(),
                va="center",
                fontsize=8,
                color="0.3",
            )
            continue
        if name not in cache:
            cache[name] = src.load(name)
        d = mdates.date2num(cache[name].dates)
        start = rows["start_bar"].to_numpy()
        nxt = np.append(
            start[1:], rows["end_bar"].to_numpy()[-1:]
        )  # each window drawn to the next one's start
        cls = window_classes(rows)
        for c in np.unique(cls):
            m = cls == c
            ax.broken_barh(
                [(d[a], d[min(b, len(d) - 1)] - d[a]) for a, b in zip(start[m], nxt[m])],
                (y - 0.3, 0.36),
                color=WINDOW_CLASSES[c][1],
                lw=0,
            )
            used.add(int(c))
        pr = pats[pats["symbol"].astype(str) == name]
        for _, p_ in pr.iterrows():
            col = "tab:blue" if p_["direction"] > 0 else "tab:red"
            ax.plot(
                [d[int(p_["t0"])], d[int(p_["t5"])]],
                [y + 0.2, y + 0.2],
                color=col,
                lw=2.2,
                alpha=0.6,
                solid_capstyle="butt",
            )
        skipped = int(rows["skipped_flat"].astype(bool).sum())
        ax.text(
            1.005,
            y,
            f"{len(pr)} pattern{'' if len(pr) == 1 else 's'}\n{skipped} of {len(rows)} windows skipped",
            va="center",
            fontsize=7,
            transform=ax.get_yaxis_transform(),
        )
    ax.set_yticks(range(n), [short_name(x) for x in syms["name"]][::-1])
    ax.set_ylim(-0.7, n - 0.3)
    ax.xaxis_date()
    ax.set_xlabel("date (each window drawn from its first bar to the next window's first bar)")
    ax.set_ylabel("symbol")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color=WINDOW_CLASSES[c][1], label=f"window: {WINDOW_CLASSES[c][0]}") for c in sorted(used)
    ]
    handles += [
        Line2D([], [], color="tab:blue", lw=2.2, label="bullish pattern (pivot 0 to 5)"),
        Line2D([], [], color="tab:red", lw=2.2, label="bearish pattern (pivot 0 to 5)"),
    ]
    axes_in = fig.get_figheight() * (fig.subplotpars.top - fig.subplotpars.bottom)
    ax.legend(
        handles=handles,
        fontsize=7,
        ncol=4,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.6 / axes_in),
        frameon=False,
    )
    ax.set_title(
        "where the scan found patterns (group primaries) and what became of each window", fontsize=10
    )
    ax.grid(alpha=0.3, axis="x")
    return _save(plt, fig, out_dir, os.path.realpath(out_dir), "overview.png")


def _save(plt, fig, out_dir: str, root: str, name: str) -> str:
    import os

    f = os.path.join(out_dir, name)
    if os.path.dirname(os.path.realpath(f)) != root:  # never outside DIR, whatever the name
        raise ReportError(f"chart file name {f!r} leaves {out_dir}")
    fig.savefig(f, bbox_inches="tight")
    plt.close(fig)
    return f


def plot_live(path: str, out_dir: str, src, cache: dict) -> list[str]:
    """Per symbol with live counts: the price of its last window, the best count of the lowest degree
    (labelled pivots, the wave in progress to its running extreme), its invalidation line, its cap and
    its target band, and the best count one degree higher in a second colour."""
    import os

    import matplotlib.pyplot as plt

    from ... import results

    live = _table_or_none(path, "live")
    if live is None or not len(live["rank"]):
        return []
    names = results.load_table(path, "symbols")["name"].to_numpy()
    root = os.path.realpath(out_dir)
    wb = int(_window_bars(path))
    out = []
    for sid in np.unique(live["symbol"]):
        rows = np.flatnonzero(live["symbol"] == sid)
        name = names[int(sid)]
        if name not in cache:
            cache[name] = src.load(name)
        s = cache[name]
        n = len(s)
        t0 = min(int(live["t0"][i]) for i in rows)
        lo = max(0, min(n - wb, t0 - 20))
        x = s.dates[lo:]
        fig, ax = plt.subplots(figsize=(11, 5.5), dpi=100)
        ax.fill_between(x, s.low[lo:], s.high[lo:], color="tab:blue", alpha=0.2, lw=0, label="High-Low")
        ax.plot(x, s.close[lo:], color="tab:blue", lw=0.8, label="Close")
        title = []
        for level, colour in ((1, "tab:purple"), (0, "tab:red")):  # the lower degree drawn on top
            best = [i for i in rows if live["level"][i] == level and live["rank"][i] == 1]
            if not best:
                continue
            i = best[0]
            k = int(live["wave"][i])
            t = [int(live[f"t{j}"][i]) for j in range(k)] + [int(live["t_ext"][i])]
            p = [float(live[f"p{j}"][i]) for j in range(k)] + [float(live["p_ext"][i])]
            d = int(live["direction"][i])
            ax.plot(
                s.dates[t[:-1]],
                p[:-1],
                "-o",
                color=colour,
                lw=1.4 if level == 0 else 3.0,
                ms=4,
                alpha=1.0 if level == 0 else 0.5,
                label=f"degree {level}: waves 1-{k - 1} ({float(live['degree'][i]):.2%} zig-zag)",
            )
            ax.plot(
                s.dates[t[-2:]], p[-2:], "--", color=colour, lw=1.2, label=f"degree {level}: wave {k} so far"
            )
            for j in range(k):
                ax.annotate(
                    str(j) if level == 0 else f"({j})",
                    (s.dates[t[j]], p[j]),
                    textcoords="offset points",
                    xytext=(0, 9 if (j % 2 == 1) == (d > 0) else -15),
                    ha="center",
                    fontsize=10,
                    fontweight="bold",
                    color=colour,
                )
            if level == 0:
                ax.axhline(
                    float(live["invalidation"][i]),
                    color="black",
                    lw=1,
                    ls="-",
                    label=f"invalidation {float(live['invalidation'][i]):.5g}",
                )
                if live["cap"][i] == live["cap"][i]:
                    ax.axhline(
                        float(live["cap"][i]),
                        color="tab:orange",
                        lw=1,
                        ls="--",
                        label=f"cap {float(live['cap'][i]):.5g}",
                    )
                ax.axhspan(
                    float(live["target_lo"][i]),
                    float(live["target_hi"][i]),
                    xmin=0.85,
                    color="tab:green",
                    alpha=0.25,
                    label=f"wave {k} target band",
                )
                ax.axvline(
                    s.dates[int(live["known_bar"][i])],
                    color="tab:green",
                    lw=1,
                    ls="-.",
                    label="known from (known_bar)",
                )
                title.append(
                    f"{'bullish' if d > 0 else 'bearish'} impulse, wave {k} in progress, "
                    f"score {float(live['score'][i]):.3f}"
                )
        ax.set_title(f"{short_name(name)} at its last bar: " + "; ".join(title), fontsize=10)
        ax.set_xlabel("date")
        ax.set_ylabel("price")
        ax.legend(loc="best", fontsize=7)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        out.append(_save(plt, fig, out_dir, root, f"live_{safe_name(name)}.png"))
    return out


def _window_bars(path: str) -> int:
    from ... import config, results

    return config.loads(results.attrs(path)["config"], origin=path).scan.window_bars


def plot_outcomes(path: str, out_dir: str) -> list[str]:
    """The outcome study: per degree and wave in progress, the share of counts that reached their
    target band first, beside the same share on the symbols' surrogates (binomial 95 % intervals)."""
    import os

    import matplotlib.pyplot as plt

    rates = _table_or_none(path, "outcome_rates")
    if rates is None or not np.any(rates["n"] > 0):
        return []
    levels = sorted(set(int(v) for v in rates["level"]))
    fig, axes = plt.subplots(1, len(levels), figsize=(5.5 * len(levels), 4.5), dpi=100, squeeze=False)
    for ax, lv in zip(axes[0], levels):
        m = rates["level"] == lv
        waves = rates["wave"][m].astype(int)
        xs = np.arange(len(waves))
        for off, (rate, n, lab, col) in zip(
            (-0.18, 0.18),
            (
                (rates["rate"][m], rates["n"][m], "counts", "tab:red"),
                (rates["null_rate"][m], rates["null_n"][m], "surrogates (null)", "tab:gray"),
            ),
        ):
            r = np.nan_to_num(rate)
            err = 1.96 * np.sqrt(np.maximum(r * (1 - r), 0) / np.maximum(n, 1))
            ax.bar(xs + off, r, 0.36, yerr=err, color=col, alpha=0.8, label=lab, capsize=3)
        for x, n, p in zip(xs, rates["n"][m], rates["p_value"][m]):
            ax.annotate(f"n={int(n)}\np={p:.2g}", (x, 0.02), ha="center", fontsize=7)
        ax.set_xticks(xs, [f"wave {w}" for w in waves])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("share with the target band first")
        ax.set_title(f"degree {lv} (x{float(rates['degree'][m][0]):g} zig-zag)", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("outcome study: counts at their known_bar against the same on block-bootstrap surrogates")
    return [_save(plt, fig, out_dir, os.path.realpath(out_dir), "outcomes.png")]
