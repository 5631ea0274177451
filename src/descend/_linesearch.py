"""Line searches: a step length α along a direction d from a point x, for φ(α) = f(x + α·d).

:func:`armijo` backtracks until the sufficient-decrease (Armijo) condition holds and :func:`wolfe` finds a
step satisfying the strong Wolfe conditions (Nocedal & Wright, *Numerical Optimization*, Alg. 3.5, 3.6).
Both are offered by :mod:`descend.search`; see there for the result they return.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from descend.checks import count, interval, positive, real
from descend.result import Result

__all__ = ["armijo", "wolfe"]

_EPS = 2.220446049250313e-16
_ZOOM_MARGIN = 0.05  # zoom keeps trials this fraction of the bracket away from its ends
_ZOOM_SHRINK = 0.5  # and bisects when two trials left the bracket wider than this fraction

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
        return self.x if alpha == 0.0 else self.x + alpha * self.d

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
        return float(torch.sum(g * self.d).real)

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


class _Sample(NamedTuple):
    """A trial step α with φ(α) and, when it was evaluated, φ'(α)."""

    alpha: float
    phi: float
    dphi: float | None = None


def _hermite_min(p: _Sample, q: _Sample) -> float:
    """The local minimizer of the cubic matching φ and φ' at p and q (Nocedal & Wright eq. 3.59), or NaN."""
    assert p.dphi is not None and q.dphi is not None
    d1 = p.dphi + q.dphi - 3.0 * (p.phi - q.phi) / (p.alpha - q.alpha)
    disc = d1 * d1 - p.dphi * q.dphi
    if not disc >= 0.0:
        return math.nan
    d2 = math.copysign(math.sqrt(disc), q.alpha - p.alpha)
    denom = q.dphi - p.dphi + 2.0 * d2
    if denom == 0.0:
        return math.nan
    return q.alpha - (q.alpha - p.alpha) * (q.dphi + d2 - d1) / denom


def _three_point_min(lo: _Sample, hi: _Sample, rec: _Sample) -> float:
    """The local minimizer of the cubic with φ, φ' at lo and φ at hi and rec, or NaN."""
    assert lo.dphi is not None
    # p(t) = φ_lo + φ'_lo·t + B·t² + C·t³ (t = α − α_lo) through hi and rec; p'(t) = 0 where p'' > 0.
    t1, t2 = hi.alpha - lo.alpha, rec.alpha - lo.alpha
    r1 = hi.phi - lo.phi - lo.dphi * t1
    r2 = rec.phi - lo.phi - lo.dphi * t2
    det = t1 * t1 * t2 * t2 * (t2 - t1)
    if det == 0.0:
        return math.nan
    big_b = (r1 * t2**3 - r2 * t1**3) / det
    big_c = (r2 * t1 * t1 - r1 * t2 * t2) / det
    disc = big_b * big_b - 3.0 * big_c * lo.dphi
    if big_c == 0.0 or not disc >= 0.0:
        return math.nan
    return lo.alpha + (-big_b + math.sqrt(disc)) / (3.0 * big_c)


def _quadratic_min(lo: _Sample, hi: _Sample) -> float:
    """The minimizer of the parabola with φ, φ' at lo and φ at hi, or NaN."""
    assert lo.dphi is not None
    t1 = hi.alpha - lo.alpha
    curvature = (hi.phi - lo.phi - lo.dphi * t1) / (t1 * t1)
    return lo.alpha - lo.dphi / (2.0 * curvature) if curvature > 0.0 else math.nan


