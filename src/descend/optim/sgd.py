"""Stochastic gradient descent, with momentum (heavy ball) and Nesterov momentum."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, flag, in_unit_interval, nonnegative, on, scaled


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum; a drop-in for :class:`torch.optim.SGD`.

    .. math::
        \begin{aligned}
        g_t &\leftarrow \nabla f(x_{t-1}) \quad (\text{negated if maximize}) \\
        g_t &\leftarrow g_t + \lambda\, x_{t-1} \quad (\text{weight decay } \lambda) \\
        b_t &\leftarrow \begin{cases} g_t & t = 1 \\ \mu\, b_{t-1} + (1 - \tau)\, g_t & t > 1 \end{cases}
            \quad (\text{momentum } \mu \ne 0,\ \text{dampening } \tau) \\
        g_t &\leftarrow g_t + \mu\, b_t \ \text{(nesterov)} \quad\text{or}\quad g_t \leftarrow b_t \\
        x_t &\leftarrow x_{t-1} - \eta\, g_t
        \end{aligned}

    The chapter's momentum method writes the velocity as :math:`v_t = \beta v_{t-1} + g_t` and the step
    :math:`x_t = x_{t-1} - \eta v_t`: its :math:`\beta` is ``momentum`` here (with ``dampening=0``), and its
    first velocity :math:`v_1 = g_1` matches torch's first buffer. The effective step is
    :math:`\eta / (1 - \beta)`.

    Args:
        params: parameters or parameter groups.
        lr: learning rate :math:`\eta` (default 1e-3, as torch).
        momentum: :math:`\mu` (default 0).
        dampening: :math:`\tau` (default 0).
        weight_decay: L2 penalty :math:`\lambda` (default 0).
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: maximize the objective instead.
        foreach: ``True`` multi-tensor path, ``False`` per-tensor loop, ``None`` torch's choice.
        fused: ``True`` runs the one-pass kernel (C on CPU, Triton on CUDA); ``None`` picks the path.

    State per parameter (torch's layout): ``momentum_buffer`` once momentum has been applied.
    """

    counts_steps = False
    sparse_gradients = "dense"

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
            maximize=maximize, foreach=foreach, differentiable=differentiable, fused=fused,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        nonnegative("lr", group["lr"])
        nonnegative("momentum", group["momentum"])
        in_unit_interval("dampening", group["dampening"])
        nonnegative("weight_decay", group["weight_decay"])
        flag("nesterov", group["nesterov"])
        flag("maximize", group["maximize"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "Nesterov momentum requires a momentum and zero dampening; got "
                f"momentum={group['momentum']!r} and dampening={group['dampening']!r}"
            )

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        return Scalars(
            lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
            weight_decay=group["weight_decay"], nesterov=group["nesterov"],
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        if on(h.weight_decay):
            g = g + h.weight_decay * p
        new = {}
        if on(h.momentum):
            buf = state.get("momentum_buffer")
            buf = g.clone() if buf is None else buf * h.momentum + scaled(1 - h.dampening, g)
            new["momentum_buffer"] = buf
            g = g + h.momentum * buf if h.nesterov else buf
        return p - h.lr * g, new
