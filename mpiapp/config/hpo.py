"""`hpo.*`: the Optuna search (`python -m mpiapp.hpo`): objective, study, parallel mode, failures."""

from .keys import Key

# fmt: off
KEYS = (
    Key("hpo.objective", str, "scan",
        "what is tuned: scan, train, optbench, demo (a seeded test function) or MODULE:FUNCTION"),
    Key("hpo.space", str, None, "search space YAML file; null = the objective's default space",
        nullable=True),
    Key("hpo.trials", int, 20, "trials that end with a result (complete, pruned or failed by the "
        "objective); lost and interrupted trials do not count, their parameters are asked again",
        lo=1, hi=10_000_000),
    Key("hpo.study", str, "mpiapp", "study name inside the journal"),
    Key("hpo.seed", int, 0, "study seed: the sampler's seed, and each trial's seed (seed, trial number)",
        lo=0, hi=(1 << 32) - 1),
    Key("hpo.mode", str, "async",
        "async: a group gets its next trial as soon as it finishes; reproducible: batches of "
        "hpo.batch_size trials told in trial-number order (same trials at any rank count)",
        choices=("async", "reproducible")),
    Key("hpo.ranks_per_trial", int, 1,
        "ranks in a group evaluating one trial together (they share its samples); must divide the "
        "rank count", lo=1, hi=1 << 20),
    Key("hpo.prefetch", int, 1, "async mode: trials queued at each group beyond the one it evaluates "
        "(rank 0's group only with the random sampler, whose asks cost nothing), so a group that "
        "finishes starts the next at once instead of waiting for rank 0 to hear it, tell and ask (the "
        "sampler then asks it before the last results are told; 0 = hand a group its next trial when it "
        "finishes, which suits trials of minutes: no trial waits queued at a busy group at the end)",
        lo=0, hi=8),
    Key("hpo.ask_ahead", int, 0, "async mode: trials rank 0 keeps asked per other group; it asks them "
        "while its own group is between trials, and a group that finishes takes one at once instead of "
        "waiting for a tell and an ask (0 = ask when a group finishes; the grid sampler always does)",
        lo=0, hi=64),
    Key("hpo.batch_size", int, 4, "trials per batch in reproducible mode (independent of the rank count)",
        lo=1, hi=1 << 20),
    Key("hpo.sampler", str, "tpe", "tpe (seeded; constant_liar when trials run concurrently), random, "
        "grid, cmaes, nsga2 (two objectives)", choices=("tpe", "random", "grid", "cmaes", "nsga2")),
    Key("hpo.pruner", str, "none", "none, median, successive_halving or hyperband (reproducible mode: "
        "none or median)", choices=("none", "median", "successive_halving", "hyperband")),
    Key("hpo.pruner_startup_trials", int, 5, "median pruner: trials completed before any is pruned",
        lo=0, hi=1 << 20),
    Key("hpo.pruner_warmup_steps", int, 0, "median pruner: steps a trial reports before it can be pruned",
        lo=0, hi=1 << 20),
    Key("hpo.on_trial_error", str, "fail",
        "an objective that raises: fail = that trial FAILs (traceback stored), the search goes on; "
        "abort = the job stops with exit 1", choices=("fail", "abort")),
    Key("hpo.trial_timeout_s", float, 0.0,
        "a trial running longer FAILs as a timeout (checked at each reported step and when it returns); "
        "0 = no limit", lo=0.0, hi=1e9),
    Key("hpo.journal", str, None, "Optuna journal file; null = the results file's path with .journal "
        "instead of .h5", nullable=True),
    Key("hpo.journal_sync_s", float, 1.0, "fsync the journal at most every this many seconds (a killed "
        "process loses nothing; a machine crash the last seconds); 0 = after every record", lo=0.0, hi=3600.0),
    Key("hpo.direction", str, "auto", "single-value objectives: auto = the objective's own (user "
        "functions: DIRECTIONS, else minimize)", choices=("auto", "minimize", "maximize")),
    Key("hpo.scan_symbols", int, 4, "scan objective: planted synthetic symbols (and as many random walks)",
        lo=1, hi=100_000),
    Key("hpo.scan_bars", int, 1200, "scan objective: bars per synthetic symbol", lo=100, hi=10_000_000),
    Key("hpo.scan_false_alarm_weight", float, 0.1,
        "scan objective: value = recall - weight x false alarms per 1,000 random-walk bars", lo=0.0),
    Key("hpo.train_family", str, "lgbm", "train objective: the model family tuned (its train.<family>.* keys; "
        "ridge: its penalty)", choices=("lgbm", "xgb", "rf", "mlp", "ridge")),
    Key("hpo.train_metric", str, "ic", "train objective: ic = mean out-of-fold Spearman IC over folds and "
        "symbols (maximise); rmse = mean out-of-fold RMSE (minimise)", choices=("ic", "rmse")),
    Key("hpo.train_symbols", int, 4, "train objective: the first this many symbols of data.source (with enough "
        "bars for the folds); with fewer the value is mostly fold noise and pruning decides on noise "
        "(measured on the embedded series: the parameters explain ~0 % of a trial's value at 2, ~60 % at 4)",
        lo=1, hi=100_000),
    Key("hpo.train_bars", int, 1500, "train objective: the search's bars of each symbol, the last this many "
        "before the purge gap and the held-out period; 0 = all", lo=0, hi=1 << 40),
    Key("hpo.train_holdout_bars", int, 500, "train objective: the last this many bars of every symbol are held "
        "out (after a purge gap of train.horizon + train.cv.embargo_bars bars): the best trial and the defaults are "
        "scored there at the end, never searched on", lo=50, hi=1 << 40),
    Key("hpo.train_holdout_symbols", int, 2, "train objective: symbols of data.source after the searched ones, "
        "never searched, whose held-out period is scored too", lo=0, hi=100_000),
    Key("hpo.optbench_problem", str, "lsq-k1e3-d100", "optbench objective: the problem (an optbench.problems "
        "name)"),
    Key("hpo.optbench_optimizer", str, "momentum", "optbench objective: the optimizer tuned (sgd, momentum, "
        "nesterov: step scale and momentum; adam, adamw: learning rate and betas)",
        choices=("sgd", "momentum", "nesterov", "adam", "adamw")),
    Key("hpo.optbench_target", float, 1e-6, "optbench objective: value = iterations to this relative "
        "suboptimality (median over optbench.repeats seeds, full batch, numpy); a miss counts 2 x "
        "optbench.max_iters", lo=1e-15, hi=1.0),
)
# fmt: on