def _interpolate(lo: _Sample, hi: _Sample, rec: _Sample | None) -> float:
    """The minimizer of an interpolant of φ strictly inside (lo, hi), or NaN when none is.

    The first model with a minimizer inside wins: the cubic matching φ and φ' at lo and hi, the cubic through
    φ, φ' at lo and φ at hi and at the previous end ``rec``, the quadratic through φ, φ' at lo and φ at hi.
    """
    left, right = min(lo.alpha, hi.alpha), max(lo.alpha, hi.alpha)
    candidates = []
    if hi.dphi is not None:
        candidates.append(lambda: _hermite_min(lo, hi))
    if rec is not None and math.isfinite(rec.phi) and rec.alpha not in (lo.alpha, hi.alpha):
        candidates.append(lambda: _three_point_min(lo, hi, rec))
    candidates.append(lambda: _quadratic_min(lo, hi))
    if not math.isfinite(hi.phi):
        return math.nan
    for candidate in candidates:
        t = candidate()
        if math.isfinite(t) and left < t < right:
            return t
    return math.nan


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
) -> Result:
    r"""Line search for a step satisfying the strong Wolfe conditions (Nocedal & Wright, Alg. 3.5 and 3.6).

    With φ(α) = f(x + α·d) and φ'(0) = ∇f(x)·d < 0, find α > 0 with

        φ(α) ≤ φ(0) + c₁·α·φ'(0)          (sufficient decrease)
        |φ'(α)| ≤ c₂·|φ'(0)|               (curvature, strong form)

    for 0 < c₁ < c₂ < 1. Bracketing phase: try α₀, 2α₀, 4α₀, … (capped at ``alpha_max``) until a trial is
    acceptable, fails sufficient decrease or does not decrease φ (the step is too long), or has φ' ≥ 0; the
    last two cases bracket an acceptable step. Zoom phase: shrink the bracket (α_lo, α_hi) with the minimizer
    of an interpolant — the cubic through φ and φ' at both ends when both are known, else the cubic through
    φ, φ' at α_lo and φ at α_hi and the previous end, else the quadratic through φ, φ' at α_lo and φ at α_hi —
    kept at least 5% of the bracket away from its ends (bisection when no interpolant has a minimizer
    inside, or when two trials failed to halve the bracket). φ' is evaluated (one backward pass) only at
    trials that pass sufficient decrease. A trial where f is not finite counts as a step that is too long.

    Args:
        f: a function of a tensor returning a scalar tensor (gradients by ``torch.autograd``).
        x: the current point; direction: d, a tensor of x's shape.
        c1, c2: the Wolfe constants, 0 < c₁ < c₂ < 1 (c₂ = 0.9 for quasi-Newton, 0.1 for nonlinear CG).
        alpha0: the first trial step; alpha_max: the longest step tried.
        maxiter: the most trial steps, both phases together.
        grad, fx: ∇f(x) and f(x) if already known (saves their evaluation).

    Returns:
        ``Result`` with ``x`` = α, ``fun`` = f(x + α·d), ``nit`` (trial steps), ``nfev``, ``njev``,
        ``success``, ``message`` and in ``extra``: ``x_new``, ``grad`` (∇f(x_new)), ``derphi`` (φ'(α)),
        ``fun0`` and ``derphi0``. On failure (not a descent direction, ``maxiter`` reached, φ unbounded
        below up to ``alpha_max``, or a bracket shrunk to rounding level) ``success=False`` and ``x`` is the
        best step found that satisfies sufficient decrease (0.0 if none).
    """
    c1, c2 = _fraction("c1", c1), _fraction("c2", c2)
    if c1 >= c2:
        raise ValueError(f"Invalid c1, c2: c1={c1}, c2={c2}; expected 0 < c1 < c2 < 1")
    alpha = positive("alpha0", alpha0)
    alpha_max = positive("alpha_max", alpha_max)
    if alpha_max < alpha:
        raise ValueError(f"Invalid alpha_max: {alpha_max}; expected alpha_max >= alpha0 = {alpha}")
    maxiter = count("maxiter", maxiter)
    line = _Line(f, x, direction)
    phi0, g0, dphi0, base, refusal = _line_start(line, fx, grad)
    if refusal is not None:
        return refusal

    armijo_slope = c1 * dphi0
    curvature = -c2 * dphi0

    def sufficient(a: float, phi_a: float) -> bool:
        return math.isfinite(phi_a) and phi_a <= phi0 + a * armijo_slope

    # lo: the best step so far that satisfies sufficient decrease (φ' known; returned on failure).
    lo, g_lo = _Sample(0.0, phi0, dphi0), g0

    def fail(nit: int, message: str) -> Result:
        return _line_result(line, lo.alpha, lo.phi, nit, False, message, grad=g_lo, derphi=lo.dphi, **base)

    def accept(a: float, phi_a: float, g: torch.Tensor, dphi: float, nit: int) -> Result:
        message = f"strong Wolfe conditions hold after {nit} trial step(s)"
        return _line_result(line, a, phi_a, nit, True, message, grad=g, derphi=dphi, **base)

    nit = 0
    hi: _Sample | None = None
    rec: _Sample | None = None  # the point that last left the bracket, for interpolation
    while hi is None:  # bracketing phase
        if nit >= maxiter:
            return fail(nit, f"maxiter={maxiter} reached while bracketing")
        nit += 1
        phi_a = line.value(alpha)
        if not sufficient(alpha, phi_a) or (nit > 1 and phi_a >= lo.phi):
            hi = _Sample(alpha, phi_a)
            break
        g = line.grad(alpha)
        dphi = line.slope(g)
        if not math.isfinite(dphi):
            return fail(nit, f"the directional derivative is {dphi} at alpha={alpha}")
        if abs(dphi) <= curvature:
            return accept(alpha, phi_a, g, dphi, nit)
        if dphi >= 0.0:
            # φ rises at α: a minimizer of φ lies between the old lo and α, which becomes the new lo.
            hi, rec = lo, None
            lo, g_lo = _Sample(alpha, phi_a, dphi), g
            break
        if alpha >= alpha_max:
            lo, g_lo = _Sample(alpha, phi_a, dphi), g
            return fail(
                nit, f"alpha_max={alpha_max} reached with phi still decreasing; f may be unbounded below"
            )
        rec = lo
        lo, g_lo = _Sample(alpha, phi_a, dphi), g
        alpha = min(2.0 * alpha, alpha_max)

    widths = [math.inf, math.inf]  # the bracket's width one and two zoom trials ago
    while True:  # zoom phase: (lo, hi) brackets a step satisfying the strong Wolfe conditions
        width = abs(hi.alpha - lo.alpha)
        if width <= 4.0 * _EPS * max(abs(lo.alpha), abs(hi.alpha)):
            return fail(nit, f"bracket between {lo.alpha} and {hi.alpha} shrunk to rounding level")
        if nit >= maxiter:
            return fail(nit, f"maxiter={maxiter} reached while zooming")
        nit += 1
        trial = _interpolate(lo, hi, rec)
        if math.isnan(trial) or width > _ZOOM_SHRINK * widths[0]:
            # No usable interpolant, or interpolation failed to shrink the bracket enough in two trials.
            trial = 0.5 * (lo.alpha + hi.alpha)
        margin = _ZOOM_MARGIN * width
        left, right = min(lo.alpha, hi.alpha), max(lo.alpha, hi.alpha)
        trial = min(max(trial, left + margin), right - margin)
        widths = [widths[1], width]
        phi_t = line.value(trial)
        if not sufficient(trial, phi_t) or phi_t >= lo.phi:
            rec, hi = hi, _Sample(trial, phi_t)
            continue
        g = line.grad(trial)
        dphi = line.slope(g)
        if not math.isfinite(dphi):
            return fail(nit, f"the directional derivative is {dphi} at alpha={trial}")
        if abs(dphi) <= curvature:
            return accept(trial, phi_t, g, dphi, nit)
        if dphi * (hi.alpha - lo.alpha) >= 0.0:
            rec, hi = hi, lo
        else:
            rec = lo
        lo, g_lo = _Sample(trial, phi_t, dphi), g
