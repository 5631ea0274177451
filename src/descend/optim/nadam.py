"""NAdam: Adam with Nesterov momentum, its momentum coefficient warming up over the steps."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import (
    Scalars,
    betas_pair,
    ema_square,
    flag,
    nonnegative,
    on,
    plus,
    scalar_dtype,
    stored,
    zeros,
)


def momentum_coefficient(beta1: Any, psi: Any, step: float) -> Any:
    r""":math:`\mu_t = \beta_1 (1 - \tfrac12 \cdot 0.96^{t\psi})`."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))


class NAdam(Optimizer):
    r"""NAdam (Dozat, 2016); a drop-in for :class:`torch.optim.NAdam`.

    .. math::
        \begin{aligned}
        g_t &\leftarrow \nabla f(x_{t-1}) + \lambda\, x_{t-1}
             \quad\text{or, decoupled: } x_{t-1} \leftarrow (1 - \eta\lambda)\, x_{t-1} \\
        \mu_t &\leftarrow \beta_1 \big(1 - \tfrac12\, 0.96^{t\psi}\big), \qquad
            \mu_{t+1} \leftarrow \beta_1 \big(1 - \tfrac12\, 0.96^{(t+1)\psi}\big) \\
        v_t &\leftarrow \beta_1 v_{t-1} + (1 - \beta_1)\, g_t, \qquad
            s_t \leftarrow \beta_2 s_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \hat v_t &\leftarrow \frac{\mu_{t+1}\, v_t}{1 - \prod_{i=1}^{t+1} \mu_i}
            + \frac{(1 - \mu_t)\, g_t}{1 - \prod_{i=1}^{t} \mu_i} \\
        x_t &\leftarrow x_{t-1} - \eta\,
            \frac{\hat v_t}{\sqrt{s_t / (1 - \beta_2^t) + \epsilon_{root}} + \epsilon}
        \end{aligned}

    The momentum coefficient :math:`\mu_t` rises towards :math:`\beta_1` at the rate ``momentum_decay``
    :math:`\psi`; the running product :math:`\prod_i \mu_i` is kept per parameter (``mu_product``, a
    one-element tensor, as in torch). The chapter's :math:`\beta_1, \beta_2` are ``betas``.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 2e-3).
        betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
        eps: added outside the root (default 1e-8).
        weight_decay: :math:`\lambda` (default 0).
        momentum_decay: :math:`\psi` (default 4e-3).
        decoupled_weight_decay: NAdamW: shrink the parameter instead of adding an L2 term to the gradient.
        eps_root: added inside the root (default 0).
        foreach, maximize, differentiable, fused: as for :class:`Adam`; ``fused=True`` runs the one-pass C
            kernel (:mod:`descend.optim.engine.c`).

    State per parameter: ``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``.
    Paper: T. Dozat, *Incorporating Nesterov Momentum into Adam*, ICLR 2016 workshop.
    """

    scalar_state = ("mu_product",)

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        eps_root: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
            weight_decay=weight_decay, momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
            capturable=capturable, differentiable=differentiable, fused=fused, eps_root=eps_root,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        for name in ("lr", "eps", "eps_root"):
            nonnegative(name, group[name])
        betas_pair(group["betas"])
        nonnegative("weight_decay", group["weight_decay"])
        nonnegative("momentum_decay", group["momentum_decay"])
        flag("decoupled_weight_decay", group["decoupled_weight_decay"])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {
            "mu_product": torch.tensor(1.0, dtype=scalar_dtype()),
            "exp_avg": zeros(param),
            "exp_avg_sq": zeros(param),
        }

    @staticmethod
    def scalars(group: dict[str, Any], step: float, numbers: dict[str, float] | None = None) -> Scalars:
        beta1, beta2 = group["betas"]
        lr, psi = group["lr"], group["momentum_decay"]
        mu = momentum_coefficient(beta1, psi, step)
        mu_next = momentum_coefficient(beta1, psi, step + 1)
        if numbers is None:  # not kept (a sweep): the product as the steps so far made it
            numbers = {"mu_product": 1.0}
            for t in range(1, int(step)):
                mu_t = stored(momentum_coefficient(beta1, psi, t))
                numbers["mu_product"] = stored(numbers["mu_product"] * mu_t)
        # the product is kept in the precision of step counters, and read back from there (as torch)
        product = numbers["mu_product"] = stored(numbers["mu_product"] * stored(mu))
        return Scalars(
            lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"], eps_root=group["eps_root"],
            weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"],
            bias_correction2=1 - beta2**step,
            grad_step=-lr * (1.0 - mu) / (1.0 - product),
            momentum_step=(-lr * mu_next) / (1.0 - product * mu_next),
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        if on(h.weight_decay):
            if h.decoupled:
                p = p * (1 - h.lr * h.weight_decay)
            else:
                g = g + h.weight_decay * p
        exp_avg = state["exp_avg"].lerp(g, 1 - h.beta1)
        exp_avg_sq = ema_square(state["exp_avg_sq"], g, h.beta2)
        denom = plus(plus(exp_avg_sq / h.bias_correction2, h.eps_root).sqrt(), h.eps)
        p = p + h.grad_step * g / denom + h.momentum_step * exp_avg / denom
        return p, {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
