"""Adafactor: second moments kept as row and column factors, updates clipped by their root mean square."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, flag, number, on, require, zeros


class Adafactor(Optimizer):
    r"""Adafactor (Shazeer & Stern, 2018), as torch has it; a drop-in for :class:`torch.optim.Adafactor`.

    For a matrix (the last two dimensions of a tensor) the second moment is kept as its row and column
    means :math:`R_t, C_t`, :math:`n + m` numbers instead of :math:`nm`:

    .. math::
        \begin{aligned}
        \hat\beta_{2,t} &= 1 - t^{\tau}, \qquad \rho_t = \min(\eta, 1/\sqrt t), \qquad
            \alpha_t = \max(\epsilon_2, \operatorname{RMS}(x_{t-1}))\, \rho_t \\
        x_{t-1} &\leftarrow (1 - \eta\lambda)\, x_{t-1} \\
        R_t &\leftarrow \hat\beta_{2,t} R_{t-1} + (1 - \hat\beta_{2,t})\, \operatorname{mean}_{cols}(g_t^2),
            \qquad C_t \leftarrow \hat\beta_{2,t} C_{t-1} + (1 - \hat\beta_{2,t})\,
            \operatorname{mean}_{rows}(g_t^2) \\
        \hat V_t &= \frac{R_t C_t}{\max(\operatorname{mean}(R_t), \epsilon_1)}
            \quad (\text{vectors: } \hat V_t = \hat\beta_{2,t} \hat V_{t-1}
            + (1 - \hat\beta_{2,t})\, g_t^2) \\
        U_t &= g_t / \sqrt{\max(\hat V_t, \epsilon_1^2)} \\
        x_t &\leftarrow x_{t-1} - \frac{\alpha_t}{\max(1, \operatorname{RMS}(U_t)/d)}\, U_t
        \end{aligned}

    There is no first moment. The step is relative to the parameter's own scale (:math:`\alpha_t`) and
    the update is clipped to root mean square :math:`d`. For a vector the update is element-wise but for
    two norms per tensor, which the C kernel computes in passes of its own; a matrix's factors (means over
    rows and columns, an outer product) make its update per tensor (:mod:`descend.optim.engine`).

    Args:
        params: parameters or parameter groups (real).
        lr: :math:`\eta`, the cap on the relative step size (default 1e-2).
        beta2_decay: :math:`\tau \le 0` (default -0.8).
        eps: :math:`(\epsilon_1, \epsilon_2)`; :math:`\epsilon_1` None is the dtype's machine epsilon
            (default (None, 1e-3)).
        d: the clipping threshold :math:`d \ge 1` (default 1.0).
        weight_decay: decoupled decay :math:`\lambda` (default 0).
        foreach, maximize: as in torch.

    State per parameter: ``step``, and ``row_var`` and ``col_var`` (for two or more dimensions: the
    parameter's shape with the last, resp. second-to-last, dimension 1) or ``variance`` (otherwise).
    Paper: N. Shazeer and M. Stern, *Adafactor: Adaptive Learning Rates with Sublinear Memory Cost*,
    ICML 2018.
    """

    #: Not on the rows of a sweep: it keeps row and column means of each tensor, which would mix the rows.
    sweepable = False

    supports_complex = False

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, beta2_decay=beta2_decay, eps=tuple(eps), d=d, weight_decay=weight_decay, foreach=foreach,
            maximize=maximize,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        lr, decay, eps, d, wd = (group[k] for k in ("lr", "beta2_decay", "eps", "d", "weight_decay"))
        require(number("lr", lr) >= 0, f"Learning rate should be >= 0 but is: {lr}")
        require(number("beta2_decay", decay) <= 0, f"beta2_decay should be <= 0 but is: {decay}")
        require(
            isinstance(eps, tuple) and len(eps) == 2, f"Invalid eps: {eps!r}; expected a pair (eps1, eps2)"
        )
        require(eps[0] is None or number("eps[0]", eps[0]) >= 0, f"epsilon1 should be >= 0 but is: {eps[0]}")
        require(number("eps[1]", eps[1]) >= 0, f"epsilon2 should be >= 0 but is: {eps[1]}")
        require(number("d", d) >= 1, f"Clipping threshold d should be >= 1 but is: {d}")
        require(number("weight_decay", wd) >= 0, f"weight_decay should be >= 0 but is: {wd}")
        flag("maximize", group["maximize"])

    @staticmethod
    def state_shape(key: str, param: Tensor) -> tuple[int, ...]:
        shape = list(param.shape)
        if key == "row_var":
            shape[-1] = 1
        elif key == "col_var":
            shape[-2] = 1
        return tuple(shape)

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        if param.dim() < 2:
            return {"variance": zeros(param)}
        return {
            "row_var": param.new_zeros(Adafactor.state_shape("row_var", param)),
            "col_var": param.new_zeros(Adafactor.state_shape("col_var", param)),
        }

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        eps1, eps2 = group["eps"]
        return Scalars(
            lr=group["lr"], weight_decay=group["weight_decay"], eps1=eps1, eps2=eps2, d=group["d"],
            one_minus_beta2=step ** group["beta2_decay"], rho=min(group["lr"], 1 / step**0.5),
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        eps1 = torch.finfo(p.dtype).eps if h.eps1 is None else h.eps1
        # numbers stay tensors (no float()), so the rule maps over a stack of tensors (engine.loop.STACKED);
        # of an empty tensor they are NaN, and multiply nothing
        alpha = (torch.linalg.vector_norm(p) / p.numel() ** 0.5).clamp(min=h.eps2) * h.rho
        decay = 1 - h.lr * h.weight_decay
        if "variance" in state:  # a vector: element-wise but for the two norms, so a kernel takes it
            if on(h.weight_decay):
                p = p * decay
            variance = state["variance"].lerp(g * g, h.one_minus_beta2)
            update = 1 / variance.clamp(min=eps1 * eps1).sqrt() * g  # torch's rsqrt is 1 / sqrt
            return p - update * (alpha / _clip(update, h.d)), {"variance": variance}
        # A matrix runs per tensor, so in place (a per-tensor rule may write its inputs, see
        # descend.optim.rule): a fresh large tensor is a pass more, over memory the OS must clear first.
        if on(h.weight_decay):
            p = p.mul_(decay)
        row_mean = torch.linalg.vector_norm(g, dim=-1, keepdim=True).square() / g.size(-1)
        col_mean = torch.linalg.vector_norm(g, dim=-2, keepdim=True).square() / g.size(-2)
        row = state["row_var"].lerp(row_mean, h.one_minus_beta2)
        col = state["col_var"].lerp(col_mean, h.one_minus_beta2)
        update = (row @ col).div_(row.mean(dim=-2, keepdim=True).clamp(min=eps1))
        update.clamp_min_(eps1 * eps1).rsqrt_().mul_(g)
        return p.sub_(update.mul_(alpha / _clip(update, h.d))), {"row_var": row, "col_var": col}


def _clip(update: Any, d: float) -> Any:
    """The update's clipping divisor: max(1, RMS(update) / d)."""
    return (torch.linalg.vector_norm(update) / (update.numel() ** 0.5 * d)).clamp(min=1.0)
