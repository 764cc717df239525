"""What a job hands the work layer: its units, how to run one, its tables, how to finish.

Why a spec and not a base class: a job is a handful of functions (as dask-mpi takes a client
function), so the work layer never imports an engine and an engine never subclasses the layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Unit:
    """One piece of a job's work.

    uid: position in the job's unit list (0-based, dense); cost: relative cost for the static plan
    (any unit, e.g. rows x seconds per row); key: the job's own description of the unit, one value
    per `JobSpec.key_columns` entry (e.g. (item, first, end)).
    """

    uid: int
    cost: float
    key: tuple


@dataclass
class Plan:
    """What the job's planning (on rank 0) gives the layer.

    units: the work (uids 0..n-1 in order); info: anything small and picklable every rank needs
    afterwards (broadcast; e.g. an index of the input), kept as `ctx.info`; inputs: paths the job reads,
    which the output must never be (checked before anything is written).
    """

    units: list
    info: Any = None
    inputs: list = field(default_factory=list)


@dataclass
class JobSpec:
    """A job, as the work layer runs it (see docs/architecture.md, "Adding a job").

    name: the job's name (default output results/<name>.h5);
    key_columns: [(column, numpy dtype str)] storing each Unit.key in the unit table;
    tables: raw tables run_unit fills: {name: [(column, numpy dtype str)]}, fixed-width types only;
    plan(ctx) -> Plan: called on rank 0 only; ValueError/OSError (DataError) -> every rank exits 2;
    run_unit(unit, ctx) -> {table: {column: 1-D array}}: a missing table means no rows;
    finalize(fin) -> dict: collective; reads raw rows (`fin.read`), writes the final tables
      (`fin.write`); returns the summary (used on rank 0; "exit_code" in it sets the job's code);
    prepare(ctx, mine): collective, before any unit runs: load what this rank's units need (mine:
      its Units under a static plan, None when units are claimed dynamically); expected failures
      (bad input) are agreed and end every rank with exit 2;
    release(ctx): collective, after the last unit (free shared memory);
    resume_sections: config sections that must be unchanged for --resume;
    counters: names of `ctx.timers.count(...)` counters that become profile columns;
    units_at_once(ctx, units_per_rank) -> int: how many units a rank runs at once, each in a worker
      thread (None: one at a time, in the main thread). A job that says more than 1 promises a
      run_unit that is thread-safe and makes no MPI call; rows are still committed in claim order;
    sides: work.output.Target of every other file the job writes (summaries beside the output):
      claimed like the output (checked by content; --force replaces only the job's own).
    """

    name: str
    key_columns: list
    tables: dict
    plan: Callable
    run_unit: Callable
    finalize: Callable
    prepare: Callable | None = None
    release: Callable | None = None
    resume_sections: tuple = ("data",)
    counters: tuple = ()
    units_at_once: Callable | None = None
    sides: tuple = ()


@dataclass
class Context:
    """What a job's functions get: the configuration, the runtime, the plan's info, the backend.

    cfg: the effective configuration; rt: the runtime (rank, size, comm, thread_plan, log, timers);
    info: Plan.info from rank 0; backend: a free-form label recorded in the results file;
    resuming: True when continuing a .partial file.
    """

    cfg: Any
    rt: Any
    info: Any = None
    backend: str = ""
    resuming: bool = False
    digests: dict = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return self.rt.rank

    @property
    def size(self) -> int:
        return self.rt.size

    @property
    def comm(self):
        return self.rt.comm

    @property
    def log(self):
        return self.rt.log

    @property
    def timers(self):
        return self.rt.timers

    def record_input(self, name: str, digest: str) -> None:
        """Note the content hash of one input (e.g. one input file's arrays) this rank read.

        The work layer stores them in the .partial file; a --resume that reads an input whose hash
        differs is refused, naming it (a resumed result never mixes old and new data).
        """
        self.digests[name] = digest
