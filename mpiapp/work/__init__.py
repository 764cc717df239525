"""The work layer: everything a job needs that is not its own domain logic.

A job hands over a `JobSpec` (its units, `run_unit(unit) -> rows`, its raw table schemas, its
finalize step); `run_job` does the rest — output policy and lock, the plan (static LPT/block/cyclic
or dynamic RMA claiming, or units fed in rounds), the .partial ledger with collective commits and
resume, stop signals (exit 75), the progress bar, provenance and the per-rank profile table. This
package never imports an engine, and never calls MPI itself (runtime/ does).
"""

from .finalize import Finalize
from .run import Outcome, RunOptions, run_job
from .spec import Context, JobSpec, Plan, Unit

__all__ = ["Context", "Finalize", "JobSpec", "Outcome", "Plan", "RunOptions", "Unit", "run_job"]
