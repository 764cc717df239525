"""SGD, heavy ball, Nesterov, Adam and AdamW written once, as pure functions on an array module.

`update(name, hp, t, w, g, state, xp)` returns the new (w, state) and changes nothing in place, so
the same lines run on NumPy and CuPy arrays (XpOptimizer holds the state between calls) and, traced
by `jax.jit`, on JAX arrays (jax_backend.py), where t may be a traced step counter.
Each update is the one torch.optim documents, so every backend follows the same trajectory:

- sgd:       w <- w - lr g
- momentum:  b <- beta b + g;  w <- w - lr b              (heavy ball, Polyak 1964, in torch's form:
             w_{k+1} = w_k - lr g_k + beta (w_k - w_{k-1}))
- nesterov:  b <- beta b + g;  w <- w - lr (g + beta b)   (Sutskever et al. 2013's form of Nesterov's
             method: the parameters are the look-ahead points y_k)
- adam:      m <- m + (1 - beta1)(g - m); v <- beta2 v + (1 - beta2) g^2;
             w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)   (Kingma & Ba 2015)
- adamw:     w <- w (1 - lr wd), then the Adam step           (Loshchilov & Hutter 2019, decoupled)

State per optimizer (vectors of the parameters' size): sgd 0, momentum 1, nesterov 1, adam 2,
adamw 2 — i.e. parameters + state = 1x, 2x, 2x, 3x, 3x the parameters (`STATE_MULTIPLE`).
The operations are those of the earlier in-place form in the same order, so NumPy's iterates are
bit-for-bit what they were.
"""

from __future__ import annotations

import math

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")
#: (parameters + optimizer state) / parameters
STATE_MULTIPLE = {"sgd": 1, "momentum": 2, "nesterov": 2, "adam": 3, "adamw": 3}


def init(name: str, w, xp) -> tuple:
    """The optimizer state for parameters shaped like w: () for sgd, (b,) for momentum and
    nesterov, (m, v) for adam and adamw, all zeros. Raises ValueError for an unknown name."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    return tuple(xp.zeros_like(w) for _ in range(STATE_MULTIPLE[name] - 1))


def update(name: str, hp, t, w, g, state: tuple, xp) -> tuple:
    """One step of `name` (module docstring): (w, state) after the gradient g (d,) at w (d,).

    hp: theory.Hyper (lr, momentum, betas, eps, weight_decay); t: the step's number, 1 for the first
    (Adam's bias corrections); state as from `init`. Pure: w, g and state are not modified."""
    if name == "sgd":
        return w - hp.lr * g, state
    if name in ("momentum", "nesterov"):
        (buf,) = state
        buf = buf * hp.momentum
        buf = buf + g
        if name == "momentum":
            return w - hp.lr * buf, (buf,)
        return w - hp.lr * (g + hp.momentum * buf), (buf,)
    if name not in ("adam", "adamw"):
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    m, v = state
    b1, b2 = hp.betas
    if name == "adamw" and hp.weight_decay:
        w = w * (1.0 - hp.lr * hp.weight_decay)
    m = m + (1.0 - b1) * (g - m)
    v = v * b2
    v = v + (1.0 - b2) * (g * g)
    step = hp.lr / (1.0 - b1**t)
    bc2 = 1.0 - b2**t  # a float on the host, a traced scalar under jax.jit
    denom = xp.sqrt(v) / (math.sqrt(bc2) if isinstance(bc2, float) else xp.sqrt(bc2)) + hp.eps
    return w - step * (m / denom), (m, v)


class XpOptimizer:
    """`update` with its state and step counter kept between calls (NumPy, CuPy)."""

    def __init__(self, name: str, hp, w, xp):
        self.name, self.hp, self.xp, self.t = name, hp, xp, 0
        self.vectors = init(name, w, xp)

    def state(self) -> list:
        return list(self.vectors)

    def step(self, w, g):
        """The parameters after one step from w with gradient g (a new array)."""
        self.t += 1
        w, self.vectors = update(self.name, self.hp, self.t, w, g, self.vectors, self.xp)
        return w
