"""What `python -m mpiapp.report results/ddp.h5 [--plot DIR]` shows for a ddp run.

Text: provenance (ranks, backend, precision and why, feature store, split dates), the per-epoch
table (train / validation / test loss, IC and hit rate beside the baselines, samples/s), the best
epoch, the test metrics pooled and per symbol beside the ridge baseline (the metrics table:
predictions.py defines each), and the per-rank time split (compute, gradient all-reduce, data read,
...). Charts (PNG, see `plot`): loss, IC and hit rate per epoch beside their baselines, the
learning-rate schedule, throughput.
"""

from __future__ import annotations

import os

import numpy as np


TABLES = {  # what `mpiapp.results.tables(path)` says of each table (docs/ddp.md has every column)
    "epochs": "per epoch: train loss, validation and test loss, IC and hit rate beside their baselines, samples/s",
    "steps": "per optimizer step: epoch, loss, learning rate, gradient scale",
    "profile": "per rank: samples, compute / all-reduce / read / optimizer / evaluate seconds, peak RSS",
    "model": "the best epoch's state_dict (torch.save bytes; its architecture in the model_spec attribute)",
    "predictions": "per sample of each split: symbol, bar, time, split, y, the model's and the ridge's forecast",
    "metrics": "validation and test, per symbol and pooled (symbol -1): IC with its standard error beside the "
    "ridge's, loss, hit rate and baselines",
}


#: the tables of the HTML page (mpiapp.report --html), in order, with a note
HTML_TABLES = (("epochs", "loss in units of the training y variance; base: the baselines"),)


def decoding(path: str, attrs: dict) -> dict:
    """What the codes of a ddp file mean (mpiapp.results.load): symbol ids of the predictions table
    named as the metrics table names them (a symbol with training samples only, absent there:
    'symbol N'); the predictions' time in nanoseconds. Files written before those tables: nothing."""
    from ...io.results import decode_text, read_table

    try:
        m = read_table(path, "metrics")
    except (KeyError, OSError):
        return {}
    known = {int(i): n for i, n in zip(m["symbol"], decode_text(m["name"])) if int(i) >= 0}
    import h5py

    with h5py.File(path, "r") as f:  # the largest id of the predictions (one column, not the table)
        sym = f["predictions/symbol"][:] if "predictions/symbol" in f else np.zeros(0, dtype=int)
    top = max(max(known, default=-1), int(sym.max()) if sym.size else -1)
    names = [known.get(i, f"symbol {i}") for i in range(top + 1)]
    return {"codes": {"symbol": {"names": names, "source": "metrics"}}, "times": {"predictions": ["time"]}}


def _f(v, fmt: str) -> str:
    v = float(v)
    return "nan" if v != v else format(v, fmt)


def metric_lines(m: dict, names, split: str = "test", top: int | None = None) -> list[str]:
    """The pooled line and one line per symbol of `split` from the metrics table's columns `m`."""
    rows = [i for i, s in enumerate(m["split"]) if (s.decode() if isinstance(s, bytes) else s) == split]
    pooled = [i for i in rows if int(m["symbol"][i]) == -1]
    per = sorted((i for i in rows if int(m["symbol"][i]) >= 0), key=lambda i: -float(m["n"][i]))
    out = []
    for i in pooled:
        out += [
            f"  {split}, {int(m['n'][i]):,} samples of {len(per)} symbols: pooled IC (Pearson, every sample) "
            f"{_f(m['pearson_ic'][i], '+.4f')} (ridge {_f(m['ridge_pearson_ic'][i], '+.4f')}); mean IC over "
            f"symbols (Spearman) {_f(m['ic'][i], '+.4f')} "
            f"± {_f(m['ic_se'][i], '.4f')} (t {_f(m['ic_t'][i], '.2f')}, n_eff {_f(m['ic_n_eff'][i], ',.0f')}, "
            f"Driscoll-Kraay)",
            f"    baseline ridge on the same features: mean IC {_f(m['ridge_ic'][i], '+.4f')} ± "
            f"{_f(m['ridge_ic_se'][i], '.4f')}; model - ridge {_f(m['ic_minus_ridge'][i], '+.4f')} "
            f"(t {_f(m['ic_minus_ridge_t'][i], '.2f')}, n_eff {_f(m['ic_minus_ridge_n_eff'][i], ',.0f')}); "
            f"loss {_f(m['loss'][i], '.4f')} (ridge {_f(m['ridge_loss'][i], '.4f')}, training mean {_f(m['base_loss'][i], '.4f')}); hit rate "
            f"{_f(m['hit_rate'][i], '.3f')} (majority sign {_f(m['base_hit_rate'][i], '.3f')})",
        ]
    if per:
        out.append(
            f"  {split} per symbol: {'symbol':<10} {'n':>6} {'IC':>8} {'± se':>7} {'t':>6} {'n_eff':>6} "
            f"{'ridge IC':>8} {'loss':>7} {'ridge':>7} {'base':>7} {'hit':>6} {'(base)':>6}"
        )
    for i in per[:top]:
        s = int(m["symbol"][i])
        out.append(
            f"  {'':>{len(split) + 12}} {names[s]:<10.10} {int(m['n'][i]):>6} {_f(m['ic'][i], '+8.4f')} "
            f"{_f(m['ic_se'][i], '7.4f')} {_f(m['ic_t'][i], '6.2f')} {_f(m['ic_n_eff'][i], '6.0f')} "
            f"{_f(m['ridge_ic'][i], '+8.4f')} {_f(m['loss'][i], '7.4f')} {_f(m['ridge_loss'][i], '7.4f')} "
            f"{_f(m['base_loss'][i], '7.4f')} {_f(m['hit_rate'][i], '6.3f')} "
            f"{_f(m['base_hit_rate'][i], '6.3f')}"
        )
    if top is not None and len(per) > top:
        out.append(f"  ... {len(per) - top} more symbols: the metrics table")
    return out


