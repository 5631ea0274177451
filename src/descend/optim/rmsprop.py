"""RMSProp: steps scaled by a leaky average of squared gradients."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, flag, in_unit_interval, nonnegative, on, plus


class RMSprop(Optimizer):
    r"""RMSProp, optionally centered and with momentum; a drop-in for :class:`torch.optim.RMSprop`.

    .. math::
        \begin{aligned}
        g_t &\leftarrow \nabla f(x_{t-1}) + \lambda\, x_{t-1} \\
        s_t &\leftarrow \alpha\, s_{t-1} + (1 - \alpha)\, g_t^2 \\
        \bar g_t &\leftarrow \alpha\, \bar g_{t-1} + (1 - \alpha)\, g_t \quad (\text{centered}) \\
        d_t &\leftarrow \sqrt{s_t - \bar g_t^2 + \epsilon_{root}} + \epsilon
            \quad (\bar g_t = 0 \text{ unless centered}) \\
        b_t &\leftarrow \mu\, b_{t-1} + g_t / d_t, \qquad x_t \leftarrow x_{t-1} - \eta\, b_t
            \quad (\text{momentum } \mu > 0) \\
        x_t &\leftarrow x_{t-1} - \eta\, g_t / d_t \quad (\text{otherwise})
        \end{aligned}

    The chapter's leak rate :math:`\gamma` is ``alpha`` here, and its
    :math:`x_t = x_{t-1} - \frac{\eta}{\sqrt{s_t + \epsilon}} g_t` puts :math:`\epsilon = 10^{-6}` inside the
    root: ``RMSprop(params, lr=0.4, alpha=0.9, eps=0, eps_root=1e-6)`` is the chapter's run. The weight of
    a gradient :math:`\tau` steps old in :math:`s_t` is :math:`(1 - \gamma)\gamma^\tau`.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 1e-2).
        alpha: :math:`\alpha` (the chapter's :math:`\gamma`, default 0.99).
        eps: added outside the root (default 1e-8).
        weight_decay: L2 penalty :math:`\lambda` (default 0).
        momentum: :math:`\mu` (default 0).
        centered: normalize by the variance estimate instead of the second moment.
        eps_root: added inside the root (default 0).
        foreach, maximize, differentiable, fused, capturable: as in torch; ``fused=True`` runs the
            one-pass kernel (C on CPU, Triton on CUDA: :mod:`descend.optim.engine`), ``differentiable=True``
            the per-tensor path under autograd, ``capturable=True`` counts steps on the GPU (Triton).

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered).
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        *,
        fused: bool | None = None,
        eps_root: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered,
            capturable=capturable, foreach=foreach, maximize=maximize, differentiable=differentiable,
            fused=fused, eps_root=eps_root,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        for name in ("lr", "eps", "eps_root", "weight_decay", "momentum"):
            nonnegative(name, group[name])
        in_unit_interval("alpha", group["alpha"])
        flag("centered", group["centered"])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        zeros = lambda: torch.zeros_like(param, memory_format=torch.preserve_format)  # noqa: E731
        state = {"square_avg": zeros()}
        if on(group["momentum"]):
            state["momentum_buffer"] = zeros()
        if group["centered"]:
            state["grad_avg"] = zeros()
        return state

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        return Scalars(
            lr=group["lr"], alpha=group["alpha"], eps=group["eps"], eps_root=group["eps_root"],
            weight_decay=group["weight_decay"], momentum=group["momentum"], centered=group["centered"],
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        if on(h.weight_decay):
            g = g + h.weight_decay * p
        square_avg = state["square_avg"] * h.alpha + (1 - h.alpha) * g * g
        new = {"square_avg": square_avg}
        if h.centered:
            grad_avg = new["grad_avg"] = state["grad_avg"].lerp(g, 1 - h.alpha)
            avg = plus(plus(square_avg - grad_avg * grad_avg, h.eps_root).sqrt(), h.eps)
        else:
            avg = plus(plus(square_avg, h.eps_root).sqrt(), h.eps)
        if on(h.momentum):
            buf = new["momentum_buffer"] = state["momentum_buffer"] * h.momentum + g / avg
            return p - h.lr * buf, new
        return p - h.lr * (g / avg), new
