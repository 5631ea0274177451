"""Schedule-Free SGD and AdamW: an averaged iterate in place of a learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

from descend.optim.optimizer import Optimizer
from descend.optim.rule import (
    Scalars,
    betas_pair,
    ema_square,
    flag,
    nonnegative,
    number,
    on,
    plus,
    require,
    zeros,
)


class _ScheduleFree(Optimizer):
    r"""What the two Schedule-Free methods share: the running weights, and train()/eval().

    The parameters hold :math:`y_t` while training (the point gradients are taken at) and :math:`x_t` (the
    average, the one to evaluate and keep) after :meth:`eval`. Each group keeps, as the authors' code does,
    ``k`` (steps taken), ``lr_max``, ``weight_sum``, ``scheduled_lr`` (this step's :math:`\gamma_t`) and
    ``train_mode``: a state dict holds everything to resume exactly.
    """

    #: Not on the rows of a sweep: it keeps running weights per parameter group, advanced by step().
    sweepable = False

    counts_steps = False

    def _schedule(self, group: dict[str, Any], lr: float, k: int) -> float:
        """The learning rate of step ``k`` after warmup, before the method's own factor."""
        warmup = group["warmup_steps"]
        return lr * (k / warmup if k < warmup else 1.0)

    def _factor(self, group: dict[str, Any], k: int) -> float:
        return 1.0

    def prepare(self) -> bool:
        """Advance each group's running weights: c_{t+1} = γ_t^p t^r / Σ_i γ_i^p i^r (γ its running max)."""
        for group in self.param_groups:
            if not group["train_mode"]:
                raise RuntimeError(
                    f"{type(self).__name__}: step() in eval mode; call optimizer.train() before training "
                    "(and optimizer.eval() before evaluating or saving the averaged parameters)"
                )
            k = group["k"] + 1
            lr = self._schedule(group, float(group["lr"]), k) * self._factor(group, k)
            group["lr_max"] = max(lr, group["lr_max"])
            weight = k ** group["r"] * group["lr_max"] ** group["weight_lr_power"]
            group["weight_sum"] = group["weight_sum"] + weight
            group["scheduled_lr"], group["k"] = lr, k
        return True

    @staticmethod
    def averaging(group: dict[str, Any]) -> float:
        """c_{t+1}, the weight of this step's z in the average x (0 while every weight is 0)."""
        if group["k"] == 0:
            raise TypeError(
                "Schedule-Free keeps running weights per parameter group (advanced by step()); its update "
                "cannot run outside an optimizer's step, e.g. on the rows of a sweep"
            )
        weight = group["k"] ** group["r"] * group["lr_max"] ** group["weight_lr_power"]
        return weight / group["weight_sum"] if group["weight_sum"] else 0.0

    @staticmethod
    def _check_schedule(group: dict[str, Any]) -> None:
        nonnegative("lr", group["lr"])
        nonnegative("weight_decay", group["weight_decay"])
        steps = group["warmup_steps"]
        require(isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0,
                f"Invalid warmup_steps: {steps!r}; expected an integer >= 0")  # fmt: skip
        require(number("r", group["r"]) >= 0, f"Invalid r: {group['r']}; expected r >= 0")
        power = group["weight_lr_power"]
        require(number("weight_lr_power", power) >= 0,
                f"Invalid weight_lr_power: {power}; expected weight_lr_power >= 0")  # fmt: skip
        flag("maximize", group["maximize"])
        flag("train_mode", group["train_mode"])

    def _switch(self, to_train: bool) -> None:
        with torch.no_grad():
            for group in self.param_groups:
                if group["train_mode"] == to_train:
                    continue
                beta = self._beta1(group)
                weight = 1 - beta if to_train else 1 - 1 / beta
                for p in group["params"]:
                    z = self.state.get(p, {}).get("z")
                    if z is not None:
                        p.lerp_(z.to(p.device), weight)
                group["train_mode"] = to_train

    def train(self) -> None:
        """Set the parameters to y (where gradients are taken), for training steps."""
        self._switch(True)

    def eval(self) -> None:
        """Set the parameters to x, the average: for evaluation, and for saving the model."""
        self._switch(False)

    #: β of a group (how y sits between z and x): each variant keeps it under its own name
    _beta1: ClassVar[Callable[[dict[str, Any]], float]]


class ScheduleFreeSGD(_ScheduleFree):
    r"""Schedule-Free SGD (Defazio et al., 2024): no learning-rate schedule, an average instead.

    .. math::
        \begin{aligned}
        y_t &= (1 - \beta)\, z_t + \beta\, x_t \quad (\text{the parameters while training}) \\
        \gamma_t &= \eta \min(1, t / T_{warmup}), \qquad
            c_{t+1} = \frac{t^r\, \gamma_{\max,t}^p}{\sum_{i \le t} i^r\, \gamma_{\max,i}^p} \\
        z_{t+1} &= z_t - \gamma_t\, \big(\nabla f(y_t) + \lambda\, y_t\big) \\
        x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}
        \end{aligned}

    :math:`x` is an online average of the SGD iterates :math:`z` (uniform for :math:`r = 0, p = 0`), and the
    gradient is taken between the two, which works as momentum :math:`\beta` does. Only :math:`y` (the
    parameters) and :math:`z` are stored; :meth:`eval` sets the parameters to :math:`x`, :meth:`train` back
    to :math:`y`. The optimizer starts in train mode; call ``eval()`` before evaluating or saving the model.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 1.0, the authors').
        momentum: :math:`\beta`, with :math:`0 < \beta < 1` (default 0.9).
        weight_decay: :math:`\lambda`, applied at :math:`y` (default 0).
        warmup_steps: :math:`T_{warmup}` of a linear warmup (default 0).
        r: the power of :math:`t` in the averaging weights (default 0).
        weight_lr_power: :math:`p`, the power of the (running maximum) learning rate in the weights
            (default 2).
        foreach, maximize, differentiable, fused: as for :class:`SGD`; ``fused=True`` runs the one-pass C
            kernel (:mod:`descend.optim.engine.c`).

    State per parameter: ``z``. Per group: ``k``, ``lr_max``, ``weight_sum``, ``scheduled_lr``,
    ``train_mode``.
    Paper: A. Defazio et al., *The Road Less Scheduled*, NeurIPS 2024 (Algorithm 1, SGD form).
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, weight_decay=weight_decay, warmup_steps=warmup_steps, r=r,
            weight_lr_power=weight_lr_power, k=0, lr_max=-1.0, weight_sum=0.0, scheduled_lr=0.0,
            train_mode=True, foreach=foreach, maximize=maximize, differentiable=differentiable, fused=fused,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        _ScheduleFree._check_schedule(group)
        momentum = group["momentum"]
        require(0 < number("momentum", momentum) < 1,
                f"Momentum must be between 0 and 1 exclusive: {momentum}")  # fmt: skip

    @staticmethod
    def _beta1(group: dict[str, Any]) -> float:
        return group["momentum"]

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"z": param.detach().clone(memory_format=torch.preserve_format)}

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        ckp1, lr = _ScheduleFree.averaging(group), group["scheduled_lr"]
        return Scalars(
            lr=lr, ckp1=ckp1, y_step=lr * (group["momentum"] * (1 - ckp1) - 1),
            weight_decay=group["weight_decay"],
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        if on(h.weight_decay):
            g = g + h.weight_decay * p
        # y_{t+1} from y_t without forming x: the average's move towards z, then the gradient's share
        y = p.lerp(state["z"], h.ckp1) + h.y_step * g
        return y, {"z": state["z"] - h.lr * g}


class ScheduleFreeAdamW(_ScheduleFree):
    r"""Schedule-Free AdamW (Defazio et al., 2024): Adam's normalised steps, averaged instead of scheduled.

    .. math::
        \begin{aligned}
        y_t &= (1 - \beta_1)\, z_t + \beta_1\, x_t \quad (\text{the parameters while training}) \\
        s_t &\leftarrow \beta_2 s_{t-1} + (1 - \beta_2)\, g_t^2, \qquad g_t = \nabla f(y_t) \\
        \gamma_t &= \eta\, \sqrt{1 - \beta_2^t}\, \min(1, t / T_{warmup}), \qquad
            c_{t+1} = \frac{t^r\, \gamma_{\max,t}^p}{\sum_{i \le t} i^r\, \gamma_{\max,i}^p} \\
        z_{t+1} &= z_t - \gamma_t\, \Big(\frac{g_t}{\sqrt{s_t + \epsilon_{root}} + \epsilon}
            + \lambda\, y_t\Big) \\
        x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}
        \end{aligned}

    As in the paper's algorithm box, the bias correction of :math:`s_t` is in :math:`\gamma_t` (the authors'
    later code moves it under the root). :meth:`eval` sets the parameters to :math:`x`, :meth:`train` back
    to :math:`y`; the optimizer starts in train mode.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta` (default 0.0025).
        betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)); :math:`\beta_1 > 0`.
        eps: added outside the root (default 1e-8).
        weight_decay: :math:`\lambda`, applied at :math:`y` (default 0).
        warmup_steps: :math:`T_{warmup}` (default 0).
        r: the power of :math:`t` in the averaging weights (default 0).
        weight_lr_power: :math:`p` (default 2).
        eps_root: added inside the root (default 0).
        foreach, maximize, differentiable, fused: as for :class:`Adam`; ``fused=True`` runs the one-pass C
            kernel (:mod:`descend.optim.engine.c`).

    State per parameter: ``z``, ``exp_avg_sq``. Per group: ``k``, ``lr_max``, ``weight_sum``,
    ``scheduled_lr``, ``train_mode``.
    Paper: A. Defazio et al., *The Road Less Scheduled*, NeurIPS 2024 (Algorithm 1).
    """

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        eps_root: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
            weight_decay=weight_decay, warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power, k=0,
            lr_max=-1.0, weight_sum=0.0, scheduled_lr=0.0, train_mode=True, foreach=foreach,
            maximize=maximize, differentiable=differentiable, fused=fused, eps_root=eps_root,
        )  # fmt: skip
        super().__init__(params, defaults)

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        _ScheduleFree._check_schedule(group)
        betas_pair(group["betas"])
        beta1 = group["betas"][0]
        require(number("betas[0]", beta1) > 0,
                f"Invalid beta parameter at index 0: {beta1}; expected 0 < beta1 < 1")  # fmt: skip
        nonnegative("eps", group["eps"])
        nonnegative("eps_root", group["eps_root"])

    @staticmethod
    def _beta1(group: dict[str, Any]) -> float:
        return group["betas"][0]

    def _factor(self, group: dict[str, Any], k: int) -> float:
        return math.sqrt(1 - group["betas"][1] ** k)

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"z": param.detach().clone(memory_format=torch.preserve_format), "exp_avg_sq": zeros(param)}

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        (beta1, beta2), ckp1, lr = group["betas"], _ScheduleFree.averaging(group), group["scheduled_lr"]
        return Scalars(
            lr=lr, ckp1=ckp1, y_step=lr * (beta1 * (1 - ckp1) - 1), beta2=beta2, eps=group["eps"],
            eps_root=group["eps_root"], weight_decay=group["weight_decay"],
        )  # fmt: skip

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        exp_avg_sq = ema_square(state["exp_avg_sq"], g, h.beta2)
        g = g / plus(plus(exp_avg_sq, h.eps_root).sqrt(), h.eps)
        if on(h.weight_decay):
            g = g + h.weight_decay * p
        y = p.lerp(state["z"], h.ckp1) + h.y_step * g
        return y, {"z": state["z"] - h.lr * g, "exp_avg_sq": exp_avg_sq}
