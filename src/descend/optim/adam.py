"""Adam and AdamW: momentum on the gradient and on its square, bias-corrected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import (
    Rule,
    Scalars,
    betas_pair,
    bias_corrections,
    ema_square,
    flag,
    no_tensor_with_foreach,
    nonnegative,
    on,
    plus,
)

SecondMoment = Callable[[Any, Any, Scalars], Any]


def adam_rule(second_moment: SecondMoment) -> Rule:
    """The Adam family's update, given how the second moment :math:`s_t` follows :math:`g_t`.

    Adam and Yogi differ only there; everything else (weight decay, first moment, AMSGrad, bias
    correction, the step) is this one function.
    """

    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        if on(h.weight_decay):
            if h.decoupled:
                p = p * (1 - h.lr * h.weight_decay)
            else:
                g = g + h.weight_decay * p
        exp_avg = state["exp_avg"].lerp(g, 1 - h.beta1)
        exp_avg_sq = second_moment(state["exp_avg_sq"], g, h)
        new = {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
        if h.amsgrad:
            exp_avg_sq = new["max_exp_avg_sq"] = state["max_exp_avg_sq"].maximum(exp_avg_sq)
        # sqrt(s + eps_root·bc2) / sqrt(bc2) is sqrt(s/bc2 + eps_root), and exactly torch's
        # sqrt(s) / sqrt(bc2) when eps_root = 0.
        denom = plus(
            plus(exp_avg_sq, h.eps_root * h.bias_correction2).sqrt() / h.bias_correction2_sqrt, h.eps
        )
        return p - h.step_size * (exp_avg / denom), new

    return rule


def adam_scalars(group: dict[str, Any], step: float) -> Scalars:
    beta1, beta2 = group["betas"]
    bc1, bc2 = bias_corrections(beta1, beta2, step)
    return Scalars(
        lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], eps_root=group["eps_root"],
        weight_decay=group["weight_decay"], decoupled=group.get("decoupled_weight_decay", False),
        amsgrad=group.get("amsgrad", False), step_size=group["lr"] / bc1, bias_correction2=bc2,
        bias_correction2_sqrt=bc2**0.5,
    )  # fmt: skip


def check_adam(group: dict[str, Any]) -> None:
    no_tensor_with_foreach(group, "lr", "betas")
    for name in ("lr", "eps", "eps_root", "weight_decay"):
        nonnegative(name, group[name])
    betas_pair(group["betas"])
    flag("maximize", group["maximize"])


class Adam(Optimizer):
    r"""Adam, with AMSGrad and decoupled weight decay as options; a drop-in for :class:`torch.optim.Adam`.

    .. math::
        \begin{aligned}
        g_t &\leftarrow \nabla f(x_{t-1}) + \lambda\, x_{t-1}
             \quad\text{or, decoupled: } x_{t-1} \leftarrow (1 - \eta\lambda)\, x_{t-1} \\
        v_t &\leftarrow \beta_1 v_{t-1} + (1 - \beta_1)\, g_t \\
        s_t &\leftarrow \beta_2 s_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \hat s_t &\leftarrow \max(\hat s_{t-1}, s_t) \ \text{(amsgrad)}, \quad \text{else } \hat s_t = s_t \\
        x_t &\leftarrow x_{t-1} - \frac{\eta}{1 - \beta_1^t}\,
            \frac{v_t}{\sqrt{\hat s_t / (1 - \beta_2^t) + \epsilon_{root}} + \epsilon}
        \end{aligned}

    The chapter's :math:`\beta_1, \beta_2` are ``betas``, its momentum :math:`v_t` is ``exp_avg`` and its
    :math:`s_t` is ``exp_avg_sq``; it uses :math:`\epsilon = 10^{-6}` outside the root.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 1e-3).
        betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
        eps: added outside the root (default 1e-8).
        weight_decay: :math:`\lambda` (default 0).
        amsgrad: use the running maximum of :math:`s_t`.
        decoupled_weight_decay: AdamW's decay of the parameter instead of an L2 term in the gradient.
        eps_root: added inside the root (default 0).
        foreach, maximize, differentiable, fused, capturable: as in torch; ``fused=True`` runs the
            one-pass kernel (C on CPU, Triton on CUDA: :mod:`descend.optim.engine`), ``differentiable=True``
            the per-tensor path under autograd, ``capturable=True`` counts steps on the GPU (Triton).

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq`` (amsgrad).
    """

    rule = staticmethod(adam_rule(lambda s, g, h: ema_square(s, g, h.beta2)))
    scalars = staticmethod(adam_scalars)

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
        eps_root: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
            weight_decay=weight_decay, amsgrad=amsgrad, foreach=foreach, maximize=maximize,
            capturable=capturable, differentiable=differentiable, fused=fused,
            decoupled_weight_decay=decoupled_weight_decay, eps_root=eps_root,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        check_adam(group)
        flag("amsgrad", group["amsgrad"])
        flag("decoupled_weight_decay", group["decoupled_weight_decay"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        names = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if group["amsgrad"] else [])
        return {n: torch.zeros_like(param, memory_format=torch.preserve_format) for n in names}


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter); a drop-in for :class:`torch.optim.AdamW`.

    The same update as :class:`Adam` with ``decoupled_weight_decay=True``: before the Adam step the
    parameter shrinks, :math:`x \leftarrow (1 - \eta\lambda)\, x`. Default ``weight_decay`` is 1e-2.
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        eps_root: float = 0.0,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            foreach=foreach, maximize=maximize, capturable=capturable, differentiable=differentiable,
            fused=fused, decoupled_weight_decay=True, eps_root=eps_root,
        )  # fmt: skip