def _ridge_ic(s: dict) -> str:
    """' (ridge +0.0123)': the ridge baseline's pooled test IC beside the model's, when known."""
    m = s.get("metrics")
    if m is None:
        return ""
    i = next(
        (
            i
            for i, (sym, sp) in enumerate(zip(m["symbol"], m["split"]))
            if int(sym) == -1 and (sp.decode() if isinstance(sp, bytes) else sp) == "test"
        ),
        None,
    )
    return "" if i is None else f" (ridge {_f(m['ridge_pearson_ic'][i], '+.4f')})"


def run_summary(s: dict) -> str:
    """The lines printed at the end of a complete run (rank 0)."""
    b = s.get("best", {})
    skipped = f", {s['skipped']} skipped: see its skipped table" if s.get("skipped") else ""
    lines = [
        f"ddp complete: {s['path']}",
        f"  {s['steps']} steps, {s['epochs']} epoch(s){' (stopped early)' if s['stopped_early'] else ''}, "
        f"{s['backend']}, {s['precision']} ({s['precision_why']}), {s['threads']} thread(s) per rank",
        f"  best epoch {s['best_epoch']}: validation loss {b.get('validation_loss', float('nan')):.4f} "
        f"(baseline {b.get('validation_base_loss', float('nan')):.4f}), test loss "
        f"{b.get('test_loss', float('nan')):.4f} (baseline {b.get('test_base_loss', float('nan')):.4f}), "
        f"test IC {b.get('test_ic', float('nan')):+.4f}{_ridge_ic(s)}, test hit rate "
        f"{b.get('test_hit_rate', float('nan')):.3f} (baseline {b.get('test_base_hit_rate', float('nan')):.3f})",
        f"  feature store: {s['store']} ({s['symbols']} symbols with samples{skipped})",
    ]
    if s.get("left_out"):
        lines.append(f"  left out of validation and test (no training rows): {', '.join(s['left_out'])}")
    if s.get("metrics") is not None:
        lines.append(
            f"  loss in units of the training y variance; ridge penalty {s['ridge_penalty']:g} (chosen on "
            f"validation); IC standard errors allow for {s['horizon']}-bar overlapping labels (Newey-West)"
        )
        lines += metric_lines(s["metrics"], s["names"], "test")
    if s.get("skipped_steps"):
        lines.append(f"  fp16: {s['skipped_steps']} step(s) skipped by the gradient scaler (overflow)")
    return "\n".join(lines)


