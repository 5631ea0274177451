r"""Full-batch minimization methods as two composable pieces: a descent direction and a step-size rule.

One iteration of a classical method is

.. math::
    d_k = D(x_k), \qquad x_{k+1} = x_k + \alpha_k\, d_k,

where the **direction** :math:`D` and the **step rule** choosing :math:`\alpha_k` are independent objects
(optimistix's descent × search), combined by :class:`Descent` and run by :func:`descend.minimize`:

=======================  =====================================================================================
direction                :math:`d_k`
=======================  =====================================================================================
:class:`Gradient`        :math:`-\nabla f(x_k)` (gradient descent)
:class:`Newton`          :math:`-H_k^{-1} \nabla f(x_k)`, :math:`H_k = \nabla^2 f(x_k)` exact, by autograd
:class:`DiagonalNewton`  :math:`-\operatorname{diag}(H_k)^{-1} \nabla f(x_k)` (the chapter's preconditioning)
=======================  =====================================================================================

``modify`` makes the Newton and preconditioned directions safe where :math:`H_k` is not positive definite:
``"abs"`` replaces every eigenvalue λ of :math:`H_k` (every diagonal entry, for the diagonal) by
:math:`\max(|\lambda|, \delta)` (the chapter's fix of dividing by :math:`|f''|`), ``"damp"`` solves with
:math:`H_k + \tau I`, :math:`\tau = \max(0, \delta - \lambda_{\min})` (Levenberg damping, Newton only); with
:math:`\delta` = ``damping`` × max(1, max |λ|). Either way :math:`d_k` is a descent direction.

=======================  =====================================================================================
step rule                :math:`\alpha_k`
=======================  =====================================================================================
:class:`Fixed`           ``lr`` (η; by default the direction's: 0.1 for the gradient and the diagonal, 1 for
                         Newton), times ``schedule(k)`` when a schedule is given
:class:`Armijo`          backtracking from α₀ until f(x + αd) ≤ f(x) + c₁·α·∇f(x)·d
:class:`Wolfe`           a step satisfying the strong Wolfe conditions (c₁ = 1e-4, c₂ = 0.9)
:class:`Exact`           the minimizer of φ(α) = f(x_k + α d_k) by Brent's method after bracketing (by
                         golden-section search with ``golden=True``)
=======================  =====================================================================================

The method strings of :func:`descend.minimize` are shorthand for these pairs (:func:`parse`): ``"gd"``,
``"newton"``, ``"precond-gd"`` (also ``"precond"``) take the fixed step; a suffix picks a search:
``"gd-armijo"``, ``"gd-wolfe"``, ``"gd-exact"``, ``"gd-golden"``, ``"newton-armijo"``, ...;
``"newton-abs"`` and ``"precond-abs"`` (``"precond-abs-gd"``) set ``modify="abs"``. Plain ``"newton"`` takes
the textbook step x ← x − η H⁻¹∇f even where H is indefinite (so it can climb to a maximum, as the chapter
shows on x·cos(cx)); with a line search ``modify`` defaults to ``"abs"``.

>>> import torch
>>> from descend import methods, minimize
>>> safe_newton = methods.Descent(methods.Newton(modify="abs"), methods.Wolfe())
>>> f = lambda x: ((x - 1) ** 4).sum() + (x**2).sum()
>>> r = minimize(f, torch.tensor([3.0], dtype=torch.float64), safe_newton, tol=1e-10)
>>> r.status, round(float(r.x[0]), 6)
(<Status.CONVERGED: 'converged'>, 0.410245)
>>> methods.parse("newton-armijo") == methods.Descent(methods.Newton(modify="abs"), methods.Armijo())
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch
from torch import Tensor

from descend import search
from descend.analysis import hessian
from descend.checks import choice, count, interval, positive

__all__ = [
    "NAMES",
    "SEARCHES",
    "Armijo",
    "Descent",
    "DiagonalNewton",
    "Direction",
    "Exact",
    "Fixed",
    "Gradient",
    "Newton",
    "Objective",
    "Step",
    "StepRule",
    "Stop",
    "Wolfe",
    "parse",
]

TensorFn = Callable[[Tensor], Tensor]


class Stop(Exception):
    """Raised by a direction or a step rule to end the run: ``success=False`` (it cannot go on) or True
    (the point is stationary: the gradient is exactly 0 and no step can decrease f)."""

    def __init__(self, message: str, *, success: bool = False) -> None:
        super().__init__(message)
        self.success = success


class Objective:
    """f with its gradient and Hessian by autograd, counting evaluations (``nfev``, ``njev``, ``nhev``)."""

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


class Direction(Protocol):
    """A descent direction: ``direction(objective, x, g) -> d`` (``g`` the gradient the update sees)."""

    #: The fixed step a :class:`Fixed` rule without ``lr`` takes along this direction.
    default_lr: float

    def __call__(self, objective: Objective, x: Tensor, g: Tensor) -> Tensor: ...


@dataclass(frozen=True)
class Gradient:
    """d = −∇f(x): gradient descent."""

    default_lr: float = field(default=0.1, init=False, repr=False)

    def __call__(self, objective: Objective, x: Tensor, g: Tensor) -> Tensor:
        return -g


def _floor(damping: float, scale: Tensor) -> Tensor:
    return damping * scale.abs().max().clamp(min=1.0)


def _modify(name: str, value: Any, options: tuple[Any, ...]) -> Any:
    if value not in options:
        raise ValueError(f"Invalid {name}: {value!r}; expected one of {', '.join(map(repr, options))}")
    return value


@dataclass(frozen=True)
class Newton:
    """d = −H⁻¹∇f(x) with the exact Hessian; ``modify`` ``None`` (textbook), ``"abs"`` or ``"damp"``."""

    modify: str | None = None
    damping: float = 1e-8
    default_lr: float = field(default=1.0, init=False, repr=False)

    def __post_init__(self) -> None:
        _modify("modify", self.modify, (None, "abs", "damp"))
        positive("damping", self.damping)

    def __call__(self, objective: Objective, x: Tensor, g: Tensor) -> Tensor:
        h = objective.hessian(x)
        gv = g.reshape(-1).to(h.dtype)
        h = 0.5 * (h + h.T)
        if self.modify == "abs":
            lam, vecs = torch.linalg.eigh(h)
            lam = lam.abs().clamp(min=_floor(self.damping, lam))
            d = vecs @ ((vecs.T @ gv) / lam)
        else:
            if self.modify == "damp":
                lam = torch.linalg.eigvalsh(h)
                tau = (_floor(self.damping, lam) - lam.min()).clamp(min=0.0)
                h = h + tau * torch.eye(len(h), dtype=h.dtype)
            d, info = torch.linalg.solve_ex(h, gv)
            if int(info) != 0 or not bool(torch.isfinite(d).all()):
                raise Stop("the Hessian is singular; use modify='abs' or 'damp', or a line search")
        return (-d).reshape(x.shape).to(x.dtype)


@dataclass(frozen=True)
class DiagonalNewton:
    """d = −∇f(x) / diag(H): the chapter's preconditioning; ``modify`` ``None`` or ``"abs"``."""

    modify: str | None = None
    damping: float = 1e-8
    default_lr: float = field(default=0.1, init=False, repr=False)

    def __post_init__(self) -> None:
        _modify("modify", self.modify, (None, "abs"))
        positive("damping", self.damping)

    def __call__(self, objective: Objective, x: Tensor, g: Tensor) -> Tensor:
        diag = objective.hessian(x).diagonal()
        if self.modify == "abs":
            diag = diag.abs().clamp(min=_floor(self.damping, diag))
        elif bool((diag == 0).any()):
            raise Stop("a diagonal entry of the Hessian is 0; use modify='abs' or a line search")
        return (-g.reshape(-1).to(diag.dtype) / diag).reshape(x.shape).to(x.dtype)


