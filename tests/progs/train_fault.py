"""The train job with a fault injected into model fitting (tests only).

Environment: FAULT_KIND = raise | slow | missing.
  raise: the fit of (FAULT_SYMBOL, FAULT_FAMILY, FAULT_FOLD) raises ValueError("injected model failure ...");
  slow: every fit sleeps FAULT_SLEEP seconds first (prints TRAINING lines for the first units), so a
        signal lands mid-run;
  missing: the xgb family's module is renamed to one that is not installed.
Arguments are passed to `python -m mpiapp.train`.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's mpiapp, not an installed one
from mpiapp import train  # noqa: E402
from mpiapp.engines.train import families  # noqa: E402

kind = os.environ.get("FAULT_KIND", "raise")
real = families.fit
count = 0


def faulty(spec, X, y, inner=None):
    """The unit (FAULT_SYMBOL, FAULT_FAMILY, FAULT_FOLD) is recognised by its seed (train.seed = 0)."""
    global count
    count += 1
    if kind == "raise":
        sym, fam, fold = (
            os.environ["FAULT_SYMBOL"],
            os.environ.get("FAULT_FAMILY", "xgb"),
            int(os.environ.get("FAULT_FOLD", "1")),
        )
        if spec.family == fam and spec.seed == families.unit_seed(sym, fam, fold):
            raise ValueError(f"injected model failure ({sym} {fam} fold {fold})")
    if kind == "slow":
        if count <= 4:
            print(f"TRAINING pid={os.getpid()} unit={count}", flush=True)
        time.sleep(float(os.environ.get("FAULT_SLEEP", "0.3")))
    return real(spec, X, y, inner)


if kind == "missing":
    families.FAMILIES["xgb"] = (
        1,
        "xgboost_not_installed_here",
        "pip install 'mpiapp[cpu]' (xgboost-cpu)",
        "x",
    )
families.fit = faulty
sys.exit(train.main(sys.argv[1:]))
