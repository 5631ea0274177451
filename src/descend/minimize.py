r"""Full-batch minimizers: a descent direction composed with a step-size rule, or any optimizer class.

One iteration of a classical method is

.. math::
    d_k = D(x_k), \qquad x_{k+1} = x_k + \alpha_k\, d_k,

where the **direction** :math:`D` and the **step rule** choosing :math:`\alpha_k` are independent pieces:

==============  ==============================================================================================
direction       :math:`d_k`
==============  ==============================================================================================
``gd``          :math:`-\nabla f(x_k)` (gradient descent)
``newton``      :math:`-H_k^{-1} \nabla f(x_k)`, :math:`H_k = \nabla^2 f(x_k)` exact, by ``torch.autograd``
``precond``     :math:`-\operatorname{diag}(H_k)^{-1} \nabla f(x_k)` (the chapter's preconditioning)
==============  ==============================================================================================

``modify`` makes the Newton and preconditioned directions safe where :math:`H_k` is not positive definite:
``"abs"`` replaces every eigenvalue λ of :math:`H_k` (every diagonal entry, for ``precond``) by
:math:`\max(|\lambda|, \delta)` (the chapter's fix of dividing by :math:`|f''|`), ``"damp"`` solves with
:math:`H_k + \tau I`, :math:`\tau = \max(0, \delta - \lambda_{\min})` (Levenberg damping, Newton only); with
:math:`\delta` = ``damping`` × max(1, max |λ|). Either way :math:`d_k` is a descent direction.

==============  ==============================================================================================
step rule       :math:`\alpha_k`
==============  ==============================================================================================
fixed           ``lr`` (η; default 0.1 for ``gd`` and ``precond``, 1 for ``newton``), times ``schedule(k)``
``armijo``      backtracking from α₀ = ``lr`` (default 1) until f(x + αd) ≤ f(x) + c₁·α·∇f(x)·d
``wolfe``       a step satisfying the strong Wolfe conditions (c₁ = 1e-4, c₂ = 0.9)
``exact``       the minimizer of φ(α) = f(x_k + α d_k) by Brent's method after bracketing (``golden``:
                by golden-section search)
==============  ==============================================================================================

The method string names the pair: ``"gd"``, ``"newton"``, ``"precond-gd"`` (also ``"precond"``) take the
fixed step; a suffix picks a search: ``"gd-armijo"``, ``"gd-wolfe"``, ``"gd-exact"``, ``"gd-golden"``,
``"newton-armijo"``, ``"newton-wolfe"``, ``"newton-exact"``, ``"precond-armijo"``, ... ; ``"newton-abs"`` and
``"precond-abs"`` (``"precond-abs-gd"``) set ``modify="abs"``. ``line_search=`` adds a search to a name
without one. Plain ``"newton"`` takes the textbook step x ← x − η H⁻¹∇f even where H is indefinite (so it can
climb to a maximum, as the chapter shows on x·cos(cx)); with a line search ``modify`` defaults to ``"abs"``.

Any optimizer class is also a method: a :class:`torch.optim.Optimizer` subclass (``descend.optim.Adam``,
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
>>> round(float(r.x[0]), 6), r.nit, len(r.path)
(0.060466, 10, 11)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from descend import search
from descend.analysis import hessian
from descend.checks import count, positive
from descend.result import Result

__all__ = ["METHODS", "SEARCHES", "accepted_options", "minimize"]

TensorFn = Callable[[Tensor], Tensor]

#: Step-size searches, by the suffix a method string may carry.
SEARCHES = ("armijo", "wolfe", "exact", "golden")
#: Directions, by method name, with the options the name implies.
_DIRECTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "gd": ("gd", {}),
    "gradient": ("gd", {}),
    "newton": ("newton", {}),
    "newton-abs": ("newton", {"modify": "abs"}),
    "precond": ("precond", {}),
    "precond-gd": ("precond", {}),
    "precond-abs": ("precond", {"modify": "abs"}),
    "precond-abs-gd": ("precond", {"modify": "abs"}),
}
#: The built-in method names (each also takes a ``-armijo``, ``-wolfe``, ``-exact`` or ``-golden`` suffix).
METHODS = tuple(_DIRECTIONS)
_DEFAULT_LR = {"gd": 0.1, "precond": 0.1, "newton": 1.0}
_SEARCH_OPTIONS = {
    "armijo": {"c1", "shrink", "max_trials"},
    "wolfe": {"c1", "c2", "max_trials", "alpha_max"},
    "exact": {"line_tol", "max_trials"},
    "golden": {"line_tol", "max_trials"},
}


class _Stop(Exception):
    """Ends a run early with ``success=False``; the message says why."""


class _Stationary(Exception):
    """Ends a run early with ``success=True``: the gradient is exactly zero, no search can make progress."""


# ----------------------------------------------------------------------------------------------------------
# Validation


def _tol(tol: Any) -> float | None:
    return None if tol is None else positive("tol", tol)


def _seed(seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"Invalid seed: {seed!r}; expected an int or None")
    return seed


def _schedule(schedule: Any) -> Callable[[int], Any] | None:
    if schedule is not None and not callable(schedule):
        raise TypeError(f"Invalid schedule: {schedule!r}; expected a callable step -> learning rate")
    return schedule


def as_start(x0: Any) -> Tensor:
    """The starting point as a detached floating tensor (numbers and lists become float64)."""
    if isinstance(x0, Tensor):
        if not x0.is_floating_point():
            raise TypeError(f"Invalid x0: dtype {x0.dtype}; expected a floating-point tensor")
        return x0.detach().clone()
    try:
        return torch.as_tensor(x0, dtype=torch.float64).clone()
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"Invalid x0: {x0!r}; expected a tensor, a number or a list of numbers") from err


def norm_bound(x0: Tensor, max_norm: Any) -> float:
    """The iterate norm beyond which a run counts as diverged: max_norm·max(1, ‖x0‖) (inf for None)."""
    if max_norm is None:
        return math.inf
    return positive("max_norm", max_norm) * max(1.0, float(torch.linalg.vector_norm(x0)))


def scheduled_lr(schedule: Callable[[int], Any], step: int, lr: Any) -> Any:
    """The learning rate of update ``step``: ``schedule(step)``, or ``lr·schedule(step)`` when lr is given."""
    value = schedule(step)
    value = float(value) if isinstance(value, Tensor) and value.numel() == 1 else value
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0.0:
        raise ValueError(f"Invalid schedule: schedule({step}) = {value!r}; expected a number >= 0")
    return value if lr is None else lr * value


# ----------------------------------------------------------------------------------------------------------
# The objective, with evaluation counts


class _Objective:
    """f with its gradient and Hessian by autograd, counting evaluations."""

    def __init__(self, f: TensorFn) -> None:
        if not callable(f):
            raise TypeError(f"Invalid f: {f!r}; expected a callable of a tensor returning a scalar tensor")
        self.f = f
        self.nfev = self.njev = self.nhev = 0

    def _scalar(self, out: Any) -> Tensor:
        if not isinstance(out, Tensor) or out.numel() != 1:
            shown = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise TypeError(f"Invalid f: it returned {shown}; expected a scalar tensor")
        return out.reshape(())

    def value(self, x: Tensor) -> float:
        with torch.no_grad():
            out = self._scalar(self.f(x))
        self.nfev += 1
        return float(out)

    def value_and_grad(self, x: Tensor) -> tuple[float, Tensor]:
        z = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self._scalar(self.f(z))
            self.nfev += 1
            if not out.requires_grad:
                raise TypeError("Invalid f: its output does not depend on x through torch operations")
            (g,) = torch.autograd.grad(out, z, allow_unused=True)
        self.njev += 1
        return float(out.detach()), torch.zeros_like(x) if g is None else g.detach()

    def hessian(self, x: Tensor) -> Tensor:
        self.nhev += 1
        return hessian(self.f, x)


# ----------------------------------------------------------------------------------------------------------
# Directions


@dataclass(frozen=True)
class _Direction:
    """A descent direction: the negative gradient, scaled by the (modified) Hessian or its diagonal."""

    kind: str  # "gd", "newton" or "precond"
    modify: str | None = None
    damping: float = 1e-8

    def __call__(self, obj: _Objective, x: Tensor, g: Tensor) -> Tensor:
        if self.kind == "gd":
            return -g
        h = obj.hessian(x)
        gv = g.reshape(-1).to(h.dtype)
        if self.kind == "precond":
            return (-gv / self._diagonal(h.diagonal())).reshape(x.shape).to(x.dtype)
        return (-self._solve(h, gv)).reshape(x.shape).to(x.dtype)

    def _floor(self, scale: Tensor) -> Tensor:
        return self.damping * scale.abs().max().clamp(min=1.0)

    def _diagonal(self, diag: Tensor) -> Tensor:
        if self.modify == "abs":
            return diag.abs().clamp(min=self._floor(diag))
        if bool((diag == 0).any()):
            raise _Stop("a diagonal entry of the Hessian is 0; use modify='abs' or a line search")
        return diag

    def _solve(self, h: Tensor, gv: Tensor) -> Tensor:
        h = 0.5 * (h + h.T)
        if self.modify == "abs":
            lam, vecs = torch.linalg.eigh(h)
            lam = lam.abs().clamp(min=self._floor(lam))
            return vecs @ ((vecs.T @ gv) / lam)
        if self.modify == "damp":
            lam = torch.linalg.eigvalsh(h)
            tau = (self._floor(lam) - lam.min()).clamp(min=0.0)
            h = h + tau * torch.eye(len(h), dtype=h.dtype)
        d, info = torch.linalg.solve_ex(h, gv)
        if int(info) != 0 or not bool(torch.isfinite(d).all()):
            raise _Stop("the Hessian is singular; use modify='abs' or 'damp', or a line search")
        return d


# ----------------------------------------------------------------------------------------------------------
# Step rules


@dataclass
class _Step:
    """The accepted step: the new point, and f and ∇f there when the rule already computed them."""

    x: Tensor
    alpha: float
    fun: float | None = None
    grad: Tensor | None = None


class _Fixed:
    def __init__(self, lr: float | None, default: float, schedule: Callable[[int], Any] | None) -> None:
        self.lr, self.default, self.schedule = lr, default, schedule

    def __call__(self, obj: _Objective, x: Tensor, fx: float, g: Tensor, d: Tensor, k: int) -> _Step:
        if self.schedule is None:
            alpha = self.default if self.lr is None else self.lr
        else:
            alpha = scheduled_lr(self.schedule, k, self.lr)
        return _Step(x + alpha * d, alpha)


class _Search:
    """Armijo, strong Wolfe, or exact (Brent / golden-section) search for α along d."""

    def __init__(self, kind: str, alpha0: float, options: dict[str, Any]) -> None:
        self.kind, self.alpha0 = kind, alpha0
        self.c1 = options.get("c1", 1e-4)
        self.c2 = options.get("c2", 0.9)
        self.shrink = options.get("shrink", 0.5)
        self.alpha_max = options.get("alpha_max", 1e10)
        self.line_tol = positive("line_tol", options.get("line_tol", 1e-8))
        default_trials = {"armijo": 50, "wolfe": 40, "exact": 100, "golden": 200}[kind]
        self.max_trials = options.get("max_trials", default_trials)

    def __call__(self, obj: _Objective, x: Tensor, fx: float, g: Tensor, d: Tensor, k: int) -> _Step:
        if self.kind in ("armijo", "wolfe"):
            if self.kind == "armijo":
                res = search.armijo(
                    obj.f, x, d, c1=self.c1, alpha0=self.alpha0, shrink=self.shrink,
                    maxiter=self.max_trials, grad=g, fx=fx,
                )  # fmt: skip
            else:
                res = search.wolfe(
                    obj.f, x, d, c1=self.c1, c2=self.c2, alpha0=self.alpha0, alpha_max=self.alpha_max,
                    maxiter=self.max_trials, grad=g, fx=fx,
                )  # fmt: skip
            obj.nfev += res.nfev
            obj.njev += res.njev
            if not res.success:
                raise _Stop(f"the {self.kind} line search failed: {res.message}")
            return _Step(res.extra["x_new"], float(res.x), float(res.fun), res.extra["grad"])
        return self._exact(obj, x, fx, d)

    def _exact(self, obj: _Objective, x: Tensor, fx: float, d: Tensor) -> _Step:
        """Bracket a minimizer of φ(α) = f(x + αd) by doubling, then minimize φ on the bracket."""

        def phi(alpha: float) -> float:
            value = obj.value(x + float(alpha) * d)
            return value if math.isfinite(value) else math.inf

        lo, mid, f_mid = 0.0, self.alpha0, phi(self.alpha0)
        if f_mid < fx:
            for _ in range(60):
                hi = 2.0 * mid
                f_hi = phi(hi)
                if not f_hi < f_mid:
                    break
                lo, mid, f_mid = mid, hi, f_hi
            else:
                raise _Stop(f"exact line search: phi still decreasing at alpha={mid:.3g}; f may be unbounded")
        else:
            hi = mid
        method = search.golden_section if self.kind == "golden" else search.brent
        res = method(phi, lo, hi, tol=self.line_tol * hi, maxiter=self.max_trials)
        alpha, value = float(res.x), float(res.fun)
        if f_mid < value:  # the bracketing point beats the search (φ not unimodal on the bracket)
            alpha, value = mid, f_mid
        if not (math.isfinite(value) and value <= fx):
            raise _Stop(f"exact line search found no decrease: phi({alpha:.3g}) = {value} > f(x) = {fx}")
        return _Step(x + alpha * d, alpha, value)


# ----------------------------------------------------------------------------------------------------------
# Recording and the loop shared by every method


class _Record:
    def __init__(self) -> None:
        self.path: list[Tensor] = []
        self.values: list[float] = []
        self.norms: list[float] = []
        self.alphas: list[float] = []

    def add(self, x: Tensor, fx: float, g: Tensor, alpha: float | None = None) -> None:
        self.path.append(x.detach().clone())
        self.values.append(fx)
        self.norms.append(float(torch.linalg.vector_norm(g)))
        if alpha is not None:
            self.alphas.append(alpha)


def _finite(x: Tensor, fx: float, g: Tensor) -> bool:
    return math.isfinite(fx) and bool(torch.isfinite(x).all()) and bool(torch.isfinite(g).all())


def _result(
    obj: _Objective, rec: _Record, nit: int, success: bool, message: str, extra: dict[str, Any]
) -> Result:
    x = rec.path[-1]
    if rec.alphas:
        extra["step_sizes"] = torch.tensor(rec.alphas, dtype=torch.float64)
    return Result(
        x=x, fun=rec.values[-1], nit=nit, nfev=obj.nfev, success=success, message=message,
        njev=obj.njev, nhev=obj.nhev, path=torch.stack(rec.path),
        values=torch.tensor(rec.values, dtype=torch.float64),
        grad_norms=torch.tensor(rec.norms, dtype=torch.float64), extra=extra,
    )  # fmt: skip


def _run(
    obj: _Objective,
    x0: Tensor,
    update: Callable[[Tensor, float, Tensor, Tensor, int], _Step],
    steps: int,
    tol: float | None,
    noise: Callable[[Tensor], Tensor],
    extra: dict[str, Any],
    bound: float,
) -> Result:
    """The loop every method shares: evaluate, test the stopping rules, update, record."""
    x = x0
    fx, g = obj.value_and_grad(x)
    rec = _Record()
    rec.add(x, fx, g)
    if not _finite(x, fx, g):
        return _result(obj, rec, 0, False, f"not finite at the start: f(x0) = {fx}", extra)
    for k in range(steps):
        if tol is not None and rec.norms[-1] <= tol:
            return _result(obj, rec, k, True, f"gradient norm {rec.norms[-1]:.3g} <= tol={tol:g}", extra)
        try:
            step = update(x, fx, g, noise(g), k)
        except _Stop as stop:
            return _result(obj, rec, k, False, f"stopped at iteration {k + 1}: {stop}", extra)
        except _Stationary:
            return _result(obj, rec, k, True, "the gradient is exactly 0: a stationary point", extra)
        x = step.x.detach()
        if step.grad is None:
            fx, g = obj.value_and_grad(x)
        else:
            fx, g = (step.fun if step.fun is not None else obj.value(x)), step.grad.detach()
        rec.add(x, fx, g, step.alpha)
        if not _finite(x, fx, g):
            return _result(obj, rec, k + 1, False, f"diverged at iteration {k + 1}: f(x) = {fx}", extra)
        if float(torch.linalg.vector_norm(x)) > bound:
            message = f"diverged at iteration {k + 1}: the iterate's norm exceeds {bound:.3g} (max_norm)"
            return _result(obj, rec, k + 1, False, message, extra)
    if tol is None:
        message = f"completed {steps} iterations; f went from {rec.values[0]:.6g} to {fx:.6g}"
        return _result(obj, rec, steps, True, message, extra)
    if rec.norms[-1] <= tol:
        return _result(obj, rec, steps, True, f"gradient norm {rec.norms[-1]:.3g} <= tol={tol:g}", extra)
    message = f"steps={steps} reached with gradient norm {rec.norms[-1]:.3g} > tol={tol:g}"
    return _result(obj, rec, steps, False, message, extra)


def gradient_noise(sigma: float, seed: int | None) -> Callable[[Tensor], Tensor]:
    """g ↦ g + σξ, ξ ~ N(0, I) from a generator seeded with ``seed`` (the global one when seed is None)."""
    if sigma == 0.0:
        return lambda g: g
    generator = None if seed is None else torch.Generator().manual_seed(seed)

    def add(g: Tensor) -> Tensor:
        return g + sigma * torch.randn(g.shape, generator=generator, dtype=g.dtype).to(g.device)

    return add


# ----------------------------------------------------------------------------------------------------------
# Methods


def parse_method(method: str, line_search: str | None) -> tuple[str, str | None, dict[str, Any]]:
    """A method string as (direction, search or None for a fixed step, the options the name implies)."""
    name = method.lower()
    found = None
    for suffix in SEARCHES:
        if name.endswith("-" + suffix) and name[: -len(suffix) - 1] in _DIRECTIONS:
            name, found = name[: -len(suffix) - 1], suffix
            break
    if name not in _DIRECTIONS:
        return "", None, {}
    if line_search is not None:
        if not isinstance(line_search, str) or line_search.lower() not in SEARCHES:
            raise ValueError(f"Invalid line_search: {line_search!r}; expected one of {', '.join(SEARCHES)}")
        if found is not None and found != line_search.lower():
            raise ValueError(
                f"Invalid line_search: {line_search!r} with method {method!r}, which names the "
                f"{found!r} search; give one of them"
            )
        found = line_search.lower()
    kind, implied = _DIRECTIONS[name]
    return kind, found, dict(implied)


def optimizer_class(method: Any) -> tuple[type[torch.optim.Optimizer], dict[str, Any]] | None:
    """The optimizer class a method stands for (a class, or a short name of descend.optim), or None."""
    if isinstance(method, type) and issubclass(method, torch.optim.Optimizer):
        return method, {}
    if isinstance(method, str):
        from descend import optim

        if method.lower() in optim.METHODS:
            return optim.resolve(method)
    return None


def optimizer_options(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with ``beta1``/``beta2`` folded into ``betas`` (for the classes that take betas)."""
    if "beta1" not in options and "beta2" not in options:
        return options
    import inspect

    params = inspect.signature(cls.__init__).parameters
    if "betas" not in params:
        name = "beta1" if "beta1" in options else "beta2"
        raise TypeError(f"Invalid option {name!r}: {cls.__name__} takes no betas")
    out = dict(options)
    default = params["betas"].default
    beta1, beta2 = out.pop("betas", default)
    out["betas"] = (out.pop("beta1", beta1), out.pop("beta2", beta2))
    return out


