"""Line searches: a step length α along a direction d from a point x, for φ(α) = f(x + α·d).

:func:`armijo` backtracks until the sufficient-decrease (Armijo) condition holds and :func:`wolfe` finds a
step satisfying the strong Wolfe conditions (Nocedal & Wright, *Numerical Optimization*, Alg. 3.5, 3.6).
Both are offered by :mod:`descend.search`; see there for the result they return.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import torch

from descend._interpolants import Sample, cubic_extrapolation, cubic_trial, safeguarded_trial
from descend.checks import choice, count, interval, nonnegative, positive, real
from descend.result import Result

__all__ = ["TORCH_WOLFE", "armijo", "wolfe"]

_EPS = 2.220446049250313e-16

TensorFn = Callable[[torch.Tensor], torch.Tensor]


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _fraction(name: str, value: Any) -> float:
    return interval(name, value, 0, 1, low_open=True, high_open=True)


# ----------------------------------------------------------------------------------------------------------
# Line searches on φ(α) = f(x + α·d)
# ----------------------------------------------------------------------------------------------------------


class _Line:
    """φ(α) = f(x + α·d) and φ'(α) = ∇f(x + α·d)·d by autograd, with exact counts.

    ``value`` runs one forward pass (``nfev``), keeping its graph when gradients may follow; ``grad`` runs
    the backward pass of the latest ``value`` (``njev``), so a derivative costs no second forward pass.
    """

    def __init__(self, f: TensorFn, x: torch.Tensor, d: torch.Tensor) -> None:
        if not callable(f):
            raise TypeError(f"Invalid f: {f!r}; expected a callable of a tensor")
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"Invalid x: {type(x).__name__}; expected a tensor")
        if not isinstance(d, torch.Tensor):
            raise TypeError(f"Invalid direction: {type(d).__name__}; expected a tensor")
        if not (x.is_floating_point() or x.is_complex()):
            raise TypeError(f"Invalid x: dtype {x.dtype}; expected a floating-point tensor")
        if d.shape != x.shape:
            raise ValueError(
                f"Invalid direction: shape {tuple(d.shape)}; expected x's shape {tuple(x.shape)}"
            )
        self.f, self.x, self.d = f, x.detach(), d.detach().to(x.dtype)
        if not bool(torch.isfinite(self.x).all()):
            raise ValueError("Invalid x: it has non-finite entries")
        if not bool(torch.isfinite(self.d).all()):
            raise ValueError("Invalid direction: it has non-finite entries")
        self.nfev = self.njev = 0
        self._point: torch.Tensor | None = None
        self._out: torch.Tensor | None = None
        self._alpha = math.nan

    def point(self, alpha: float) -> torch.Tensor:
        # x.add(d, alpha=α): the same rounding as an optimizer's in-place p.add_(d, alpha=α)
        return self.x if alpha == 0.0 else torch.add(self.x, self.d, alpha=alpha)

    def _scalar(self, out: Any) -> torch.Tensor:
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            shown = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise TypeError(f"f returned {shown}; expected a scalar tensor")
        return out.reshape(())

    def value(self, alpha: float, graph: bool = True) -> float:
        z = self.point(alpha).detach()
        if graph:
            z.requires_grad_(True)
            with torch.enable_grad():
                out = self._scalar(self.f(z))
        else:
            with torch.no_grad():
                out = self._scalar(self.f(z))
        self.nfev += 1
        self._point, self._out, self._alpha = z, out, alpha
        return float(out.detach().real)

    def grad(self, alpha: float) -> torch.Tensor:
        if self._alpha != alpha or self._out is None or self._point is None or not self._point.requires_grad:
            raise RuntimeError(f"no graph kept for alpha={alpha}")
        if not self._out.requires_grad:
            raise TypeError("f's output does not depend on its input through torch operations; need autograd")
        (g,) = torch.autograd.grad(self._out, self._point)
        self.njev += 1
        self._out = None  # the graph is freed
        return g.detach()

    def slope(self, g: torch.Tensor) -> float:
        if g.is_complex():
            return float(torch.sum(g * self.d).real)
        return float(torch.dot(g.reshape(-1), self.d.reshape(-1)))  # one dot product, as torch's LBFGS

    def start(self, fx: Any, grad: torch.Tensor | None) -> tuple[float, torch.Tensor]:
        """φ(0) and ∇f(x), evaluating only what the caller did not supply."""
        if grad is None:
            phi0 = self.value(0.0, graph=True)
            g = self.grad(0.0)
            return (phi0 if fx is None else real("fx", fx)), g
        if not isinstance(grad, torch.Tensor) or grad.shape != self.x.shape:
            shown = tuple(grad.shape) if isinstance(grad, torch.Tensor) else type(grad).__name__
            raise ValueError(f"Invalid grad: {shown}; expected a tensor of x's shape {tuple(self.x.shape)}")
        phi0 = self.value(0.0, graph=False) if fx is None else real("fx", fx)
        return phi0, grad.detach().to(self.x.dtype)


def _line_result(
    line: _Line, alpha: float, phi: float, nit: int, ok: bool, message: str, **extra: Any
) -> Result:
    extra.setdefault("x_new", line.point(alpha).detach())
    return Result(alpha, phi, nit, line.nfev, ok, message, njev=line.njev, extra=extra)


def _line_start(
    line: _Line, fx: Any, grad: torch.Tensor | None
) -> tuple[float, torch.Tensor, float, dict[str, float], Result | None]:
    """φ(0), ∇f(x), φ'(0), the shared ``extra`` entries, and a failed result when no search can start."""
    phi0, g0 = line.start(fx, grad)
    dphi0 = line.slope(g0)
    base = {"fun0": phi0, "derphi0": dphi0}
    refusal = None
    if not _finite(phi0, dphi0):
        refusal = _line_result(line, 0.0, phi0, 0, False, f"f(x)={phi0}, slope={dphi0}: not finite", **base)
    elif dphi0 >= 0.0:
        message = f"direction is not a descent direction: grad(x)·direction = {dphi0} >= 0"
        refusal = _line_result(line, 0.0, phi0, 0, False, message, grad=g0, derphi=dphi0, **base)
    return phi0, g0, dphi0, base, refusal


