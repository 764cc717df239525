"""Point-to-point protocol of a search: rank 0 hands trials to groups of ranks and hears back at once.

Why not the work loop's collectives: trials end at uneven times and a finished group must get its
next trial without waiting for any other rank (no batch barrier). So the study owner (rank 0) polls
for messages (`Mailbox.poll`) and answers each one as it comes; a group leader sends a report or a
result and waits for the answer; the ranks of a group talk only inside their own communicator.

Every wait here sleeps between probes (50 µs growing to 1 ms): an idle rank must not spin a core
that a computing rank needs (a blocking MPI receive busy-polls in Open MPI), and the answer to a
result must be seen soon after it comes — the sleep in progress when it arrives is latency added to
every trial. Measured with 25 ms trials at -n 2: a 0.2 → 5 ms schedule cost the remote group 12.6 ms
per trial (64 % busy); a wait of this schedule costs ~1,000 wake-ups a second, ~1 % of a core.
Messages are small Python objects (trial number, parameters, a value, a traceback text).

Groups: the world is split (`comm.Split`) into consecutive groups of `k` ranks; group g holds world
ranks g*k .. g*k+k-1 and its leader is world rank g*k. Rank 0 leads group 0 and owns the study; it
evaluates its own trials in a second thread, so when group 0 has more than one rank that thread calls
MPI on the group communicator while the main thread polls the world one: MPI_THREAD_MULTIPLE.
"""

from __future__ import annotations

import time

from . import comm as _comm
from .backoff import Backoff

TAG_WORK, TAG_REPORT, TAG_DECISION, TAG_RESULT, TAG_GROUP = 71, 72, 73, 74, 75
PROBE_MIN_S, PROBE_MAX_S = 0.00005, 0.001  # a waiting rank's sleeps between probes


def _sleeping_probe(comm, source, tag):
    MPI = _comm.mpi()
    status = MPI.Status()
    pause = Backoff(PROBE_MIN_S, PROBE_MAX_S)
    while not comm.iprobe(source=source, tag=tag, status=status):
        pause.wait()
    return status


class Groups:
    """The world split into groups of `k` consecutive ranks. Collective to create.

    Raises ValueError when k does not divide the number of ranks. Attributes: size, rank (world),
    k, n (groups), index (this rank's group), leader (this rank leads its group), channel (a private
    duplicate of the world for the dispatch messages), group (this group's communicator).
    """

    def __init__(self, k: int, comm=None):
        w = _comm.world(comm)
        self.size, self.rank = w.Get_size(), w.Get_rank()
        if k < 1 or self.size % k:
            raise ValueError(f"hpo.ranks_per_trial={k} must divide the number of ranks ({self.size})")
        self.k, self.n, self.index = k, self.size // k, self.rank // k
        self.channel = w.Dup()
        self.group = w.Split(color=self.index, key=self.rank)
        self.group_rank = self.group.Get_rank()
        self.leader = self.group_rank == 0

    def leader_of(self, g: int) -> int:
        """World rank of group g's leader."""
        return g * self.k

    def free(self) -> None:
        self.group.Free()
        self.channel.Free()


class Mailbox:
    """Rank 0's side: non-blocking look for any leader's message; sends that never wait for a reply."""

    def __init__(self, groups: Groups):
        self.g = groups
        self._pending: list = []

    def poll(self):
        """(source world rank, tag, message) of one waiting message, or None."""
        MPI = _comm.mpi()
        status = MPI.Status()
        if not self.g.channel.iprobe(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=status):
            return None
        src, tag = status.Get_source(), status.Get_tag()
        return src, tag, self.g.channel.recv(source=src, tag=tag)

    def post(self, obj, dest: int, tag: int) -> None:
        """Send without waiting for the receiver (the request is completed later)."""
        self._pending.append(self.g.channel.isend(obj, dest=dest, tag=tag))
        self._pending = [r for r in self._pending if not r.Test()]

    def close(self) -> None:
        """Wait until every message sent has been delivered."""
        while self._pending:
            self._pending = [r for r in self._pending if not r.Test()]
            if self._pending:
                time.sleep(0.001)


def to_owner(groups: Groups, obj, tag: int) -> None:
    """A leader's message to rank 0 (reports, results)."""
    groups.channel.send(obj, dest=0, tag=tag)


def from_owner(groups: Groups, tag: int):
    """A leader's wait for rank 0's next message of `tag` (work, a decision); sleeps while waiting."""
    _sleeping_probe(groups.channel, 0, tag)
    return groups.channel.recv(source=0, tag=tag)


def group_bcast(groups: Groups, obj=None):
    """The group leader's `obj` on every rank of the group (point-to-point, sleeping waits)."""
    grp = groups.group
    if groups.k == 1:
        return obj
    if groups.leader:
        for r in range(1, groups.k):
            grp.send(obj, dest=r, tag=TAG_GROUP)
        return obj
    _sleeping_probe(grp, 0, TAG_GROUP)
    return grp.recv(source=0, tag=TAG_GROUP)


TAG_TRIAL = TAG_GROUP + 1  # the exchanges inside one trial (one message each way per exchange)


def tell_leader(groups: Groups, msg) -> None:
    """A group member's message to its leader."""
    groups.group.send(msg, dest=0, tag=TAG_TRIAL)


def hear_leader(groups: Groups):
    """A group member's wait for its leader's next message (sleeping)."""
    _sleeping_probe(groups.group, 0, TAG_TRIAL)
    return groups.group.recv(source=0, tag=TAG_TRIAL)


def tell_member(groups: Groups, r: int, msg) -> None:
    """The leader's message to group rank r."""
    groups.group.send(msg, dest=r, tag=TAG_TRIAL)


def hear_member(groups: Groups, r: int):
    """The leader's wait for group rank r's next message (sleeping)."""
    _sleeping_probe(groups.group, r, TAG_TRIAL)
    return groups.group.recv(source=r, tag=TAG_TRIAL)


def self_comm():
    """A communicator of this process alone (rank 0 writing a file by itself)."""
    return _comm.mpi().COMM_SELF