def _builtin(
    obj: _Objective,
    x0: Tensor,
    kind: str,
    found: str | None,
    steps: int,
    tol: float | None,
    noise: Callable[[Tensor], Tensor],
    schedule: Callable[[int], Any] | None,
    lr: Any,
    method: str,
    options: dict[str, Any],
    bound: float,
) -> Result:
    allowed = {"modify", "damping"} if kind != "gd" else set()
    if found is not None:
        allowed |= _SEARCH_OPTIONS[found]
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(
            f"Invalid option {unknown[0]!r} for method {method!r}; it takes {sorted(allowed) or 'lr'}"
        )
    lr = None if lr is None else positive("lr", lr)
    modify = options.get("modify", "abs" if found is not None else None)
    if modify not in (None, "none", "abs", "damp") or (kind == "precond" and modify == "damp"):
        expected = "None or 'abs'" if kind == "precond" else "None, 'abs' or 'damp'"
        raise ValueError(f"Invalid modify: {modify!r}; expected {expected}")
    direction = _Direction(
        kind, None if modify == "none" else modify, positive("damping", options.get("damping", 1e-8))
    )
    if found is None:
        rule: Any = _Fixed(lr, _DEFAULT_LR[kind], schedule)
    else:
        if schedule is not None:
            raise ValueError(f"Invalid schedule: a line search ({found!r}) chooses the step; drop schedule")
        rule = _Search(found, 1.0 if lr is None else lr, options)

    def update(x: Tensor, fx: float, g: Tensor, g_seen: Tensor, k: int) -> _Step:
        if found is not None and not bool(g.any()):
            raise _Stationary
        d = direction(obj, x, g_seen)
        if not bool(torch.isfinite(d).all()):
            raise _Stop("the direction is not finite")
        return rule(obj, x, fx, g, d, k)

    extra = {"direction": kind, "step_rule": found or "fixed", "modify": direction.modify}
    return _run(obj, x0, update, steps, tol, noise, extra, bound)


