"""The ddp rendezvous alone (tests): join a torch process group from MPI, all-reduce, and report the
TCP sockets this rank started listening on while joining (from the process's own socket table).

    mpiexec -n 2 python tests/progs/ddp_sockets.py

Every rank prints one line `SOCKETS {json}`: rank, host (the rendezvous address), port, gloo_if (its
GLOO_SOCKET_IFNAME), sum (the all-reduce of rank + 1 over the ranks), listen (["ip:port", ...] new
listeners, compared with the socket table before joining).
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's mpiapp
from mpiapp import config  # noqa: E402
from mpiapp.runtime import start, torch_dist  # noqa: E402


def listening() -> set:
    import psutil

    return {
        f"{c.laddr.ip}:{c.laddr.port}"
        for c in psutil.Process().net_connections("tcp")
        if c.status == "LISTEN"
    }


def main() -> int:
    import os

    rt = start(config.load())
    import torch
    import torch.distributed as dist

    before = listening()
    g = torch_dist.init("auto", "cpu", 60, comm=rt.comm)
    t = torch.tensor([float(rt.rank + 1)])
    dist.all_reduce(t)
    new = sorted(listening() - before)
    print(
        "SOCKETS "
        + json.dumps(
            {
                "rank": rt.rank,
                "host": g.host,
                "port": g.port,
                "sum": float(t.item()),
                "gloo_if": os.environ.get("GLOO_SOCKET_IFNAME"),
                "listen": new,
            }
        ),
        flush=True,
    )
    rt.comm.Barrier()
    torch_dist.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
