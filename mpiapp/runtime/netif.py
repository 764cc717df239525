"""Which address the hosts of a job reach rank 0 at, and each rank's own interface toward it.

Why not the hostname: Debian and Ubuntu write `127.0.1.1 <hostname>` into /etc/hosts, so a rank that
resolves its own name gets a loopback address no other host can reach, while the other hosts resolve
the same name to the real one: ranks disagree, and a library that advertises the resolved address
(gloo) is told to connect to 127.0.1.1 (measured: "Gloo connectFullMesh failed ... remote=[127.0.1.1]").
Instead rank 0 lists its own up, non-loopback IPv4 addresses, listens briefly on each, and one rank
per other host tries to connect; rank 0 takes the first address every host reached and broadcasts it.
All ranks on one host: loopback. Each rank then asks the kernel's routing table which of its own
interfaces leads there (`route_to`), which is what gloo must bind (GLOO_SOCKET_IFNAME).

A listening socket made here is bound to one address (`listen`), never to every interface.
"""

from __future__ import annotations

import socket

from . import comm as _comm

LOOPBACK = "127.0.0.1"
#: seconds a host tries to connect to one of rank 0's addresses before counting it unreachable
PROBE_TIMEOUT_S = 2.0


def _is_loopback(addr: str) -> bool:
    return addr.startswith("127.")


def local_ipv4() -> list[tuple[str, str]]:
    """[(interface, IPv4 address)] of this host's up interfaces, loopback left out, in interface order."""
    import psutil

    stats = psutil.net_if_stats()
    out = []
    for name, addrs in psutil.net_if_addrs().items():
        if name in stats and not stats[name].isup:
            continue
        out += [
            (name, a.address) for a in addrs if a.family == socket.AF_INET and not _is_loopback(a.address)
        ]
    return out


def interface_of(addr: str) -> str | None:
    """The name of this host's interface that holds `addr` (the loopback one for 127.x); None if none."""
    import psutil

    for name, addrs in psutil.net_if_addrs().items():
        for a in addrs:
            if a.family != socket.AF_INET:
                continue
            if a.address == addr or (_is_loopback(addr) and _is_loopback(a.address)):
                return name
    return None


def route_to(addr: str) -> tuple[str | None, str]:
    """(interface, local address) this host sends from toward `addr`: the kernel's route lookup (a UDP
    socket's connect sends nothing). Raises OSError when there is no route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((addr, 9))
        local = s.getsockname()[0]
    return interface_of(local), local


def listen(addr: str, backlog: int = 512) -> socket.socket:
    """A TCP socket listening on `addr` (one address, a free port the kernel picks)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, 0))
        s.listen(backlog)
    except OSError:
        s.close()
        raise
    return s


def _candidates() -> list[str]:
    """Rank 0's addresses in the order to try: the one its hostname resolves to first (when it is one of
    its own and not loopback), then the others."""
    mine = [a for _, a in local_ipv4()]
    try:
        named = socket.gethostbyname(_comm.hostname())
    except OSError:
        named = None
    first = [named] if named in mine else []
    return first + [a for a in mine if a not in first]


def _reached(targets: list[tuple[str, int]]) -> list[bool]:
    """Which of rank 0's (address, port) listeners this host can connect to."""
    out = []
    for addr, port in targets:
        try:
            with socket.create_connection((addr, port), timeout=PROBE_TIMEOUT_S):
                out.append(True)
        except OSError:
            out.append(False)
    return out


def rendezvous_address(comm=None, override: str | None = None) -> str:
    """Collective: the one address every rank of `comm` uses to reach rank 0 (the same on every rank).

    override: an address to use as given (e.g. MPIAPP_DDP_ADDR; rank 0's counts, as a launcher may not
    pass the variable to every host). All ranks on one host: 127.0.0.1. Raises RuntimeError (on every
    rank) when no address of rank 0 is reachable from every host, naming the addresses tried and the
    hosts that reached none.
    """
    comm = _comm.world(comm)
    override = comm.bcast(override or None, root=0)
    if override:
        return override
    hosts = comm.allgather(_comm.hostname())
    if len(set(hosts)) == 1:
        return LOOPBACK
    rank = comm.Get_rank()
    listeners, targets = [], []
    if rank == 0:
        for a in _candidates():
            try:
                s = listen(a, backlog=len(set(hosts)) + 8)
            except OSError:
                continue
            listeners.append(s)
            targets.append((a, s.getsockname()[1]))
    targets = comm.bcast(targets, root=0)
    try:
        probe = hosts.index(hosts[rank]) == rank and hosts[rank] != hosts[0]  # first rank of another host
        seen = comm.gather(_reached(targets) if probe else None, root=0)
    finally:
        for s in listeners:
            s.close()
    choice, err = None, None
    if rank == 0:
        per_host = {hosts[r]: ok for r, ok in enumerate(seen) if ok is not None}
        for i, (a, _) in enumerate(targets):
            if all(ok[i] for ok in per_host.values()):
                choice = a
                break
        if choice is None:
            blind = sorted(h for h, ok in per_host.items() if not any(ok))
            tried = ", ".join(a for a, _ in targets) or "none up"
            err = (
                f"no address of rank 0's host {hosts[0]} ({tried}) is reachable from every host (none from "
                f"{', '.join(blind) or 'some hosts'}): set MPIAPP_DDP_ADDR to an address of rank 0 that every "
                "host reaches"
            )
    choice, err = comm.bcast((choice, err), root=0)
    if err:
        raise RuntimeError(err)
    return choice
