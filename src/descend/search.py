"""One-dimensional searches and line searches.

Zeroth order: :func:`golden_section` and :func:`brent` (parabolic interpolation with a golden-section
fallback) minimize a unimodal function on an interval from its values alone. First order: :func:`bisection`
finds a root of a sign-changing function (the derivative of a convex function: its minimizer). Second order:
:func:`newton_1d` runs Newton's iteration x ← x − g(x)/g'(x) on a root of g, safeguarded by bisection when a
bracket is known.

Line searches choose a step length α along a direction d from a point x, for φ(α) = f(x + α·d):
:func:`armijo` backtracks until the sufficient-decrease (Armijo) condition holds and :func:`wolfe` finds a
step satisfying the strong Wolfe conditions (Nocedal & Wright, *Numerical Optimization*, Alg. 3.5, 3.6).

Every search returns :class:`descend.result.Result` with exact evaluation counts. Bad arguments raise
``ValueError``/``TypeError``; a failure that depends on the function's values (non-finite values, a direction
that is not a descent direction, ``maxiter`` reached) gives ``success=False`` and says why in ``message``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from descend.checks import count, interval, positive, real
from descend.result import Result, Status

__all__ = ["armijo", "bisection", "brent", "golden_section", "newton_1d", "wolfe"]

_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0  # 1/φ ≈ 0.618, the golden-section shrink factor
_INV_PHI2 = 1.0 - _INV_PHI  # 1/φ² ≈ 0.382
_EPS = 2.220446049250313e-16
_ZOOM_MARGIN = 0.05  # zoom keeps trials this fraction of the bracket away from its ends
_ZOOM_SHRINK = 0.5  # and bisects when two trials left the bracket wider than this fraction

ScalarFn = Callable[[Any], Any]
TensorFn = Callable[[torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------


def _bracket(a: Any, b: Any) -> tuple[float, float]:
    a, b = real("a", a, finite=False), real("b", b, finite=False)
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"Invalid bracket: a={a}, b={b}; expected finite ends")
    if a >= b:
        raise ValueError(f"Invalid bracket: a={a}, b={b}; expected a < b")
    return a, b


def _fraction(name: str, value: Any) -> float:
    return interval(name, value, 0, 1, low_open=True, high_open=True)


# ----------------------------------------------------------------------------------------------------------
# Scalar functions of a float
# ----------------------------------------------------------------------------------------------------------


class _Scalar:
    """A counted scalar function of a float that also accepts torch functions of a 0-dim tensor.

    The first call tries a Python float; if the function rejects it with a ``TypeError`` (``torch.exp(0.5)``
    does), this and every later call pass a float64 0-dim tensor instead.
    """

    def __init__(self, fn: ScalarFn, name: str) -> None:
        if not callable(fn):
            raise TypeError(f"Invalid {name}: {fn!r}; expected a callable")
        self.fn, self.name, self.calls = fn, name, 0
        self._wants_tensor: bool | None = None

    def __call__(self, x: float) -> float:
        try:
            out = self._evaluate(x)
        except OverflowError:
            # math.exp and friends raise where torch returns inf: report a non-finite value instead.
            self.calls += 1
            return math.nan
        self.calls += 1
        return self._as_float(out, x)

    def _evaluate(self, x: float) -> Any:
        if self._wants_tensor is None:
            try:
                out = self.fn(x)
                self._wants_tensor = False
            except TypeError as float_error:
                try:
                    out = self.fn(torch.tensor(x, dtype=torch.float64))
                except Exception as tensor_error:
                    raise tensor_error from float_error
                self._wants_tensor = True
        elif self._wants_tensor:
            out = self.fn(torch.tensor(x, dtype=torch.float64))
        else:
            out = self.fn(x)
        return out

    def _as_float(self, out: Any, x: float) -> float:
        if isinstance(out, torch.Tensor):
            if out.numel() != 1:
                raise TypeError(
                    f"{self.name}({x}) returned a tensor of shape {tuple(out.shape)}; expected a scalar"
                )
            return float(out.detach())
        try:
            return float(out)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{self.name}({x}) returned {out!r}; expected a real number") from err


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


# ----------------------------------------------------------------------------------------------------------
# Zeroth order: golden section and Brent
# ----------------------------------------------------------------------------------------------------------


def golden_section(f: ScalarFn, a: float, b: float, tol: float = 1e-8, maxiter: int = 500) -> Result:
    r"""Minimize a unimodal ``f`` on ``[a, b]`` by golden-section search (no derivatives).

    Two interior points c = a + (1 − 1/φ)(b − a) and d = a + (b − a)/φ, φ = (1 + √5)/2, split the bracket.
    If f(c) < f(d) the minimizer lies in [a, d], else in [c, b]; the kept interior point is exactly a golden
    point of the new bracket, so each iteration costs one evaluation and shrinks the bracket by 1/φ ≈ 0.618.

    The result's ``x`` is the better interior point. Because the comparison also tells which sub-bracket
    holds the minimizer x*, |x − x*| ≤ (1 − 1/φ)·(b − a); the search stops once this bound is ≤ ``tol`` (or
    falls below a few units in the last place of x, where no further progress is possible). Comparing values
    locates a minimum only to about √ε·|x| relative accuracy (ε the float64 machine epsilon): asking for a
    smaller ``tol`` gains nothing.

    Args:
        f: a function of a float (or of a 0-dim tensor) returning a real number.
        a, b: the bracket, finite with a < b.
        tol: the absolute accuracy wanted on the minimizer, > 0.
        maxiter: the most iterations (evaluations after the first two).

    Returns:
        ``Result`` with ``x`` the minimizer estimate, ``fun`` = f(x), ``nit``, ``nfev`` (= nit + 2),
        ``success``, ``message`` and ``extra["bracket"]`` = (lo, hi), an interval that holds x*.
    """
    a, b = _bracket(a, b)
    tol, maxiter = positive("tol", tol), count("maxiter", maxiter)
    fn = _Scalar(f, "f")
    c, d = a + _INV_PHI2 * (b - a), a + _INV_PHI * (b - a)
    fc, fd = fn(c), fn(d)
    nit = 0
    while True:
        if not _finite(fc, fd):
            x, fx = (c, fc) if not math.isfinite(fc) else (d, fd)
            return Result(
                x,
                fx,
                nit,
                fn.calls,
                False,
                f"f returned {fx} at x={x}",
                extra={"bracket": (a, b)},
                status=Status.DIVERGED,
            )
        # The comparison decides the next bracket; its best point is within 0.382·(b − a) of x*.
        bound = _INV_PHI2 * (b - a)
        if bound <= tol or bound <= 4.0 * _EPS * max(abs(a), abs(b)):
            lo_hi = (a, d) if fc < fd else (c, b)
            x, fx = (c, fc) if fc < fd else (d, fd)
            message = f"bracket shrunk to {lo_hi[1] - lo_hi[0]:.3g}; |x - x*| <= {bound:.3g}"
            return Result(x, fx, nit, fn.calls, True, message, extra={"bracket": lo_hi})
        if nit >= maxiter:
            x, fx = (c, fc) if fc < fd else (d, fd)
            return Result(
                x,
                fx,
                nit,
                fn.calls,
                False,
                f"maxiter={maxiter} reached",
                extra={"bracket": (a, b)},
                status=Status.MAX_STEPS,
            )
        nit += 1
        if fc < fd:
            b, d, fd = d, c, fc
            c = a + _INV_PHI2 * (b - a)
            fc = fn(c)
        else:
            a, c, fc = c, d, fd
            d = a + _INV_PHI * (b - a)
            fd = fn(d)


def brent(f: ScalarFn, a: float, b: float, tol: float = 1e-8, maxiter: int = 500) -> Result:
    r"""Minimize ``f`` on ``[a, b]`` by Brent's method: parabolic interpolation with golden-section fallback.

    Keeps the bracket [a, b], the best point x, the second best w and the previous w, v. Each iteration fits
    the parabola through (v, f(v)), (w, f(w)), (x, f(x)) and steps to its vertex u = x − p/q when the step is
    inside the bracket and smaller than half the step before last (so it converges); otherwise it takes a
    golden-section step into the larger part, u = x + (1 − 1/φ)·(b − x or a − x). A step is never shorter than
    tol/2, so points stay distinguishable. Convergence is superlinear (order ≈ 1.32) on smooth functions and
    never much slower than golden section (R. P. Brent, *Algorithms for Minimization without Derivatives*,
    1973, ch. 5).

    Stops when max(x − a, b − x) ≤ ``tol`` (plus a few units in the last place of x), which guarantees
    |x − x*| ≤ tol for a unimodal f. As with :func:`golden_section`, values resolve a minimum only to about
    √ε·|x|.

    Args:
        f: a function of a float (or of a 0-dim tensor) returning a real number.
        a, b: the bracket, finite with a < b.
        tol: the absolute accuracy wanted on the minimizer, > 0.
        maxiter: the most iterations (evaluations after the first).

    Returns:
        ``Result`` with ``x``, ``fun`` = f(x), ``nit``, ``nfev`` (= nit + 1), ``success``, ``message`` and
        ``extra["bracket"]``.
    """
    a, b = _bracket(a, b)
    tol, maxiter = positive("tol", tol), count("maxiter", maxiter)
    fn = _Scalar(f, "f")
    x = w = v = a + _INV_PHI2 * (b - a)
    fx = fw = fv = fn(x)
    d = e = 0.0  # the last step and the step before it
    nit = 0
    while True:
        if not math.isfinite(fx):
            return Result(
                x,
                fx,
                nit,
                fn.calls,
                False,
                f"f returned {fx} at x={x}",
                extra={"bracket": (a, b)},
                status=Status.DIVERGED,
            )
        m = 0.5 * (a + b)
        tol1 = 0.5 * tol + 2.0 * _EPS * abs(x)
        tol2 = 2.0 * tol1
        if abs(x - m) <= tol2 - 0.5 * (b - a):
            message = f"bracket [{a:.6g}, {b:.6g}] within {tol2:.3g} of x"
            return Result(x, fx, nit, fn.calls, True, message, extra={"bracket": (a, b)})
        if nit >= maxiter:
            return Result(
                x,
                fx,
                nit,
                fn.calls,
                False,
                f"maxiter={maxiter} reached",
                extra={"bracket": (a, b)},
                status=Status.MAX_STEPS,
            )
        nit += 1
        golden = True
        if abs(e) > tol1:
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = abs(q)
            e_before, e = e, d
            # Accept the vertex only inside the bracket and if the step halves the one before last.
            if abs(p) < abs(0.5 * q * e_before) and q * (a - x) < p < q * (b - x):
                d = p / q
                u = x + d
                if u - a < tol2 or b - u < tol2:
                    d = tol1 if x < m else -tol1
                golden = False
        if golden:
            e = (b - x) if x < m else (a - x)
            d = _INV_PHI2 * e
        u = x + d if abs(d) >= tol1 else x + math.copysign(tol1, d)
        fu = fn(u)
        if not math.isfinite(fu):
            return Result(
                u,
                fu,
                nit,
                fn.calls,
                False,
                f"f returned {fu} at x={u}",
                extra={"bracket": (a, b)},
                status=Status.DIVERGED,
            )
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu


# ----------------------------------------------------------------------------------------------------------
# First and second order: bisection and safeguarded Newton
# ----------------------------------------------------------------------------------------------------------


def bisection(df: ScalarFn, a: float, b: float, tol: float = 1e-10, maxiter: int = 500) -> Result:
    r"""Find a root of ``df`` on ``[a, b]`` by bisection, e.g. the minimizer of a convex f from f'.

    ``df(a)`` and ``df(b)`` must have opposite signs (or one be 0). Each iteration evaluates the midpoint
    m = (a + b)/2 and keeps the half whose ends still differ in sign, so a root stays bracketed. Stops at an
    exact zero or once the half-width (b − a)/2 of the bracket whose midpoint is m is ≤ ``tol`` (or a few
    units in the last place of m): then |m − x*| ≤ tol. Each iteration gains one bit, so about
    log2((b − a)/tol) iterations are needed whatever df is.

    Args:
        df: a function of a float (or of a 0-dim tensor) whose sign changes on [a, b].
        a, b: the bracket, finite with a < b.
        tol: the absolute accuracy wanted on the root, > 0.
        maxiter: the most iterations (midpoint evaluations).

    Returns:
        ``Result`` with ``x`` the root estimate, ``fun`` = df(x), ``nit``, ``nfev`` (calls of ``df``, the
        function whose sign is searched: nit + 2), ``success``, ``message`` and ``extra["bracket"]``.

    Raises:
        ValueError: if the bracket is invalid or df(a), df(b) do not differ in sign.
    """
    a, b = _bracket(a, b)
    tol, maxiter = positive("tol", tol), count("maxiter", maxiter)
    fn = _Scalar(df, "df")
    fa, fb = fn(a), fn(b)
    if not _finite(fa, fb):
        raise ValueError(f"Invalid bracket: df(a)={fa}, df(b)={fb} at a={a}, b={b}; expected finite values")
    if fa == 0.0 or fb == 0.0:
        x, fx = (a, fa) if fa == 0.0 else (b, fb)
        return Result(x, fx, 0, fn.calls, True, "df is 0 at a bracket end", extra={"bracket": (x, x)})
    if (fa > 0.0) == (fb > 0.0):
        raise ValueError(
            f"Invalid bracket: df(a)={fa} and df(b)={fb} at a={a}, b={b}; expected a sign change"
        )
    nit = 0
    while nit < maxiter:
        nit += 1
        m = 0.5 * (a + b)
        half = 0.5 * (b - a)
        fm = fn(m)
        if not math.isfinite(fm):
            return Result(
                m, fm, nit, fn.calls, False, f"df returned {fm} at x={m}", extra={"bracket": (a, b)}
            )
        if fm == 0.0:
            return Result(m, fm, nit, fn.calls, True, "df is exactly 0 at x", extra={"bracket": (m, m)})
        if half <= tol or half <= 2.0 * _EPS * abs(m):
            message = f"root within {half:.3g} of x"
            bracket = (a, m) if (fm > 0.0) == (fb > 0.0) else (m, b)
            return Result(m, fm, nit, fn.calls, True, message, extra={"bracket": bracket})
        if (fm > 0.0) == (fa > 0.0):
            a, fa = m, fm
        else:
            b, fb = m, fm
    x, fx = (a, fa) if abs(fa) <= abs(fb) else (b, fb)
    return Result(
        x,
        fx,
        nit,
        fn.calls,
        False,
        f"maxiter={maxiter} reached",
        extra={"bracket": (a, b)},
        status=Status.MAX_STEPS,
    )


def newton_1d(
    df: ScalarFn,
    d2f: ScalarFn,
    x0: float,
    bracket: tuple[float, float] | None = None,
    tol: float = 1e-10,
    maxiter: int = 100,
) -> Result:
    r"""Find a root of ``df`` by Newton's method, x ← x − df(x)/d2f(x), safeguarded by bisection.

    Applied to the derivative f' of a function f (``df`` = f', ``d2f`` = f''), this is Newton's method for a
    stationary point of f: x⁺ = x − f'(x)/f''(x), quadratically convergent near a simple root.

    Without ``bracket`` it is the textbook iteration: a zero or non-finite d2f, or non-finite values, stop it
    with ``success=False``. With ``bracket=(a, b)`` (df(a), df(b) of opposite signs) the root stays
    bracketed: the bracket is updated with the sign of df at every iterate, and a Newton step that leaves
    the bracket, is not finite, or does not at least halve the bracket width every second step, is replaced
    by a bisection step (as in *Numerical Recipes*' ``rtsafe``). Stops when the last step is ≤ ``tol``, when
    df is exactly 0, or (with a bracket) when the bracket is ≤ 2·tol wide.

    Args:
        df: the function whose root is wanted (a derivative f'), of a float or a 0-dim tensor.
        d2f: its derivative (f'').
        x0: the starting point (inside the bracket, if one is given).
        bracket: optional (a, b) with a < b and a sign change of df.
        tol: the absolute accuracy wanted on the root, > 0.
        maxiter: the most iterations.

    Returns:
        ``Result`` with ``x``, ``fun`` = df(x), ``nit``, ``nfev`` (calls of ``df``), ``njev`` (calls of
        ``d2f``), ``success``, ``message``; ``extra["bisection_steps"]`` counts safeguard steps.

    Raises:
        ValueError: if x0 is not finite, the bracket is invalid or has no sign change, or x0 is outside it.
    """
    x = real("x0", x0)
    if not math.isfinite(x):
        raise ValueError(f"Invalid x0: {x}; expected a finite number")
    tol, maxiter = positive("tol", tol), count("maxiter", maxiter)
    g, h = _Scalar(df, "df"), _Scalar(d2f, "d2f")
    lo = hi = glo = 0.0
    if bracket is not None:
        if not isinstance(bracket, (tuple, list)) or len(bracket) != 2:
            raise TypeError(f"Invalid bracket: {bracket!r}; expected a pair (a, b)")
        lo, hi = _bracket(*bracket)
        if not lo <= x <= hi:
            raise ValueError(f"Invalid x0: {x}; expected x0 inside bracket [{lo}, {hi}]")
        glo, ghi = g(lo), g(hi)
        if not _finite(glo, ghi):
            raise ValueError(f"Invalid bracket: df(a)={glo}, df(b)={ghi}; expected finite values")
        if glo == 0.0 or ghi == 0.0:
            r, gr = (lo, glo) if glo == 0.0 else (hi, ghi)
            return Result(r, gr, 0, g.calls, True, "df is 0 at a bracket end", njev=h.calls)
        if (glo > 0.0) == (ghi > 0.0):
            raise ValueError(f"Invalid bracket: df(a)={glo} and df(b)={ghi}; expected a sign change")

    def done(gx: float, nit: int, ok: bool, message: str, steps: int, status: Status | None = None) -> Result:
        extra = {"bisection_steps": steps}
        if bracket is not None:
            extra["bracket"] = (lo, hi)
        return Result(x, gx, nit, g.calls, ok, message, njev=h.calls, extra=extra, status=status)

    step_before = hi - lo  # the bracket width two steps ago (rtsafe's rule)
    step = step_before
    steps_bisected = 0
    nit = 0
    while True:
        gx = g(x)
        if not math.isfinite(gx):
            return done(gx, nit, False, f"df returned {gx} at x={x}", steps_bisected, Status.DIVERGED)
        if gx == 0.0:
            return done(gx, nit, True, "df is exactly 0 at x", steps_bisected)
        if nit >= maxiter:
            return done(gx, nit, False, f"maxiter={maxiter} reached", steps_bisected, Status.MAX_STEPS)
        nit += 1
        hx = h(x)
        if bracket is not None:
            if (gx > 0.0) == (glo > 0.0):
                lo, glo = x, gx
            else:
                hi = x
            newton = x - gx / hx if hx != 0.0 and math.isfinite(hx) else math.nan
            inside = math.isfinite(newton) and lo < newton < hi
            if not inside or abs(2.0 * gx) > abs(step_before * hx):
                steps_bisected += 1
                step_before, step = step, 0.5 * (hi - lo)
                x = lo + step
            else:
                step_before, step = step, newton - x
                x = newton
            if abs(step) <= tol or hi - lo <= 2.0 * tol:
                return done(g(x), nit, True, f"last step {abs(step):.3g} <= tol", steps_bisected)
        else:
            if hx == 0.0 or not math.isfinite(hx):
                return done(gx, nit, False, f"d2f returned {hx} at x={x}; Newton step undefined", 0)
            step = -gx / hx
            x = x + step
            if not math.isfinite(x):
                return done(math.nan, nit, False, "the iterate is not finite", 0)
            if abs(step) <= tol:
                return done(g(x), nit, True, f"last step {abs(step):.3g} <= tol", 0)


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
