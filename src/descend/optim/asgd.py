"""Averaged SGD: SGD with a decaying step, and a running average of the iterates."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, flag, nonnegative, number, on, scalar_dtype, stored, value, zeros


def _eta(lr: Any, lambd: Any, alpha: Any, step: float) -> Any:
    return lr / ((1 + lambd * lr * step) ** alpha)


def _mu(t0: Any, step: float) -> Any:
    return 1 / max(1, step - t0)


class ASGD(Optimizer):
    r"""Averaged SGD (Polyak & Juditsky, 1992); a drop-in for :class:`torch.optim.ASGD`.

    .. math::
        \begin{aligned}
        g_t &\leftarrow \nabla f(x_{t-1}) + \lambda_2\, x_{t-1} \quad (\text{weight decay } \lambda_2) \\
        x_t &\leftarrow (1 - \lambda\, \eta_{t-1})\, x_{t-1} - \eta_{t-1}\, g_t \\
        \bar x_t &\leftarrow \bar x_{t-1} + \mu_{t-1}\, (x_t - \bar x_{t-1}) \\
        \eta_t &\leftarrow \frac{\eta}{(1 + \lambda \eta t)^{\alpha}}, \qquad
            \mu_t \leftarrow \frac{1}{\max(1,\ t - t_0)}
        \end{aligned}

    The step :math:`\eta_t` decays as :math:`t^{-\alpha}`; after step :math:`t_0` the average
    :math:`\bar x` (``ax``) is the mean of the iterates since then, the answer averaged SGD returns (copy it
    into the parameters to use it). :math:`\eta_t` and :math:`\mu_t` are kept per parameter as one-element
    tensors, as in torch.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 1e-2).
        lambd: the decay term :math:`\lambda` (default 1e-4).
        alpha: the power :math:`\alpha` of the step's decay (default 0.75).
        t0: the step :math:`t_0` where averaging starts (default 1e6).
        weight_decay: :math:`\lambda_2` (default 0).
        foreach, maximize, differentiable, fused: as in torch; ``fused=True`` runs the one-pass C kernel
            (:mod:`descend.optim.engine.c`).

    State per parameter: ``step``, ``eta``, ``mu``, ``ax``.
    Paper: B. T. Polyak and A. B. Juditsky, *Acceleration of Stochastic Approximation by Averaging*, SIAM J.
    Control Optim. 30(4), 1992.
    """

    scalar_state = ("eta", "mu")

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
        *,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
            maximize=maximize, differentiable=differentiable, capturable=capturable, fused=fused,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        nonnegative("lr", group["lr"])
        nonnegative("weight_decay", group["weight_decay"])
        for name in ("lambd", "alpha", "t0"):
            number(name, group[name])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {
            "eta": torch.as_tensor(value(group["lr"]), dtype=scalar_dtype()).clone(),
            "mu": torch.tensor(1.0, dtype=scalar_dtype()),
            "ax": zeros(param),
        }

    @staticmethod
    def scalars(group: dict[str, Any], step: float, numbers: dict[str, float] | None = None) -> Scalars:
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        if numbers is None:  # not kept (a sweep): the values the previous step left
            numbers = {"eta": stored(lr if step <= 1 else _eta(lr, lambd, alpha, step - 1)),
                       "mu": stored(1.0 if step <= 1 else _mu(t0, step - 1))}  # fmt: skip
        eta, mu = numbers["eta"], numbers["mu"]
        numbers["eta"], numbers["mu"] = _eta(lr, lambd, alpha, step), _mu(t0, step)
        return Scalars(
            weight_decay=group["weight_decay"], shrink=1 - lambd * eta, neg_eta=-eta, average=mu != 1, mu=mu,
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        if on(h.weight_decay):
            g = g + h.weight_decay * p
        p = p * h.shrink + h.neg_eta * g
        ax = state["ax"] + (p - state["ax"]) * h.mu if h.average else p.clone()
        return p, {"ax": ax}
