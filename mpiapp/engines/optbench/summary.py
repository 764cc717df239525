"""From raw cell rows to the benchmark's answers: per-group medians and intervals across seeds,
time-to-target tables, performance profiles, the problems table and claim checks.

A group is (problem, optimizer, backend, step, batch) over the seed indices. Time-to-target and
iterations-to-target are for relative suboptimality (f - f*) / (f(w0) - f*) <= target, inf when
missed (stats.py for the interval and the profile).
"""

from __future__ import annotations

import math

import numpy as np

from . import stats
from .cell import STATUS
from .grid import KEY_NAMES

GROUP = KEY_NAMES[:-1]


def _name(p, which: str, i: int) -> str:
    lists = {
        "problem": p.problems,
        "optimizer": p.optimizers,
        "backend": p.backends,
        "step": p.step_scales,
        "batch": p.batch_sizes,
    }
    v = lists[which][int(i)]
    if which == "batch":
        return "full" if int(v) <= 0 else f"b{int(v)}"
    if which == "step":
        return f"x{float(v):g}"
    return str(v)


def solver_label(p, row) -> str:
    """optimizer/backend[/step][/batch]: the name of a solver in tables and profiles."""
    s = f"{_name(p, 'optimizer', row['optimizer'])}/{_name(p, 'backend', row['backend'])}"
    if len(p.step_scales) > 1:
        s += "/" + _name(p, "step", row["step"])
    return s + "/" + _name(p, "batch", row["batch"])


def groups(p, cells: dict) -> dict:
    """The `summary` table (column -> array), one row per group, in key order."""
    keys = (
        np.stack([np.asarray(cells[k]) for k in GROUP], axis=1) if len(cells["problem"]) else np.zeros((0, 5))
    )
    uniq = np.unique(keys, axis=0) if len(keys) else keys
    cols: dict[str, list] = {k: [] for k in GROUP}
    extra = [
        "seeds",
        "converged",
        "diverged",
        "failed",
        "parity_failed",
        "final_rel_med",
        "seconds_med",
        "step_us_med",
        "compile_s_med",
        "peak_rss_max",
        "tracemalloc_peak_max",
        "model_bytes_max",
        "state_multiple",
        "state_ok",
        "parity_dev_max",
    ]
    for t in p.targets:
        extra += [
            f"time_to_{t:g}_med",
            f"time_to_{t:g}_lo",
            f"time_to_{t:g}_hi",
            f"iters_to_{t:g}_med",
            f"iters_to_{t:g}_lo",
            f"iters_to_{t:g}_hi",
            f"hits_{t:g}",
        ]
    for e in extra:
        cols[e] = []
    for g in uniq:
        m = np.all(keys == g, axis=1)
        for k, v in zip(GROUP, g):
            cols[k].append(int(v))
        st = np.asarray(cells["status"])[m]
        ok = (st == STATUS["converged"]) | (st == STATUS["budget"])
        cols["seeds"].append(int(m.sum()))
        cols["converged"].append(int((st == STATUS["converged"]).sum()))
        cols["diverged"].append(int((st == STATUS["diverged"]).sum()))
        cols["failed"].append(int((st == STATUS["failed"]).sum()))
        cols["parity_failed"].append(int((st == STATUS["parity"]).sum()))

        def med(col, only_ok=True):
            v = np.asarray(cells[col], dtype=np.float64)[m]
            v = v[ok] if only_ok else v
            return float(np.median(v)) if len(v) else math.nan

        cols["final_rel_med"].append(med("final_rel"))
        cols["seconds_med"].append(med("seconds"))
        it = np.asarray(cells["iterations"], dtype=np.float64)[m][ok]
        sec = np.asarray(cells["seconds"], dtype=np.float64)[m][ok]
        cols["step_us_med"].append(float(np.median(sec / np.maximum(it, 1)) * 1e6) if len(it) else math.nan)
        cs = np.asarray(cells["compile_s"], dtype=np.float64)[m][ok]
        cs = cs[np.isfinite(cs)]  # nan: a backend that compiles nothing
        cols["compile_s_med"].append(float(np.median(cs)) if len(cs) else math.nan)
        for col, out in (("peak_rss", "peak_rss_max"), ("tracemalloc_peak", "tracemalloc_peak_max")):
            v = np.asarray(cells[col])[m]
            cols[out].append(int(v.max()) if len(v) else -1)
        # memory is measured in its own short run, so a diverged timed run still has its figures
        sm = np.asarray(cells["state_multiple"], dtype=np.float64)[m]
        measured = np.isfinite(sm) & (sm > 0)
        cols["state_multiple"].append(float(np.median(sm[measured])) if measured.any() else math.nan)
        cols["state_ok"].append(
            int(bool(measured.any() and np.all(np.asarray(cells["state_ok"])[m][measured] == 1)))
        )
        sb = (
            np.asarray(cells["param_bytes"], dtype=np.int64)[m]
            + np.asarray(cells["state_bytes"], dtype=np.int64)[m]
        )
        cols["model_bytes_max"].append(int(sb[measured].max()) if measured.any() else -1)
        pdv = np.asarray(cells["parity_dev"], dtype=np.float64)[m]
        pdv = pdv[np.isfinite(pdv)]
        cols["parity_dev_max"].append(float(pdv.max()) if len(pdv) else math.nan)
        seed0 = int(np.asarray(g).sum())  # bootstrap seed: a function of the group, not of the run
        for t in p.targets:
            for what in ("time_to", "iters_to"):
                v = np.asarray(cells[f"{what}_{t:g}"], dtype=np.float64)[m]
                v = np.where(ok, v, np.inf)  # a diverged or failed seed missed the target
                md, lo, hi = stats.median_ci(v, B=p.bootstrap, seed=seed0)
                cols[f"{what}_{t:g}_med"].append(md)
                cols[f"{what}_{t:g}_lo"].append(lo)
                cols[f"{what}_{t:g}_hi"].append(hi)
            hit = np.asarray(cells[f"iters_to_{t:g}"], dtype=np.float64)[m]
            cols[f"hits_{t:g}"].append(int((np.isfinite(hit) & ok).sum()))
    out = {}
    for k, v in cols.items():
        is_int = (
            k in GROUP
            or k in ("seeds", "converged", "diverged", "failed", "parity_failed", "state_ok")
            or k.startswith("hits_")
            or k in ("peak_rss_max", "tracemalloc_peak_max", "model_bytes_max")
        )
        out[k] = np.asarray(v, dtype=np.int64 if is_int else np.float64)
    return out


