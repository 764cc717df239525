"""Backends: where the arrays live and who updates them.

    numpy   NumPy arrays, optimizers.py updates
    cupy    CuPy arrays on this rank's GPU, the same optimizers.py code (xp = cupy)
    torch   torch tensors (CPU, or this rank's GPU when CUDA is usable), torch.optim updates
    jax     jax.numpy arrays (CPU, or this rank's GPU with JAX's CUDA build), optimizers.py's update
            and the gradient traced into one step compiled by jax.jit (jax_backend.py)

All four compute the gradient with the same formula (problem.grad with xp = numpy/cupy/torch/
jax.numpy): two matrix-vector products, no autograd tape. `sync()` waits for the device (a no-op
for NumPy and torch on the CPU; JAX dispatches asynchronously, on the CPU too when a rank has more
than one thread) and is called before every clock read. torch, cupy and jax are imported lazily,
only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import problem as obj
from .optimizers import OPTIMIZERS, XpOptimizer

BACKENDS = ("numpy", "torch", "cupy", "jax")


class BackendUnavailable(RuntimeError):
    """The backend cannot run here (package missing, or no GPU for cupy)."""


def cupy_usable() -> bool:
    """True when CuPy imports and sees a GPU (ImportError or no device: False)."""
    try:
        import cupy

        return bool(cupy.cuda.is_available())
    except Exception:  # ImportError, or a CUDA runtime error on a machine without a driver
        return False


@dataclass
class DeviceData:
    """A problem's arrays on one backend's device."""

    kind: str
    l2: float
    X: object
    y: object
    X_test: object
    y_test: object


class Backend:
    """numpy or cupy: `xp` is the array module."""

    def __init__(self, name: str, device: int = 0):
        self.name, self.device_index = name, device
        if name == "numpy":
            self.xp = np
        elif name == "cupy":
            if not cupy_usable():
                raise BackendUnavailable("cupy: no usable GPU (or CuPy not installed)")
            import cupy

            cupy.cuda.Device(device).use()
            self.xp = cupy
        else:
            raise ValueError(f"not an array-module backend: {name}")

    @property
    def device(self) -> str:
        return "cpu" if self.name == "numpy" else f"cuda:{self.device_index}"

    def put(self, a):
        return self.xp.asarray(a)

    def get(self, a) -> np.ndarray:
        return a.get() if self.name == "cupy" else np.asarray(a)

    def sync(self) -> None:
        if self.name == "cupy":
            self.xp.cuda.get_current_stream().synchronize()

    def data(self, p) -> DeviceData:
        return DeviceData(p.kind, p.l2, self.put(p.X), self.put(p.y), self.put(p.X_test), self.put(p.y_test))

    def runner(self, dd: DeviceData, optimizer: str, hp, w0: np.ndarray) -> "XpRunner":
        return XpRunner(self, dd, optimizer, hp, w0)

    def scalar(self, a) -> float:
        return float(a)


class XpRunner:
    """One optimisation run on an array-module backend."""

    def __init__(self, be: Backend, dd: DeviceData, optimizer: str, hp, w0):
        self.be, self.dd = be, dd
        self.w = be.put(np.array(w0, dtype=np.float64, copy=True))
        self.opt = XpOptimizer(optimizer, hp, self.w, be.xp)

    def step(self, idx=None) -> None:
        dd, xp = self.dd, self.be.xp
        if idx is None:
            g = obj.grad(dd.kind, dd.X, dd.y, self.w, dd.l2, xp)
        else:
            i = xp.asarray(idx)
            g = obj.grad(dd.kind, dd.X[i], dd.y[i], self.w, dd.l2, xp)
        self.w = self.opt.step(self.w, g)

    def params(self):
        return self.w

    def state_bytes(self) -> int:
        return int(sum(a.nbytes for a in self.opt.state()))

    def param_bytes(self) -> int:
        return int(self.w.nbytes)


class TorchBackend:
    """torch tensors in float64; the update is torch.optim's (SGD, SGD(nesterov), Adam, AdamW)."""

    name = "torch"

    def __init__(self, device: int = 0, use_cuda: bool | None = None):
        try:
            import torch
        except ImportError as exc:
            raise BackendUnavailable(f"torch: not installed ({exc})") from None
        self.torch = self.xp = torch
        cuda = torch.cuda.is_available() if use_cuda is None else use_cuda
        self.device_index = device
        self.device = f"cuda:{device}" if cuda else "cpu"

    def put(self, a):
        return self.torch.as_tensor(np.asarray(a, dtype=np.float64), device=self.device)

    def get(self, a) -> np.ndarray:
        return a.detach().cpu().numpy()

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize(self.device)

    def data(self, p) -> DeviceData:
        return DeviceData(p.kind, p.l2, self.put(p.X), self.put(p.y), self.put(p.X_test), self.put(p.y_test))

    def runner(self, dd: DeviceData, optimizer: str, hp, w0) -> "TorchRunner":
        return TorchRunner(self, dd, optimizer, hp, w0)

    def scalar(self, a) -> float:
        return float(a)


def torch_optimizer(torch, name: str, hp, params):
    """The torch.optim optimizer matching optimizers.py's update of the same name."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=hp.lr)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum, nesterov=name == "nesterov")
    if name == "adam":
        return torch.optim.Adam(params, lr=hp.lr, betas=hp.betas, eps=hp.eps, weight_decay=0.0)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=hp.lr, betas=hp.betas, eps=hp.eps, weight_decay=hp.weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")


class TorchRunner:
    def __init__(self, be: TorchBackend, dd: DeviceData, optimizer: str, hp, w0):
        torch = be.torch
        self.be, self.dd, self.torch = be, dd, torch
        self.p = torch.nn.Parameter(be.put(np.array(w0, dtype=np.float64, copy=True)))
        self.opt = torch_optimizer(torch, optimizer, hp, [self.p])

    def step(self, idx=None) -> None:
        torch, dd = self.torch, self.dd
        with torch.no_grad():
            if idx is None:
                X, y = dd.X, dd.y
            else:
                i = torch.as_tensor(idx, device=self.be.device)
                X, y = dd.X[i], dd.y[i]
            self.p.grad = obj.grad(dd.kind, X, y, self.p.data, dd.l2, torch)
        self.opt.step()

    def params(self):
        return self.p.data

    def state_bytes(self) -> int:
        n = self.p.numel()
        return int(
            sum(
                t.numel() * t.element_size()
                for st in self.opt.state.values()
                for t in st.values()
                if hasattr(t, "numel") and t.numel() == n
            )
        )

    def param_bytes(self) -> int:
        return int(self.p.numel() * self.p.element_size())


def make(name: str, device: int = 0, plan=None):
    """A backend by name: numpy, torch, cupy or jax. device: the GPU index of torch and cupy; plan:
    the rank's ThreadPlan, which JAX needs before its import (its GPU is the local rank's modulo the
    GPUs it sees). Raises BackendUnavailable / ValueError."""
    if name == "torch":
        return TorchBackend(device)
    if name == "jax":
        from .jax_backend import JaxBackend

        return JaxBackend(plan)
    if name in ("numpy", "cupy"):
        return Backend(name, device)
    raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