# ----------------------------------------------------------------------------------------------------------
# Step rules


@dataclass
class Step:
    """The accepted step: the new point, α, and f and ∇f there when the rule already computed them."""

    x: Tensor
    alpha: float
    fun: float | None = None
    grad: Tensor | None = None


class StepRule(Protocol):
    """Chooses α along d: ``rule(objective, x, fx, g, d, k, default_lr) -> Step`` (k counts from 0)."""

    def __call__(
        self, objective: Objective, x: Tensor, fx: float, g: Tensor, d: Tensor, k: int, default_lr: float
    ) -> Step: ...


def scheduled_lr(schedule: Callable[[int], Any], step: int, lr: Any) -> Any:
    """The learning rate of update ``step``: ``schedule(step)``, or ``lr·schedule(step)`` when lr is given."""
    value = schedule(step)
    value = float(value) if isinstance(value, Tensor) and value.numel() == 1 else value
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0.0:
        raise ValueError(f"Invalid schedule: schedule({step}) = {value!r}; expected a number >= 0")
    return value if lr is None else lr * value


@dataclass(frozen=True)
class Fixed:
    """α_k = ``lr`` (the direction's default when None), times ``schedule(k)`` when a schedule is given."""

    lr: float | None = None
    schedule: Callable[[int], Any] | None = None

    def __post_init__(self) -> None:
        if self.lr is not None:
            object.__setattr__(self, "lr", positive("lr", self.lr))
        if self.schedule is not None and not callable(self.schedule):
            raise TypeError(f"Invalid schedule: {self.schedule!r}; expected a callable step -> learning rate")

    def __call__(
        self, objective: Objective, x: Tensor, fx: float, g: Tensor, d: Tensor, k: int, default_lr: float
    ) -> Step:
        if self.schedule is None:
            alpha = default_lr if self.lr is None else self.lr
        else:
            alpha = scheduled_lr(self.schedule, k, self.lr)
        return Step(x + alpha * d, alpha)