def _with_optimizer(
    obj: _Objective,
    x0: Tensor,
    cls: type[torch.optim.Optimizer],
    options: dict[str, Any],
    steps: int,
    tol: float | None,
    noise: Callable[[Tensor], Tensor],
    schedule: Callable[[int], Any] | None,
    bound: float,
) -> Result:
    p = x0.clone().requires_grad_(True)
    opt = cls([p], **options)
    base_lr = options.get("lr")

    def update(x: Tensor, fx: float, g: Tensor, g_seen: Tensor, k: int) -> _Step:
        if schedule is not None:
            opt.param_groups[0]["lr"] = scheduled_lr(schedule, k, base_lr)
        p.grad = g_seen.clone()
        opt.step()
        return _Step(p.detach().clone(), float(opt.param_groups[0]["lr"]))

    return _run(obj, x0, update, steps, tol, noise, {"optimizer": cls.__name__}, bound)


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
    **options: Any,
) -> Result:
    r"""Minimize ``f`` from ``x0``: a descent direction with a step rule, or an optimizer class.

    See the module docstring for the methods and their equations.

    Args:
        f: a function of a tensor shaped like ``x0`` returning a scalar tensor; derivatives by autograd.
        x0: the start (a tensor keeps its dtype; numbers and lists become float64).
        method: a method string (``"gd"``, ``"newton"``, ``"gd-armijo"``, ``"gd-wolfe"``, ``"precond-gd"``,
            ``"newton-wolfe"``, ``"gd-exact"``, ...), an optimizer class, or a descend.optim short name.
        steps: the most iterations (updates).
        tol: stop, with ``success=True``, once ‖∇f(x_k)‖ ≤ tol; None runs all ``steps`` (then ``success``
            means the run stayed finite). With a line search, ∇f(x_k) = 0 exactly also ends the run
            successfully (no step can decrease f there).
        lr: the fixed step η (or the first trial step of a search; the optimizer's lr for a class).
        line_search: ``"armijo"``, ``"wolfe"``, ``"exact"`` or ``"golden"`` for a method named without one.
        schedule: learning rate (or, with ``lr``, multiplier) of update k; fixed steps and optimizers only.
        noise, seed: standard deviation of Gaussian noise added to each gradient coordinate, and its seed.
        max_norm: the run has diverged once ‖x_k‖ > max_norm·max(1, ‖x0‖) (None: only non-finite values).
        **options: the optimizer's hyperparameters (``momentum=0.9``, ``betas=...``, ``beta1=...``), or for
            the built-in methods ``modify`` ("abs", "damp"), ``damping`` (δ, 1e-8), and the searches'
            ``c1``, ``c2``, ``shrink``, ``alpha_max``, ``line_tol``, ``max_trials``.

    Returns:
        :class:`descend.result.Result`: ``x`` (the last iterate), ``fun``, ``nit``, ``nfev``, ``njev``,
        ``nhev``, ``success``, ``message``, ``path`` (iterates, ``path[0] = x0``), ``values``,
        ``grad_norms``, and in ``extra`` the ``step_sizes`` α_k (an optimizer's lr at each update).
        Divergence (a non-finite f, iterate or gradient, or an iterate beyond ``max_norm``), a singular
        Hessian or a failed line search end the run with ``success=False``; nothing raises.
    """
    obj = _Objective(f)
    start = as_start(x0)
    bound = norm_bound(start, max_norm)
    steps, tol = count("steps", steps), _tol(tol)
    sigma = positive("noise", noise, allow_zero=True)
    add_noise = gradient_noise(sigma, _seed(seed))
    schedule = _schedule(schedule)
    resolved = optimizer_class(method)
    if resolved is not None:
        if line_search is not None:
            raise ValueError(f"Invalid line_search: {line_search!r}; an optimizer class takes its own steps")
        cls, implied = resolved
        opts = {**implied, **options}
        if lr is not None:
            opts["lr"] = lr
        opts = optimizer_options(cls, opts)
        return _with_optimizer(obj, start, cls, opts, steps, tol, add_noise, schedule, bound)
    if not isinstance(method, str):
        raise TypeError(f"Invalid method: {method!r}; expected a method name or an optimizer class")
    kind, found, implied = parse_method(method, line_search)
    if not kind:
        from descend import optim

        raise ValueError(
            f"Invalid method: {method!r}; expected one of {', '.join(METHODS)} (optionally with a suffix "
            f"{', '.join('-' + s for s in SEARCHES)}), an optimizer class, or one of "
            f"{', '.join(optim.names())}"
        )
    if sigma > 0 and found is not None:
        raise ValueError(f"Invalid noise: {noise!r} with a line search; a search needs exact gradients")
    return _builtin(
        obj, start, kind, found, steps, tol, add_noise, schedule, lr, method, {**implied, **options}, bound
    )


def accepted_options(method: Any) -> set[str]:
    """The option names ``minimize`` accepts for ``method`` (besides steps, tol, schedule, noise, seed)."""
    resolved = optimizer_class(method)
    if resolved is not None:
        import inspect

        params = inspect.signature(resolved[0].__init__).parameters
        names = {n for n in params if n not in ("self", "params")}
        return names | ({"beta1", "beta2"} if "betas" in names else set())
    if not isinstance(method, str):
        raise TypeError(f"Invalid method: {method!r}; expected a method name or an optimizer class")
    kind, found, _ = parse_method(method, None)
    if not kind:
        raise ValueError(f"Invalid method: {method!r}")
    names = {"lr", "line_search", "max_norm"} | ({"modify", "damping"} if kind != "gd" else set())
    return names | (_SEARCH_OPTIONS[found] if found else set().union(*_SEARCH_OPTIONS.values()))
