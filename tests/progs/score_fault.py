"""The score job with a fault injected into its work units (tests only): the scan's JobSpec with
its run_unit wrapped.

Environment: FAULT_RANK (rank that misbehaves, -1 = all), FAULT_AFTER (units it runs first),
FAULT_KIND = raise | slow (slow: every unit of every rank sleeps FAULT_SLEEP seconds, so a signal
or a kill lands mid-scan). Arguments are passed to `python -m mpiapp.score`.
"""

import dataclasses
import os
import sys
import threading
import time

from mpiapp import score
from mpiapp.engines.scan.job import build

kind = os.environ.get("FAULT_KIND", "raise")
fault_rank = int(os.environ.get("FAULT_RANK", "1"))
after = int(os.environ.get("FAULT_AFTER", "2"))
pause = float(os.environ.get("FAULT_SLEEP", "0.3"))
count = 0
lock = threading.Lock()  # units may run in worker threads (work.units_at_once)


def faulty_build(ctx):
    spec = build(ctx)
    run_unit = spec.run_unit

    def faulty(unit, ctx):
        global count
        with lock:
            count += 1
            n = count
        if kind == "raise" and ctx.rank == fault_rank and n > after:
            raise RuntimeError(f"injected failure in unit {n} on rank {ctx.rank}")
        if kind == "slow":
            if n <= 4:  # only the first units: after a SIGTERM mpiexec stops reading the ranks' output
                print(f"SCANNING rank={ctx.rank} pid={os.getpid()} unit={n}", flush=True)
            time.sleep(pause)
        return run_unit(unit, ctx)

    return dataclasses.replace(spec, run_unit=faulty)


sys.exit(score.main(sys.argv[1:], build=faulty_build))
