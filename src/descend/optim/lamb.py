"""LAMB and LARS: steps scaled per layer by the ratio of the weights' norm to the update's (trust ratio)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import (
    Scalars,
    betas_pair,
    bias_corrections,
    ema_square,
    flag,
    moments,
    nonnegative,
    on,
    plus,
    zeros,
)


def trust_ratio(numerator: Tensor, denominator: Tensor, w_norm: Tensor, u_norm: Tensor) -> Tensor:
    """``numerator / denominator`` where both norms are positive, else 1 (a zero layer or a zero update)."""
    return torch.where(w_norm > 0, torch.where(u_norm > 0, numerator / denominator, 1.0), 1.0)


class LAMB(Optimizer):
    r"""LAMB, layer-wise adaptive moments (You et al., 2020).

    .. math::
        \begin{aligned}
        v_t &\leftarrow \beta_1 v_{t-1} + (1 - \beta_1)\, g_t, \qquad
            s_t \leftarrow \beta_2 s_{t-1} + (1 - \beta_2)\, g_t^2 \\
        r_t &= \frac{v_t / (1 - \beta_1^t)}{\sqrt{s_t / (1 - \beta_2^t) + \epsilon_{root}} + \epsilon}
            + \lambda\, x_{t-1} \\
        x_t &\leftarrow x_{t-1} - \eta\, \frac{\|x_{t-1}\|}{\|r_t\|}\, r_t
        \end{aligned}

    Adam's step (with decoupled weight decay) rescaled, for each parameter tensor (a layer), so that its
    norm is :math:`\eta` times the layer's own norm: large batches can then take large learning rates. The
    trust ratio is 1 where either norm is 0. The norms make the update per tensor.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 1e-3).
        betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
        eps: added outside the root (default 1e-6, the paper's).
        weight_decay: :math:`\lambda` (default 0).
        eps_root: added inside the root (default 0).
        foreach, maximize, differentiable: as for :class:`Adam`.

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    Paper: Y. You et al., *Large Batch Optimization for Deep Learning: Training BERT in 76 minutes*,
    ICLR 2020 (Algorithm 2, with :math:`\phi` the identity).
    """

    #: Not on the rows of a sweep: it scales each update by a ratio of its tensor's norms (rows would mix).
    sweepable = False

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        eps_root: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
            weight_decay=weight_decay, foreach=foreach, maximize=maximize, differentiable=differentiable,
            eps_root=eps_root,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        for name in ("lr", "eps", "eps_root", "weight_decay"):
            nonnegative(name, group[name])
        betas_pair(group["betas"])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return moments(param, "exp_avg", "exp_avg_sq")

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        beta1, beta2 = group["betas"]
        bc1, bc2 = bias_corrections(beta1, beta2, step)
        return Scalars(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], eps_root=group["eps_root"],
            weight_decay=group["weight_decay"], bias_correction1=bc1, bias_correction2=bc2,
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        exp_avg = state["exp_avg"].lerp(g, 1 - h.beta1)
        exp_avg_sq = ema_square(state["exp_avg_sq"], g, h.beta2)
        denom = plus(plus(exp_avg_sq / h.bias_correction2, h.eps_root).sqrt(), h.eps)
        r = (exp_avg / h.bias_correction1) / denom
        if on(h.weight_decay):
            r = r + h.weight_decay * p
        w_norm, r_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(r)
        trust = trust_ratio(w_norm, r_norm, w_norm, r_norm)
        return p - h.lr * trust * r, {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


class LARS(Optimizer):
    r"""LARS, layer-wise adaptive rate scaling (You, Gitman & Ginsburg, 2017), with momentum.

    .. math::
        \begin{aligned}
        \gamma_t &= \tau\, \frac{\|x_{t-1}\|}{\|g_t\| + \lambda \|x_{t-1}\|}
            \quad (1 \text{ where either norm is } 0) \\
        b_t &\leftarrow \mu\, b_{t-1} + \eta\, \gamma_t\, (g_t + \lambda\, x_{t-1}) \\
        x_t &\leftarrow x_{t-1} - b_t
        \end{aligned}

    SGD with momentum and weight decay whose step is scaled per parameter tensor (a layer) by the local
    learning rate :math:`\gamma_t`, the trust coefficient :math:`\tau` times the ratio of the weights' norm
    to the gradient's. The norms make the update per tensor.

    Args:
        params: parameters or parameter groups.
        lr: the global learning rate :math:`\eta` (default 1.0).
        momentum: :math:`\mu` (default 0.9).
        weight_decay: :math:`\lambda` (default 5e-4, the paper's).
        trust_coefficient: :math:`\tau` (default 1e-3, the paper's).
        foreach, maximize, differentiable: as for :class:`SGD`.

    State per parameter: ``step``, ``momentum_buffer`` (:math:`b`).
    Paper: Y. You, I. Gitman and B. Ginsburg, *Large Batch Training of Convolutional Networks*, 2017
    (Algorithm 1).
    """

    #: Not on the rows of a sweep: it scales each update by a ratio of its tensor's norms (rows would mix).
    sweepable = False

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        trust_coefficient: float = 1e-3,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient,
            foreach=foreach, maximize=maximize, differentiable=differentiable,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        for name in ("lr", "momentum", "weight_decay", "trust_coefficient"):
            nonnegative(name, group[name])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"momentum_buffer": zeros(param)}

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        return Scalars(
            lr=group["lr"], momentum=group["momentum"], weight_decay=group["weight_decay"],
            trust_coefficient=group["trust_coefficient"],
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        w_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(g)
        local = trust_ratio(h.trust_coefficient * w_norm, g_norm + h.weight_decay * w_norm, w_norm, g_norm)
        if on(h.weight_decay):
            g = g + h.weight_decay * p
        buf = state["momentum_buffer"] * h.momentum + h.lr * local * g
        return p - buf, {"momentum_buffer": buf}
