"""The output claim: every file a job writes, checked and locked before the job writes anything.

Why one claim for every file: a job writes more than its results file — PATH.partial, PATH.tmp, a
checkpoint, a journal, summaries beside the output, a feature store — and each of them is a place
where a user's file could be lost. So each is claimed the same way (`Claim`):

- the path must be usable (not a folder, not under a file, not ending in a separator);
- no two of them are one file, and none is a file the job reads (its inputs);
- an existing file is checked by its content (`Target.kind`): a file of the job's own kind may be
  replaced with --force (or continued with --resume); an empty or damaged one (what a kill leaves)
  is named as such and --force replaces it; anything else — a user's CSV, another job's results, a
  score file where a feature store belongs — is refused, even with --force;
- the refuse / --force / --resume policy (`check_policy` for a results file and its .partial);
- a lock: rank 0 holds an exclusive `flock` on PATH.lock for the whole run, so a second job on the
  same output exits 2 at once, naming the first (two jobs on one path would both write PATH.partial
  and the second would rename its file over the first's). A file several outputs may share (an
  Optuna journal) is locked in place too. The lock file is also the first write into the output
  folder, so an unwritable path is found before any compute;
- what a start stopped by bad input made (`Claim.made`) is removed, so it never blocks the
  corrected rerun; once the job's work has begun (`Claim.begin`) what exists is kept for --resume.

Nothing a user gave the program is removed: --force replaces a file only when it is the job's own.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable

from ..io import results as rio
from ..runtime import errors, sync


@dataclass(frozen=True)
class Paths:
    out: str

    @property
    def partial(self) -> str:
        return self.out + ".partial"

    @property
    def tmp(self) -> str:
        return self.out + ".tmp"

    @property
    def lock(self) -> str:
        return self.out + ".lock"

    def ours(self) -> tuple:
        return (self.out, self.partial, self.tmp, self.lock)


@dataclass(frozen=True)
class Found:
    """What an existing file is. ours: of the job's own kind (--force replaces it, --resume continues
    it); damaged: empty or unreadable — what a killed run leaves, of no use to anyone (--force
    replaces it); what: how a message names it ("an mpiapp score results file", "empty (0 bytes)")."""

    ours: bool
    what: str
    damaged: bool = False


@dataclass(frozen=True)
class Target:
    """A file the job writes. name: how messages name it (`--out`, `hpo.journal`, "the summary");
    kind(path) -> Found: what an existing file there is; expect: what it must be to be replaced
    ("an mpiapp train results file"); lock: flock the file itself for the run (a file that several
    outputs may share); folder: a folder the job keeps filling (a cache), never replaced; scratch: a
    temporary of the job's (PATH.tmp): one left damaged by a kill is simply replaced."""

    path: str
    name: str
    kind: Callable[[str], Found]
    expect: str
    lock: bool = False
    folder: bool = False
    scratch: bool = False


def results_kind(job: str, what: str = "results file") -> Callable[[str], Found]:
    """The kind check of an mpiapp HDF5 file of `job` (its results, .partial or .tmp file)."""

    def kind(path: str) -> Found:
        state, other = rio.identify(path)
        if state == "empty":
            return Found(False, "empty (0 bytes: a run killed as it started)", damaged=True)
        if state == "blank":
            return Found(False, "an empty HDF5 file (a run killed as it started)", damaged=True)
        if state == "damaged":
            return Found(
                False, "a damaged HDF5 file (it cannot be opened: cut short by a kill?)", damaged=True
            )
        if state == "foreign":
            return Found(False, "not an HDF5 file")
        if other == job:
            return Found(True, f"an mpiapp {job} {what}")
        if other:
            return Found(False, f"a file of another mpiapp job ({other})")
        return Found(False, "an HDF5 file not written by mpiapp")

    return kind


