"""Lion: the sign of an interpolated momentum, with decoupled weight decay."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, betas_pair, flag, nonnegative, on, zeros


class Lion(Optimizer):
    r"""Lion, EvoLved Sign Momentum (Chen et al., 2023).

    .. math::
        \begin{aligned}
        c_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
        x_t &\leftarrow x_{t-1} - \eta\, \big(\operatorname{sign}(c_t) + \lambda\, x_{t-1}\big) \\
        m_t &\leftarrow \beta_2 m_{t-1} + (1 - \beta_2)\, g_t
        \end{aligned}

    Every coordinate moves by exactly :math:`\eta` (plus the decay), so Lion's learning rate is 3-10x
    smaller than AdamW's and its weight decay correspondingly larger; it keeps one state tensor instead of
    Adam's two. The update direction interpolates the momentum and the gradient with :math:`\beta_1`, the
    momentum itself follows :math:`\beta_2`.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 1e-4).
        betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.99), the paper's).
        weight_decay: decoupled :math:`\lambda` (default 0).
        foreach, maximize, differentiable, fused: as for :class:`Adam`; ``fused=True`` runs the one-pass C
            kernel (:mod:`descend.optim.engine.c`).

    State per parameter: ``step``, ``exp_avg`` (:math:`m`).
    Paper: X. Chen et al., *Symbolic Discovery of Optimization Algorithms*, NeurIPS 2023 (Algorithm 2).
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, weight_decay=weight_decay,
            foreach=foreach, maximize=maximize, differentiable=differentiable, fused=fused,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        nonnegative("lr", group["lr"])
        betas_pair(group["betas"])
        nonnegative("weight_decay", group["weight_decay"])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"exp_avg": zeros(param)}

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        beta1, beta2 = group["betas"]
        return Scalars(lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"])

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        m = state["exp_avg"]
        direction = m.lerp(g, 1 - h.beta1).sign()
        if on(h.weight_decay):
            p = p * (1 - h.lr * h.weight_decay)
        return p - h.lr * direction, {"exp_avg": m.lerp(g, 1 - h.beta2)}
