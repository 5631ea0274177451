"""SparseAdam: Adam that moves only the rows a sparse gradient touches (embeddings)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import (
    Scalars,
    betas_pair,
    bias_corrections,
    flag,
    moments,
    number,
    plus,
    require,
)


class SparseAdam(Optimizer):
    r"""Adam for sparse gradients (embeddings); a drop-in for :class:`torch.optim.SparseAdam`.

    On the entries :math:`i` that the sparse gradient holds, and nowhere else:

    .. math::
        \begin{aligned}
        v_{t,i} &\leftarrow v_{t-1,i} + (1 - \beta_1)(g_{t,i} - v_{t-1,i}) \\
        s_{t,i} &\leftarrow s_{t-1,i} + (1 - \beta_2)(g_{t,i}^2 - s_{t-1,i}) \\
        x_{t,i} &\leftarrow x_{t-1,i} - \eta\, \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}\,
            \frac{v_{t,i}}{\sqrt{s_{t,i} + \epsilon_{root}} + \epsilon}
        \end{aligned}

    Rows an embedding did not look up keep their moments unchanged (their decay waits for the next
    lookup), which is what makes the step cost proportional to the rows used. Dense gradients are refused.

    Args:
        params: dense parameters or parameter groups.
        lr: :math:`\eta` (default 1e-3).
        betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
        eps: added outside the root (default 1e-8).
        maximize: maximize the objective instead.
        eps_root: added inside the root (default 0).

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    #: Not on the rows of a sweep: it takes sparse gradients only.
    sweepable = False

    sparse_gradients = "only"

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
        *,
        eps_root: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps, maximize=maximize,
            eps_root=eps_root,
        )  # fmt: skip
        super().__init__(params, defaults)
        self._dense_params_only(range(len(self.param_groups)))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        if hasattr(self, "defaults") and len(self.param_groups) > 1:  # after construction
            try:
                self._dense_params_only([len(self.param_groups) - 1])
            except ValueError:
                self.param_groups.pop()
                raise

    def _dense_params_only(self, groups: Any) -> None:
        where = [(i, j, p) for i in groups for j, p in enumerate(self.param_groups[i]["params"])]
        sparse = [[i, j] for i, j, p in where if p.is_sparse]
        if sparse:
            raise ValueError(
                f"Sparse params at indices {sparse}: SparseAdam requires dense parameter tensors"
            )
        complex_ = [[i, j] for i, j, p in where if p.is_complex()]
        if complex_:
            raise ValueError(
                f"Complex params at indices {complex_}: SparseAdam does not support complex parameters"
            )

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        require(number("lr", group["lr"]) > 0, f"Invalid learning rate: {group['lr']}; expected lr > 0")
        require(number("eps", group["eps"]) > 0, f"Invalid epsilon value: {group['eps']}; expected eps > 0")
        require(number("eps_root", group["eps_root"]) >= 0,
                f"Invalid eps_root: {group['eps_root']}; expected eps_root >= 0")  # fmt: skip
        betas_pair(group["betas"])
        flag("maximize", group["maximize"])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return moments(param, "exp_avg", "exp_avg_sq")

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        beta1, beta2 = group["betas"]
        bc1, bc2 = bias_corrections(beta1, beta2, step)
        return Scalars(
            beta1=beta1, beta2=beta2, eps=group["eps"], eps_root=group["eps_root"],
            neg_step_size=-(group["lr"] * bc2**0.5 / bc1), bias_correction2=bc2,
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        exp_avg = state["exp_avg"] + (g - state["exp_avg"]) * (1 - h.beta1)
        exp_avg_sq = state["exp_avg_sq"] + (g * g - state["exp_avg_sq"]) * (1 - h.beta2)
        denom = plus(plus(exp_avg_sq, h.eps_root * h.bias_correction2).sqrt(), h.eps)
        return p + h.neg_step_size * (exp_avg / denom), {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