def results_targets(paths: Paths, job: str, flag: str = "--out", what: str | None = None) -> list[Target]:
    """The results file of a work-layer job and its .partial and .tmp files (`flag`: what set the path;
    `what`: how a message names the results file, default "an mpiapp JOB results file")."""
    return [
        Target(paths.out, flag, results_kind(job), what or f"an mpiapp {job} results file"),
        Target(
            paths.partial,
            flag,
            results_kind(job, ".partial file"),
            f"the .partial file of an mpiapp {job} run",
        ),
        Target(
            paths.tmp,
            flag,
            results_kind(job, ".tmp file"),
            f"the .tmp file of an mpiapp {job} run",
            scratch=True,
        ),
    ]


def _profile_kind(path: str) -> Found:
    """A cProfile stats file (marshal of a dict: its first byte), told without loading it."""
    with open(path, "rb") as fh:
        head = fh.read(1)
    if not head:
        return Found(False, "empty (0 bytes)", damaged=True)
    if head in (b"{", b"\xfb"):
        return Found(True, "a cProfile file")
    return Found(False, "not a cProfile file")


def profile_targets(out: str, ranks: int, flag: str = "--out") -> list[Target]:
    """The per-rank cProfile files of --profile: OUT.rankN.prof."""
    return [
        Target(f"{out}.rank{r}.prof", flag, _profile_kind, "a cProfile file of an mpiapp run", scratch=True)
        for r in range(ranks)
    ]


def check_path(out: str, name: str = "--out") -> str | None:
    """Why `out` cannot be a file the job writes (None when it can). Pure; touches nothing."""
    if not out or not out.strip():
        return (
            "the output path is empty: give --out FILE" if name == "--out" else f"{name}: the path is empty"
        )
    if out.endswith(os.sep) or (os.altsep and out.endswith(os.altsep)):
        return (
            f"{name} {out}: ends with a path separator, so it names a folder; give a file path (e.g. "
            f"{out.rstrip(os.sep + (os.altsep or ''))})"
        )
    if os.path.isdir(out):
        return (
            f"{name} {out}: is a folder; give a file path inside it, e.g. {os.path.join(out, 'results.h5')}"
        )
    parent = os.path.dirname(os.path.abspath(out))
    probe = parent
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        return f"{name} {out}: {probe} is a file, not a folder"
    return None


def check_policy(paths: Paths, force: bool, resume: bool) -> str | None:
    """Refuse / --force / --resume against what exists. Pure; touches nothing."""
    if resume:
        if os.path.exists(paths.partial):
            return None
        if os.path.exists(paths.out):
            return f"{paths.out} is already complete: nothing to resume (use --force to run again)"
        return f"--resume: no {paths.partial} to resume from (start without --resume)"
    if force:
        return None
    if os.path.exists(paths.out):
        return (
            f"{paths.out} exists: refusing to overwrite it (use --force to replace it, or --out another file)"
        )
    if os.path.exists(paths.partial):
        return (
            f"{paths.partial} exists from an interrupted run: use --resume to continue it or --force "
            "to start over"
        )
    return None


def _real(p: str) -> str:
    return os.path.realpath(os.path.abspath(p))


def check_distinct(targets) -> str | None:
    """No two targets are one file. Pure."""
    seen: dict = {}
    for t in targets:
        r = _real(t.path)
        if r in seen and seen[r].name != t.name:
            return f"{seen[r].name} and {t.name} name the same file ({t.path}); give them different paths"
        seen.setdefault(r, t)
    return None


def check_not_input(paths: Paths, inputs, targets=(), flag: str = "--out") -> str | None:
    """The output (or its .partial/.tmp/.lock, or any other file the job writes) must not be a file
    the job reads. flag: how messages name the output."""
    ours = {_real(t.path): (t.name, t.path) for t in targets}
    ours.update({_real(p): (flag, paths.out) for p in paths.ours()})
    for src in inputs:
        hit = ours.get(_real(src))
        if hit:
            name, path = hit
            if path == paths.out:
                return (
                    f"{name} {paths.out}: the output is an input of this job ({src}); choose another {name}"
                )
            return (
                f"{name} {path}: a file this job writes is one of its inputs ({src}); choose another {name}"
            )
    return None