def text(path: str) -> str:
    import h5py

    from ...io.results import read_attrs, read_table

    a = read_attrs(path)
    e = read_table(path, "epochs")
    p = read_table(path, "profile")
    with h5py.File(path, "r") as f:
        has_metrics = "metrics" in f
    m = read_table(path, "metrics") if has_metrics else None
    lines = [
        f"{path}: {a.get('status')} ddp run, mpiapp {a.get('mpiapp_version')}, {a.get('ranks')} rank(s) on "
        f"{a.get('hosts')}, {a.get('backend')}, {a.get('precision')} ({a.get('precision_why')}), "
        f"{a.get('threads_per_rank')} thread(s) per rank",
        f"  model {a.get('model')}, horizon {a.get('horizon')} bars, feature store {a.get('feature_store')}",
        f"  split: train < {a.get('validation_from')} <= validation < {a.get('test_from')} <= test "
        f"(purged at each cut); samples {a.get('train_samples')} / {a.get('validation_samples')} / "
        f"{a.get('test_samples')}",
        f"  {a.get('steps')} steps; best epoch {a.get('best_epoch')}"
        f"{' (stopped early)' if a.get('stopped_early') else ''}; fp16 skipped steps {a.get('skipped_steps')}",
        "",
        "epochs (loss in units of the training y variance; base = training-mean forecast, majority sign):",
        f"  {'epoch':>5} {'train':>8} {'valid':>8} {'(base)':>8} {'test':>8} {'(base)':>8} {'val IC':>8} "
        f"{'test IC':>8} {'test hit':>8} {'(base)':>8} {'samples/s':>10}",
    ]
    for i in range(len(e["epoch"])):
        lines.append(
            f"  {int(e['epoch'][i]):>5} {e['train_loss'][i]:>8.4f} {e['validation_loss'][i]:>8.4f} "
            f"{e['validation_base_loss'][i]:>8.4f} {e['test_loss'][i]:>8.4f} {e['test_base_loss'][i]:>8.4f} "
            f"{e['validation_ic'][i]:>+8.4f} {e['test_ic'][i]:>+8.4f} {e['test_hit_rate'][i]:>8.3f} "
            f"{e['test_base_hit_rate'][i]:>8.3f} {e['samples_per_s'][i]:>10.0f}"
        )
    if m is not None:
        pooled = {
            sp.decode(): i for i, (sym, sp) in enumerate(zip(m["symbol"], m["split"])) if int(sym) == -1
        }
        lines.append(
            "  the ridge baseline on the same features (fixed over epochs): "
            + ", ".join(f"{sp} IC {_f(m['ridge_pearson_ic'][i], '+.4f')}" for sp, i in pooled.items())
            + " (Pearson, pooled)"
        )
        names = {int(s): n.decode() for s, n in zip(m["symbol"], m["name"])}
        lines += [
            "",
            f"the kept weights beside the ridge baseline (penalty {a.get('ridge_penalty')}); "
            f"left out (no training rows): {a.get('left_out') or 'none'}:",
        ]
        for split in ("validation", "test"):
            lines += metric_lines(m, names, split)
    lines += [
        "",
        "per rank (seconds): compute = forward + backward without the gradient all-reduce",
        f"  {'rank':>4} {'samples':>9} {'compute':>8} {'allreduce':>9} {'read':>7} {'optim':>7} {'eval':>7} "
        f"{'ckpt':>6} {'features':>8} {'train':>7} {'peak MB':>8}",
    ]
    for i in range(len(p["rank"])):
        lines.append(
            f"  {int(p['rank'][i]):>4} {int(p['samples'][i]):>9} {p['compute_s'][i]:>8.2f} "
            f"{p['allreduce_s'][i]:>9.2f} {p['read_s'][i]:>7.2f} {p['optimizer_s'][i]:>7.2f} "
            f"{p['evaluate_s'][i]:>7.2f} {p['checkpoint_s'][i]:>6.2f} {p['features_s'][i]:>8.2f} "
            f"{p['train_s'][i]:>7.2f} {p['peak_rss_mb'][i]:>8.0f}"
        )
    return "\n".join(lines)


