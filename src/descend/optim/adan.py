"""Adan: adaptive Nesterov momentum, estimated from the gradient and its difference to the last one."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, betas_pair, flag, moments, nonnegative, on, plus


class Adan(Optimizer):
    r"""Adan (Xie et al., 2024), with the authors' bias correction.

    With :math:`\Delta_t = g_t - g_{t-1}` (:math:`\Delta_1 = 0`):

    .. math::
        \begin{aligned}
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2)\, \Delta_t \\
        n_t &\leftarrow \beta_3 n_{t-1} + (1 - \beta_3)\, (g_t + \beta_2 \Delta_t)^2 \\
        u_t &= \Big(\frac{m_t}{1 - \beta_1^t} + \beta_2\, \frac{v_t}{1 - \beta_2^t}\Big) \Big/
            \Big(\sqrt{\frac{n_t}{1 - \beta_3^t} + \epsilon_{root}} + \epsilon\Big) \\
        x_t &\leftarrow \frac{x_{t-1} - \eta\, u_t}{1 + \eta\lambda}
            \quad (\text{or, } \texttt{no\_prox}: (1 - \eta\lambda)\, x_{t-1} - \eta\, u_t)
        \end{aligned}

    The paper writes the betas as :math:`1 - \beta` (its :math:`\beta_1 = 0.02` is ``betas[0] = 0.98``
    here, as in the authors' code); :math:`m_t + (1 - \beta_2^{paper}) v_t` is its Nesterov momentum
    estimate, and the weight decay is its proximal step.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 1e-3).
        betas: :math:`(\beta_1, \beta_2, \beta_3)` (default (0.98, 0.92, 0.99)).
        eps: added outside the root (default 1e-8).
        weight_decay: :math:`\lambda` (default 0).
        no_prox: decay the parameter before the step instead of the proximal division (default False).
        eps_root: added inside the root (default 0).
        foreach, maximize, differentiable, fused: as for :class:`Adam`; ``fused=True`` runs the one-pass C
            kernel (:mod:`descend.optim.engine.c`).

    State per parameter: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`n`), ``exp_avg_diff``
    (:math:`v`), ``pre_grad`` (:math:`g_{t-1}`, from the first step on).
    Paper: X. Xie et al., *Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models*,
    IEEE TPAMI 2024 (Algorithm 1).
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float, float] = (0.98, 0.92, 0.99),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        no_prox: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        eps_root: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, no_prox=no_prox, foreach=foreach,
            maximize=maximize, differentiable=differentiable, fused=fused, eps_root=eps_root,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        for name in ("lr", "eps", "eps_root", "weight_decay"):
            nonnegative(name, group[name])
        betas_pair(group["betas"], n=3)
        flag("no_prox", group["no_prox"])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return moments(param, "exp_avg", "exp_avg_sq", "exp_avg_diff")

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        beta1, beta2, beta3 = group["betas"]
        bc3 = 1 - beta3**step
        return Scalars(
            lr=group["lr"], beta1=beta1, beta2=beta2, beta3=beta3, eps=group["eps"],
            eps_root=group["eps_root"], weight_decay=group["weight_decay"], no_prox=group["no_prox"],
            bias_correction1=1 - beta1**step, bias_correction2=1 - beta2**step, bias_correction3=bc3,
            bias_correction3_sqrt=bc3**0.5,
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        diff = g - state.get("pre_grad", g)  # zero on the first step
        m = state["exp_avg"].lerp(g, 1 - h.beta1)
        v = state["exp_avg_diff"].lerp(diff, 1 - h.beta2)
        nesterov = g + h.beta2 * diff
        n = state["exp_avg_sq"] * h.beta3 + (1 - h.beta3) * nesterov * nesterov
        # sqrt(n + eps_root·bc3) / sqrt(bc3) is sqrt(n/bc3 + eps_root), exactly the authors' form when 0
        denom = plus(plus(n, h.eps_root * h.bias_correction3).sqrt() / h.bias_correction3_sqrt, h.eps)
        update = (m / h.bias_correction1 + h.beta2 * v / h.bias_correction2) / denom
        if on(h.weight_decay) and h.no_prox:
            p = p * (1 - h.lr * h.weight_decay)
        p = p - h.lr * update
        if on(h.weight_decay) and not h.no_prox:
            p = p / (1 + h.lr * h.weight_decay)
        return p, {"exp_avg": m, "exp_avg_sq": n, "exp_avg_diff": v, "pre_grad": g.clone()}
