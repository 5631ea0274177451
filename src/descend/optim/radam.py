"""RAdam: Adam whose adaptive step is switched on, and rectified, once its variance estimate is reliable."""

from __future__ import annotations

from typing import Any

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
)


class RAdam(Optimizer):
    r"""Rectified Adam (Liu et al., 2020); a drop-in for :class:`torch.optim.RAdam`.

    .. math::
        \begin{aligned}
        g_t &\leftarrow \nabla f(x_{t-1}) + \lambda\, x_{t-1}
             \quad\text{or, decoupled: } x_{t-1} \leftarrow (1 - \eta\lambda)\, x_{t-1} \\
        v_t &\leftarrow \beta_1 v_{t-1} + (1 - \beta_1)\, g_t, \qquad
            s_t \leftarrow \beta_2 s_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \rho_\infty &= \frac{2}{1 - \beta_2} - 1, \qquad
            \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t} \\
        r_t &= \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\,\rho_\infty}
            {(\rho_\infty - 4)(\rho_\infty - 2)\,\rho_t}} \\
        x_t &\leftarrow x_{t-1} - \eta\, \frac{v_t}{1 - \beta_1^t}
            \cdot \begin{cases}
            r_t\, \dfrac{\sqrt{1 - \beta_2^t}}{\sqrt{s_t + \epsilon_{root} (1 - \beta_2^t)} + \epsilon}
                & \rho_t > 5 \\
            1 & \text{otherwise (plain momentum while the variance estimate is unreliable)}
            \end{cases}
        \end{aligned}

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 1e-3).
        betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
        eps: added outside the root (default 1e-8).
        weight_decay: :math:`\lambda` (default 0).
        decoupled_weight_decay: shrink the parameter (as AdamW) instead of adding an L2 term.
        eps_root: added inside the root (default 0).
        foreach, maximize, differentiable, fused: as for :class:`Adam`; ``fused=True`` runs the one-pass C
            kernel (:mod:`descend.optim.engine.c`).

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    Paper: L. Liu et al., *On the Variance of the Adaptive Learning Rate and Beyond*, ICLR 2020.
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
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
            weight_decay=weight_decay, maximize=maximize, foreach=foreach, capturable=capturable,
            decoupled_weight_decay=decoupled_weight_decay, differentiable=differentiable, fused=fused,
            eps_root=eps_root,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        for name in ("lr", "eps", "eps_root"):
            nonnegative(name, group[name])
        betas_pair(group["betas"])
        nonnegative("weight_decay", group["weight_decay"])
        flag("decoupled_weight_decay", group["decoupled_weight_decay"])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return moments(param, "exp_avg", "exp_avg_sq")

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        beta1, beta2 = group["betas"]
        bc1, bc2 = bias_corrections(beta1, beta2, step)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bc2
        rectify = bool(rho_t > 5.0)
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        return Scalars(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], eps_root=group["eps_root"],
            weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"],
            bias_correction1=bc1, bias_correction2=bc2, bias_correction2_sqrt=bc2**0.5,
            rectify=rectify, rect=rect if rectify else 0.0,
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
        step = exp_avg / h.bias_correction1 * h.lr
        if h.rectify:
            root = plus(exp_avg_sq, h.eps_root * h.bias_correction2).sqrt()
            step = step * (h.bias_correction2_sqrt / plus(root, h.eps)) * h.rect
        return p - step, {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
