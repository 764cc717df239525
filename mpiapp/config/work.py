"""`work.*`: how any job's work units are handed out, committed and shown — the work layer's keys."""

from .keys import Key

# fmt: off
KEYS = (
    Key("work.partition", str, "static",
        "static: cost-balanced plan scattered by rank 0; dynamic: units claimed from an RMA counter",
        choices=("static", "dynamic")),
    Key("work.plan_strategy", str, "lpt", "static plan: lpt (cost-balanced), block or cyclic",
        choices=("lpt", "block", "cyclic")),
    Key("work.unit_size", int, 500,
        "work per unit, in the job's own measure (score: windows per unit; longer symbols are split; "
        "each piece repeats the symbol's pivots and the start searches it shares with its neighbour)",
        lo=1, hi=1 << 31),
    Key("work.shared_memory", bool, True,
        "input arrays once per node in an MPI-3 shared-memory window, not once per rank"),
    Key("work.units_at_once", int, 0,
        "units a rank runs at once, each in a worker thread with runtime threads / this many kernel "
        "threads, for jobs that allow it (score on the numba backend); 0: auto = the rank's threads "
        "when it has at least 2 units per thread, else 1 (one unit at a time, threaded kernels)",
        lo=0, hi=1024),
    Key("work.commit_interval_s", float, 5.0,
        "seconds between collective commits of finished units to the .partial file", lo=0.0, hi=86400.0),
    Key("work.progress", str, "auto", "progress bar on rank 0: auto = only when stderr is a terminal",
        choices=("auto", "on", "off")),
)
# fmt: on
