"""`optbench.*`: the first-order optimizer benchmark — its grid, budgets, problems, cache."""

from .keys import Key

# fmt: off
KEYS = (
    Key("optbench.problems", list,
        ["lsq-k1e3-d100", "lsq-k1e6-d100", "lsq-k1e9-d100", "logreg-d100", "digits", "breast_cancer",
         "diabetes", "finance"],
        "problems: lsq-k<kappa>-d<dim>[-clustered], logreg-d<dim>, digits, breast_cancer, diabetes, mnist5k, "
        "california, mnist, finance (docs/optbench.md)"),
    Key("optbench.optimizers", list, ["sgd", "momentum", "nesterov", "adam", "adamw"], "optimizers of the grid",
        item_choices=("sgd", "momentum", "nesterov", "adam", "adamw")),
    Key("optbench.backends", list, ["numpy", "torch"],
        "backends of the grid (cupy needs a GPU; torch uses this rank's GPU when CUDA is usable; jax needs the "
        "jax extra, and its CUDA build for a GPU)",
        item_choices=("numpy", "torch", "cupy", "jax")),
    Key("optbench.step_scales", list, [1.0],
        "multipliers of the theory step (1/L; Polyak's for momentum; adam_lr for Adam/AdamW): the step grid"),
    Key("optbench.batch_sizes", list, [0, 64], "rows per step; 0 = full batch (one step is one epoch)"),
    Key("optbench.repeats", int, 3, "seeds per grid point (start point and batch order); median and interval",
        lo=1, hi=1000),
    Key("optbench.max_iters", int, 500, "step budget of every run", lo=1, hi=1 << 31),
    Key("optbench.max_epochs", int, 0, "also stop after this many passes over the data; 0 = no epoch cap",
        lo=0, hi=1 << 31),
    Key("optbench.checkpoints", int, 60, "about this many geometric checkpoints per curve", lo=2, hi=100_000),
    Key("optbench.stop_rel", float, 1e-10,
        "stop a run at this relative suboptimality (f - f*)/(f(w0) - f*); 0 = run the whole budget",
        lo=0.0, hi=1.0),
    Key("optbench.diverge_factor", float, 1e6,
        "a run whose f - f* exceeds this multiple of f(w0) - f* (or is not finite) has diverged", lo=1.0),
    Key("optbench.targets", list, [1e-3, 1e-6], "relative suboptimality targets of time- and iterations-to-target"),
    Key("optbench.adam_lr", float, 1e-2, "Adam / AdamW learning rate (times the step scale)", lo=0.0, hi=1e6),
    Key("optbench.adamw_weight_decay", float, 1e-4, "AdamW decoupled weight decay", lo=0.0, hi=1e6),
    Key("optbench.seed", int, 0, "base seed of synthetic problems, splits, start points and batch orders", lo=0),
    Key("optbench.rows_ratio", float, 2.0, "rows n = rows_ratio * d of the synthetic least squares", lo=1.0,
        hi=1000.0),
    Key("optbench.informative", int, 10, "non-zeros of w* in the synthetic least squares", lo=1),
    Key("optbench.noise", float, 0.1, "||eps|| / ||X w*|| of the synthetic least squares", lo=0.0, hi=1e6),
    Key("optbench.l2", float, 1e-3, "L2 regulariser of the logistic problems (their mu)", lo=1e-12, hi=1e6),
    Key("optbench.qr_max_dim", int, 2000, "largest d built with a QR basis; larger d uses the fast DCT basis",
        lo=1),
    Key("optbench.finance_lags", int, 10, "lagged log returns per row of the finance problem", lo=1, hi=1000),
    Key("optbench.parity_steps", int, 20,
        "steps compared with NumPy before a non-NumPy cell is timed (0 = no check)", lo=0, hi=100_000),
    Key("optbench.memory_steps", int, 3, "steps of the separate memory run", lo=1, hi=100_000),
    Key("optbench.bootstrap", int, 1000, "bootstrap resamples of the median's interval", lo=1, hi=1_000_000),
    Key("optbench.cache", bool, True, "reuse cached cell results across runs (keyed by cell, code, environment)"),
    Key("optbench.cache_dir", str, "", "cell cache folder; empty = OUTPUT.cache next to the results file"),
    Key("optbench.data_dir", str, "",
        "folder of optional data files (california_housing.csv, mnist.npz); empty = none"),
    Key("optbench.momentum", float, None, "heavy-ball / Nesterov momentum; null = the theory value for the "
        "problem's kappa", nullable=True, lo=0.0, hi=0.9999),
    Key("optbench.adam_betas", list, [0.9, 0.999], "Adam / AdamW (beta1, beta2)"),
)
# fmt: on
