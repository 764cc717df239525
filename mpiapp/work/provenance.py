"""What every results file says about how it was made: the same attributes and profile for every job.

Attributes: config (effective YAML), mpiapp_version, job, mpi_library, mpi_vendor, ranks, hosts,
work_counter (rma | messages: how dynamic claims and the progress bar were counted), backend, hdf5_mode and hdf5_mode_note (set when the file is created), status, started, finished,
wall_s, units, threads_per_rank, plus the job's own (Finalize.attrs). The `profile` table has one
row per rank: rank, host, units, the job's counters, seconds per phase (busy, wait, read, write and
any other the job timed), peak RSS, and the job's text facts (`Timers.label`; e.g. store_host: the
host whose copy of the inputs the rank read).
"""

from __future__ import annotations

import time

import numpy as np

from .. import __version__, config
from ..runtime import comm as _comm
from ..runtime import profile, sync

PHASES = ("busy_s", "wait_s", "read_s", "write_s")


def attributes(cfg, job: str, ranks: int, hosts, t_start: float, **extra) -> dict:
    """The provenance attributes of a results file of `job` (every job's, units or not): the
    effective config, version, MPI library, ranks, hosts, status complete, start / finish times and
    wall seconds, then the job's own `extra` attributes. Collective-free; call it on the writing rank."""
    lib = _comm.library()
    return {
        "config": config.dump(cfg),
        "mpiapp_version": __version__,
        "job": job,
        "mpi_library": lib["library_version"],
        "mpi_vendor": f"{lib['vendor']} {lib['vendor_version']}",
        "ranks": int(ranks),
        "hosts": ",".join(sorted(set(hosts))),
        "status": "complete",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t_start)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "wall_s": time.time() - t_start,
        **extra,
    }


def profile_rows(ctx, spec, stats: dict) -> tuple[list | None, list]:
    """Collective: every rank's profile row on rank 0 (None elsewhere), and the table's columns."""
    extra = {"peak_rss_mb": profile.peak_rss_mb(), "units": stats.get("units", 0)}
    extra.update({c: int(ctx.timers.counters.get(c, 0)) for c in spec.counters})
    rows = profile.gather(ctx.timers, comm=ctx.comm, extra=extra)
    phases, labels = list(PHASES), []
    if rows is not None:
        phases += sorted({k for r in rows for k in r if k.endswith("_s")} - set(PHASES))
        labels = sorted({k for r in rows for k, v in r.items() if isinstance(v, str)} - {"host"})
    phases, labels = sync.bcast((phases, labels), comm=ctx.comm)
    cols = (
        [("rank", "i4"), ("host", "S64"), ("units", "i8")]
        + [(c, "i8") for c in spec.counters]
        + [(p, "f8") for p in phases]
        + [("peak_rss_mb", "f8")]
        + [(t, "S64") for t in labels]
    )
    if rows is not None:  # fixed columns (a phase a rank never entered counts 0 s, a label it never set "")
        rows = [{c: r.get(c, "" if dt == "S64" else 0.0) for c, dt in cols} for r in rows]
    return rows, cols


def write(fin, ctx, spec, stats: dict, t_start: float, n_units: int) -> list | None:
    """Collective: the profile table and the provenance attributes of the final file; returns the rows."""
    rows, cols = profile_rows(ctx, spec, stats)
    table = {}
    if rows is not None:
        table = {
            c: np.array([r[c].encode() if dt == "S64" else r[c] for r in rows], dtype=dt) for c, dt in cols
        }
    fin.write("profile", cols, table)
    hosts = [r["host"] for r in rows] if rows else []
    fin.out.set_attrs(
        attributes(
            ctx.cfg,
            spec.name,
            ctx.size,
            hosts,
            t_start,
            work_counter=ctx.rt.work_counter,
            backend=ctx.backend,
            units=n_units,
            threads_per_rank=ctx.rt.thread_plan.threads,
            **fin.extra_attrs,
        )
    )
    return rows
