"""The output path: its policy (refuse / --force / --resume), its lock, and the inputs it must not be.

Why a lock: two jobs on one path would both write PATH.partial and the second would rename its file
over the first's, leaving a file that says complete but is not. Rank 0 holds an exclusive `flock` on
PATH.lock for the whole run; a second job finds it taken and exits 2 at once, naming the first. The
lock file is also the first write into the output folder, so an unwritable path is found before any
compute. Nothing a user gave the program is removed: --force replaces PATH only by the final rename
of a complete file, and an output that is one of the job's inputs is refused.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from dataclasses import dataclass


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


def check_path(out: str) -> str | None:
    """Why `out` cannot be a results file path (None when it can). Pure; touches nothing."""
    if not out or not out.strip():
        return "the output path is empty: give --out FILE"
    if os.path.isdir(out):
        return f"--out {out}: is a folder; give a file path inside it, e.g. {os.path.join(out, 'results.h5')}"
    parent = os.path.dirname(os.path.abspath(out))
    probe = parent
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        return f"--out {out}: {probe} is a file, not a folder"
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
        return f"{paths.out} exists: refusing to overwrite it (use --force to replace it, or --out another file)"
    if os.path.exists(paths.partial):
        return (f"{paths.partial} exists from an interrupted run: use --resume to continue it or --force "
                "to start over")  # fmt: skip
    return None


def check_not_input(paths: Paths, inputs) -> str | None:
    """The output (or its .partial/.tmp/.lock) must not be a file the job reads."""
    def real(p):
        return os.path.realpath(os.path.abspath(p))

    ours = {real(p): p for p in paths.ours()}
    for src in inputs:
        r = real(src)
        if r in ours:
            return f"--out {paths.out}: the output is an input of this job ({src}); choose another --out"
    return None


class OutputLock:
    """An exclusive lock on PATH.lock, held by one process (rank 0) for the whole run."""

    def __init__(self, path: str):
        self.path = path
        self.fd = None

    def acquire(self) -> str | None:
        """Take the lock; None on success, else why not (another job holds it, or no write access)."""
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            return f"cannot create the output folder {folder}: {exc.strerror}"
        for _ in range(10):  # the file may be unlinked by its holder between open and flock: retry
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                return f"cannot write to the output folder {folder}: {exc.strerror} ({self.path})"
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read(fd)
                os.close(fd)
                return (f"{self.path} is held by another mpiapp job ({holder or 'owner unknown'}): wait for it "
                        "to end, or write to another --out")  # fmt: skip
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                         f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())  # fmt: skip
            self.fd = fd
            return None
        return f"{self.path}: could not take the lock (it keeps changing)"

    def release(self) -> None:
        """Remove the lock file, then let go of it (a waiting job's retry sees the new file)."""
        if self.fd is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            os.close(self.fd)
            self.fd = None


def _read(fd) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 200).decode(errors="replace").strip()
    except OSError:
        return ""
