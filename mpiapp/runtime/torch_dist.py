"""torch.distributed started from MPI: rendezvous over mpi4py, backend and device per rank.

Why not torchrun or env:// with a fixed port: mpiapp is started by mpiexec / srun, which already
gives every process its rank and size. Rank 0 chooses the one address every host reaches it at
(runtime.netif: loopback when all ranks share its host; never what a hostname resolves to, which is
127.0.1.1 on Debian), opens torch's TCP store on a free port of that address only (a socket bound
here and handed over as `master_listen_fd`: torch's own would listen on every interface, IPv4 and
IPv6), broadcasts host and port over MPI, and every rank joins that store with its MPI rank and size.
Each rank's gloo binds the interface its routing table uses toward that address (GLOO_SOCKET_IFNAME,
unless already set). MPIAPP_DDP_ADDR overrides the address. Torch is imported here only when a job
calls `init`.

Backend: nccl when every rank sees a GPU (device = node-local rank modulo the GPUs it sees; one
visible GPU per rank, as `srun --gpus-per-task=1` arranges, also works), gloo otherwise. The
process group's timeout (`ddp.timeout_s`) ends a collective that stalls.
"""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass

import numpy as np

from . import comm as _comm
from . import netif

#: environment variable that overrides the address the other ranks use to reach rank 0's store
ADDR_ENV = "MPIAPP_DDP_ADDR"
#: the interface gloo binds (read by torch when a gloo process group is made)
GLOO_IF_ENV = "GLOO_SOCKET_IFNAME"


@dataclass(frozen=True)
class Group:
    """A joined process group: backend (gloo | nccl), device (torch.device string), host and port of
    the store, this rank, the world size, and the node-local rank."""

    backend: str
    device: str
    host: str
    port: int
    rank: int
    size: int
    local_rank: int


def choose(
    requested_backend: str, requested_device: str, gpus_per_rank: list[int], mine: int, local_rank: int
) -> tuple:
    """(backend, device) for this rank — pure.

    gpus_per_rank: GPUs each rank sees (every rank's count, in rank order); mine: the GPUs this rank
    sees; local_rank: this rank's index on its node. Raises ValueError for nccl / cuda asked without a GPU on every rank.
    """
    all_gpu = bool(gpus_per_rank) and min(gpus_per_rank) > 0
    if requested_device == "cuda" and not all_gpu:
        raise ValueError(f"ddp.device=cuda but not every rank sees a GPU (GPUs per rank: {gpus_per_rank})")
    if requested_backend == "nccl" and not all_gpu:
        raise ValueError(f"ddp.backend=nccl needs a GPU on every rank (GPUs per rank: {gpus_per_rank})")
    use_gpu = all_gpu and requested_device != "cpu"
    backend = requested_backend if requested_backend != "auto" else ("nccl" if use_gpu else "gloo")
    if backend == "nccl" and not use_gpu:
        raise ValueError("ddp.backend=nccl with ddp.device=cpu: nccl works on GPU tensors only")
    if not use_gpu:
        return backend, "cpu"
    return backend, f"cuda:{local_rank % max(1, mine)}"


def _gloo_interface(host: str) -> str | None:
    """This rank's interface toward `host` for gloo (GLOO_SOCKET_IFNAME), unless one is set already."""
    if os.environ.get(GLOO_IF_ENV):
        return os.environ[GLOO_IF_ENV]
    try:
        name = netif.route_to(host)[0]
    except OSError:
        return None
    if name:
        os.environ[GLOO_IF_ENV] = name
    return name


def init(requested_backend: str, requested_device: str, timeout_s: float, comm=None) -> Group:
    """Collective: join every rank of `comm` to one torch process group; returns this rank's Group.

    Raises ValueError (the same on every rank) when the requested backend/device cannot be had.
    """
    import torch
    import torch.distributed as dist

    comm = _comm.world(comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    node = _comm.node_comm(comm)
    local_rank = node.Get_rank()
    node.Free()
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpus_per_rank = comm.allgather(int(gpus))
    backend, device = choose(requested_backend, requested_device, gpus_per_rank, int(gpus), local_rank)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    host = netif.rendezvous_address(comm, override=os.environ.get(ADDR_ENV))
    if backend == "gloo":
        _gloo_interface(host)
    timeout = datetime.timedelta(seconds=float(timeout_s))
    port, err = 0, None
    if rank == 0:
        try:
            sock = netif.listen(host)
            port = sock.getsockname()[1]
            store = dist.TCPStore(
                host,
                port,
                size,
                is_master=True,
                timeout=timeout,
                wait_for_workers=False,
                master_listen_fd=sock.detach(),
            )
        except Exception as exc:  # noqa: BLE001  (reported on every rank below)
            err = f"cannot open the rendezvous store on {host}: {exc}"
    port, err = comm.bcast((port, err), root=0)
    if err:
        raise RuntimeError(err)
    if rank != 0:
        store = dist.TCPStore(host, port, size, is_master=False, timeout=timeout)
    hook = sys.excepthook
    dist.init_process_group(backend, store=store, rank=rank, world_size=size, timeout=timeout)
    # torch wraps sys.excepthook to prefix the traceback, printing it only after the wrapped hook
    # returns — ours aborts the job and never returns, so the traceback would be lost: keep ours.
    sys.excepthook = hook
    return Group(
        backend=backend, device=device, host=host, port=port, rank=rank, size=size, local_rank=local_rank
    )


def close() -> None:
    """Leave the process group (every rank; safe when none was joined)."""
    try:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # noqa: BLE001  (shutting down: nothing left to report to)
        pass


def sums(values, comm=None) -> np.ndarray:
    """Collective (MPI, not torch): element-wise sum over the ranks of a float64 vector.

    Used at step boundaries for the stop agreement and exact metric sums: it never waits on the
    torch process group, so a stalled torch collective cannot hide a stop request.
    """
    a = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty_like(a)
    _comm.world(comm).Allreduce(a, out, op=_comm.mpi().SUM)
    return out


def sum_inplace(array, comm=None) -> None:
    """Collective (MPI): replace a contiguous float array by its element-wise sum over the ranks.

    The gradient all-reduce of CPU ranks (ddp.cpu_allreduce=mpi): over the MPI library mpiexec already
    set up — shared memory within a node, the cluster's fabric between nodes — instead of gloo's TCP.
    """
    _comm.world(comm).Allreduce(_comm.mpi().IN_PLACE, array, op=_comm.mpi().SUM)
