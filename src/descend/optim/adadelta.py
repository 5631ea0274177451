"""Adadelta: AdaGrad's successor with no learning rate of its own."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, flag, in_unit_interval, nonnegative, on, plus


class Adadelta(Optimizer):
    r"""Adadelta; a drop-in for :class:`torch.optim.Adadelta`.

    .. math::
        \begin{aligned}
        g_t &\leftarrow \nabla f(x_{t-1}) + \lambda\, x_{t-1} \\
        s_t &\leftarrow \rho\, s_{t-1} + (1 - \rho)\, g_t^2 \\
        g'_t &\leftarrow \frac{\sqrt{\Delta x_{t-1} + \epsilon + \epsilon_{root}}}
                              {\sqrt{s_t + \epsilon + \epsilon_{root}}}\, g_t \\
        \Delta x_t &\leftarrow \rho\, \Delta x_{t-1} + (1 - \rho)\, {g'_t}^2 \\
        x_t &\leftarrow x_{t-1} - \eta\, g'_t
        \end{aligned}

    The chapter's :math:`\rho` is ``rho``; its update has no learning rate, that is ``lr=1`` (torch's
    default). Adadelta's :math:`\epsilon` already sits inside both roots (in torch, optax and the
    chapter); ``eps_root`` adds to it there.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta`, a scale on the update (default 1.0).
        rho: :math:`\rho` (default 0.9).
        eps: :math:`\epsilon` (default 1e-6).
        weight_decay: L2 penalty :math:`\lambda` (default 0).
        eps_root: also added inside the roots (default 0).
        foreach, maximize, differentiable, fused, capturable: as in torch; ``fused=True`` runs the
            one-pass kernel (C on CPU, Triton on CUDA: :mod:`descend.optim.engine`), ``differentiable=True``
            the per-tensor path under autograd, ``capturable=True`` counts steps on the GPU (Triton).

    State per parameter: ``step``, ``square_avg`` (:math:`s`), ``acc_delta`` (:math:`\Delta x`).
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        eps_root: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, foreach=foreach, capturable=capturable,
            maximize=maximize, differentiable=differentiable, fused=fused, eps_root=eps_root,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        for name in ("lr", "eps", "eps_root", "weight_decay"):
            nonnegative(name, group[name])
        in_unit_interval("rho", group["rho"])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {
            "square_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "acc_delta": torch.zeros_like(param, memory_format=torch.preserve_format),
        }

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        return Scalars(
            lr=group["lr"], rho=group["rho"], eps=group["eps"], eps_root=group["eps_root"],
            weight_decay=group["weight_decay"],
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        if on(h.weight_decay):
            g = g + h.weight_decay * p
        square_avg = state["square_avg"] * h.rho + (1 - h.rho) * g * g
        std = plus(plus(square_avg, h.eps), h.eps_root).sqrt()
        delta = plus(plus(state["acc_delta"], h.eps), h.eps_root).sqrt() / std * g
        acc_delta = state["acc_delta"] * h.rho + (1 - h.rho) * delta * delta
        return p - h.lr * delta, {"square_avg": square_avg, "acc_delta": acc_delta}
