"""The ddp job with a fault injected at one optimizer step (tests only).

Environment: FAULT_KIND = raise | stall | nan | signal | slow; FAULT_STEP (1-based global step, default
3); FAULT_RANK (default 1; -1 = every rank).
  raise:  that rank raises ValueError("injected failure at step N") before the step;
  stall:  that rank sleeps an hour before the step (its peers wait in the gradient all-reduce until
          ddp.timeout_s ends it);
  nan:    that rank's batch features are NaN at that step (a non-finite loss);
  signal: that rank sends itself SIGUSR1 before the step (a stop agreed at that step's boundary);
  slow:   every step sleeps FAULT_SLEEP seconds (default 0.2); the first steps print "TRAINING pid=..."
          so a test can signal mid-training.
Arguments are passed to `python -m mpiapp.ddp`.
"""

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's mpiapp
from mpiapp import ddp  # noqa: E402
from mpiapp.engines.ddp import trainer  # noqa: E402

kind = os.environ.get("FAULT_KIND", "raise")
at = int(os.environ.get("FAULT_STEP", "3"))
who = int(os.environ.get("FAULT_RANK", "1"))
real_step = trainer.Trainer.step


def step(self, order, b):
    k = self.state["global_step"] + 1
    if kind == "slow":
        if k <= 3:
            print(f"TRAINING pid={os.getpid()} step={k}", flush=True)
        time.sleep(float(os.environ.get("FAULT_SLEEP", "0.2")))
    if k == at and who in (-1, self.rank):
        if kind == "raise":
            raise ValueError(f"injected failure at step {k}")
        if kind == "stall":
            time.sleep(3600)
        if kind == "signal":
            os.kill(os.getpid(), signal.SIGUSR1)
        if kind == "nan":
            reader = self.readers["train"]
            real = reader.samples

            def poisoned(ids):
                x, y = real(ids)
                return x * float("nan"), y

            reader.samples = poisoned
            try:
                return real_step(self, order, b)
            finally:
                reader.samples = real
    return real_step(self, order, b)


trainer.Trainer.step = step
sys.exit(ddp.main(sys.argv[1:]))
