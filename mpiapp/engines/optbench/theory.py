"""Step sizes and rates from theory, for an L-smooth, mu-strongly convex f (kappa = L / mu).

- Gradient descent, step 1/L: f(x_k) - f* <= (1 - 1/kappa)^k (f(x_0) - f*)
  (Nesterov 2004, "Introductory Lectures on Convex Optimization", Thm 2.1.15; Bubeck 2015, Thm 3.10).
- Heavy ball (Polyak 1964, "Some methods of speeding up the convergence of iteration methods"):
  on quadratics the optimal constants are step 4 / (sqrt(L) + sqrt(mu))^2 and momentum
  ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2, giving an asymptotic rate (sqrt(kappa)-1)/(sqrt(kappa)+1)
  per iteration on ||x_k - x*||.
- Nesterov's accelerated gradient, constant-step scheme for strongly convex f: step 1/L,
  momentum (sqrt(kappa) - 1) / (sqrt(kappa) + 1), and
  f(x_k) - f* <= (1 - 1/sqrt(kappa))^k (f(x_0) - f* + mu/2 ||x_0 - x*||^2)
  (Nesterov 2004, Thm 2.2.3 with (2.2.19)). For a quadratic mu/2 ||x_0 - x*||^2 <= f(x_0) - f*, so
  the relative suboptimality eps is reached within k = ceil(sqrt(kappa) * ln(2 / eps)) iterations.
- Mini-batch steps use the expected smoothness of b-of-n sampling without replacement,
  L(b) = n (b - 1) / (b (n - 1)) L + (n - b) / (b (n - 1)) L_max
  (Gower, Loizou, Qian, Sailanbayev, Shulgin, Richtarik 2019, "SGD: general analysis and improved
  rates", Prop. 3.8), step 1 / L(b).
- Adam / AdamW have no such theory here: their step is a given learning rate (Kingma & Ba 2015
  defaults beta1 = 0.9, beta2 = 0.999, eps = 1e-8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Hyper:
    """Hyper-parameters of one run: lr (step), momentum (beta for heavy ball / Nesterov),
    betas and eps (Adam, AdamW), weight_decay (AdamW, decoupled)."""

    lr: float
    momentum: float = 0.0
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0


def smoothness(L: float, L_max: float, n: int, batch: int) -> float:
    """L(b) of Gower et al. 2019 (module docstring); batch <= 0 or >= n means full batch: L."""
    if batch <= 0 or batch >= n:
        return L
    return n * (batch - 1) / (batch * (n - 1)) * L + (n - batch) / (batch * (n - 1)) * max(L_max, L)


def hyper(
    optimizer: str, L: float, mu: float, scale: float = 1.0, adam_lr: float = 1e-2, weight_decay: float = 0.0
) -> Hyper:
    """Theory hyper-parameters scaled by `scale` (the step grid multiplies the step, never the
    momentum). Raises ValueError for an unknown optimizer."""
    rk = math.sqrt(L / mu)
    if optimizer == "sgd":
        return Hyper(lr=scale / L)
    if optimizer == "momentum":
        return Hyper(
            lr=scale * 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2, momentum=((rk - 1) / (rk + 1)) ** 2
        )
    if optimizer == "nesterov":
        return Hyper(lr=scale / L, momentum=(rk - 1) / (rk + 1))
    if optimizer == "adam":
        return Hyper(lr=scale * adam_lr)
    if optimizer == "adamw":
        return Hyper(lr=scale * adam_lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {optimizer!r}")


def gd_bound(k, kappa: float):
    """Relative suboptimality bound of gradient descent with step 1/L after k steps: (1 - 1/kappa)^k."""
    return (1.0 - 1.0 / kappa) ** k


def nesterov_bound(k, kappa: float):
    """Relative suboptimality bound of Nesterov on a quadratic: 2 (1 - 1/sqrt(kappa))^k."""
    return 2.0 * (1.0 - 1.0 / math.sqrt(kappa)) ** k


def nesterov_iterations(kappa: float, eps: float) -> int:
    """Iterations within which Nesterov reaches relative suboptimality eps on a quadratic:
    the smallest k with 2 (1 - 1/sqrt(kappa))^k <= eps (at most ceil(sqrt(kappa) ln(2/eps)))."""
    q = 1.0 - 1.0 / math.sqrt(kappa)
    if q <= 0:
        return 1
    return int(math.ceil(math.log(eps / 2.0) / math.log(q)))