def _line_search_done(objective: Objective, res: Any, kind: str) -> Step:
    objective.nfev += res.nfev
    objective.njev += res.njev
    if not res.success:
        raise Stop(f"the {kind} line search failed: {res.message}")
    return Step(res.extra["x_new"], float(res.x), float(res.fun), res.extra["grad"])


@dataclass(frozen=True)
class Armijo:
    """Backtracking from ``alpha0``, shrinking by ``shrink``, until f(x + αd) ≤ f(x) + c₁·α·∇f(x)·d."""

    alpha0: float = 1.0
    c1: float = 1e-4
    shrink: float = 0.5
    max_trials: int = 50

    def __post_init__(self) -> None:
        positive("alpha0", self.alpha0)
        interval("c1", self.c1, 0, 1, low_open=True, high_open=True)
        interval("shrink", self.shrink, 0, 1, low_open=True, high_open=True)
        count("max_trials", self.max_trials, minimum=1)

    def __call__(
        self, objective: Objective, x: Tensor, fx: float, g: Tensor, d: Tensor, k: int, default_lr: float
    ) -> Step:
        res = search.armijo(
            objective.f,
            x,
            d,
            c1=self.c1,
            alpha0=self.alpha0,
            shrink=self.shrink,
            maxiter=self.max_trials,
            grad=g,
            fx=fx,
        )
        return _line_search_done(objective, res, "armijo")


@dataclass(frozen=True)
class Wolfe:
    """A step satisfying the strong Wolfe conditions, first trying ``alpha0``."""

    alpha0: float = 1.0
    c1: float = 1e-4
    c2: float = 0.9
    alpha_max: float = 1e10
    max_trials: int = 40

    def __post_init__(self) -> None:
        positive("alpha0", self.alpha0)
        interval("c1", self.c1, 0, 1, low_open=True, high_open=True)
        interval("c2", self.c2, self.c1, 1, low_open=True, high_open=True)
        positive("alpha_max", self.alpha_max)
        count("max_trials", self.max_trials, minimum=1)

    def __call__(
        self, objective: Objective, x: Tensor, fx: float, g: Tensor, d: Tensor, k: int, default_lr: float
    ) -> Step:
        res = search.wolfe(
            objective.f,
            x,
            d,
            c1=self.c1,
            c2=self.c2,
            alpha0=self.alpha0,
            alpha_max=self.alpha_max,
            maxiter=self.max_trials,
            grad=g,
            fx=fx,
        )
        return _line_search_done(objective, res, "wolfe")


