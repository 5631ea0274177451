"""Yogi: Adam with an additive, sign-controlled second-moment update."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descend.optim.adam import adam_rule, adam_scalars, check_adam
from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, accumulator, nonnegative


def _yogi_second_moment(s: Any, g: Any, h: Scalars) -> Any:
    g2 = g * g
    return s - (1 - h.beta2) * g2 * (s - g2).sign()


class Yogi(Optimizer):
    r"""Yogi (Zaheer et al., 2018), as the chapter defines it.

    .. math::
        \begin{aligned}
        g_t &\leftarrow \nabla f(x_{t-1}) + \lambda\, x_{t-1} \\
        v_t &\leftarrow \beta_1 v_{t-1} + (1 - \beta_1)\, g_t \\
        s_t &\leftarrow s_{t-1} - (1 - \beta_2)\, g_t^2 \odot \operatorname{sign}(s_{t-1} - g_t^2) \\
        x_t &\leftarrow x_{t-1} - \frac{\eta}{1 - \beta_1^t}\,
            \frac{v_t}{\sqrt{s_t / (1 - \beta_2^t) + \epsilon_{root}} + \epsilon}
        \end{aligned}

    Where Adam's :math:`s_t` moves towards :math:`g_t^2` by a multiple of :math:`s_{t-1}` (and can forget a
    large gradient too fast when :math:`g_t^2` is large), Yogi's moves by :math:`(1 - \beta_2) g_t^2` at
    most. Everything else is Adam's rule (bias-corrected as in the chapter).

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 1e-2).
        betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
        eps: added outside the root (default 1e-3, as the chapter and the paper).
        weight_decay: L2 penalty :math:`\lambda` (default 0).
        initial_accumulator_value: :math:`s_0` (default 0, as the chapter).
        eps_root: added inside the root (default 0).
        foreach, maximize, differentiable, fused: as in torch; ``fused=True`` runs the one-pass kernel
            (C on CPU, Triton on CUDA: :mod:`descend.optim.engine`), ``differentiable=True`` the per-tensor
            path under autograd.

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    rule = staticmethod(adam_rule(_yogi_second_moment))
    scalars = staticmethod(adam_scalars)

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-3,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        eps_root: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
            weight_decay=weight_decay, initial_accumulator_value=initial_accumulator_value,
            foreach=foreach, maximize=maximize, differentiable=differentiable, fused=fused,
            eps_root=eps_root,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        check_adam(group)
        nonnegative("initial_accumulator_value", group["initial_accumulator_value"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {
            "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "exp_avg_sq": accumulator(param, group["initial_accumulator_value"]),
        }
