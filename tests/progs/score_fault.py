"""The score job with a fault injected into the scan of work units (tests only).

Environment: FAULT_RANK (rank that misbehaves, -1 = all), FAULT_AFTER (units it scans first),
FAULT_KIND = raise | slow (slow: every unit of every rank sleeps FAULT_SLEEP seconds, so a signal
or a kill lands mid-scan). Arguments are passed to `python -m mpiapp.score`.
"""

import os
import sys
import time

import mpiapp.engines.scan as scan_engine
from mpiapp import score

real = scan_engine.scan_symbol
kind = os.environ.get("FAULT_KIND", "raise")
fault_rank = int(os.environ.get("FAULT_RANK", "1"))
after = int(os.environ.get("FAULT_AFTER", "2"))
pause = float(os.environ.get("FAULT_SLEEP", "0.3"))
count = 0


def faulty(*args, **kwargs):
    global count
    from mpiapp.runtime import comm

    rank = comm.world().Get_rank()
    count += 1
    if kind == "raise" and rank == fault_rank and count > after:
        raise RuntimeError(f"injected failure in unit {count} on rank {rank}")
    if kind == "slow":
        if count <= 4:  # only the first units: after a SIGTERM mpiexec stops reading the ranks' output
            print(f"SCANNING rank={rank} pid={os.getpid()} unit={count}", flush=True)
        time.sleep(pause)
    return real(*args, **kwargs)


scan_engine.scan_symbol = faulty
sys.exit(score.main(sys.argv[1:]))