def profiles(p, summ: dict, points: int = 60) -> dict:
    """The `profile` table: (target, solver, tau, rho) rows, per batch mode, on median times."""
    rows = {"target": [], "batch": [], "solver": [], "tau": [], "rho": []}
    if not len(summ["problem"]):
        return {k: np.asarray(v) for k, v in rows.items()}
    probs = sorted(set(summ["problem"].tolist()))
    for t in p.targets:
        for b in sorted(set(summ["batch"].tolist())):
            sel = summ["batch"] == b
            labels = sorted({solver_label(p, _row(summ, i)) for i in np.nonzero(sel)[0]})
            T = np.full((len(probs), len(labels)), np.inf)
            for i in np.nonzero(sel)[0]:
                r = _row(summ, i)
                T[probs.index(r["problem"]), labels.index(solver_label(p, r))] = summ[f"time_to_{t:g}_med"][i]
            taus = stats.default_taus(T, points)
            rho = stats.performance_profile(T, taus)
            for j, lab in enumerate(labels):
                for tau, r_ in zip(taus, rho[j]):
                    rows["target"].append(t)
                    rows["batch"].append(int(b))
                    rows["solver"].append(lab.encode())
                    rows["tau"].append(tau)
                    rows["rho"].append(r_)
    return {
        "target": np.asarray(rows["target"], dtype="f8"),
        "batch": np.asarray(rows["batch"], dtype="i4"),
        "solver": np.asarray(rows["solver"], dtype="S48"),
        "tau": np.asarray(rows["tau"], dtype="f8"),
        "rho": np.asarray(rows["rho"], dtype="f8"),
    }


def _row(cols: dict, i: int) -> dict:
    return {k: v[i] for k, v in cols.items()}


def problems_table(p, cells: dict) -> list[dict]:
    """One dict per problem: name, n, d, L, mu, kappa (L/mu) and the measured condition number."""
    out = []
    for ip in sorted(set(np.asarray(cells["problem"]).tolist())):
        i = int(np.nonzero(np.asarray(cells["problem"]) == ip)[0][0])
        out.append(
            {
                "problem": p.problems[ip],
                "n": int(cells["n"][i]),
                "d": int(cells["d"][i]),
                "L": float(cells["L"][i]),
                "mu": float(cells["mu"][i]),
                "kappa": float(cells["kappa"][i]),
                "kappa_measured": float(cells["kappa_measured"][i]),
                "f_star": float(cells["f_star"][i]),
            }
        )
    return out


def claim_sgd_adam(p, summ: dict) -> list[dict]:
    """The seed document's claim, as data: on each kappa = 1e6 least-squares problem, full batch,
    did SGD and Adam reach the smallest target (median over seeds) within the budget?"""
    out = []
    t = min(p.targets)
    for ip, name in enumerate(p.problems):
        if not name.startswith("lsq-k1e6") and not name.startswith("lsq-k1000000"):
            continue
        for opt in ("sgd", "adam"):
            if opt not in p.optimizers:
                continue
            io = p.optimizers.index(opt)
            for i in range(len(summ["problem"])):
                full = int(p.batch_sizes[summ["batch"][i]]) <= 0
                if summ["problem"][i] == ip and summ["optimizer"][i] == io and full:
                    out.append(
                        {
                            "problem": name,
                            "optimizer": opt,
                            "backend": _name(p, "backend", summ["backend"][i]),
                            "step_scale": float(p.step_scales[summ["step"][i]]),
                            "hits": int(summ[f"hits_{t:g}"][i]),
                            "seeds": int(summ["seeds"][i]),
                            "target": t,
                            "iters_to_target_med": float(summ[f"iters_to_{t:g}_med"][i]),
                            "final_rel_med": float(summ["final_rel_med"][i]),
                            "budget_steps": p.max_iters,
                            "reached": bool(np.isfinite(summ[f"iters_to_{t:g}_med"][i])),
                        }
                    )
    return out


