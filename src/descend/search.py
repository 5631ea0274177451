"""One-dimensional searches and line searches.

Zeroth order: :func:`golden_section` and :func:`brent` (parabolic interpolation with a golden-section
fallback) minimize a unimodal function on an interval from its values alone. First order: :func:`bisection`
finds a root of a sign-changing function (the derivative of a convex function: its minimizer). Second order:
:func:`newton_1d` runs Newton's iteration x ← x − g(x)/g'(x) on a root of g, safeguarded by bisection when a
bracket is known.

Line searches choose a step length α along a direction d from a point x, for φ(α) = f(x + α·d):
:func:`armijo` backtracks until the sufficient-decrease (Armijo) condition holds and :func:`wolfe` finds a
step satisfying the strong Wolfe conditions (Nocedal & Wright, *Numerical Optimization*, Alg. 3.5, 3.6), its
bracketing and zoom rules chosen by options; :data:`TORCH_WOLFE` is the set of them under which it takes the
steps of ``torch.optim.LBFGS``'s ``line_search_fn="strong_wolfe"``. They live in :mod:`descend._linesearch`.

Every search returns :class:`descend.result.Result` with exact evaluation counts. Bad arguments raise
``ValueError``/``TypeError``; a failure that depends on the function's values (non-finite values, a direction
that is not a descent direction, ``maxiter`` reached) gives ``success=False`` and says why in ``message``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from descend._linesearch import TORCH_WOLFE, armijo, wolfe  # line searches: in a module of their own
from descend.checks import count, positive, real
from descend.result import Result, Status

__all__ = ["TORCH_WOLFE", "armijo", "bisection", "brent", "golden_section", "newton_1d", "wolfe"]

_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0  # 1/φ ≈ 0.618, the golden-section shrink factor
_INV_PHI2 = 1.0 - _INV_PHI  # 1/φ² ≈ 0.382
_EPS = 2.220446049250313e-16

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


def _not_finite(x: float, fx: float, nit: int, calls: int, bracket: tuple[float, float]) -> Result:
    return Result(x, fx, nit, calls, False, f"f returned {fx} at x={x}", extra={"bracket": bracket},
                  status=Status.DIVERGED)  # fmt: skip


def _out_of_steps(
    x: float, fx: float, nit: int, calls: int, bracket: tuple[float, float], maxiter: int
) -> Result:
    return Result(x, fx, nit, calls, False, f"maxiter={maxiter} reached", extra={"bracket": bracket},
                  status=Status.MAX_STEPS)  # fmt: skip


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
            return _not_finite(x, fx, nit, fn.calls, (a, b))
        # The comparison decides the next bracket; its best point is within 0.382·(b − a) of x*.
        bound = _INV_PHI2 * (b - a)
        if bound <= tol or bound <= 4.0 * _EPS * max(abs(a), abs(b)):
            lo_hi = (a, d) if fc < fd else (c, b)
            x, fx = (c, fc) if fc < fd else (d, fd)
            message = f"bracket shrunk to {lo_hi[1] - lo_hi[0]:.3g}; |x - x*| <= {bound:.3g}"
            return Result(x, fx, nit, fn.calls, True, message, extra={"bracket": lo_hi})
        if nit >= maxiter:
            x, fx = (c, fc) if fc < fd else (d, fd)
            return _out_of_steps(x, fx, nit, fn.calls, (a, b), maxiter)
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
            return _not_finite(x, fx, nit, fn.calls, (a, b))
        m = 0.5 * (a + b)
        tol1 = 0.5 * tol + 2.0 * _EPS * abs(x)
        tol2 = 2.0 * tol1
        if abs(x - m) <= tol2 - 0.5 * (b - a):
            message = f"bracket [{a:.6g}, {b:.6g}] within {tol2:.3g} of x"
            return Result(x, fx, nit, fn.calls, True, message, extra={"bracket": (a, b)})
        if nit >= maxiter:
            return _out_of_steps(x, fx, nit, fn.calls, (a, b), maxiter)
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
            return _not_finite(u, fu, nit, fn.calls, (a, b))
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
    return _out_of_steps(x, fx, nit, fn.calls, (a, b), maxiter)


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
