"""Rprop: a step size per coordinate, grown while the gradient keeps its sign and cut when it flips."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, accumulator, flag, nonnegative, number, value, zeros


class Rprop(Optimizer):
    r"""Resilient backpropagation (Riedmiller & Braun, 1993); a drop-in for :class:`torch.optim.Rprop`.

    .. math::
        \begin{aligned}
        \sigma_t &\leftarrow \operatorname{sign}(g_t\, g_{t-1}) \\
        \Delta_t &\leftarrow \operatorname{clip}\big(\Delta_{t-1} \cdot
            \{\eta_+ \text{ if } \sigma_t > 0;\ \eta_- \text{ if } \sigma_t < 0;\ 1 \text{ otherwise}\},
            \ \Delta_{\min},\ \Delta_{\max}\big) \\
        g_t &\leftarrow 0 \quad \text{where } \sigma_t < 0 \text{ (the sign flipped: no step, no memory)} \\
        x_t &\leftarrow x_{t-1} - \operatorname{sign}(g_t)\, \Delta_t
        \end{aligned}

    Only the sign of the gradient is used: each coordinate has its own step :math:`\Delta`, starting at
    ``lr``. It is a full-batch method; minibatch noise flips signs at random.

    Args:
        params: parameters or parameter groups.
        lr: the first step size :math:`\Delta_0` (default 1e-2).
        etas: :math:`(\eta_-, \eta_+)`, with :math:`0 < \eta_- < 1 < \eta_+` (default (0.5, 1.2)).
        step_sizes: :math:`(\Delta_{\min}, \Delta_{\max})` (default (1e-6, 50)).
        foreach, maximize, differentiable, fused: as in torch; ``fused=True`` runs the one-pass C kernel
            (:mod:`descend.optim.engine.c`).

    State per parameter: ``step``, ``prev`` (:math:`g_{t-1}` after masking), ``step_size`` (:math:`\Delta`).
    Paper: M. Riedmiller and H. Braun, *A Direct Adaptive Method for Faster Backpropagation Learning: The
    RPROP Algorithm*, ICNN 1993.
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach, maximize=maximize,
            differentiable=differentiable, capturable=capturable, fused=fused,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        nonnegative("lr", group["lr"])
        etas, sizes = group["etas"], group["step_sizes"]
        if not isinstance(etas, tuple | list) or len(etas) != 2:
            raise ValueError(f"Invalid etas: {etas!r}; expected a pair (etaminus, etaplus)")
        if not 0.0 < number("etas[0]", etas[0]) < 1.0 < number("etas[1]", etas[1]):
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}; expected 0 < etaminus < 1 < etaplus")
        if not isinstance(sizes, tuple | list) or len(sizes) != 2:
            raise ValueError(f"Invalid step_sizes: {sizes!r}; expected a pair (min, max)")
        if not 0.0 <= number("step_sizes[0]", sizes[0]) <= number("step_sizes[1]", sizes[1]):
            raise ValueError(f"Invalid step_sizes: {sizes!r}; expected 0 <= min <= max")
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        lr = value(group["lr"])  # per-row values on a sweep's rows
        step_size = zeros(param) + lr if isinstance(lr, Tensor) else accumulator(param, lr)
        return {"prev": zeros(param), "step_size": step_size}

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        (etaminus, etaplus), (low, high) = group["etas"], group["step_sizes"]
        return Scalars(etaminus=etaminus, etaplus=etaplus, step_size_min=low, step_size_max=high)

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        sign = (g * state["prev"]).sign()
        # +1 -> eta+, -1 -> eta-, 0 -> 1; NaN stays NaN
        unchanged = torch.where(sign == 0, 1.0, sign)
        factor = torch.where(sign > 0, h.etaplus, torch.where(sign < 0, h.etaminus, unchanged))
        step_size = (state["step_size"] * factor).clamp(h.step_size_min, h.step_size_max)
        g = torch.where(sign < 0, 0.0, g)
        return p - g.sign() * step_size, {"prev": g, "step_size": step_size}