CLAIM = "SGD fails to converge at kappa = 1e6 within its budget while Adam does"


def claim_verdict(claims: list[dict]) -> str:
    """shown: SGD misses the target with every step tried while Adam reaches it with at least one;
    refuted: both ran and that is not so; not tested: one of them did not run."""
    sgd = [c["reached"] for c in claims if c["optimizer"] == "sgd"]
    adam = [c["reached"] for c in claims if c["optimizer"] == "adam"]
    return (
        "shown"
        if sgd and adam and not any(sgd) and any(adam)
        else "refuted"
        if sgd and adam
        else "not tested"
    )


def _fmt_t(v: float) -> str:
    return "∞" if not math.isfinite(v) else (f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s")


def _fmt_i(v: float) -> str:
    return "∞" if not math.isfinite(v) else f"{int(v)}"


def markdown(p, summ: dict, probs: list[dict], claims: list[dict], meta: dict) -> str:
    """The Markdown summary: problems, time-to-target per target, memory, parity, claim check."""
    L = [
        "# optbench summary",
        "",
        f"{meta.get('cells', '?')} cells ({meta.get('cached', 0)} from the cache), "
        f"{meta.get('ranks', '?')} rank(s); budget {p.max_iters} steps per run; {p.repeats} seeds per group "
        f"(median [95% bootstrap interval]). Relative suboptimality = (f - f*) / (f(w0) - f*), f* exact.",
        "",
        "## Problems",
        "",
        "| problem | n | d | kappa = L/mu | measured kappa | f* |",
        "|---|---|---|---|---|---|",
    ]
    for r in probs:
        L.append(
            f"| {r['problem']} | {r['n']} | {r['d']} | {r['kappa']:.6g} | {r['kappa_measured']:.10g} | "
            f"{r['f_star']:.6g} |"
        )
    for t in p.targets:
        L += [
            "",
            f"## Time to relative suboptimality {t:g}",
            "",
            "| problem | solver | time | iterations | hits | runs: converged/budget/diverged/failed |",
            "|---|---|---|---|---|---|",
        ]
        for i in range(len(summ["problem"])):
            r = _row(summ, i)
            budget = r["seeds"] - r["converged"] - r["diverged"] - r["failed"] - r["parity_failed"]
            L.append(
                f"| {p.problems[r['problem']]} | {solver_label(p, r)} | {_fmt_t(r[f'time_to_{t:g}_med'])} "
                f"[{_fmt_t(r[f'time_to_{t:g}_lo'])}, {_fmt_t(r[f'time_to_{t:g}_hi'])}] | "
                f"{_fmt_i(r[f'iters_to_{t:g}_med'])} | {r[f'hits_{t:g}']}/{r['seeds']} | "
                f"{r['converged']}/{budget}/"
                f"{r['diverged']}/{r['failed'] + r['parity_failed']} |"
            )
    L += [
        "",
        "## Memory and parity (per solver, largest problem)",
        "",
        "| solver | state / params | expected | peak RSS MB | tracemalloc peak MB | parity max dev | step us | "
        "compile s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    from .optimizers import STATE_MULTIPLE

    seen = {}
    for i in range(len(summ["problem"])):
        r = _row(summ, i)
        seen[solver_label(p, r)] = r
    for lab, r in sorted(seen.items()):
        opt = p.optimizers[r["optimizer"]]
        tm, cs = r["tracemalloc_peak_max"], r["compile_s_med"]
        L.append(
            f"| {lab} | {r['state_multiple']:.3g} | {STATE_MULTIPLE[opt]} | {r['peak_rss_max'] / 2**20:.1f} | "
            f"{'n/a' if tm < 0 else f'{tm / 2**20:.2f}'} | {r['parity_dev_max']:.1e} | {r['step_us_med']:.3g} | "
            f"{'n/a' if not math.isfinite(cs) else f'{cs:.2f}'} |"
        )
    if claims:
        L += [
            "",
            f'## Claim check: "{CLAIM}"',
            "",
            "| problem | optimizer | backend | step scale | target | reached (median) | seeds that reached | "
            "iterations (median) | final rel. subopt (median) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for c in claims:
            L.append(
                f"| {c['problem']} | {c['optimizer']} | {c['backend']} | {c['step_scale']:g} | {c['target']:g} | "
                f"{c['reached']} | {c['hits']}/{c['seeds']} | {_fmt_i(c['iters_to_target_med'])} | "
                f"{c['final_rel_med']:.3g} |"
            )
        verdict = claim_verdict(claims)
        L += [
            "",
            f"Verdict at this budget ({p.max_iters} steps, Adam lr {p.adam_lr:g} x step scale; target reached "
            f"means the median seed's curve touched it, see the final value for whether it stayed): **{verdict}**.",
        ]
    return "\n".join(L) + "\n"