def plot(path: str, out_dir: str) -> list[str]:
    """Returns the paths written:
    - loss.png: the train loss per step (faint) and smoothed (exponential moving average over half an
      epoch of steps) on its own axis; beside it the validation and test loss per epoch, each with its
      own baseline (the training-mean forecast) dashed in its colour, the best epoch marked;
    - metrics.png: IC per epoch (validation, test) and hit rate per epoch beside the majority-sign
      baselines, the best epoch marked;
    - lr.png: the learning rate per step (warm-up and schedule), epoch ends marked;
    - symbols.png (files with a metrics table): each symbol's test IC with its 95 % interval beside the
      ridge baseline's IC, and the spread of the per-symbol ICs of both;
    - throughput.png: training samples / s per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.ticker import MaxNLocator

    import h5py

    from ...io.results import read_attrs, read_table

    os.makedirs(out_dir, exist_ok=True)
    s = read_table(path, "steps")
    e = read_table(path, "epochs")
    best = int(read_attrs(path).get("best_epoch", -1))
    name = os.path.basename(path)
    per_epoch = max(1, int(np.max(e["steps"]))) if len(e["epoch"]) else 1
    colours = {"train": "tab:blue", "validation": "tab:orange", "test": "tab:green"}
    out = []

    def mark_best(ax):
        if best in set(e["epoch"].tolist()):
            ax.axvline(best, color="black", lw=0.9, ls="-.", label=f"best epoch ({best})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    def save(fig, fname):
        fig.tight_layout()
        f = os.path.join(out_dir, fname)
        fig.savefig(f, dpi=100)
        plt.close(fig)
        out.append(f)

    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.4))
    if len(s["step"]):
        smooth = pd.Series(s["loss"]).ewm(span=max(2, per_epoch // 2)).mean().to_numpy()
        a0.plot(s["step"], s["loss"], lw=0.5, alpha=0.3, color=colours["train"], label="per step")
        a0.plot(
            s["step"],
            smooth,
            lw=1.8,
            color=colours["train"],
            label=f"smoothed (EMA, span {max(2, per_epoch // 2)} steps)",
        )
    else:
        a0.text(
            0.5, 0.5, "empty: no optimizer step recorded", ha="center", transform=a0.transAxes, color="0.35"
        )
    a0.set_xlabel("optimizer step")
    a0.set_ylabel("train loss (MSE / var(y train))")
    a0.set_title("train loss per step", fontsize=10)
    a0.grid(alpha=0.3)
    a0.legend(fontsize=8)
    ridge = _pooled(path, "ridge_loss")
    for split in ("validation", "test"):
        c = colours[split]
        a1.plot(e["epoch"], e[f"{split}_loss"], "o-", color=c, label=split)
        a1.plot(
            e["epoch"],
            e[f"{split}_base_loss"],
            "--",
            color=c,
            lw=1,
            label=f"{split} baseline (training mean)",
        )
        if split in ridge:  # the ridge baseline is fitted once: one level for every epoch
            a1.axhline(ridge[split], color=c, lw=1, ls=":", label=f"{split} ridge baseline")
    mark_best(a1)
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss (MSE / var(y train))")
    a1.set_title("validation and test loss per epoch, each beside its baseline", fontsize=10)
    a1.grid(alpha=0.3)
    a1.legend(fontsize=8)
    fig.suptitle(f"{name}: loss", fontsize=11)
    save(fig, "loss.png")

    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 5.0))
    for split in ("validation", "test"):
        a0.plot(e["epoch"], e[f"{split}_ic"], "o-", color=colours[split], label=f"{split} IC")
        a1.plot(e["epoch"], e[f"{split}_hit_rate"], "o-", color=colours[split], label=f"{split} hit rate")
        a1.plot(
            e["epoch"],
            e[f"{split}_base_hit_rate"],
            "--",
            color=colours[split],
            lw=1,
            label=f"{split} baseline (majority sign)",
        )
    a0.axhline(0, color="grey", lw=0.8, ls="--", label="no skill (IC 0)")
    for ax, yl, t in (
        (a0, "IC (Pearson, pooled over the samples)", "IC per epoch"),
        (a1, "hit rate (share of signs right)", "hit rate per epoch"),
    ):
        mark_best(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(yl)
        ax.set_title(t, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    fig.suptitle(f"{name}: IC and hit rate", fontsize=11)
    save(fig, "metrics.png")

    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.plot(s["step"], s["lr"], color="tab:purple", lw=1.4, label="learning rate")
    for k in e["epoch"]:
        m = s["epoch"] == k
        if np.any(m):
            ax.axvline(s["step"][m].max(), color="grey", lw=0.5, alpha=0.5)
    ax.set_xlabel("optimizer step (grey: epoch ends)")
    ax.set_ylabel("learning rate")
    ax.set_title(f"{name}: learning-rate schedule", fontsize=10)
    ax.grid(alpha=0.3)
    save(fig, "lr.png")

    with h5py.File(path, "r") as f:
        has_metrics = "metrics" in f
    if has_metrics:
        plot_symbols(plt, read_table(path, "metrics"), name, save)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(e["epoch"], e["samples_per_s"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("training samples / s")
    ax.set_title("throughput")
    save(fig, "throughput.png")
    return out


def _pooled(path: str, column: str) -> dict:
    """{split: value} of a metrics column on the pooled rows (symbol -1); {} for a file without the
    metrics table."""
    import h5py

    from ...io.results import decode_text, read_table

    with h5py.File(path, "r") as f:
        if "metrics" not in f:
            return {}
    m = read_table(path, "metrics")
    return {
        sp: float(v) for sp, sym, v in zip(decode_text(m["split"]), m["symbol"], m[column]) if int(sym) == -1
    }


#: per-symbol bars drawn at most (the highest and the lowest ICs, half each, beyond this)
MAX_SYMBOL_BARS = 40


def plot_symbols(plt, m: dict, name: str, save) -> None:
    """symbols.png: per symbol of the test split, the model's IC (Spearman) with +-1.96 standard errors
    (the metrics table's ic_se) and the ridge baseline's IC; the pooled mean IC over symbols as a line;
    beside it the distribution of the per-symbol ICs of the model and of the ridge."""
    split = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in m["split"]])
    rows = np.flatnonzero((split == "test") & (m["symbol"] >= 0))
    pooled = np.flatnonzero((split == "test") & (m["symbol"] == -1))
    fig, (a0, a1) = plt.subplots(
        1,
        2,
        figsize=(13, 0.22 * min(len(rows), MAX_SYMBOL_BARS) + 2.6),
        gridspec_kw={"width_ratios": (1.6, 1)},
    )
    order = rows[np.argsort(m["ic"][rows], kind="stable")]
    note = ""
    if len(order) > MAX_SYMBOL_BARS:
        half = MAX_SYMBOL_BARS // 2
        order = np.concatenate([order[:half], order[-half:]])
        note = f" ({len(rows)} symbols: the {half} lowest and {half} highest ICs)"
    labels = [(v.decode() if isinstance(v, bytes) else str(v)) for v in m["name"][order]]
    yy = np.arange(len(order))
    if len(order):
        a0.barh(
            yy,
            m["ic"][order],
            xerr=1.96 * m["ic_se"][order],
            color="tab:blue",
            alpha=0.75,
            error_kw=dict(lw=0.8, ecolor="0.3"),
            label="model IC ± 1.96 se",
        )
        a0.plot(m["ridge_ic"][order], yy, "d", color="tab:orange", ms=5, label="ridge IC (baseline)")
        if len(pooled):
            a0.axvline(
                float(m["ic"][pooled[0]]),
                color="tab:blue",
                ls="--",
                lw=1,
                label=f"mean over symbols {float(m['ic'][pooled[0]]):+.4f}",
            )
        a0.set_yticks(yy, labels, fontsize=7)
        a0.legend(fontsize=8, loc="lower right")
        bins = np.linspace(
            min(np.nanmin(m["ic"][rows]), np.nanmin(m["ridge_ic"][rows])),
            max(np.nanmax(m["ic"][rows]), np.nanmax(m["ridge_ic"][rows])),
            int(np.clip(len(rows) // 2, 6, 25)) + 1,
        )
        a1.hist(m["ic"][rows], bins=bins, alpha=0.6, color="tab:blue", label="model")
        a1.hist(m["ridge_ic"][rows], bins=bins, alpha=0.6, color="tab:orange", label="ridge (baseline)")
        a1.legend(fontsize=8)
    else:
        for ax in (a0, a1):
            ax.text(
                0.5,
                0.5,
                "empty: no symbol has test samples",
                ha="center",
                transform=ax.transAxes,
                color="0.35",
            )
    a0.axvline(0, color="0.4", lw=0.8)
    a0.set_xlabel("test IC (Spearman, per symbol)")
    a0.set_ylabel("symbol")
    a0.set_title("test IC per symbol beside the ridge baseline" + note, fontsize=10)
    a0.grid(alpha=0.3, axis="x")
    a1.set_xlabel("test IC (Spearman, per symbol)")
    a1.set_ylabel("symbols")
    a1.set_title(f"spread of the per-symbol test ICs ({len(rows)} symbols)", fontsize=10)
    a1.grid(alpha=0.3)
    fig.suptitle(f"{name}: per-symbol test metrics", fontsize=11)
    save(fig, "symbols.png")
