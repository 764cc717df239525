"""Reading an optbench results file: a text summary and PNG figures.

Figures (`plot(path, out_dir)`):
- curves_<problem>.png: relative suboptimality against iterations and against time (log axes),
  one row per batch mode, one line per solver (seed 0; color optimizer, style backend), with the theoretical bounds of
  gradient descent (1 - 1/kappa)^k and Nesterov 2 (1 - 1/sqrt(kappa))^k on the quadratics (theory.py);
- time_to_target.png: median time-to-target per problem and solver (a table as a heat map, inf blank);
- profile.png: performance profiles (Dolan & More 2002) per target and batch mode;
- memory.png: optimizer state / parameters (measured vs expected 1x/2x/3x) and peak RSS per solver.
"""

from __future__ import annotations

import json
import math
import os

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
    return {"codes": {"problem": {"names": list(g["problems"]), "source": "problems"},
                      "optimizer": {"names": list(g["optimizers"])},
                      "backend": {"names": list(g["backends"])},
                      "status": {"names": [STATUS_NAME[i] for i in range(max(STATUS_NAME) + 1)]},
                      "step": {"names": [float(v) for v in g["step_scales"]], "values": True},
                      "batch": {"names": [int(v) for v in g["batch_sizes"]], "values": True}}}


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
    return {k: sec[k] for k in ("problems", "optimizers", "backends", "step_scales", "batch_sizes", "targets")}


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


