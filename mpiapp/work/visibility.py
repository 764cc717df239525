"""Paths every host of a job must see — the output folder and the inputs — checked before any compute.

Why: on a cluster only some folders are shared (a parallel or network file system); /tmp, local
scratch and /dev/shm are one per node. An output in a folder that only rank 0's host sees does not
fail: every rank waits in the collective HDF5 create until it is killed (measured with a node-local
/tmp on two hosts). So, before the first collective write, rank 0 writes a probe file with a random
name into each folder the ranks will share, one rank per other host looks for it (waiting up to
PROBE_WAIT_S for a network file system's attribute cache), and likewise for every input rank 0 sees
(same kind and, for a file, same size). A path some host does not see ends the job on every rank with
exit 2, one line naming the path and those hosts. All ranks on one host: nothing to check.
"""

from __future__ import annotations

import os
import secrets
import time

from ..runtime import comm as _comm
from ..runtime import errors, sync
from ..runtime.backoff import Backoff

#: how long a host keeps looking for a path it does not see yet (network file systems cache lookups)
PROBE_WAIT_S = 3.0
PROBE_PREFIX = ".mpiapp-probe-"


def _fingerprint(path: str):
    """What another host must see at `path`: "dir", a file's size, or None (absent)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return "dir" if os.path.isdir(path) else st.st_size


def _unseen(probes: dict, inputs: dict, token: str, wait_s: float) -> list[str]:
    """The probe folders and inputs this host does not see as rank 0 does, after up to `wait_s` seconds."""
    left = {**{f: ("probe", p) for f, p in probes.items()}, **{p: ("input", fp) for p, fp in inputs.items()}}
    end, pause = time.monotonic() + wait_s, Backoff(0.05, 0.5)
    while True:
        for path, (kind, want) in list(left.items()):
            if kind == "probe":
                try:
                    with open(want) as f:
                        ok = f.read() == token
                except OSError:
                    ok = False
            else:
                ok = _fingerprint(path) == want
            if ok:
                del left[path]
        if not left or time.monotonic() >= end:
            return sorted(left)
        pause.wait()


def check(folders, inputs=(), comm=None, wait_s: float = PROBE_WAIT_S) -> str | None:
    """Collective: why some host does not see one of `folders` or `inputs` as rank 0 does, else None.

    folders: folders every rank writes or reads in (the output's); rank 0 writes a probe file into each
    (a folder it cannot write in is left to the output checks). inputs: files or folders the job reads;
    those rank 0 itself does not see are left to the job's own input checks. Returns the same message
    on every rank (None on every rank when all is seen).
    """
    comm = _comm.world(comm)
    hosts = sync.allgather(_comm.hostname(), comm=comm)
    if len(set(hosts)) == 1:
        return None
    rank = sync.rank(comm)
    plan = None
    if rank == 0:
        token = secrets.token_hex(8)
        probes = {}
        for folder in dict.fromkeys(os.path.abspath(f) for f in folders):
            p = os.path.join(folder, PROBE_PREFIX + token)
            try:
                with open(p, "w") as f:
                    f.write(token)
                probes[folder] = p
            except OSError:
                pass
        seen = {os.path.abspath(p): _fingerprint(p) for p in inputs}
        plan = (token, probes, {p: fp for p, fp in seen.items() if fp is not None})
    token, probes, inputs_seen = sync.bcast(plan, comm=comm)
    looks = hosts.index(hosts[rank]) == rank and hosts[rank] != hosts[0]  # one rank per other host
    missing = _unseen(probes, inputs_seen, token, wait_s) if looks else []
    found = sync.gather((hosts[rank], missing), comm=comm)
    message = None
    if rank == 0:
        for p in probes.values():
            try:
                os.remove(p)
            except OSError:
                pass
        blind: dict[str, list[str]] = {}
        for host, paths in found:
            for p in paths:
                blind.setdefault(p, []).append(host)
        parts = []
        for path, who in blind.items():
            what = "the output folder" if path in probes else "the input"
            where = f"host{'s' * (len(who) > 1)} {', '.join(sorted(who))}"
            parts.append(f"{what} {path} is not visible on {where} (rank 0 on {hosts[0]} sees it)")
        if parts:
            message = (
                "; ".join(parts) + ": every host must see it — use a file system all hosts share, "
                "not a node-local folder such as /tmp or local scratch"
            )
    return sync.bcast(message, comm=comm)


def require(folders, inputs=(), comm=None) -> None:
    """Collective: `check`, raising errors.JobError (exit 2) on every rank when a host does not see a path."""
    message = check(folders, inputs, comm=comm)
    if message:
        raise errors.JobError(message)
