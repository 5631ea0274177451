"""Trial steps for line searches from models of φ(α) = f(x + α·d) fitted to the steps already tried.

A :class:`Sample` is a step α with φ(α) and, when it was evaluated, φ'(α). The models are the cubic that
matches φ and φ' at two samples (Hermite), the cubic through φ, φ' at one sample and φ at two more, and the
parabola through φ, φ' at one sample and φ at another; each gives its local minimizer, or NaN where it has
none. Two ways of choosing a step from them serve :func:`descend.search.wolfe`'s zoom phase
(``interpolation="safeguarded"`` and ``"cubic"``) and one its bracketing phase (``extrapolation="cubic"``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

ZOOM_MARGIN = 0.05  # safeguarded: trials stay this fraction of the bracket away from its ends
ZOOM_SHRINK = 0.5  # and bisect when two trials left the bracket wider than this fraction of it
CUBIC_MARGIN = 0.1  # cubic: a trial this close to an end (as a fraction of the bracket) is progress too slow
EXTRAPOLATION_BOUNDS = (0.01, 10.0)  # cubic extrapolation: from α + 0.01(α - α_prev) to 10α


class Sample(NamedTuple):
    """A trial step α with φ(α), φ'(α) when it was evaluated, and ∇f(x + α·d) for the search to return."""

    alpha: float
    phi: float
    dphi: float | None = None
    grad: Any = None


def hermite_min(p: Sample, q: Sample) -> float:
    r"""The local minimizer of the cubic matching φ and φ' at p and q (Nocedal & Wright eq. 3.59), or NaN.

    With a, b the two samples ordered by α (α_a < α_b):

    .. math::
        d_1 = φ'_a + φ'_b - 3\frac{φ_a - φ_b}{α_a - α_b}, \quad d_2 = \sqrt{d_1^2 - φ'_a φ'_b}, \quad
        α^* = α_b - (α_b - α_a)\,\frac{φ'_b + d_2 - d_1}{φ'_b - φ'_a + 2 d_2},

    NaN where :math:`d_1^2 < φ'_a φ'_b` (the cubic has no local minimizer) or the denominator is 0.
    """
    a, b = (p, q) if p.alpha <= q.alpha else (q, p)
    assert a.dphi is not None and b.dphi is not None
    d1 = a.dphi + b.dphi - 3.0 * (a.phi - b.phi) / (a.alpha - b.alpha)
    disc = d1 * d1 - a.dphi * b.dphi
    if not disc >= 0.0:
        return math.nan
    d2 = math.sqrt(disc)
    denom = b.dphi - a.dphi + 2.0 * d2
    if denom == 0.0:
        return math.nan
    return b.alpha - (b.alpha - a.alpha) * ((b.dphi + d2 - d1) / denom)


def three_point_min(lo: Sample, hi: Sample, rec: Sample) -> float:
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


def quadratic_min(lo: Sample, hi: Sample) -> float:
    """The minimizer of the parabola with φ, φ' at lo and φ at hi, or NaN."""
    assert lo.dphi is not None
    t1 = hi.alpha - lo.alpha
    curvature = (hi.phi - lo.phi - lo.dphi * t1) / (t1 * t1)
    return lo.alpha - lo.dphi / (2.0 * curvature) if curvature > 0.0 else math.nan


def model_min(lo: Sample, hi: Sample, rec: Sample | None) -> float:
    """The minimizer of an interpolant of φ strictly inside (lo, hi), or NaN when none is.

    The first model with a minimizer inside wins: the cubic matching φ and φ' at lo and hi, the cubic through
    φ, φ' at lo and φ at hi and at the previous end ``rec``, the quadratic through φ, φ' at lo and φ at hi.
    """
    left, right = min(lo.alpha, hi.alpha), max(lo.alpha, hi.alpha)
    candidates = []
    if hi.dphi is not None:
        candidates.append(lambda: hermite_min(lo, hi))
    if rec is not None and math.isfinite(rec.phi) and rec.alpha not in (lo.alpha, hi.alpha):
        candidates.append(lambda: three_point_min(lo, hi, rec))
    candidates.append(lambda: quadratic_min(lo, hi))
    if not math.isfinite(hi.phi):
        return math.nan
    for candidate in candidates:
        t = candidate()
        if math.isfinite(t) and left < t < right:
            return t
    return math.nan


def safeguarded_trial(lo: Sample, hi: Sample, rec: Sample | None, width_before: float) -> float:
    """The zoom's next trial in (lo, hi) under ``interpolation="safeguarded"``.

    The minimizer of :func:`model_min`'s interpolant, or the midpoint when there is none or when the
    bracket is still wider than half ``width_before`` (its width two trials ago); then kept 5% of the
    bracket's width away from either end.
    """
    width = abs(hi.alpha - lo.alpha)
    trial = model_min(lo, hi, rec)
    if math.isnan(trial) or width > ZOOM_SHRINK * width_before:
        trial = 0.5 * (lo.alpha + hi.alpha)
    margin = ZOOM_MARGIN * width
    left, right = min(lo.alpha, hi.alpha), max(lo.alpha, hi.alpha)
    return min(max(trial, left + margin), right - margin)


def clamped_cubic(p: Sample, q: Sample, low: float, high: float) -> float:
    """:func:`hermite_min` of p and q clamped to [low, high]; the midpoint of [low, high] where it is NaN."""
    t = hermite_min(p, q)
    if math.isnan(t):
        return 0.5 * (low + high)
    return min(max(t, low), high)


def cubic_trial(lo: Sample, hi: Sample, was_close: bool) -> tuple[float, bool]:
    r"""The zoom's next trial under ``interpolation="cubic"``, and whether it is close to an end.

    The cubic's minimizer clamped to the bracket [a, b] (the midpoint if it has none). A trial within
    ε = 0.1(b − a) of an end is allowed once; the next such trial in a row (``was_close``), or one on an
    end, moves to ε from the nearer end instead, so the bracket shrinks by at least ε.
    """
    left, right = min(lo.alpha, hi.alpha), max(lo.alpha, hi.alpha)
    t = clamped_cubic(lo, hi, left, right)
    eps = CUBIC_MARGIN * (right - left)
    if min(right - t, t - left) >= eps:
        return t, False
    if was_close or t >= right or t <= left:
        return (right - eps if abs(t - right) < abs(t - left) else left + eps), False
    return t, True


def cubic_extrapolation(prev: Sample, cur: Sample) -> float:
    r"""The bracketing phase's next step beyond ``cur`` under ``extrapolation="cubic"``.

    The minimizer of the cubic matching φ, φ' at the last two steps α_prev < α, clamped to
    [α + 0.01(α − α_prev), 10α]; the middle of that interval where the cubic has no minimizer.
    """
    near, far = EXTRAPOLATION_BOUNDS
    return clamped_cubic(prev, cur, cur.alpha + near * (cur.alpha - prev.alpha), cur.alpha * far)
