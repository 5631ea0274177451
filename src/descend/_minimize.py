r"""Full-batch minimization: :func:`minimize` runs a :class:`descend.methods.Descent` (a descent direction
and a step-size rule, or its shorthand string) or any optimizer class, and records the path.

Any optimizer class is a method: a :class:`torch.optim.Optimizer` subclass (``descend.optim.Adam``,
``torch.optim.SGD``, ...) or a short name of :mod:`descend.optim` (``"momentum"``, ``"adam"``, ...), its
hyperparameters passed as options (``beta1=``/``beta2=`` set one entry of ``betas``).

Learning-rate schedules: ``schedule(k)`` (k = 0 for the first update; any callable, e.g. a
:mod:`descend.schedules` schedule) is the learning rate of update k; when ``lr`` is given as well, it is a
multiplier on it, η_k = lr·schedule(k) (the SGD section's η·lr(t)). Gradient noise: ``noise=σ`` adds
N(0, σ²) to every coordinate of each gradient the update sees (the SGD section's experiments), drawn from a
generator seeded with ``seed``; the recorded gradient norms are those of the exact gradient.

>>> import torch
>>> from descend import minimize
>>> r = minimize(lambda x: (x**2).sum(), torch.tensor([10.0], dtype=torch.float64), "gd", steps=10, lr=0.2)
>>> round(float(r.x[0]), 6), r.nit, len(r.path), r.status
(0.060466, 10, 11, <Status.FINISHED: 'finished'>)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from descend import methods
from descend._loop import (
    CONVERGED,
    GOING,
    NOT_FINITE,
    TOO_FAR,
    as_start,
    gradient_noise,
    judge,
    norm_bound,
    optimizer_class,
    optimizer_options,
)
from descend.checks import count, optional_seed, positive
from descend.methods import Descent, Objective, Step, Stop, scheduled_lr
from descend.result import Result, Status

__all__ = ["minimize"]

TensorFn = Callable[[Tensor], Tensor]
Update = Callable[[Tensor, float, Tensor, Tensor, int], Step]


class _Record:
    """The iterates in a tensor that doubles as it fills (a million steps hold no million tensors)."""

    def __init__(self, x0: Tensor) -> None:
        self.path = torch.empty((64, *x0.shape), dtype=x0.dtype)
        self.n = 0
        self.values: list[float] = []
        self.norms: list[float] = []
        self.alphas: list[float] = []

    def add(self, x: Tensor, fx: float, g: Tensor, alpha: float | None = None) -> None:
        if self.n == len(self.path):
            self.path = torch.cat([self.path, torch.empty_like(self.path)])
        self.path[self.n] = x.detach()
        self.n += 1
        self.values.append(fx)
        self.norms.append(float(torch.linalg.vector_norm(g)))
        if alpha is not None:
            self.alphas.append(alpha)

    def result(self, obj: Objective, nit: int, status: Status, message: str, extra: dict[str, Any]) -> Result:
        if self.alphas:
            extra["step_sizes"] = torch.tensor(self.alphas, dtype=torch.float64)
        path = self.path[: self.n].clone()
        return Result(
            x=path[-1].clone(),
            fun=self.values[-1],
            nit=nit,
            nfev=obj.nfev,
            success=status.success,
            message=message,
            njev=obj.njev,
            nhev=obj.nhev,
            path=path,
            values=torch.tensor(self.values, dtype=torch.float64),
            grad_norms=torch.tensor(self.norms, dtype=torch.float64),
            extra=extra,
            status=status,
        )


def _verdict(
    x: Tensor, fx: float, g: Tensor, gnorm: float, tol: float | None, bound: Tensor, first: bool
) -> int:
    """:func:`descend._loop.judge` on one point, in Python floats where the norms are finite (then every
    entry is): on a small problem the tensors of the batched judge cost more than the update itself."""
    xnorm = float(torch.linalg.vector_norm(x))
    if not (math.isfinite(fx) and math.isfinite(xnorm) and math.isfinite(gnorm)):
        fun = torch.tensor([fx], dtype=torch.float64)
        return int(judge(x.reshape(1, -1), fun, g.reshape(1, -1), tol, bound, first)[0])
    if not first and xnorm > float(bound[0]):
        return TOO_FAR
    return CONVERGED if tol is not None and gnorm <= tol else GOING


def _run(
    obj: Objective,
    x0: Tensor,
    update: Update,
    steps: int,
    tol: float | None,
    noise: Callable[[Tensor], Tensor],
    extra: dict[str, Any],
    bound: Tensor,
    progress: bool,
) -> Result:
    """The loop every method shares: evaluate, judge (:func:`descend._loop.judge`), update, record."""
    x = x0
    fx, g = obj.value_and_grad(x)
    rec = _Record(x0)
    rec.add(x, fx, g)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, unit="step", disable=None, leave=False, mininterval=0.5)
    try:
        k = 0
        while True:
            verdict = _verdict(x, fx, g, rec.norms[-1], tol, bound, first=k == 0)
            if verdict == NOT_FINITE:
                where = "at the start" if k == 0 else f"at iteration {k}"
                return rec.result(obj, k, Status.DIVERGED, f"diverged {where}: f(x) = {fx}", extra)
            if verdict == TOO_FAR:
                message = (
                    f"diverged at iteration {k}: the iterate's norm exceeds {float(bound[0]):.3g} (max_norm)"
                )
                return rec.result(obj, k, Status.DIVERGED, message, extra)
            if verdict == CONVERGED:
                message = f"gradient norm {rec.norms[-1]:.3g} <= tol={tol:g}"
                return rec.result(obj, k, Status.CONVERGED, message, extra)
            if k == steps:
                break
            try:
                step = update(x, fx, g, noise(g), k)
            except Stop as stop:
                if stop.success:
                    return rec.result(obj, k, Status.CONVERGED, str(stop), extra)
                return rec.result(obj, k, Status.FAILED, f"stopped at iteration {k + 1}: {stop}", extra)
            x = step.x.detach()
            if step.grad is None:
                fx, g = obj.value_and_grad(x)
            else:
                fx, g = (step.fun if step.fun is not None else obj.value(x)), step.grad.detach()
            rec.add(x, fx, g, step.alpha)
            k += 1
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    if tol is None:
        message = f"completed {steps} iterations; f went from {rec.values[0]:.6g} to {fx:.6g}"
        return rec.result(obj, steps, Status.FINISHED, message, extra)
    message = f"steps={steps} reached with gradient norm {rec.norms[-1]:.3g} > tol={tol:g}"
    return rec.result(obj, steps, Status.MAX_STEPS, message, extra)


def _with_optimizer(
    obj: Objective,
    x0: Tensor,
    cls: type[torch.optim.Optimizer],
    options: dict[str, Any],
    schedule: Callable[[int], Any] | None,
) -> tuple[Update, dict[str, Any]]:
    p = x0.clone().requires_grad_(True)
    opt = cls([p], **options)
    base_lr = options.get("lr")
    # L-BFGS evaluates the objective itself, as many times as its line search asks: through a closure
    evaluates = issubclass(cls, torch.optim.LBFGS) or getattr(cls, "needs_closure", False)

    def closure() -> Tensor:
        fx, g = obj.value_and_grad(p.detach())
        p.grad = g
        return torch.tensor(fx, dtype=p.dtype)

    def update(x: Tensor, fx: float, g: Tensor, g_seen: Tensor, k: int) -> Step:
        if schedule is not None:
            opt.param_groups[0]["lr"] = scheduled_lr(schedule, k, base_lr)
        if evaluates:
            opt.step(closure)
        else:
            p.grad = g_seen.clone()
            opt.step()
        return Step(p.detach().clone(), float(opt.param_groups[0]["lr"]))

    return update, {"optimizer": cls.__name__}


def _descent(
    obj: Objective, method: Any, lr: Any, line_search: Any, schedule: Any, options: dict[str, Any]
) -> Descent:
    if isinstance(method, Descent):
        given = {"lr": lr, "line_search": line_search, "schedule": schedule, **options}
        extra = sorted(k for k, v in given.items() if v is not None)
        if extra == ["schedule"]:
            return methods.with_schedule(method, schedule)
        if extra:
            raise TypeError(
                f"Invalid option {extra[0]!r} with a Descent; set it on the direction or the step rule"
            )
        return method
    if not isinstance(method, str):
        raise TypeError(
            f"Invalid method: {method!r}; expected a method name, a Descent or an optimizer class"
        )
    if methods.split(method) is None:
        from descend import optim

        raise ValueError(
            f"Invalid method: {method!r}; expected one of {', '.join(methods.NAMES)} (optionally with a "
            f"suffix {', '.join('-' + s for s in methods.SEARCHES)}), a Descent, an optimizer class, or "
            f"one of {', '.join(optim.names())}"
        )
    return methods.parse(method, line_search=line_search, lr=lr, schedule=schedule, **options)


def minimize(
    f: TensorFn,
    x0: Any,
    method: Any = "gd",
    steps: int = 100,
    tol: float | None = None,
    *,
    lr: float | None = None,
    line_search: str | None = None,
    schedule: Callable[[int], Any] | None = None,
    noise: float = 0.0,
    seed: int | None = None,
    max_norm: float | None = 1e8,
    progress: bool = False,
    **options: Any,
) -> Result:
    r"""Minimize ``f`` from ``x0``: a descent direction with a step rule, or an optimizer class.

    See :mod:`descend.methods` for the directions, the step rules and the method strings.

    Args:
        f: a function of a tensor shaped like ``x0`` returning a scalar tensor; derivatives by autograd.
        x0: the start (a tensor keeps its dtype; numbers and lists become float64).
        method: a method string (``"gd"``, ``"newton"``, ``"gd-armijo"``, ``"gd-wolfe"``, ``"precond-gd"``,
            ``"newton-wolfe"``, ``"gd-exact"``, ...), a :class:`descend.methods.Descent`, an optimizer
            class, or a descend.optim short name.
        steps: the most iterations (updates).
        tol: stop, with ``success=True``, once ‖∇f(x_k)‖ ≤ tol; None runs all ``steps`` (then ``success``
            means the run stayed finite). With a line search, ∇f(x_k) = 0 exactly also ends the run
            successfully (no step can decrease f there).
        lr: the fixed step η (or the first trial step of a search; the optimizer's lr for a class).
        line_search: ``"armijo"``, ``"wolfe"``, ``"exact"`` or ``"golden"`` for a method named without one.
        schedule: learning rate (or, with ``lr``, multiplier) of update k; fixed steps and optimizers only.
        noise, seed: standard deviation of Gaussian noise added to each gradient coordinate, and its seed.
        max_norm: the run has diverged once ‖x_k‖ > max_norm·max(1, ‖x0‖) (None: only non-finite values).
        progress: show a progress bar over the steps (on a terminal).
        **options: the optimizer's hyperparameters (``momentum=0.9``, ``betas=...``, ``beta1=...``), or for
            a method string ``modify`` ("abs", "damp"), ``damping`` (δ, 1e-8), and the searches'
            ``c1``, ``c2``, ``shrink``, ``alpha_max``, ``line_tol``, ``max_trials``.

    Returns:
        :class:`descend.result.Result`: ``x`` (the last iterate), ``fun``, ``nit``, ``nfev``, ``njev``,
        ``nhev``, ``success``, ``message``, ``status``, ``path`` (iterates, ``path[0] = x0``), ``values``,
        ``grad_norms``, and in ``extra`` the ``step_sizes`` α_k (an optimizer's lr at each update).
        Divergence (a non-finite f, iterate or gradient, or an iterate beyond ``max_norm``), a singular
        Hessian or a failed line search end the run with ``success=False``; nothing raises.
    """
    obj = Objective(f)
    start = as_start(x0)
    bound = norm_bound(start.reshape(1, -1), max_norm)
    steps = count("steps", steps)
    tol = None if tol is None else positive("tol", tol)
    sigma = positive("noise", noise, allow_zero=True)
    add_noise = gradient_noise(sigma, optional_seed("seed", seed))
    if schedule is not None and not callable(schedule):
        raise TypeError(f"Invalid schedule: {schedule!r}; expected a callable step -> learning rate")
    resolved = optimizer_class(method)
    if resolved is not None:
        if line_search is not None:
            raise ValueError(f"Invalid line_search: {line_search!r}; an optimizer class takes its own steps")
        cls, implied = resolved
        opts = {**implied, **options}
        if lr is not None:
            opts["lr"] = lr
        update, extra = _with_optimizer(obj, start, cls, optimizer_options(cls, opts), schedule)
    else:
        descent = _descent(obj, method, lr, line_search, schedule, options)
        if sigma > 0 and descent.searches:
            raise ValueError(f"Invalid noise: {noise!r} with a line search; a search needs exact gradients")

        def update(x: Tensor, fx: float, g: Tensor, g_seen: Tensor, k: int) -> Step:
            return descent.update(obj, x, fx, g, g_seen, k)

        extra = {"method": descent}
    return _run(obj, start, update, steps, tol, add_noise, extra, bound, progress)