def check_existing(targets, force: bool, resume: bool, resumed=()) -> str | None:
    """Each existing target checked by its content: of the job's own kind, damaged, or someone else's.

    resumed: the paths --resume continues (PATH.partial, a journal): with --resume they must be the
    job's own and whole. Pure; reads only."""
    for t in targets:
        if not os.path.lexists(t.path):
            continue
        if t.folder:
            if not os.path.isdir(t.path):
                return f"{t.name} {t.path}: is a file, not a folder"
            continue
        if os.path.isdir(t.path):
            return f"{t.name} {t.path}: is a folder, where this job writes {t.expect}"
        try:
            found = t.kind(t.path)
        except OSError as exc:
            return (
                f"{t.name} {t.path}: cannot be read ({exc.strerror or exc}); move it or choose another path"
            )
        if found.ours:
            continue
        resuming = resume and t.path in resumed
        if found.damaged:
            if force or t.scratch:
                continue
            if resuming:
                return f"cannot resume {t.path}: it is {found.what}; start over with --force (it is replaced)"
            return f"{t.path} is {found.what}: start over with --force (it is replaced)"
        if resuming:
            return (
                f"cannot open {t.path} to resume it: it is {found.what}, not {t.expect}; move it away "
                f"(--force does not replace it) or choose another {t.name}"
            )
        return (
            f"{t.path} exists and is {found.what}: refusing to replace it, even with --force (only "
            f"{t.expect} is replaced); move it away or choose another {t.name}"
        )
    return None


class OutputLock:
    """An exclusive lock on PATH.lock, held by one process (rank 0) for the whole run.

    in_place: lock the file PATH itself (created empty when missing) instead of PATH.lock; name:
    the flag or key a message names as the way out (`--out`, `hpo.journal`)."""

    def __init__(self, path: str, in_place: bool = False, name: str = "--out"):
        self.path = path
        self.in_place = in_place
        self.name = name
        self.fd = None
        self.created = False

    def acquire(self) -> str | None:
        """Take the lock; None on success, else why not (another job holds it, or no write access)."""
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            return f"cannot create the output folder {folder}: {exc.strerror}"
        if not self.in_place and os.path.exists(self.path) and not _is_lock_file(self.path):
            return f"{self.path} exists and is not an mpiapp lock file: refusing to replace it; move it away"
        for _ in range(10):  # the file may be unlinked by its holder between open and flock: retry
            existed = os.path.exists(self.path)
            try:
                fd = os.open(
                    self.path, (os.O_RDONLY if self.in_place and existed else os.O_RDWR) | os.O_CREAT, 0o644
                )
            except OSError as exc:
                return f"cannot write to the output folder {folder}: {exc.strerror} ({self.path})"
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = "" if self.in_place else _read(fd)
                os.close(fd)
                who = f" ({holder})" if holder else ""
                return (
                    f"{self.path} is held by another mpiapp job{who}: wait for it to end, or choose another "
                    f"{self.name}"
                )
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            self.created = not existed
            if not self.in_place:
                os.ftruncate(fd, 0)
                os.write(
                    fd,
                    f"pid {os.getpid()} on {socket.gethostname()} since "
                    f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode(),
                )
            self.fd = fd
            return None
        return f"{self.path}: could not take the lock (it keeps changing)"

    def release(self, remove: bool | None = None) -> None:
        """Let go of the lock; remove the lock file first (in place: only when asked), so a waiting
        job's retry sees the new file."""
        if self.fd is not None:
            if remove if remove is not None else not self.in_place:
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
            os.close(self.fd)
            self.fd = None


def _is_lock_file(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return head == b"" or head.startswith(b"pid ")


def _read(fd) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 200).decode(errors="replace").strip()
    except OSError:
        return ""