def armijo(
    f: TensorFn,
    x: torch.Tensor,
    direction: torch.Tensor,
    c1: float = 1e-4,
    alpha0: float = 1.0,
    shrink: float = 0.5,
    maxiter: int = 50,
    grad: torch.Tensor | None = None,
    fx: Any = None,
    compute_grad: bool = True,
) -> Result:
    r"""Backtracking line search: the first α = α₀·ρ^k satisfying the Armijo (sufficient decrease) condition.

    With φ(α) = f(x + α·d) and φ'(0) = ∇f(x)·d < 0 (d a descent direction), accept the first of
    α₀, ρα₀, ρ²α₀, … such that

        f(x + α·d) ≤ f(x) + c₁·α·∇f(x)·d.

    A trial where f is not finite (e.g. the step left f's domain) counts as a failure and is shrunk.

    Args:
        f: a function of a tensor returning a scalar tensor (gradients by ``torch.autograd``).
        x: the current point; direction: d, a tensor of x's shape.
        c1: the sufficient-decrease constant, 0 < c₁ < 1.
        alpha0: the first trial step α₀ > 0; shrink: the factor ρ, 0 < ρ < 1.
        maxiter: the most trial steps.
        grad, fx: ∇f(x) and f(x) if already known (saves their evaluation).
        compute_grad: also return ∇f at the accepted point (one backward pass, counted in ``njev``).

    Returns:
        ``Result`` with ``x`` = α, ``fun`` = f(x + α·d), ``nit`` (trial steps), ``nfev``, ``njev``
        (including ∇f(x) when not supplied), ``success``, ``message`` and in ``extra``: ``x_new`` (the
        accepted point), ``grad`` (∇f there, or None), ``derphi`` (∇f(x_new)·d, or None), ``fun0`` = f(x) and
        ``derphi0`` = ∇f(x)·d. A direction that is not a descent direction, or ``maxiter`` trials without
        sufficient decrease, give ``success=False`` (with ``x`` = 0.0 and ``fun`` = f(x) for the former).
    """
    c1, shrink = _fraction("c1", c1), _fraction("shrink", shrink)
    alpha = positive("alpha0", alpha0)
    maxiter = count("maxiter", maxiter)
    line = _Line(f, x, direction)
    phi0, _, dphi0, base, refusal = _line_start(line, fx, grad)
    if refusal is not None:
        return refusal
    phi = math.nan
    for nit in range(1, maxiter + 1):
        phi = line.value(alpha, graph=compute_grad)
        if math.isfinite(phi) and phi <= phi0 + c1 * alpha * dphi0:
            g = line.grad(alpha) if compute_grad else None
            derphi = line.slope(g) if g is not None else None
            message = f"sufficient decrease after {nit} trial step(s)"
            return _line_result(line, alpha, phi, nit, True, message, grad=g, derphi=derphi, **base)
        if nit < maxiter:
            alpha *= shrink
    message = f"maxiter={maxiter} trial steps without sufficient decrease"
    return _line_result(line, alpha, phi, maxiter, False, message, grad=None, derphi=None, **base)