def _curves(plt, g, t, out_dir, ip) -> str:
    cells, cur = t["cells"], t["curves"]
    name = g["problems"][ip]
    batches = sorted(set(cells["batch"][cells["problem"] == ip].tolist()))
    fig, axes = plt.subplots(len(batches), 2, figsize=(13, 4.6 * len(batches)), dpi=100, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ("-", "--", ":", "-.")  # one per backend of the grid (there are four)
    sel = (cells["problem"] == ip) & (cells["seed"] == 0)
    kmax = {b: 1 for b in batches}
    for j in np.nonzero(sel)[0]:
        key = tuple(int(cells[k][j]) for k in KEY_NAMES)
        m = np.ones(len(cur["point"]), dtype=bool)
        for i, k in enumerate(KEY_NAMES):
            m &= cur[k] == key[i]
        m &= cur["point"] > 0  # iteration 0 (relative suboptimality 1) has no place on a log axis
        if not m.any():
            continue
        order = np.argsort(cur["point"][m])
        it, tm, rel = cur["iteration"][m][order], cur["time"][m][order], cur["rel_subopt"][m][order]
        rel = np.maximum(rel, 1e-17)  # f - f* can round below 0 at the optimum
        opt, be, batch = key[1], key[2], key[4]
        row = axes[batches.index(batch)]
        kw = dict(color=colors[(opt + len(g["optimizers"]) * key[3]) % len(colors)], ls=styles[be % len(styles)], lw=1.4,
                  label=_label(g, opt, be, key[3], batch))
        row[0].plot(it, rel, **kw)
        row[1].plot(np.maximum(tm, 1e-7), rel, **kw)
        kmax[batch] = max(kmax[batch], int(it.max()))
    kappa = float(cells["kappa"][np.nonzero(cells["problem"] == ip)[0][0]])
    for b, row in zip(batches, axes):
        full = int(g["batch_sizes"][b]) <= 0
        if name.startswith("lsq-") and full:
            k = np.geomspace(1, kmax[b], 200)
            row[0].plot(k, theory.gd_bound(k, kappa), ":", color="black", lw=1.8, label="GD bound (1-1/κ)^k")
            row[0].plot(k, np.minimum(theory.nesterov_bound(k, kappa), 1), "-.", color="black", lw=1.8,
                        label="Nesterov bound 2(1-1/√κ)^k")  # fmt: skip
        mode = "full batch" if full else f"mini-batch {int(g['batch_sizes'][b])}"
        for ax, xl in ((row[0], "iteration"), (row[1], "time (s, timed steps only)")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xl)
            ax.set_ylabel("(f - f*) / (f(w0) - f*)")
            ax.set_ylim(1e-12, 1e3)
            ax.grid(alpha=0.3, which="both")
            ax.set_title(f"{mode}: against {xl.split(' ')[0]}", fontsize=9)
        row[0].legend(fontsize=7, ncol=2, loc="lower left")
    fig.suptitle(f"{name}  (κ = L/μ = {kappa:.3g}; seed 0; line style = backend, color = optimizer)")
    return _save(plt, fig, out_dir, f"curves_{name}.png")


def _ttt(plt, g, t, out_dir) -> str:
    s = t["summary"]
    targets = g["targets"]
    probs = sorted(set(s["problem"].tolist()))
    labels = sorted({_label(g, s["optimizer"][i], s["backend"][i], s["step"][i], s["batch"][i])
                     for i in range(len(s["problem"]))})
    fig, axes = plt.subplots(1, len(targets), figsize=(7 * len(targets), 0.45 * len(labels) + 2.5), dpi=100)
    axes = np.atleast_1d(axes)
    for ax, tg in zip(axes, targets):
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
                ax.text(c, r, "∞" if not np.isfinite(v) else (f"{v * 1e3:.3g}ms" if v < 1 else f"{v:.3g}s"),
                        ha="center", va="center", fontsize=6, color="black" if np.isfinite(v) else "gray")
        ax.set_xticks(range(len(probs)), [g["problems"][p] for p in probs], rotation=40, ha="right", fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(f"median time to relative suboptimality {tg:g} (∞ = missed)", fontsize=9)
        fig.colorbar(im, ax=ax, label="log10 seconds")
    return _save(plt, fig, out_dir, "time_to_target.png")


def _save(plt, fig, out_dir: str, name: str) -> str:
    """Write `fig` as out_dir/name, close it, return the path."""
    f = os.path.join(out_dir, name)
    fig.savefig(f, bbox_inches="tight")
    plt.close(fig)
    return f


def _profile(plt, g, t, out_dir) -> str:
    pr = t["perf_profile"]
    targets = sorted(set(pr["target"].tolist()), reverse=True)
    batches = sorted(set(pr["batch"].tolist()))
    fig, axes = plt.subplots(len(targets), len(batches), figsize=(6.5 * len(batches), 4.2 * len(targets)),
                             dpi=100, squeeze=False)  # fmt: skip
    for r, tg in enumerate(targets):
        for c, b in enumerate(batches):
            ax = axes[r][c]
            m = (pr["target"] == tg) & (pr["batch"] == b)
            for lab in sorted(set(pr["solver"][m].tolist())):
                mm = m & (pr["solver"] == lab)
                ax.step(pr["tau"][mm], pr["rho"][mm], where="post", label=lab.decode(), lw=1.4)
            ax.set_xscale("log")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("τ (time / best time on the problem)")
            ax.set_ylabel("share of problems solved within τ")
            bs = int(g["batch_sizes"][int(b)])
            mode = "full batch" if bs <= 0 else f"mini-batch {bs}"
            ax.set_title(f"performance profile (median time), target {tg:g}, {mode}", fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(plt, fig, out_dir, "profile.png")


def _memory(plt, g, t, out_dir) -> str:
    s = t["summary"]
    by: dict = {}
    for i in range(len(s["problem"])):
        lab = _label(g, s["optimizer"][i], s["backend"][i], s["step"][i], s["batch"][i])
        r = by.setdefault(lab, {"mult": math.nan, "expect": STATE_MULTIPLE[g["optimizers"][s["optimizer"][i]]],
                                "rss": -1, "trace": -1, "model": -1})
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
    a2.bar(x + 0.2, np.where(trace >= 0, trace, np.nan) / 1024, 0.4, color="tab:green",
           label="tracemalloc peak of a step (KiB; NumPy only, includes gradient temporaries)")
    a2.set_yscale("log")
    a2.set_ylabel("KiB (largest problem)")
    a2.legend(fontsize=8)
    a2.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    a2.grid(alpha=0.3, axis="y")
    fig.suptitle(f"memory, measured apart from timing (peak RSS of a rank: {col('rss').max() / 2**20:.0f} MB, "
                 "mostly the interpreter, torch and the data)")
    return _save(plt, fig, out_dir, "memory.png")
