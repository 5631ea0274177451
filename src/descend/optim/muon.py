"""Muon: momentum whose update matrix is orthogonalised by a Newton–Schulz iteration."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, flag, number, on, require, zeros

#: The quintic Newton–Schulz coefficients (a, b, c) of Keller Jordan's Muon, and torch's.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
#: The learning-rate adjustments by shape: ``None``/"original" scales by sqrt(max(1, rows/cols)),
#: "match_rms_adamw" by 0.2·sqrt(max(rows, cols)) (Moonshot's, to reuse AdamW's lr and weight decay).
ADJUSTMENTS = (None, "original", "match_rms_adamw")


def newton_schulz(m: Tensor, coefficients: tuple[float, float, float], steps: int, eps: float) -> Tensor:
    r"""An approximate orthogonalisation :math:`U V^\top` of :math:`m = U S V^\top`, in bfloat16.

    :math:`X_0 = m / \max(\|m\|_F, \epsilon)`, then ``steps`` times
    :math:`X \leftarrow aX + (bA + cA^2)X` with :math:`A = XX^\top`, on the wide orientation of ``m``;
    the singular values end up near 1 (between about 0.7 and 1.2 with the default coefficients).
    """
    a, b, c = coefficients
    tall = m.size(0) > m.size(1)
    x = m.bfloat16()
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


def adjusted_lr(lr: float, how: str | None, shape: torch.Size) -> float:
    rows, cols = shape[:2]
    if how == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr * math.sqrt(max(1, rows / cols))


class Muon(Optimizer):
    r"""Muon (Jordan et al., 2024) for matrix parameters; a drop-in for :class:`torch.optim.Muon`.

    .. math::
        \begin{aligned}
        B_t &\leftarrow \mu B_{t-1} + (1 - \mu)\, g_t \\
        \tilde B_t &\leftarrow (1 - \mu)\, g_t + \mu B_t \ (\text{nesterov}) \quad\text{else}\quad B_t \\
        O_t &\leftarrow \mathrm{NS}_k^{(a,b,c)}(\tilde B_t) \\
        x_t &\leftarrow (1 - \eta\lambda)\, x_{t-1} - \eta'\, O_t, \qquad
            \eta' = \eta \sqrt{\max(1, A/B)} \ \text{for an } A \times B \text{ matrix}
        \end{aligned}

    :math:`\mathrm{NS}_k` is :func:`newton_schulz`: :math:`k` quintic Newton–Schulz steps in bfloat16 that
    push every singular value of the momentum towards 1, so the update moves all directions alike. Only
    2-D parameters are taken (use AdamW for biases, embeddings and the output layer). The matrix products
    make the update per tensor.

    Args:
        params: 2-D parameters or parameter groups.
        lr: :math:`\eta` (default 1e-3).
        weight_decay: decoupled :math:`\lambda` (default 0.1).
        momentum: :math:`\mu` (default 0.95).
        nesterov: use :math:`\tilde B_t` (default True).
        ns_coefficients: :math:`(a, b, c)` (default :data:`NS_COEFFICIENTS`).
        eps: the floor of the norm in the first Newton–Schulz step (default 1e-7).
        ns_steps: :math:`k < 100` (default 5).
        adjust_lr_fn: ``None``/``"original"``, or ``"match_rms_adamw"`` (:math:`\eta' = 0.2\eta\sqrt{\max(A,
            B)}`).

    State per parameter: ``momentum_buffer``.
    Paper: K. Jordan et al., *Muon: An optimizer for hidden layers in neural networks* (2024); J. Liu et al.,
    *Muon is Scalable for LLM Training* (2025).
    """

    #: Not on the rows of a sweep: it orthogonalises each matrix's update, which would mix the rows.
    sweepable = False

    counts_steps = False
    supports_complex = False

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
        *,
        foreach: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
            ns_coefficients=tuple(ns_coefficients), eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn,
            foreach=foreach,
        )  # fmt: skip
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        bad = next((p for p in self.param_groups[-1]["params"] if p.ndim != 2), None)
        if bad is not None:
            self.param_groups.pop()
            raise ValueError(
                f"Muon only supports 2D parameters whereas we found a parameter with size: {bad.size()}; "
                "use another optimizer (AdamW) for the others"
            )

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        lr, momentum, wd, how = group["lr"], group["momentum"], group["weight_decay"], group["adjust_lr_fn"]
        require(number("lr", lr) >= 0, f"Learning rate should be >= 0 but is: {lr}")
        require(number("momentum", momentum) >= 0, f"momentum should be >= 0 but is: {momentum}")
        require(number("weight_decay", wd) >= 0, f"weight decay should be >= 0 but is: {wd}")
        require(how in ADJUSTMENTS, f"Adjust learning rate function {how} is not supported")
        coefficients, steps = group["ns_coefficients"], group["ns_steps"]
        require(isinstance(coefficients, tuple) and len(coefficients) == 3,
                f"Invalid ns_coefficients: {coefficients!r}; expected three numbers (a, b, c)")  # fmt: skip
        for i, v in enumerate(coefficients):
            number(f"ns_coefficients[{i}]", v)
        require(isinstance(steps, int) and not isinstance(steps, bool) and 0 <= steps < 100,
                f"Invalid ns_steps: {steps!r}; expected an integer 0 <= ns_steps < 100")  # fmt: skip
        require(number("eps", group["eps"]) >= 0, f"Invalid epsilon value: {group['eps']}; expected eps >= 0")
        flag("nesterov", group["nesterov"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"momentum_buffer": zeros(param)}

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        return Scalars(
            lr=group["lr"], weight_decay=group["weight_decay"], momentum=group["momentum"],
            nesterov=group["nesterov"], ns_coefficients=group["ns_coefficients"], eps=group["eps"],
            ns_steps=group["ns_steps"], adjust_lr_fn=group["adjust_lr_fn"],
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        if g.ndim != 2:
            raise ValueError(f"Muon: a gradient of shape {tuple(g.shape)}; expected a matrix")
        # A per-tensor rule may write its results into its inputs (see descend.optim.rule): over large
        # matrices, two passes less than returning new tensors for the loop to copy back.
        buf = state["momentum_buffer"].lerp_(g, 1 - h.momentum)
        update = g.lerp(buf, h.momentum) if h.nesterov else buf
        ortho = newton_schulz(update, h.ns_coefficients, h.ns_steps, h.eps)
        if on(h.weight_decay):
            p = p.mul_(1 - h.lr * h.weight_decay)
        # x + alpha * bfloat16 update, computed in x's dtype: what torch's param.add_ does
        return p.add_(ortho, alpha=-adjusted_lr(h.lr, h.adjust_lr_fn, p.shape)), {"momentum_buffer": buf}
