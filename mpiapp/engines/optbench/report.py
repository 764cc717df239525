"""Reading an optbench results file: a text summary and PNG figures.

Figures (`plot(path, out_dir)`):
- curves_<problem>.png: relative suboptimality against iterations and against time (log axes),
  one row per batch mode, one line per solver: the median over the seeds with a 95 % bootstrap band
  of that median (color optimizer, style backend), with the theoretical bounds of gradient descent
  (1 - 1/kappa)^k and Nesterov 2 (1 - 1/sqrt(kappa))^k on the quadratics (theory.py);
- time_to_target.png: median time-to-target per problem and solver (a table as a heat map, labelled
  in µs / ms / s, "missed" where the median seed did not reach the target);
- profile.png: performance profiles (Dolan & More 2002) per target and batch mode, by time and by
  iterations side by side; a panel with nothing to show says so;
- memory.png: optimizer state / parameters (measured vs expected 1x/2x/3x) and peak RSS per solver.
"""

from __future__ import annotations

import json
import math
import os
import warnings

import numpy as np

from . import theory
from .grid import KEY_NAMES
from .optimizers import STATE_MULTIPLE


TABLES = {  # what `mpiapp.results.tables(path)` says of each table (docs/optbench.md has every column)
    "summary": "per problem x solver x step scale x batch mode: medians over the seeds with bootstrap "
    "bands, time- and iterations-to-target, memory",
    "cells": "one row per run (grid cell and seed): status, step size, final suboptimality, times to target, "
    "memory",
    "curves": "the recorded points of every run: time, iteration, epoch, (relative) suboptimality, gradient norm",
    "perf_profile": "performance profiles (Dolan & More): per target and batch mode, rho(tau) of each solver",
    "problems": "problem id -> name, kind, n, d, L, mu, kappa, f*",
    "profile": "per rank: cells, from the cache, busy / wait / read / write seconds, peak RSS",
}


#: the tables of the HTML page (mpiapp.report --html), in order, with a note
HTML_TABLES = (("summary", "medians over the seeds; lo / hi: bootstrap band"), ("problems", ""))


def decoding(path: str, attrs: dict) -> dict:
    """What the integer codes of an optbench file mean (mpiapp.results.load): problem, optimizer,
    backend and status as names; step and batch as the step scale and batch size they index."""
    from .cell import STATUS_NAME

    g = grid_names(attrs)
    return {
        "codes": {
            "problem": {"names": list(g["problems"]), "source": "problems"},
            "optimizer": {"names": list(g["optimizers"])},
            "backend": {"names": list(g["backends"])},
            "status": {"names": [STATUS_NAME[i] for i in range(max(STATUS_NAME) + 1)]},
            "step": {"names": [float(v) for v in g["step_scales"]], "values": True},
            "batch": {"names": [int(v) for v in g["batch_sizes"]], "values": True},
        }
    }


def _tables(path):
    from mpiapp.io.results import read_attrs, read_table

    a = read_attrs(path)
    t = {name: read_table(path, name) for name in ("cells", "curves", "summary", "perf_profile")}
    return a, t


def grid_names(attrs: dict) -> dict:
    """The grid's lists (problems, optimizers, backends, step_scales, batch_sizes) from the file."""
    if "optbench_grid" in attrs:
        return json.loads(attrs["optbench_grid"])
    import yaml

    sec = yaml.safe_load(attrs["config"])["optbench"]
    return {
        k: sec[k] for k in ("problems", "optimizers", "backends", "step_scales", "batch_sizes", "targets")
    }


def _label(g, opt, be, step, batch) -> str:
    s = f"{g['optimizers'][opt]}/{g['backends'][be]}"
    if len(g["step_scales"]) > 1:
        s += f"/x{g['step_scales'][step]:g}"
    b = int(g["batch_sizes"][batch])
    return s + ("/full" if b <= 0 else f"/b{b}")


def text(path: str) -> str:
    """The file's Markdown summary (written next to it by the job), else a short table."""
    md = os.path.splitext(path)[0] + ".md"
    if os.path.exists(md):
        with open(md) as fh:
            return fh.read()
    a, t = _tables(path)
    return f"{path}: optbench, {len(t['cells']['status'])} cells, status {a.get('status')}"