EXTRAPOLATIONS = ("double", "cubic")
INTERPOLATIONS = ("safeguarded", "cubic")
BRACKETINGS = ("nocedal-wright", "minfunc")

#: The options under which :func:`wolfe` takes the steps of ``torch.optim.LBFGS(...,
#: line_search_fn="strong_wolfe")``, whose search is minFunc's ``WolfeLineSearch`` (M. Schmidt) as ported
#: by torch: c1 = 1e-4 and c2 = 0.9 are the defaults, and torch's ``max_ls`` trials after the first are
#: ``maxiter = max_ls + 1``.
TORCH_WOLFE: Mapping[str, Any] = MappingProxyType(
    {"extrapolation": "cubic", "interpolation": "cubic", "bracketing": "minfunc", "xtol": 1e-9,
     "alpha_max": math.inf}
)  # fmt: skip


def wolfe(
    f: TensorFn,
    x: torch.Tensor,
    direction: torch.Tensor,
    c1: float = 1e-4,
    c2: float = 0.9,
    alpha0: float = 1.0,
    alpha_max: float = 1e10,
    maxiter: int = 40,
    grad: torch.Tensor | None = None,
    fx: Any = None,
    *,
    extrapolation: str = "double",
    interpolation: str = "safeguarded",
    bracketing: str = "nocedal-wright",
    xtol: float = 0.0,
) -> Result:
    r"""Line search for a step satisfying the strong Wolfe conditions (Nocedal & Wright, Alg. 3.5 and 3.6).

    With φ(α) = f(x + α·d) and φ'(0) = ∇f(x)·d < 0, find α > 0 with

        φ(α) ≤ φ(0) + c₁·α·φ'(0)          (sufficient decrease)
        |φ'(α)| ≤ c₂·|φ'(0)|               (curvature, strong form)

    for 0 < c₁ < c₂ < 1. Bracketing phase: try α₀ < α₁ < … (capped at ``alpha_max``) until a trial is
    acceptable, fails sufficient decrease or does not decrease φ below the trial before it (the step is too
    long), or has φ' ≥ 0; the last two cases bracket an acceptable step between the trial and the one
    before. Zoom phase: try a step inside the bracket (α_lo, α_hi), α_lo the end with sufficient decrease
    and the lower φ, and replace one end by it, until a trial is acceptable. A trial where f is not finite
    counts as a step that is too long.

    The options choose how the steps are found:

    ``extrapolation`` — the next bracketing trial after α_i (α_{i−1} the one before, α₋₁ = 0):

    - ``"double"``: α_{i+1} = 2α_i.
    - ``"cubic"``: the minimizer of the cubic matching φ and φ' at α_{i−1} and α_i, clamped to
      [α_i + 0.01(α_i − α_{i−1}), 10α_i] (the middle of that interval where the cubic has no minimizer).

    ``interpolation`` — the zoom's trial in the bracket [a, b] of width w = b − a:

    - ``"safeguarded"``: the minimizer of the cubic through φ and φ' at both ends when both are known, else
      of the cubic through φ, φ' at α_lo and φ at α_hi and the previous end, else of the quadratic through
      φ, φ' at α_lo and φ at α_hi; kept at least 0.05w away from the ends, and the midpoint when no model
      has a minimizer inside or two trials failed to halve the bracket. φ' is evaluated (one backward pass)
      only at trials that pass sufficient decrease.
    - ``"cubic"``: the minimizer of the cubic through φ and φ' at both ends, clamped to [a, b] (the
      midpoint where the cubic has none). A trial closer than 0.1w to an end is taken once; the next one in
      a row, or one on an end, moves to 0.1w from the nearer end. φ' is evaluated at every trial.

    ``bracketing`` — which end is α_lo, and when the search gives up:

    - ``"nocedal-wright"``: a trial that does not decrease φ ends the bracketing phase from the second trial
      on; α_lo is the best step that satisfies sufficient decrease; when ``maxiter`` trials are spent the
      result is α_lo (0 if none).
    - ``"minfunc"`` (minFunc's rules, which torch's LBFGS uses): that test applies from the third trial on;
      after every trial the end with the lower φ is α_lo, even one that failed sufficient decrease (the ends
      keep their places in the pair (α_{i−1}, α_i) that closed the bracket, a trial taking the place of the
      end it replaces; on a tie the end in the first place is α_lo); when the ``maxiter``-th trial is a
      bracketing trial that is not acceptable, the result is whichever of α = 0 and that trial has the
      lower φ (α = 0 on a tie); in the zoom it is α_lo.

    ``xtol`` — the zoom also stops, at α_lo, once |α_hi − α_lo|·max|dᵢ| < ``xtol`` (the two ends are
    closer than ``xtol`` in every coordinate of x); it always stops once they are equal to rounding.

    :data:`TORCH_WOLFE` holds the options under which the steps are those of ``torch.optim.LBFGS``'s
    ``line_search_fn="strong_wolfe"``.

    Args:
        f: a function of a tensor returning a scalar tensor (gradients by ``torch.autograd``).
        x: the current point; direction: d, a tensor of x's shape.
        c1, c2: the Wolfe constants, 0 < c₁ < c₂ < 1 (c₂ = 0.9 for quasi-Newton, 0.1 for nonlinear CG).
        alpha0: the first trial step; alpha_max: the longest step tried (``math.inf``: no limit).
        maxiter: the most trial steps, both phases together.
        grad, fx: ∇f(x) and f(x) if already known (saves their evaluation).
        extrapolation: ``"double"`` or ``"cubic"``.
        interpolation: ``"safeguarded"`` or ``"cubic"``.
        bracketing: ``"nocedal-wright"`` or ``"minfunc"``.
        xtol: the zoom's tolerance on the bracket, ≥ 0 (0: none).

    Returns:
        ``Result`` with ``x`` = α, ``fun`` = f(x + α·d), ``nit`` (trial steps), ``nfev``, ``njev``,
        ``success``, ``message`` and in ``extra``: ``x_new``, ``grad`` (∇f(x_new)), ``derphi`` (φ'(α)),
        ``fun0`` and ``derphi0``. ``success`` is True exactly when α satisfies the strong Wolfe conditions.
        Otherwise (not a descent direction, ``maxiter`` reached, φ unbounded below up to ``alpha_max``, the
        bracket narrower than ``xtol`` or than rounding) ``success=False``, ``message`` says why and ``x``
        is the step ``bracketing`` falls back on; a search that stopped in the zoom phase also gives
        ``extra["bracket"]`` = (α_lo, α_hi).
    """
    c1, c2 = _fraction("c1", c1), _fraction("c2", c2)
    if c1 >= c2:
        raise ValueError(f"Invalid c1, c2: c1={c1}, c2={c2}; expected 0 < c1 < c2 < 1")
    alpha = positive("alpha0", alpha0)
    alpha_max = real("alpha_max", alpha_max, finite=False)
    if not alpha_max >= alpha:
        raise ValueError(f"Invalid alpha_max: {alpha_max}; expected alpha_max >= alpha0 = {alpha}")
    maxiter = count("maxiter", maxiter)
    extrapolation = choice("extrapolation", extrapolation, EXTRAPOLATIONS)
    cubic = choice("interpolation", interpolation, INTERPOLATIONS) == "cubic"
    minfunc = choice("bracketing", bracketing, BRACKETINGS) == "minfunc"
    xtol = nonnegative("xtol", xtol)
    line = _Line(f, x, direction)
    phi0, g0, dphi0, base, refusal = _line_start(line, fx, grad)
    if refusal is not None:
        return refusal
    curvature = -c2 * dphi0
    d_norm = float(line.d.abs().max())
    start = Sample(0.0, phi0, dphi0, g0)

    def sufficient(s: Sample) -> bool:
        return math.isfinite(s.phi) and s.phi <= phi0 + c1 * s.alpha * dphi0

    def with_slope(s: Sample) -> Sample:
        g = line.grad(s.alpha)
        return s._replace(dphi=line.slope(g), grad=g)

    def trial_at(a: float) -> Sample:
        s = Sample(a, line.value(a))
        return with_slope(s) if cubic else s

    def end(s: Sample, nit: int, ok: bool, message: str, **extra: Any) -> Result:
        return _line_result(
            line, s.alpha, s.phi, nit, ok, message, grad=s.grad, derphi=s.dphi, **extra, **base
        )

    def lower_of_start_and(s: Sample, nit: int) -> Result:
        best = start if not s.phi < phi0 else (s if s.grad is not None else with_slope(s))
        message = f"maxiter={maxiter} reached while bracketing; the lower of alpha=0 and the last trial"
        return end(best, nit, False, message)

    def examine(s: Sample, fallback: Sample, nit: int) -> tuple[Sample, Result | None]:
        """s (sufficient decrease holds) with φ'(α), and the end of the search if it is acceptable or φ'(α)
        is not finite (then at ``fallback``)."""
        if s.dphi is None:
            s = with_slope(s)
        assert s.dphi is not None
        if not math.isfinite(s.dphi):
            return s, end(fallback, nit, False, f"the directional derivative is {s.dphi} at alpha={s.alpha}")
        if abs(s.dphi) <= curvature:
            return s, end(s, nit, True, f"strong Wolfe conditions hold after {nit} trial step(s)")
        return s, None

    def lower(ends: list[Sample]) -> int:
        return 0 if ends[0].phi <= ends[1].phi else 1

    nit = 0
    prev, rec = start, None  # rec: the end that last left the bracket, for interpolation
    while True:  # bracketing phase
        if nit >= maxiter:
            return end(prev, nit, False, f"maxiter={maxiter} reached while bracketing")
        nit += 1
        s = trial_at(alpha)
        last = nit >= maxiter
        if not sufficient(s) or (nit > (2 if minfunc else 1) and s.phi >= prev.phi):
            if minfunc and last:
                return lower_of_start_and(s, nit)
            ends, low = [prev, s], 0
            break
        s, done = examine(s, prev, nit)
        if done is not None:
            return done
        assert s.dphi is not None
        if minfunc and last:
            return lower_of_start_and(s, nit)
        if s.dphi >= 0.0:  # φ rises at α: a minimizer of φ lies between the trial before and α
            ends, low, rec = [prev, s], 1, None
            break
        if alpha >= alpha_max:
            message = f"alpha_max={alpha_max} reached with phi still decreasing; f may be unbounded below"
            return end(s, nit, False, message)
        alpha = min(cubic_extrapolation(prev, s) if extrapolation == "cubic" else 2.0 * alpha, alpha_max)
        prev, rec = s, prev
    if minfunc:
        low = lower(ends)

    width_before, width_last = math.inf, math.inf  # the bracket's width two and one zoom trials ago
    close = False  # interpolation="cubic": the last trial was close to an end
    while True:  # zoom phase: the bracket holds a step satisfying the strong Wolfe conditions
        lo, hi = ends[low], ends[1 - low]
        width, bracket = abs(hi.alpha - lo.alpha), (lo.alpha, hi.alpha)
        if width * d_norm < xtol:
            return end(lo, nit, False, f"bracket {bracket} narrower than xtol={xtol}", bracket=bracket)
        if width <= 4.0 * _EPS * max(abs(lo.alpha), abs(hi.alpha)):
            return end(lo, nit, False, f"bracket {bracket} shrunk to rounding level", bracket=bracket)
        if nit >= maxiter:
            return end(lo, nit, False, f"maxiter={maxiter} reached while zooming", bracket=bracket)
        nit += 1
        if cubic:
            alpha, close = cubic_trial(lo, hi, close)
        else:
            alpha = safeguarded_trial(lo, hi, rec, width_before)
            width_before, width_last = width_last, width
        s = trial_at(alpha)
        if not sufficient(s) or s.phi >= lo.phi:
            rec, ends[1 - low] = hi, s
            if minfunc:
                low = lower(ends)
            continue
        s, done = examine(s, lo, nit)
        if done is not None:
            return done
        assert s.dphi is not None
        if s.dphi * (hi.alpha - lo.alpha) >= 0.0:
            rec, ends[1 - low] = hi, lo
        else:
            rec = lo
        ends[low] = s
