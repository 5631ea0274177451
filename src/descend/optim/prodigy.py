"""Prodigy: Adam whose learning rate is estimated from the distance to the solution, as it trains."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from descend.optim.engine import checks
from descend.optim.optimizer import Optimizer
from descend.optim.rule import Scalars, betas_pair, flag, nonnegative, number, on, require, zeros


class Prodigy(Optimizer):
    r"""Prodigy (Mishchenko & Defazio, 2024): a learning-rate-free Adam.

    With :math:`d_t` the running estimate of :math:`D = \|x_0 - x_*\|` (starting at :math:`d_0`) and
    :math:`\hat\eta_t = \eta\, d_t` (times Adam's bias correction if asked for):

    .. math::
        \begin{aligned}
        r_t &\leftarrow \beta_3 r_{t-1} + \tfrac{d_t}{d_0} \hat\eta_t\, \langle g_t,\, x_0 - x_{t-1} \rangle,
            \qquad s_t \leftarrow \beta_3 s_{t-1} + \tfrac{d_t}{d_0} \hat\eta_t\, g_t \\
        d_{t+1} &= \max\big(d_t,\ c\, r_t / \|s_t\|_1\big)
            \quad (\text{at most } d_t \text{ times } \texttt{growth\_rate}) \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1)\, d_t\, g_t, \qquad
            v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2)\, d_t^2\, g_t^2 \\
        x_t &\leftarrow (1 - \lambda \hat\eta_t)\, x_{t-1}
            - \hat\eta_t\, \frac{m_t}{\sqrt{v_t + \epsilon_{root}} + d_{t+1}\, \epsilon}
        \end{aligned}

    :math:`r_t / \|s_t\|_1` lower-bounds the distance :math:`D` (for a convex objective), so the step grows
    from the tiny :math:`d_0` to the right scale within a few hundred steps; ``lr`` stays 1 unless training
    is unstable. The sums run over every parameter of every group (one :math:`d` for the optimizer), and
    :math:`\beta_3 = \sqrt{\beta_2}` unless given. As in the authors' implementation: :math:`d_{t+1}` is the
    larger of :math:`d_t` and the estimate, capped by ``growth_rate``; :math:`\epsilon` is scaled by the new
    estimate; ``safeguard_warmup`` drops :math:`\eta` from :math:`s_t`. The group-wide sums run per tensor;
    the update itself is element-wise (the one-pass kernel on CPU).

    Args:
        params: parameters or parameter groups (all with the same lr, or lr 0).
        lr: :math:`\eta`, a multiplier on the estimated step (default 1.0).
        betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
        beta3: :math:`\beta_3` (default None: :math:`\sqrt{\beta_2}`).
        eps: :math:`\epsilon` (default 1e-8).
        weight_decay: :math:`\lambda` (default 0).
        decouple: AdamW's decay (default True); False adds :math:`\lambda x` to the gradient.
        use_bias_correction: Adam's bias correction in :math:`\hat\eta_t` (default False).
        safeguard_warmup: leave :math:`\eta` out of :math:`s_t` (default False).
        d0: :math:`d_0` (default 1e-6).
        d_coef: :math:`c`, a multiplier on the estimate (default 1.0).
        growth_rate: the largest factor :math:`d` may grow by in a step (default inf).
        eps_root: added inside the root (default 0).
        foreach, maximize, fused: as for :class:`Adam`.

    State per parameter: ``s``, ``p0`` (:math:`x_0`), ``exp_avg``, ``exp_avg_sq``. Per group: ``d``,
    ``d_max``, ``d_hat``, ``d_numerator`` (:math:`r`), ``d_denom``, ``dlr`` (:math:`\hat\eta_t`), ``k``.
    Paper: K. Mishchenko and A. Defazio, *Prodigy: An Expeditiously Adaptive Parameter-Free Learner*,
    ICML 2024 (Algorithm 4, Adam version).
    """

    #: Not on the rows of a sweep: it estimates its step size over every parameter in step().
    sweepable = False

    counts_steps = False

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1.0,
        betas: tuple[float, float] = (0.9, 0.999),
        beta3: float | None = None,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decouple: bool = True,
        use_bias_correction: bool = False,
        safeguard_warmup: bool = False,
        d0: float = 1e-6,
        d_coef: float = 1.0,
        growth_rate: float = math.inf,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        fused: bool | None = None,
        eps_root: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, beta3=beta3, eps=eps,
            weight_decay=weight_decay, decouple=decouple, use_bias_correction=use_bias_correction,
            safeguard_warmup=safeguard_warmup, d0=d0, d_coef=d_coef, growth_rate=growth_rate, d=d0, d_max=d0,
            d_hat=d0, d_numerator=0.0, d_denom=0.0, dlr=0.0, k=0, foreach=foreach, maximize=maximize,
            fused=fused, eps_root=eps_root,
        )  # fmt: skip
        super().__init__(params, defaults)
        # the distance estimate reads the gradients before the step: GradScaler must unscale them first
        self._step_supports_amp_scaling = False

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        lr, d0, eps = group["lr"], group["d0"], group["eps"]
        require(number("d0", d0) > 0, f"Invalid d0 value: {d0}; expected d0 > 0")
        require(number("lr", lr) >= 0, f"Invalid learning rate: {lr}; expected lr >= 0")
        require(number("eps", eps) > 0, f"Invalid epsilon value: {eps}; expected eps > 0")
        betas_pair(group["betas"])
        beta3 = group["beta3"]
        require(beta3 is None or 0 <= number("beta3", beta3) < 1,
                f"Invalid beta3: {beta3}; expected 0 <= beta3 < 1")  # fmt: skip
        for name in ("weight_decay", "d_coef", "eps_root"):
            nonnegative(name, group[name])
        require(number("growth_rate", group["growth_rate"]) >= 1,
                f"Invalid growth_rate: {group['growth_rate']}; expected growth_rate >= 1")  # fmt: skip
        for name in ("decouple", "use_bias_correction", "safeguard_warmup", "maximize"):
            flag(name, group[name])

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {
            "s": zeros(param),
            "p0": param.detach().clone(memory_format=torch.preserve_format),
            "exp_avg": zeros(param),
            "exp_avg_sq": zeros(param),
        }

    def prepare(self) -> bool:
        """The distance estimate: r and s over every parameter (and the moments, which use the old d)."""
        groups = self.param_groups
        first = groups[0]
        beta1, beta2 = (float(b) for b in first["betas"])
        beta3 = math.sqrt(beta2) if first["beta3"] is None else float(first["beta3"])
        d, d_max, k = first["d"], first["d_max"], first["k"]
        lr = max(float(group["lr"]) for group in groups)
        corrected = first["use_bias_correction"]
        bias = math.sqrt(1 - beta2 ** (k + 1)) / (1 - beta1 ** (k + 1)) if corrected else 1.0
        dlr = d * lr * bias
        numerator, denominator = first["d_numerator"] * beta3, 0.0
        for index, group in enumerate(groups):
            group_lr = float(group["lr"])
            if group_lr not in (lr, 0.0):
                raise RuntimeError(
                    f"Prodigy: parameter group {index} has lr={group_lr}; every group must have the same lr "
                    f"({lr}) or lr=0"
                )
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse or p.is_complex():
                    what = "sparse gradients" if p.grad.is_sparse else "complex parameters"
                    raise RuntimeError(f"Prodigy does not support {what}")
                state = self.state.get(p) or self._new_state(p, group)
                checks.fits("Prodigy", group, index, p, p.grad, state, tuple(state))
                if group_lr == 0.0:
                    continue
                g = -p.grad if group["maximize"] else p.grad
                if on(group["weight_decay"]) and not group["decouple"]:
                    g = g + group["weight_decay"] * p
                p0, s = state["p0"], state["s"]
                scale = d / group["d0"] * (d if group["safeguard_warmup"] else dlr)
                numerator += d / group["d0"] * dlr * float(torch.sum(g * (p0 - p.detach())))
                s.mul_(beta3).add_(g, alpha=scale)
                state["exp_avg"].mul_(beta1).add_(g, alpha=d * (1 - beta1))
                state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=d * d * (1 - beta2))
                denominator += float(s.abs().sum())
        if denominator == 0:  # no gradient yet (or all zero): nothing moves
            return False
        d_hat = d
        if lr > 0:
            d_hat = first["d_coef"] * numerator / denominator
            if d == first["d0"]:
                d = max(d, d_hat)
            d_max = max(d_max, d_hat)
            d = min(d_max, d * first["growth_rate"])
        for group in groups:
            group.update(d_numerator=numerator, d_denom=denominator, d=d, d_max=d_max, d_hat=d_hat, dlr=dlr,
                         k=group["k"] + 1)  # fmt: skip
        return True

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        if group["k"] == 0:
            raise TypeError(
                "Prodigy estimates its step over every parameter (in step()); its update cannot run outside "
                "an optimizer's step, e.g. on the rows of a sweep"
            )
        decay = group["weight_decay"] if group["decouple"] else 0.0
        d_eps = group["d"] * group["eps"]
        return Scalars(dlr=group["dlr"], eps=d_eps, eps_root=group["eps_root"], decay=decay)

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        # the moments were advanced with the distance estimate (prepare); the step reads them
        denom = state["exp_avg_sq"]
        if on(h.eps_root):
            denom = denom + h.eps_root
        denom = denom.sqrt() + h.eps
        if on(h.decay):
            p = p * (1 - h.decay * h.dlr)
        return p - h.dlr * state["exp_avg"] / denom, {}