@dataclass(frozen=True)
class Exact:
    """The minimizer of φ(α) = f(x + αd): bracketed by doubling from ``alpha0``, then Brent's method (or
    golden-section search with ``golden=True``) to ``line_tol`` relative to the bracket."""

    alpha0: float = 1.0
    line_tol: float = 1e-8
    max_trials: int | None = None
    golden: bool = False

    def __post_init__(self) -> None:
        positive("alpha0", self.alpha0)
        positive("line_tol", self.line_tol)
        if self.max_trials is not None:
            count("max_trials", self.max_trials, minimum=1)

    def __call__(
        self, objective: Objective, x: Tensor, fx: float, g: Tensor, d: Tensor, k: int, default_lr: float
    ) -> Step:
        def phi(alpha: float) -> float:
            value = objective.value(x + float(alpha) * d)
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
                raise Stop(f"exact line search: phi still decreasing at alpha={mid:.3g}; f may be unbounded")
        else:
            hi = mid
        method = search.golden_section if self.golden else search.brent
        trials = self.max_trials or (200 if self.golden else 100)
        res = method(phi, lo, hi, tol=self.line_tol * hi, maxiter=trials)
        alpha, value = float(res.x), float(res.fun)
        if f_mid < value:  # the bracketing point beats the search (φ not unimodal on the bracket)
            alpha, value = mid, f_mid
        if not (math.isfinite(value) and value <= fx):
            raise Stop(f"exact line search found no decrease: phi({alpha:.3g}) = {value} > f(x) = {fx}")
        return Step(x + alpha * d, alpha, value)


# ----------------------------------------------------------------------------------------------------------
# A method: a direction and a step rule


@dataclass(frozen=True)
class Descent:
    """A full-batch method: move along ``direction`` by the step ``step`` chooses (default :class:`Fixed`)."""

    direction: Direction
    step: StepRule = field(default_factory=Fixed)

    def __post_init__(self) -> None:
        if not callable(self.direction) or not hasattr(self.direction, "default_lr"):
            raise TypeError(f"Invalid direction: {self.direction!r}; expected a direction such as Gradient()")
        if not callable(self.step):
            raise TypeError(f"Invalid step: {self.step!r}; expected a step rule such as Fixed() or Armijo()")

    @property
    def searches(self) -> bool:
        """Whether the step comes from a line search (which needs exact gradients)."""
        return not isinstance(self.step, Fixed)

    def update(self, objective: Objective, x: Tensor, fx: float, g: Tensor, g_seen: Tensor, k: int) -> Step:
        """One iteration from x (f(x) = fx, ∇f(x) = g; ``g_seen`` is the gradient the update sees)."""
        if self.searches and not bool(g.any()):
            raise Stop("the gradient is exactly 0: a stationary point", success=True)
        d = self.direction(objective, x, g_seen)
        if not bool(torch.isfinite(d).all()):
            raise Stop("the direction is not finite")
        return self.step(objective, x, fx, g, d, k, self.direction.default_lr)


#: Step-size searches, by the suffix a method string may carry.
SEARCHES: dict[str, Callable[..., StepRule]] = {
    "armijo": Armijo,
    "wolfe": Wolfe,
    "exact": Exact,
    "golden": lambda **o: Exact(golden=True, **o),
}
_DIRECTIONS: dict[str, tuple[Callable[..., Direction], dict[str, Any]]] = {
    "gd": (Gradient, {}),
    "gradient": (Gradient, {}),
    "newton": (Newton, {}),
    "newton-abs": (Newton, {"modify": "abs"}),
    "precond": (DiagonalNewton, {}),
    "precond-gd": (DiagonalNewton, {}),
    "precond-abs": (DiagonalNewton, {"modify": "abs"}),
    "precond-abs-gd": (DiagonalNewton, {"modify": "abs"}),
}
#: The method names :func:`parse` knows (each also takes a ``-armijo``, ``-wolfe``, ``-exact`` or ``-golden``
#: suffix).
NAMES = tuple(_DIRECTIONS)
_DIRECTION_OPTIONS = {"modify", "damping"}
_SEARCH_OPTIONS = {
    "armijo": {"c1", "shrink", "max_trials"},
    "wolfe": {"c1", "c2", "max_trials", "alpha_max"},
    "exact": {"line_tol", "max_trials"},
    "golden": {"line_tol", "max_trials"},
}


