"""AdaGrad: per-coordinate steps scaled by the root of the summed squared gradients."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, accumulator, flag, nonnegative, on, plus


class Adagrad(Optimizer):
    r"""AdaGrad; a drop-in for :class:`torch.optim.Adagrad`.

    .. math::
        \begin{aligned}
        g_t &\leftarrow \nabla f(x_{t-1}) + \lambda\, x_{t-1} \\
        \tilde\eta_t &\leftarrow \eta / (1 + (t - 1)\,\delta) \quad (\text{lr\_decay } \delta) \\
        s_t &\leftarrow s_{t-1} + g_t^2, \qquad s_0 = \text{initial\_accumulator\_value} \\
        x_t &\leftarrow x_{t-1} - \tilde\eta_t\, \frac{g_t}{\sqrt{s_t + \epsilon_{root}} + \epsilon}
        \end{aligned}

    The chapter writes :math:`x_t = x_{t-1} - \frac{\eta}{\sqrt{s_t + \epsilon}} g_t` with
    :math:`\epsilon = 10^{-6}` inside the root: that is ``eps=0, eps_root=1e-6`` here.

    Args:
        params: parameters or parameter groups.
        lr: learning rate :math:`\eta` (default 1e-2).
        lr_decay: :math:`\delta` (default 0).
        weight_decay: L2 penalty :math:`\lambda` (default 0).
        initial_accumulator_value: :math:`s_0` (default 0).
        eps: added outside the root (default 1e-10, as torch).
        eps_root: added inside the root (default 0).
        foreach, maximize, differentiable, fused: as in torch; ``fused=True`` runs the one-pass kernel
            (C on CPU, Triton on CUDA: :mod:`descend.optim.engine`), ``differentiable=True`` the per-tensor
            path under autograd.

    Sparse gradients are accepted (without weight decay): only the coordinates they touch change, as in torch.
    State per parameter: ``step``, ``sum``.
    """

    sparse_gradients = "support"
    eager_state = True

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        eps_root: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, eps_root=eps_root,
            foreach=foreach, maximize=maximize, differentiable=differentiable, fused=fused,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "eps_root"):
            nonnegative(name, group[name])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"sum": accumulator(param, group["initial_accumulator_value"])}

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        return Scalars(
            clr=group["lr"] / (1 + (step - 1) * group["lr_decay"]),
            weight_decay=group["weight_decay"], eps=group["eps"], eps_root=group["eps_root"],
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        if on(h.weight_decay):
            g = g + h.weight_decay * p
        s = state["sum"] + g * g
        std = plus(plus(s, h.eps_root).sqrt(), h.eps)
        return p - h.clr * (g / std), {"sum": s}