def plot(path: str, out_dir: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, t = _tables(path)
    g = grid_names(a)
    os.makedirs(out_dir, exist_ok=True)
    written = [_curves(plt, g, t, out_dir, ip) for ip in sorted(set(t["cells"]["problem"].tolist()))]
    written.append(_ttt(plt, g, t, out_dir))
    written.append(_profile(plt, g, t, out_dir))
    written.append(_memory(plt, g, t, out_dir))
    return written


def seed_band(iters: list, values: list, B: int = 200, seed: int = 0):
    """(iterations, median, lo, hi) over seeds of curves recorded at (mostly) the same iterations:
    at each iteration the median of the seeds that reached it, and the 2.5 / 97.5 % percentiles of
    the median over B bootstrap resamples of the seeds (stats.median_ci's interval, per point)."""
    grid = np.unique(np.concatenate(iters))
    M = np.full((len(values), grid.size), np.nan)
    for r, (it, v) in enumerate(zip(iters, values)):
        M[r, np.searchsorted(grid, it)] = v
    with np.errstate(all="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an iteration only some seeds reached
            med = np.nanmedian(M, axis=0)
            if len(values) < 2:
                return grid, med, med, med
            idx = np.random.default_rng(seed).integers(0, len(values), size=(B, len(values)))
            meds = np.nanmedian(M[idx], axis=1)
            lo, hi = np.nanpercentile(meds, 2.5, axis=0), np.nanpercentile(meds, 97.5, axis=0)
    return grid, med, lo, hi


def _curves(plt, g, t, out_dir, ip) -> str:
    cells, cur = t["cells"], t["curves"]
    name = g["problems"][ip]
    batches = sorted(set(cells["batch"][cells["problem"] == ip].tolist()))
    fig, axes = plt.subplots(len(batches), 2, figsize=(13, 4.6 * len(batches)), dpi=100, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ("-", "--", ":", "-.")  # one per backend of the grid (there are four)
    sel = cells["problem"] == ip
    kmax = {b: 1 for b in batches}
    groups: dict = {}
    for j in np.nonzero(sel)[0]:
        groups.setdefault(tuple(int(cells[k][j]) for k in KEY_NAMES[:-1]), []).append(int(cells["seed"][j]))
    n_seeds = max((len(v) for v in groups.values()), default=0)
    for key, seeds in sorted(groups.items()):
        m = np.ones(len(cur["point"]), dtype=bool)
        for i, k in enumerate(KEY_NAMES[:-1]):
            m &= cur[k] == key[i]
        m &= cur["point"] > 0  # iteration 0 (relative suboptimality 1) has no place on a log axis
        its, rels, tms = [], [], []
        for sd in sorted(seeds):
            ms = m & (cur["seed"] == sd)
            if not ms.any():
                continue
            order = np.argsort(cur["point"][ms])
            its.append(cur["iteration"][ms][order])
            rels.append(np.maximum(cur["rel_subopt"][ms][order], 1e-17))  # f - f* can round below 0 at f*
            tms.append(np.maximum(cur["time"][ms][order], 1e-7))
        if not its:
            continue
        it, rel, lo, hi = seed_band(its, rels)
        _, tm, _, _ = seed_band(its, tms)
        opt, be, batch = key[1], key[2], key[4]
        row = axes[batches.index(batch)]
        kw = dict(
            color=colors[(opt + len(g["optimizers"]) * key[3]) % len(colors)],
            ls=styles[be % len(styles)],
            lw=1.4,
            label=_label(g, opt, be, key[3], batch),
        )
        for ax, x in ((row[0], it), (row[1], tm)):
            ax.plot(x, rel, **kw)
            if len(its) > 1:
                ax.fill_between(x, lo, hi, color=kw["color"], alpha=0.12, lw=0)
        kmax[batch] = max(kmax[batch], int(it.max()))
    kappa = float(cells["kappa"][np.nonzero(cells["problem"] == ip)[0][0]])
    for b, row in zip(batches, axes):
        full = int(g["batch_sizes"][b]) <= 0
        if name.startswith("lsq-") and full:
            k = np.geomspace(1, kmax[b], 200)
            row[0].plot(k, theory.gd_bound(k, kappa), ":", color="black", lw=1.8, label="GD bound (1-1/κ)^k")
            row[0].plot(
                k,
                np.minimum(theory.nesterov_bound(k, kappa), 1),
                "-.",
                color="black",
                lw=1.8,
                label="Nesterov bound 2(1-1/√κ)^k",
            )
        mode = "full batch" if full else f"mini-batch {int(g['batch_sizes'][b])}"
        for ax, xl in ((row[0], "iteration"), (row[1], "time (s, timed steps only; median over the seeds)")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xl)
            ax.set_ylabel("(f - f*) / (f(w0) - f*)")
            ax.set_ylim(1e-12, 1e3)
            ax.grid(alpha=0.3, which="both")
            ax.set_title(f"{mode}: against {xl.split(' ')[0]}", fontsize=9)
            if not ax.lines:
                _empty(ax, "no recorded curve for this batch mode")
        row[0].legend(fontsize=7, ncol=2, loc="lower left")
    fig.suptitle(
        f"{name}  (κ = L/μ = {kappa:.3g}; median of {n_seeds} seeds, band: 95 % bootstrap interval of the "
        "median; line style = backend, color = optimizer)",
        fontsize=10,
    )
    return _save(plt, fig, out_dir, f"curves_{name}.png")


def _empty(ax, why: str) -> None:
    """Say on a panel that it is empty, and why (a blank panel reads as a bug)."""
    ax.text(
        0.5,
        0.5,
        f"empty: {why}",
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=9,
        color="0.35",
        wrap=True,
    )


def _dur(v: float) -> str:
    """A duration for a cell label: 850 µs, 12 ms, 1.3 s."""
    if v < 1e-3:
        return f"{v * 1e6:.0f} µs"
    if v < 1:
        return f"{v * 1e3:.3g} ms"
    return f"{v:.3g} s"


def _ttt(plt, g, t, out_dir) -> str:
    s = t["summary"]
    targets = g["targets"]
    probs = sorted(set(s["problem"].tolist()))
    labels = sorted(
        {
            _label(g, s["optimizer"][i], s["backend"][i], s["step"][i], s["batch"][i])
            for i in range(len(s["problem"]))
        },
        key=lambda x: (x.split("/")[-1], x),
    )
    fig, axes = plt.subplots(
        len(targets),
        1,
        figsize=(1.25 * len(probs) + 4, (0.36 * len(labels) + 1.6) * len(targets)),
        dpi=100,
        squeeze=False,
    )
    for ax, tg in zip(axes[:, 0], targets):
        M = np.full((len(labels), len(probs)), np.nan)
        for i in range(len(s["problem"])):
            lab = _label(g, s["optimizer"][i], s["backend"][i], s["step"][i], s["batch"][i])
            v = s[f"time_to_{tg:g}_med"][i]
            M[labels.index(lab), probs.index(s["problem"][i])] = v if math.isfinite(v) else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            im = ax.imshow(np.log10(M), aspect="auto", cmap="viridis_r")
        for r in range(M.shape[0]):
            for c in range(M.shape[1]):
                v = M[r, c]
                ax.text(
                    c,
                    r,
                    "missed" if not np.isfinite(v) else _dur(v),
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="0.55"
                    if not np.isfinite(v)
                    else ("white" if np.log10(v) > np.nanmedian(np.log10(M)) else "black"),
                )
        ax.set_xticks(
            range(len(probs)), [g["problems"][p] for p in probs], rotation=25, ha="right", fontsize=8
        )
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel("problem")
        ax.set_ylabel("optimizer / backend / batch")
        ax.set_title(
            f"median time to relative suboptimality {tg:g} over the seeds (timed steps only; missed = not "
            "reached within the budget by the median seed)",
            fontsize=9,
        )
        if not np.isfinite(M).any():
            _empty(ax, f"no solver reached {tg:g} on any problem")
        fig.colorbar(im, ax=ax, label="log10 seconds", shrink=0.8)
    fig.tight_layout()
    return _save(plt, fig, out_dir, "time_to_target.png")


def _save(plt, fig, out_dir: str, name: str) -> str:
    """Write `fig` as out_dir/name, close it, return the path."""
    f = os.path.join(out_dir, name)
    fig.savefig(f, bbox_inches="tight")
    plt.close(fig)
    return f


def _iteration_profile(g, s, tg, b):
    """{solver label: (taus, rho)} of the performance profile on median iterations-to-target (the file's
    perf_profile table has the one on time; the same construction, stats.performance_profile). The
    backends run the same iterations, so a solver here is optimizer (and step scale): the fewest
    median iterations over its backends."""
    from .stats import default_taus, performance_profile

    def lab(i):
        s_ = str(g["optimizers"][s["optimizer"][i]])
        if len(g["step_scales"]) > 1:
            s_ += f"/x{g['step_scales'][s['step'][i]]:g}"
        return s_

    sel = np.flatnonzero(s["batch"] == b)
    probs = sorted(set(s["problem"][sel].tolist()))
    labels = sorted({lab(i) for i in sel})
    if not probs:
        return {}
    T = np.full((len(probs), len(labels)), np.inf)
    for i in sel:
        v = float(s[f"iters_to_{tg:g}_med"][i])
        r, c = probs.index(s["problem"][i]), labels.index(lab(i))
        if np.isfinite(v):
            T[r, c] = min(T[r, c], v)
    taus = default_taus(T)
    rho = performance_profile(T, taus)
    return {name: (taus, rho[j]) for j, name in enumerate(labels)}


def _profile(plt, g, t, out_dir) -> str:
    pr, s = t["perf_profile"], t["summary"]
    targets = sorted(set(pr["target"].tolist()) | set(float(x) for x in g["targets"]), reverse=True)
    batches = sorted(set(s["batch"].tolist()))
    panels = [(tg, b, by) for tg in targets for b in batches for by in ("time", "iterations")]
    fig, axes = plt.subplots(
        len(targets) * len(batches),
        2,
        figsize=(13, 4.2 * len(targets) * len(batches)),
        dpi=100,
        squeeze=False,
    )
    for ax, (tg, b, by) in zip(axes.flat, panels):
        if by == "time":
            m = (pr["target"] == tg) & (pr["batch"] == b)
            curves = {
                lab.decode(): (pr["tau"][m & (pr["solver"] == lab)], pr["rho"][m & (pr["solver"] == lab)])
                for lab in sorted(set(pr["solver"][m].tolist()))
            }
        else:
            curves = _iteration_profile(g, s, tg, b)
        for lab, (tau, rho) in curves.items():
            ax.step(tau, rho, where="post", label=lab, lw=1.4)
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(
            f"τ ({by} / the best solver's {by} on the problem)"
            + ("" if by == "time" else "; backends merged (same iterates)")
        )
        ax.set_ylabel("share of problems solved within τ")
        bs = int(g["batch_sizes"][int(b)])
        mode = "full batch" if bs <= 0 else f"mini-batch {bs}"
        ax.set_title(f"performance profile by median {by}, target {tg:g}, {mode}", fontsize=9)
        ax.grid(alpha=0.3)
        if not curves or all(np.max(r) == 0 for _, r in curves.values()):
            _empty(ax, f"no solver reached {tg:g} on any problem ({mode})")
        else:
            ax.legend(fontsize=7)
    fig.suptitle(
        "Performance profiles (Dolan & Moré 2002): by time (left) and by iterations (right)", fontsize=10
    )
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    return _save(plt, fig, out_dir, "profile.png")


def _memory(plt, g, t, out_dir) -> str:
    s = t["summary"]
    by: dict = {}
    for i in range(len(s["problem"])):
        lab = _label(g, s["optimizer"][i], s["backend"][i], s["step"][i], s["batch"][i])
        r = by.setdefault(
            lab,
            {
                "mult": math.nan,
                "expect": STATE_MULTIPLE[g["optimizers"][s["optimizer"][i]]],
                "rss": -1,
                "trace": -1,
                "model": -1,
            },
        )
        if math.isfinite(s["state_multiple"][i]):
            r["mult"] = s["state_multiple"][i]
        r["rss"] = max(r["rss"], int(s["peak_rss_max"][i]))
        r["trace"] = max(r["trace"], int(s["tracemalloc_peak_max"][i]))
        r["model"] = max(r["model"], int(s["model_bytes_max"][i]))
    labels = list(by)
    x = np.arange(len(labels))
    col = lambda k: np.array([by[lab][k] for lab in labels], dtype=np.float64)  # noqa: E731
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(8, 0.5 * len(labels)), 8), dpi=100, sharex=True)
    a1.bar(x - 0.2, col("mult"), 0.4, label="measured (params + state) / params")
    a1.bar(x + 0.2, col("expect"), 0.4, label="expected: SGD 1x, momentum 2x, Adam 3x", alpha=0.6)
    a1.set_ylabel("multiple of the parameters")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3, axis="y")
    trace = col("trace")
    a2.bar(x - 0.2, col("model") / 1024, 0.4, label="parameters + optimizer state (KiB)")
    a2.bar(
        x + 0.2,
        np.where(trace >= 0, trace, np.nan) / 1024,
        0.4,
        color="tab:green",
        label="tracemalloc peak of a step (KiB; NumPy only, includes gradient temporaries)",
    )
    a2.set_yscale("log")
    a2.set_ylabel("KiB (largest problem)")
    a2.legend(fontsize=8)
    a2.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    a2.grid(alpha=0.3, axis="y")
    fig.suptitle(
        f"memory, measured apart from timing (peak RSS of a rank: {col('rss').max() / 2**20:.0f} MB, "
        "mostly the interpreter, torch and the data)"
    )
    return _save(plt, fig, out_dir, "memory.png")