def split(name: str, line_search: str | None = None) -> tuple[str, str | None] | None:
    """A method string as (direction name, search name or None); None when it names no built-in method."""
    if not isinstance(name, str):
        return None
    key, found = name.lower(), None
    for suffix in SEARCHES:
        if key.endswith("-" + suffix) and key[: -len(suffix) - 1] in _DIRECTIONS:
            key, found = key[: -len(suffix) - 1], suffix
            break
    if key not in _DIRECTIONS:
        return None
    if line_search is not None:
        wanted = choice(
            "line_search",
            line_search.lower() if isinstance(line_search, str) else line_search,
            tuple(SEARCHES),
        )
        if found is not None and found != wanted:
            raise ValueError(
                f"Invalid line_search: {line_search!r} with method {name!r}, which names the {found!r} "
                "search; give one of them"
            )
        found = wanted
    return key, found


def options_of(name: str) -> set[str]:
    """The options :func:`parse` accepts with the method string ``name`` (besides lr and schedule)."""
    parts = split(name)
    if parts is None:
        raise ValueError(f"Invalid method: {name!r}; expected one of {', '.join(NAMES)}")
    key, found = parts
    names = set(_DIRECTION_OPTIONS) if _DIRECTIONS[key][0] is not Gradient else set()
    return names | (_SEARCH_OPTIONS[found] if found else set())


def parse(
    name: str,
    *,
    line_search: str | None = None,
    lr: float | None = None,
    schedule: Callable[[int], Any] | None = None,
    **options: Any,
) -> Descent:
    """The :class:`Descent` a method string stands for, with the options it takes.

    ``lr`` is the fixed step (or a search's first trial step α₀), ``line_search`` adds a search to a name
    without one, ``modify`` and ``damping`` go to the direction, ``c1``, ``c2``, ``shrink``, ``alpha_max``,
    ``line_tol`` and ``max_trials`` to the search.
    """
    parts = split(name, line_search)
    if parts is None:
        raise ValueError(f"Invalid method: {name!r}; expected one of {', '.join(NAMES)}")
    key, found = parts
    make, implied = _DIRECTIONS[key]
    allowed = options_of(key + ("-" + found if found else ""))
    unknown = sorted(set(options) - allowed)
    if unknown:
        takes = ", ".join(sorted(allowed | {"lr"}))
        raise TypeError(f"Invalid option {unknown[0]!r} for method {name!r}; it takes {takes}")
    direction_options = {**implied, **{k: v for k, v in options.items() if k in _DIRECTION_OPTIONS}}
    if found is not None and make is not Gradient:
        direction_options.setdefault("modify", "abs")
    if direction_options.get("modify") == "none":
        direction_options["modify"] = None
    direction = make(**direction_options)
    if found is None:
        return Descent(direction, Fixed(lr, schedule))
    if schedule is not None:
        raise ValueError(f"Invalid schedule: a line search ({found!r}) chooses the step; drop schedule")
    search_options = {k: v for k, v in options.items() if k not in _DIRECTION_OPTIONS}
    if lr is not None:
        search_options["alpha0"] = positive("lr", lr)
    return Descent(direction, SEARCHES[found](**search_options))


def with_schedule(method: Descent, schedule: Callable[[int], Any]) -> Descent:
    """``method`` with its fixed step driven by ``schedule`` (a line search chooses its own steps)."""
    if not isinstance(method.step, Fixed):
        raise ValueError("Invalid schedule: a line search chooses the step; drop schedule")
    return replace(method, step=replace(method.step, schedule=schedule))
