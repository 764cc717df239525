"""SGD, heavy ball, Nesterov, Adam and AdamW written once against an array module (NumPy or CuPy).

Each update is the one torch.optim documents, so the two backends follow the same trajectory:

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
"""

from __future__ import annotations

import math

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")
#: (parameters + optimizer state) / parameters
STATE_MULTIPLE = {"sgd": 1, "momentum": 2, "nesterov": 2, "adam": 3, "adamw": 3}


class XpOptimizer:
    """In-place updates of w (d,) from a gradient g (d,); `state()` lists the state vectors."""

    def __init__(self, name: str, hp, w, xp):
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
        self.name, self.hp, self.xp, self.t = name, hp, xp, 0
        self.buf = xp.zeros_like(w) if name in ("momentum", "nesterov") else None
        if name in ("adam", "adamw"):
            self.m, self.v = xp.zeros_like(w), xp.zeros_like(w)
        else:
            self.m = self.v = None

    def state(self) -> list:
        return [a for a in (self.buf, self.m, self.v) if a is not None]

    def step(self, w, g) -> None:
        hp, name = self.hp, self.name
        self.t += 1
        if name == "sgd":
            w -= hp.lr * g
        elif name in ("momentum", "nesterov"):
            self.buf *= hp.momentum
            self.buf += g
            if name == "momentum":
                w -= hp.lr * self.buf
            else:
                w -= hp.lr * (g + hp.momentum * self.buf)
        else:
            b1, b2 = hp.betas
            if name == "adamw" and hp.weight_decay:
                w *= 1.0 - hp.lr * hp.weight_decay
            self.m += (1.0 - b1) * (g - self.m)
            self.v *= b2
            self.v += (1.0 - b2) * (g * g)
            step = hp.lr / (1.0 - b1**self.t)
            denom = self.xp.sqrt(self.v) / math.sqrt(1.0 - b2**self.t) + hp.eps
            w -= step * (self.m / denom)