class Claim:
    """Collective context manager: the files a job writes, claimed for the whole run.

        with Claim(paths, targets, force=..., resume=..., comm=comm) as claim:
            claim.check_inputs(plan.inputs)       # collective: none of them is written
            ... make PATH.partial ...; claim.made(paths.partial)
            ... check the inputs ...; claim.begin()   # from here a stop leaves a resumable run

    On entry (rank 0 checks, every rank agrees; errors.JobError, exit 2, on every rank): every path
    usable, no two the same file, the lock on paths.lock (and on each target with `lock`) taken,
    every existing target checked by its content, then `policy(force, resume)` (default: the
    results file's `check_policy`). With `inputs=None` (a job whose inputs its plan names) the
    checks after the lock wait for `check_inputs`: an output that is an input is named as such,
    before its content is judged. On an expected failure (errors.JobError) before `begin()`, rank 0
    removes what this run made (`made`, and files the claim's in-place locks created) and every lock
    is let go. `resumed`: targets --resume continues (default PATH.partial).
    """

    def __init__(
        self,
        paths: Paths,
        targets,
        *,
        force: bool,
        resume: bool,
        comm=None,
        policy=None,
        resumed=None,
        inputs=(),
    ):
        self.paths, self.targets = paths, list(targets)
        self.force, self.resume, self.comm = force, resume, comm
        self.policy = policy or (lambda force, resume: check_policy(paths, force, resume))
        self.resumed = tuple(resumed if resumed is not None else (paths.partial,))
        self.deferred = inputs is None
        self.inputs = list(inputs or ())
        self.rank = sync.rank(comm)
        self.flag = next((t.name for t in self.targets if t.path == paths.out), "--out")
        self.locks = [OutputLock(paths.lock, name=self.flag)] + [
            OutputLock(t.path, in_place=True, name=t.name) for t in self.targets if t.lock
        ]
        self._made: list[str] = []
        self.begun = False

    def __enter__(self) -> "Claim":
        try:
            with errors.agreement(self.comm):
                if self.rank == 0:
                    _raise(self._check())
        except BaseException:
            self._release(failed=True)
            raise
        return self

    def _check(self) -> str | None:
        problem = check_path(self.paths.out, self.flag)
        for t in self.targets:
            problem = problem or (
                None if t.path == self.paths.out or t.folder else check_path(t.path, t.name)
            )
        problem = problem or check_distinct(self.targets)
        # the locks on files that exist first (a running job holding one is named as such), those
        # that the lock would create only once every check has passed
        self._later = [k for k in self.locks if k.in_place and not os.path.exists(k.path)]
        for lock in self.locks:
            if lock not in self._later:
                problem = problem or lock.acquire()
        if problem or self.deferred:
            return problem
        return self._rest(self.inputs)

    def _rest(self, inputs) -> str | None:
        problem = check_not_input(self.paths, inputs, self.targets, self.flag)
        problem = problem or check_existing(self.targets, self.force, self.resume, self.resumed)
        problem = problem or self.policy(self.force, self.resume)
        for lock in self._later:
            problem = problem or lock.acquire()
        return problem

    def check_inputs(self, inputs) -> None:
        """Collective: refuse (JobError on every rank) when a file this job writes is one of `inputs`
        (given on rank 0); with a claim made with `inputs=None`, then the content checks and the
        policy."""
        with errors.agreement(self.comm):
            if self.rank == 0:
                if self.deferred:
                    self.deferred = False
                    _raise(self._rest(list(inputs) + self.inputs))
                else:
                    _raise(check_not_input(self.paths, inputs, self.targets, self.flag))

    def made(self, path: str) -> None:
        """`path` (rank 0's view) was made or replaced by this run: removed if the start fails."""
        self._made.append(path)

    def begin(self) -> None:
        """The job's work has begun: what exists from here is kept (a stop leaves it to --resume)."""
        self.begun = True

    def remove_ours(self, *paths) -> None:
        """Rank 0: remove files of this job's own kind (or damaged ones) found by the claim: --force
        starting over."""
        if self.rank == 0:
            for p in paths:
                if os.path.isfile(p):
                    os.remove(p)

    def __exit__(self, et, exc, tb) -> None:
        self._release(failed=et is not None and issubclass(et, errors.JobError) and not self.begun)

    def _release(self, failed: bool) -> None:
        if self.rank == 0 and failed:
            for p in self._made:
                if os.path.isfile(p):
                    os.remove(p)
        for lock in reversed(self.locks):
            lock.release(remove=(failed and lock.created) if lock.in_place else None)


def _raise(problem) -> None:
    if problem:
        raise errors.JobError(problem)
