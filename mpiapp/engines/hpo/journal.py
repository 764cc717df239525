"""The journal file backend of rank 0's study: Optuna's public `BaseJournalBackend` contract
(read_logs, append_logs) on a JSON-lines file that one process writes.

Why not Optuna's `JournalFileBackend`: it takes a lock file around every append and re-reads the
file before every storage operation, and fsyncs every record; here the journal has one writer,
locked in place for the whole run, so neither the lock file nor the re-reads are needed, and the
fsyncs are paced (hpo.journal_sync_s). The file format is Optuna's own: `optuna.load_study` with a
`JournalFileBackend` and optuna-dashboard read it directly.

Imported only when a study is opened (it imports Optuna).
"""

from __future__ import annotations

import json
import os
import time

from optuna.storages.journal import BaseJournalBackend


class JournalFile(BaseJournalBackend):
    """Optuna's journal backend (its public `BaseJournalBackend`: read_logs, append_logs) over a
    JSON-lines journal file that this process alone writes: rank 0 holds the output lock on the
    file for the whole run (work.output.Claim), so the backend takes no lock of its own.

    - The file as found (a resume) is read once, when the storage first reads; every record after it
      is one this process appended, and is served back from memory. Why: Optuna's storage re-reads
      the journal before every operation (14 opens and 7 appends a trial with the random sampler);
      each of those system calls gives up the GIL, and rank 0's study owner shares its process with
      rank 0's evaluating thread, so each could wait a switch interval to get it back.
    - The file stays open for appending. A record is written whole by one write() and flushed, so a
      killed process loses nothing (the page cache keeps it); the fsync after every record (Optuna's
      file backend) is relaxed to one every `sync_s` seconds (0: after every append), so only a
      machine crash can lose the last `sync_s` seconds. Why: one fsync measured ~7.5 ms on the
      project's disks, and a trial writes about ten records.

    n_file: the records found in the file (None until the first read). A last line without its
    newline (a kill mid-write) is not a record, as for Optuna's file backend; a resume drops it first
    (repair_journal). Raises ValueError for a line that is not JSON (check_journal names it first).
    """

    def __init__(self, path: str, sync_s: float = 0.0):
        self.path, self.sync_s = path, sync_s
        self.n_file: int | None = None
        self._records: list[str] = []  # JSON text of every record: the file's, then this process's
        self._f = None
        self._last_sync = 0.0
        open(path, "ab").close()  # created if missing

    def _load(self) -> None:
        with open(self.path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break
                self._records.append(line.decode("utf-8").rstrip("\r\n"))
        self.n_file = len(self._records)

    def read_logs(self, log_number_from: int) -> list[dict]:
        """The records from number `log_number_from` (0: all), as dicts. Raises ValueError naming the
        line of one that is not JSON."""
        if self.n_file is None:
            self._load()
        out = []
        for i, text in enumerate(self._records[log_number_from:], log_number_from + 1):
            try:
                out.append(json.loads(text))
            except ValueError as exc:
                raise ValueError(f"{self.path}: line {i} is not a journal record ({exc})") from None
        return out

    def append_logs(self, logs: list[dict]) -> None:
        """Append `logs` (JSON-serialisable dicts) as one write of whole lines."""
        if self.n_file is None:
            self._load()
        lines = [json.dumps(x, separators=(",", ":")) for x in logs]
        if self._f is None:
            self._f = open(self.path, "ab")
        self._f.write(("\n".join(lines) + "\n").encode("utf-8"))
        self._f.flush()
        self._records.extend(lines)
        now = time.monotonic()
        if now - self._last_sync >= self.sync_s:
            os.fsync(self._f.fileno())
            self._last_sync = now

    def sync(self) -> None:
        """fsync what was appended (at the end of a search)."""
        if self._f is not None:
            os.fsync(self._f.fileno())
