"""Adamax: Adam with the infinity norm in place of the root mean square."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, betas_pair, flag, nonnegative, on, plus, zeros


class Adamax(Optimizer):
    r"""Adamax (Kingma & Ba, 2015, section 7); a drop-in for :class:`torch.optim.Adamax`.

    .. math::
        \begin{aligned}
        g_t &\leftarrow \nabla f(x_{t-1}) + \lambda\, x_{t-1} \\
        v_t &\leftarrow \beta_1 v_{t-1} + (1 - \beta_1)\, g_t \\
        u_t &\leftarrow \max(\beta_2 u_{t-1},\ |g_t| + \epsilon) \\
        x_t &\leftarrow x_{t-1} - \frac{\eta}{1 - \beta_1^t}\, \frac{v_t}{u_t}
        \end{aligned}

    Adam's :math:`\sqrt{s_t}`, an exponentially weighted :math:`\ell_2` norm of past gradients, becomes
    the weighted :math:`\ell_\infty` norm :math:`u_t`, which needs no bias correction.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 2e-3).
        betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
        eps: :math:`\epsilon` (default 1e-8).
        weight_decay: :math:`\lambda` (default 0).
        foreach, maximize, differentiable, fused: as for :class:`Adam`; ``fused=True`` runs the one-pass C
            kernel (:mod:`descend.optim.engine.c`).

    State per parameter: ``step``, ``exp_avg`` (:math:`v`), ``exp_inf`` (:math:`u`).
    Paper: D. P. Kingma and J. Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015.
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
            weight_decay=weight_decay, foreach=foreach, maximize=maximize, differentiable=differentiable,
            capturable=capturable, fused=fused,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        nonnegative("lr", group["lr"])
        nonnegative("eps", group["eps"])
        betas_pair(group["betas"])
        nonnegative("weight_decay", group["weight_decay"])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"exp_avg": zeros(param), "exp_inf": zeros(param)}

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        beta1, beta2 = group["betas"]
        return Scalars(
            beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
            neg_step_size=-(group["lr"] / (1 - beta1**step)),
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        if on(h.weight_decay):
            g = g + h.weight_decay * p
        exp_avg = state["exp_avg"].lerp(g, 1 - h.beta1)
        exp_inf = (state["exp_inf"] * h.beta2).maximum(plus(g.abs(), h.eps))
        return p + h.neg_step_size * exp_avg / exp_inf, {"exp_avg": exp_avg, "exp_inf": exp_inf}
