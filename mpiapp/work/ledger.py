"""PATH.partial: a job's raw tables and one commit record per work unit — what makes a run resumable.

Why this shape: a stop (signal, kill, full disk) must lose at most the units finished since the last
commit, and a resume must never trust rows that are not on disk. So a commit writes the raw rows of
the finished units first (collectively, each rank after the rows of the ranks before it) and flushes them;
only then does rank 0 write each unit's record — done flag plus the start/count of its rows in each
raw table — as one whole row, and flush again. A resume counts a unit as done only if its record is
set and its rows lie inside the tables as flushed.

File layout (all names start with `_`; the final file has none of them):
  _units              the job's key columns + cost, one row per unit
  _state              int64 [units, 2 + 2 x tables]: done, rank, then (start, count) per raw table
  _<table>            each raw table of the job
  _inputs             name, content hash of every input read (refuses a resume over changed data)
  attrs               config (YAML), mpiapp_version, job, status (running | interrupted)
"""

from __future__ import annotations

import numpy as np

from .. import __version__, config
from ..io import results as rio
from ..runtime import errors, sync

INPUT_COLUMNS = [("name", "S256"), ("digest", "S64")]


class Ledger:
    """Collective: the .partial file of one run, opened by every rank of `comm`."""

    def __init__(self, spec, cfg, path: str, mode: str, note: str, comm):
        self.spec, self.cfg, self.path, self.mode, self.note, self.comm = spec, cfg, path, mode, note, comm
        self.tables = list(spec.tables)
        self.state_columns = ["done", "rank"] + [f"{t}_{x}" for t in self.tables for x in ("start", "count")]
        self.wf = None
        self.n_units = 0
        self.digests: dict[str, str] = {}  # every input hash on record (rank 0)
        self._pending: dict[str, str] = {}  # this rank's input hashes not yet committed

    # --- open -------------------------------------------------------------------------------
    def create(self, units) -> np.ndarray:
        """Collective: a new .partial file holding `units`; returns their done flags (all False)."""
        wf = self.wf = rio.ResultsFile(self.path, self.mode, comm=self.comm, create=True, note=self.note)
        wf.set_attrs(
            {
                "config": config.dump(self.cfg),
                "mpiapp_version": __version__,
                "job": self.spec.name,
                "status": "running",
            }
        )
        wf.create_table("_units", self.unit_columns())
        for t, cols in self.spec.tables.items():
            wf.create_table(f"_{t}", cols)
        wf.create_table("_inputs", INPUT_COLUMNS)
        wf.create_array("_state", (0, len(self.state_columns)), "i8")
        self._closer()
        self.add_units(units)
        wf.flush()
        return np.zeros(len(units), dtype=bool)

    def resume(self, units) -> np.ndarray:
        """Collective: reopen an interrupted run's file; refuse another configuration or other units."""
        with errors.agreement(self.comm):
            try:
                self.wf = rio.ResultsFile(self.path, self.mode, comm=self.comm, create=False)
            except OSError as exc:  # every rank fails alike (collective open)
                raise errors.JobError(
                    f"cannot open {self.path} to resume it ({exc}): start over with --force"
                )
        self._closer()
        with errors.agreement(self.comm):
            if sync.rank(self.comm) == 0:
                problem = self._check_resumable(units)
                if problem:
                    raise errors.JobError(problem)
        self.n_units = len(units)
        if self.wf.f is not None and sync.rank(self.comm) == 0:
            t = self.wf.read("_inputs")
            self.digests = {n.decode("utf-8", "replace"): d.decode() for n, d in zip(t["name"], t["digest"])}
        return self.units()["done"]

    def _closer(self):
        if self.mode == "gather" and sync.rank(self.comm) == 0:
            errors.on_abort(self.wf.close)  # a serial file owned by rank 0: safe to close alone

    def unit_columns(self) -> list:
        return list(self.spec.key_columns) + [("cost", "f8")]

    def add_units(self, units) -> None:
        """Collective: append units (uids continue the table) — the initial plan, or a new round."""
        rows = {}
        if sync.rank(self.comm) == 0 and units:
            for i, (col, dt) in enumerate(self.spec.key_columns):
                rows[col] = np.array([u.key[i] for u in units], dtype=dt)
            rows["cost"] = np.array([u.cost for u in units], dtype=np.float64)
        self.wf.append("_units", rows)
        self.n_units += len(units)
        self.wf.grow_array("_state", self.n_units)

    def _check_resumable(self, units) -> str | None:
        import yaml

        raw = self.wf.f.attrs.get("config", b"")
        old = yaml.safe_load((raw.decode() if isinstance(raw, bytes) else raw) or "{}")
        new = config.to_plain(self.cfg)
        diffs = [
            f"{sec}.{k}: {old.get(sec, {}).get(k)!r} -> {new[sec][k]!r}"
            for sec in self.spec.resume_sections
            for k in new.get(sec, {})
            if old.get(sec, {}).get(k) != new[sec][k]
        ]
        if diffs:
            more = f"; and {len(diffs) - 6} more" if len(diffs) > 6 else ""
            return (
                f"{self.path} was started with another configuration; cannot resume: "
                + "; ".join(diffs[:6])
                + more
                + " (start over with --force)"
            )
        u = self.wf.read("_units")
        keys = [c for c, _ in self.spec.key_columns]
        if len(u["cost"]) != len(units) or any(
            tuple(u[c][i] for c in keys) != tuple(x.key) for i, x in enumerate(units)
        ):
            return f"{self.path}: its work units do not match this input (was the data changed?); start over with --force"
        return None

    # --- commit -----------------------------------------------------------------------------
    def commit(self, finished, rank: int) -> None:
        """Collective: raw rows of this rank's finished units [(uid, {table: rows})], then their records."""
        cols = self.spec.tables
        starts = {}
        for t in self.tables:
            rows = _cat([r.get(t) for _, r in finished], cols[t])
            starts[t] = self.wf.append(f"_{t}", rows)
        state = np.zeros((len(finished), len(self.state_columns)), dtype=np.int64)
        offsets = dict.fromkeys(self.tables, 0)
        for i, (_, r) in enumerate(finished):
            state[i, 0], state[i, 1] = 1, rank
            for j, t in enumerate(self.tables):
                n = _length(r.get(t), cols[t])
                state[i, 2 + 2 * j] = starts[t] + offsets[t]
                state[i, 3 + 2 * j] = n
                offsets[t] += n
        # the rows first, durable (extents and data flushed) ...
        self.wf.flush()
        # ... then the units' records, one whole row per unit by rank 0, and the new input hashes
        uids = np.array([u for u, _ in finished], dtype=np.int64)
        gathered = sync.gather((uids, state, self._pending), comm=self.comm)
        self._pending = {}
        new_inputs = {}
        if sync.rank(self.comm) == 0:
            idx = np.concatenate([g[0] for g in gathered])
            if idx.size:
                self.wf.set_rows("_state", idx, np.concatenate([g[1] for g in gathered]))
            for g in gathered:
                new_inputs.update({k: v for k, v in g[2].items() if k not in self.digests})
            self.digests.update(new_inputs)
        if new_inputs:
            names = sorted(new_inputs)
            width = max(len(n.encode()) for n in names)
            self.wf.append(
                "_inputs",
                {
                    "name": np.array([n.encode() for n in names], dtype=f"S{max(width, 1)}"),
                    "digest": np.array([new_inputs[n].encode() for n in names], dtype="S64"),
                },
            )
        else:
            self.wf.append("_inputs", {})
        self.wf.flush()

    def note_digests(self, digests: dict) -> None:
        """This rank's input hashes since the last commit (written with the next commit)."""
        self._pending.update(digests)

    def changed_inputs(self, digests: dict) -> list[str]:
        """Collective: names whose hash differs from the one on record (read by any rank)."""
        seen = sync.gather(digests, comm=self.comm)
        bad = []
        if sync.rank(self.comm) == 0:
            for d in seen:
                bad += [n for n, h in d.items() if n in self.digests and self.digests[n] != h]
        return sync.bcast(sorted(set(bad)), comm=self.comm)

    # --- read back --------------------------------------------------------------------------
    def units(self) -> dict:
        """Collective: the unit table with each unit's commit record, on every rank.

        A unit counts as done only if its rows lie inside the raw tables as flushed (a run killed
        mid-commit must never make a resume trust rows that are not there).
        """
        u = None
        wf = self.wf
        if wf.f is not None and (wf.mode == "mpio" or wf.rank == 0):
            u = wf.read("_units")
            state = wf.f["_state"][:]
            u.update({c: state[:, i] for i, c in enumerate(self.state_columns)})
            inside = np.ones(len(u["cost"]), dtype=bool)
            for t, cols in self.spec.tables.items():
                n = wf.f[f"_{t}"][cols[0][0]].shape[0]
                inside &= u[f"{t}_start"] + u[f"{t}_count"] <= n
            u["done"] = (u["done"] == 1) & inside
        return sync.bcast(u, comm=self.comm) if wf.mode == "gather" else u

    def read(self, table: str, starts, counts) -> dict:
        """Rows of [start, start + count) ranges of raw table `table` (this rank; coalesced reads)."""
        return self.wf.read_ranges(f"_{table}", zip(starts, counts))

    def can_read(self) -> bool:
        return self.wf.f is not None

    def mark(self, **attrs) -> None:
        """Collective: set attributes (status, interrupted_by) and flush."""
        self.wf.set_attrs(attrs)
        self.wf.flush()

    def close(self) -> None:
        if self.wf is not None:
            self.wf.close()
            errors.forget(self.wf.close)


def _length(rows, cols) -> int:
    if not rows:
        return 0
    return len(rows[cols[0][0]])


def _cat(pieces, columns) -> dict:
    """Concatenate row dicts into one (empty dict when there are no rows)."""
    pieces = [p for p in pieces if p and len(p[columns[0][0]])]
    if not pieces:
        return {}
    missing = [c for c, _ in columns if c not in pieces[0]]
    if missing:
        raise KeyError(f"run_unit rows lack columns {missing}")
    return {c: np.concatenate([p[c] for p in pieces]).astype(dt, copy=False) for c, dt in columns}
