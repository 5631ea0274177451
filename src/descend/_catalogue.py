"""The catalogue's entries: each function's expression, formula, box, start and critical points.

Private: :mod:`descend.functions` is the way in (``names()``, ``get(name)``); its docstring says what an
entry holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from descend.functions import (
    Box,
    CriticalPoints,
    Expr,
    Function,
    Point,
    _exact,
    _no_minimum,
    _refined,
    _scan_1d,
)

# ---------------------------------------------------------------------------------------------------
# Expressions. `x` is a validated float tensor of shape (..., d).


def _safe_sqrt(s: Tensor) -> Tensor:
    """√s with gradient 0 at s = 0 (a valid subgradient of a cone's tip) instead of NaN."""
    positive = s > 0
    root = torch.sqrt(torch.where(positive, s, torch.ones_like(s)))
    return torch.where(positive, root, torch.zeros_like(s))


def _rastrigin(x: Tensor) -> Tensor:
    return 10.0 * x.shape[-1] + (x**2 - 10.0 * torch.cos(2 * math.pi * x)).sum(-1)


def _rosenbrock(x: Tensor) -> Tensor:
    return (100.0 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1.0 - x[..., :-1]) ** 2).sum(-1)


def _styblinski_tang(x: Tensor) -> Tensor:
    return 0.5 * (x**4 - 16.0 * x**2 + 5.0 * x).sum(-1)


def _ackley(x: Tensor) -> Tensor:
    d = x.shape[-1]
    r = _safe_sqrt((x**2).sum(-1) / d)
    return -20.0 * torch.exp(-0.2 * r) - torch.exp(torch.cos(2 * math.pi * x).sum(-1) / d) + 20.0 + math.e


def _goldstein_price(x: Tensor) -> Tensor:
    a, b = x[..., 0], x[..., 1]
    p = 1 + (a + b + 1) ** 2 * (19 - 14 * a + 3 * a**2 - 14 * b + 6 * a * b + 3 * b**2)
    q = 30 + (2 * a - 3 * b) ** 2 * (18 - 32 * a + 12 * a**2 + 48 * b - 36 * a * b + 27 * b**2)
    return p * q


def _levi13(x: Tensor) -> Tensor:
    a, b = x[..., 0], x[..., 1]
    s = torch.sin
    return (
        s(3 * math.pi * a) ** 2
        + (a - 1) ** 2 * (1 + s(3 * math.pi * b) ** 2)
        + (b - 1) ** 2 * (1 + s(2 * math.pi * b) ** 2)
    )


def _styblinski_tang_root() -> float:
    """The minimizing root of d/dx (x⁴ − 16x² + 5x)/2 = 0, i.e. 4x³ − 32x + 5 = 0 near −2.9."""
    x = -2.9
    for _ in range(50):
        x -= (4 * x**3 - 32 * x + 5) / (12 * x**2 - 32)
    return x


_ST = _styblinski_tang_root()


# ---------------------------------------------------------------------------------------------------
# The catalogue: one factory per entry; factories of families take parameters. Entries are laid out
# as rows (name, dim, expression, formula, description, box, start, critical points), not one argument a line.
# fmt: off


def _square() -> Function:
    return Function(
        "square", 1, lambda x: x[..., 0] ** 2, "x²",
        "The chapter's first gradient descent example: convex, minimum 0 at 0.",
        (-10.0, 10.0), (10.0,), _exact([(0.0,)], 0.0),
    )


def _risk() -> Function:
    return Function(
        "risk", 1, lambda x: x[..., 0] * torch.cos(math.pi * x[..., 0]), "x·cos(πx)",
        "The chapter's risk f and its local-vs-global-minimum example (unbounded below; minima in the box).",
        (-1.0, 2.0), (0.0,), _scan_1d, bounded_below=False,
    )


def _empirical_risk() -> Function:
    def expr(x: Tensor) -> Tensor:
        t = x[..., 0]
        return t * torch.cos(math.pi * t) + 0.2 * torch.cos(5 * math.pi * t)

    return Function(
        "empirical_risk", 1, expr, "x·cos(πx) + 0.2·cos(5πx)",
        "The chapter's empirical risk g: the risk plus a ripple, with its own (different) minimum.",
        (0.5, 1.5), (0.6,), _scan_1d, bounded_below=False,
    )


def _xcos(c: float = 0.15 * math.pi) -> Function:
    if not (math.isfinite(c) and c > 0):
        raise ValueError(f"Invalid c: {c}; expected c > 0")
    default = math.isclose(c, 0.15 * math.pi, rel_tol=0, abs_tol=1e-15)
    # the box ends where cos(cx) = 0 (f = 0 at both ends), so its lowest local minimum is the lowest point
    # in it; at ±3π/c the right end would be lower still, f = −3π/c
    half = 2.5 * math.pi / c
    return Function(
        "xcos" if default else f"xcos(c={c:g})", 1, lambda x: x[..., 0] * torch.cos(c * x[..., 0]),
        f"x·cos(cx), c = {'0.15π' if default else f'{c:g}'}",
        "Nonconvex: the chapter's example where Newton's method with a negative Hessian goes uphill.",
        (-half, half), (1.5 * math.pi / c,), _scan_1d, bounded_below=False,
    )


def _cosh(c: float = 0.5) -> Function:
    if not (math.isfinite(c) and c > 0):
        raise ValueError(f"Invalid c: {c}; expected c > 0")
    return Function(
        "cosh" if c == 0.5 else f"cosh(c={c:g})", 1, lambda x: torch.cosh(c * x[..., 0]),
        f"cosh(cx), c = {c:g}",
        "Convex: the chapter's Newton's-method example (quadratic convergence near 0).",
        (-5.0 / c, 5.0 / c), (5.0 / c,), _exact([(0.0,)], 1.0),
    )


def _cube() -> Function:
    return Function(
        "cube", 1, lambda x: x[..., 0] ** 3, "x³",
        "A saddle point in 1-D: f'(0) = f''(0) = 0 but 0 is no minimum; unbounded below.",
        (-2.0, 2.0), (1.5,), _no_minimum(saddles=[(0.0,)]), bounded_below=False,
    )


def _tanh() -> Function:
    return Function(
        "tanh", 1, lambda x: torch.tanh(x[..., 0]), "tanh(x)",
        "Vanishing gradient: f'(x) = 1 − tanh²(x) is nearly 0 at x = 4; infimum −1, never attained.",
        (-2.0, 5.0), (4.0,), _no_minimum(), bounded_below=True,
    )


def _logexp() -> Function:
    x_star = math.log(2.0) / 3.0 - 1.0  # e^x = 2e^(−2x−3)
    return Function(
        "logexp", 1, lambda x: torch.logaddexp(x[..., 0], -2.0 * x[..., 0] - 3.0), "log(eˣ + e^(−2x−3))",
        "Convex and smooth but not quadratic: the notes' example for Newton's method and line search.",
        (-4.0, 3.0), (2.0,), _exact([(x_star,)], x_star + math.log(1.5)),
    )


def _x2sin() -> Function:
    box = (-8.0, 8.0)
    zeros = [(0.0,)] + [(-math.pi / 2 + 2 * math.pi * k,) for k in range(-1, 2)]
    return Function(
        "x2sin", 1, lambda x: x[..., 0] ** 2 * (1 + torch.sin(x[..., 0])), "x²·(1 + sin x)",
        "Nonnegative but not convex: global minima 0 at x = 0 and at every x = −π/2 + 2πk.",
        box, (3.0,), _exact([z for z in zeros if box[0] < z[0] < box[1]], 0.0),
    )


def _cos_pi() -> Function:
    return Function(
        "cos_pi", 1, lambda x: torch.cos(math.pi * x[..., 0]), "cos(πx)",
        "The chapter's nonconvex function in the convexity figure: a chord dips below the graph.",
        (-2.0, 2.0), (0.2,), _exact([(-1.0,), (1.0,)], -1.0, maxima=[(0.0,)]),
    )


def _exp() -> Function:
    return Function(
        "exp", 1, lambda x: torch.exp(0.5 * x[..., 0]), "exp(x/2)",
        "The chapter's convex function without a minimum (convexity figure); infimum 0, never attained.",
        (-2.0, 2.0), (1.0,), _no_minimum(),
    )


_CHAPTER_BOX = ((-5.5, 1.0), (-3.0, 1.0))  # the chapter's `show_trace_2d` window


def _quadratic() -> Function:
    return Function(
        "quadratic", 2, lambda x: x[..., 0] ** 2 + 2 * x[..., 1] ** 2, "x1² + 2·x2²",
        "The chapter's 2-D gradient descent and SGD example (condition number 2).",
        _CHAPTER_BOX, (-5.0, -2.0), _exact([(0.0, 0.0)], 0.0),
    )


def _ill_conditioned() -> Function:
    return Function(
        "ill_conditioned", 2, lambda x: 0.1 * x[..., 0] ** 2 + 2 * x[..., 1] ** 2, "0.1·x1² + 2·x2²",
        "The chapter's momentum example: curvatures 0.2 and 4 (condition number 20).",
        _CHAPTER_BOX, (-5.0, -2.0), _exact([(0.0, 0.0)], 0.0),
    )


def _ill_conditioned_rotated() -> Function:
    def expr(x: Tensor) -> Tensor:
        u = (x[..., 0] + x[..., 1]) / math.sqrt(2)
        v = (x[..., 0] - x[..., 1]) / math.sqrt(2)
        return 0.1 * u**2 + 2 * v**2

    return Function(
        "ill_conditioned_rotated", 2, expr, "0.1·u² + 2·v², u = (x1 + x2)/√2, v = (x1 − x2)/√2",
        "The ill-conditioned quadratic turned 45°: its axes are not the coordinates (AdaGrad's weak spot).",
        ((-6.0, 6.0), (-6.0, 6.0)), (-5.0, -2.0), _exact([(0.0, 0.0)], 0.0),
    )


def _saddle() -> Function:
    return Function(
        "saddle", 2, lambda x: x[..., 0] ** 2 - x[..., 1] ** 2, "x1² − x2²",
        "The chapter's 2-D saddle: a minimum along x1, a maximum along x2; unbounded below.",
        ((-1.0, 1.0), (-1.0, 1.0)), (1.0, 0.01), _no_minimum(saddles=[(0.0, 0.0)]), bounded_below=False,
    )


def _monkey_saddle() -> Function:
    return Function(
        "monkey_saddle", 2, lambda x: x[..., 0] ** 3 - 3 * x[..., 0] * x[..., 1] ** 2, "x1³ − 3·x1·x2²",
        "A degenerate saddle: the Hessian is zero at the origin, so second-order tests cannot classify it.",
        ((-1.5, 1.5), (-1.5, 1.5)), (0.5, 0.5), _no_minimum(saddles=[(0.0, 0.0)]), bounded_below=False,
    )


def _sphere(dim: int = 2) -> Function:
    _check_dim(dim, 1)
    return Function(
        _family("sphere", dim, 2), dim, lambda x: (x**2).sum(-1), "Σ xᵢ²",
        "The simplest convex bowl; every method should solve it.",
        _nd_box((-5.0, 5.0), dim), _nd_start((3.0, 4.0), dim), _exact([(0.0,) * dim], 0.0),
    )


def _rosenbrock_fn(dim: int = 2) -> Function:
    _check_dim(dim, 2)
    return Function(
        _family("rosenbrock", dim, 2), dim, _rosenbrock, "Σ 100·(xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)²",
        "A long curved valley: easy to reach, slow to follow to its minimum at (1, ..., 1).",
        ((-2.0, 2.0), (-1.0, 3.0)) if dim == 2 else _nd_box((-2.0, 2.0), dim),
        _nd_start((-1.2, 1.0), dim), _exact([(1.0,) * dim], 0.0),
    )


def _rastrigin_fn(dim: int = 2) -> Function:
    _check_dim(dim, 1)
    return Function(
        _family("rastrigin", dim, 2), dim, _rastrigin, "10·d + Σ (xᵢ² − 10·cos(2π·xᵢ))",
        "A bowl covered in regularly spaced local minima (one near every integer point).",
        _nd_box((-5.12, 5.12), dim), _nd_start((3.2, -2.6), dim), _exact([(0.0,) * dim], 0.0),
    )


def _styblinski_tang_fn(dim: int = 2) -> Function:
    _check_dim(dim, 1)
    # in 2-D each coordinate sits in one of the 1-D minima (−2.90 or 2.75), or at the 1-D maximum 0.157
    seeds = [(2.75, 2.75), (-2.9, 2.75), (2.75, -2.9), (0.157, 0.157)] if dim == 2 else []
    return Function(
        _family("styblinski_tang", dim, 2), dim, _styblinski_tang, "½·Σ (xᵢ⁴ − 16·xᵢ² + 5·xᵢ)",
        "Four basins in 2-D; the global one at xi = −2.9035 in every coordinate.",
        _nd_box((-5.0, 5.0), dim), _nd_start((1.5, -0.5), dim),
        _refined(seeds, exact_min=[(_ST,) * dim], fmin=dim * 0.5 * (_ST**4 - 16 * _ST**2 + 5 * _ST)),
    )


def _ackley_fn(dim: int = 2) -> Function:
    _check_dim(dim, 1)
    return Function(
        _family("ackley", dim, 2), dim, _ackley,
        "−20·exp(−0.2·√(Σ xᵢ²/d)) − exp(Σ cos(2π·xᵢ)/d) + 20 + e",
        "A nearly flat plate of ripples around a sharp funnel; not differentiable at its minimum 0.",
        _nd_box((-5.0, 5.0), dim), _nd_start((-3.5, 2.5), dim), _exact([(0.0,) * dim], 0.0), smooth=False,
    )


def _check_dim(dim: int, least: int) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < least:
        raise ValueError(f"Invalid dim: {dim!r}; expected an integer >= {least}")


def _family(name: str, dim: int, default: int) -> str:
    return name if dim == default else f"{name}(dim={dim})"


def _nd_box(side: tuple[float, float], dim: int) -> Box:
    return side if dim == 1 else (side, side)


def _nd_start(start2: tuple[float, float], dim: int) -> tuple[float, ...]:
    return tuple(start2[i % 2] for i in range(dim))


def _two_d(
    name: str, expr: Expr, formula: str, description: str, box: Box, start: Point,
    points: Callable[[Function], CriticalPoints], **kw: Any,
) -> Callable[[], Function]:
    def factory() -> Function:
        def two(x: Tensor) -> Tensor:
            return expr(x[..., 0], x[..., 1])

        return Function(name, 2, two, formula, description, box, start, points, **kw)

    return factory


_CLASSIC_2D = [
    _two_d(
        "beale",
        lambda a, b: (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2,
        "(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
        "Flat plateaus and steep walls; minimum 0 at (3, 0.5).",
        ((-4.5, 4.5), (-4.5, 4.5)), (1.0, 1.5), _exact([(3.0, 0.5)], 0.0),
    ),
    _two_d(
        "himmelblau", lambda a, b: (a**2 + b - 11) ** 2 + (a + b**2 - 7) ** 2,
        "(x² + y − 11)² + (x + y² − 7)²",
        "Four global minima (value 0), a local maximum, four saddles: the end point depends on the start.",
        ((-5.0, 5.0), (-5.0, 5.0)), (0.0, 0.0),
        _refined([(3.0, 2.0), (-2.805, 3.131), (-3.779, -3.283), (3.584, -1.848), (-0.271, -0.923),
                  (0.087, 2.884), (-3.073, -0.081), (3.385, 0.074), (-0.128, -1.954)]),
    ),
    _two_d(
        "booth", lambda a, b: (a + 2 * b - 7) ** 2 + (2 * a + b - 5) ** 2, "(x + 2y − 7)² + (2x + y − 5)²",
        "A convex quadratic with a tilted valley; minimum 0 at (1, 3).",
        ((-10.0, 10.0), (-10.0, 10.0)), (-6.0, -4.0), _exact([(1.0, 3.0)], 0.0),
    ),
    _two_d(
        "matyas", lambda a, b: 0.26 * (a**2 + b**2) - 0.48 * a * b, "0.26·(x² + y²) − 0.48·xy",
        "A convex quadratic, flat along the diagonal (condition number 25); minimum 0 at the origin.",
        ((-10.0, 10.0), (-10.0, 10.0)), (8.0, -6.0), _exact([(0.0, 0.0)], 0.0),
    ),
    _two_d(
        "three_hump_camel", lambda a, b: 2 * a**2 - 1.05 * a**4 + a**6 / 6 + a * b + b**2,
        "2x² − 1.05x⁴ + x⁶/6 + xy + y²",
        "Three basins: the global minimum 0 at the origin and two local minima beside it.",
        ((-2.5, 2.5), (-2.5, 2.5)), (-2.0, 2.0),
        _refined([(1.7476, -0.8738), (-1.7476, 0.8738)], exact_min=[(0.0, 0.0)], fmin=0.0),
    ),
    _two_d(
        "goldstein_price", lambda a, b: _goldstein_price(torch.stack([a, b], -1)),
        "[1 + (x + y + 1)²·(19 − 14x + 3x² − 14y + 6xy + 3y²)]·"
        "[30 + (2x − 3y)²·(18 − 32x + 12x² + 48y − 36xy + 27y²)]",
        "Values spanning six orders of magnitude; global minimum 3 at (0, −1), three local minima.",
        ((-2.0, 2.0), (-2.0, 2.0)), (-1.0, 1.5),
        _refined([(-0.6, -0.4), (1.8, 0.2), (1.2, 0.8)], exact_min=[(0.0, -1.0)], fmin=3.0),
    ),
    _two_d(
        "mccormick", lambda a, b: torch.sin(a + b) + (a - b) ** 2 - 1.5 * a + 2.5 * b + 1,
        "sin(x + y) + (x − y)² − 1.5x + 2.5y + 1",
        "Minimum −√3/2 − π/3 at (½ − π/3, −½ − π/3) in its box; unbounded below along x + y → −∞.",
        ((-1.5, 4.0), (-3.0, 4.0)), (3.0, 3.0),
        _exact(
            [(0.5 - math.pi / 3, -0.5 - math.pi / 3)], -math.sqrt(3) / 2 - math.pi / 3,
            local_minima=[(0.5 + 2 * math.pi / 3, -0.5 + 2 * math.pi / 3)],
        ),
        bounded_below=False,
    ),
    _two_d(
        "six_hump_camel", lambda a, b: (4 - 2.1 * a**2 + a**4 / 3) * a**2 + a * b + (-4 + 4 * b**2) * b**2,
        "(4 − 2.1x² + x⁴/3)·x² + xy + (4y² − 4)·y²",
        "Six basins: two global minima (−1.0316) mirrored through the origin, four local ones.",
        ((-2.0, 2.0), (-1.0, 1.0)), (-1.0, -0.5),
        _refined([(0.0898, -0.7126), (-0.0898, 0.7126), (1.7036, -0.7961), (-1.7036, 0.7961),
                  (1.6071, 0.5687), (-1.6071, -0.5687)]),
    ),
    _two_d(
        "easom",
        lambda a, b: -torch.cos(a) * torch.cos(b) * torch.exp(-((a - math.pi) ** 2 + (b - math.pi) ** 2)),
        "−cos x·cos y·exp(−((x − π)² + (y − π)²))",
        "A narrow well in a flat plain: far from (π, π) the gradient all but vanishes.",
        ((0.5, 6.0), (0.5, 6.0)), (2.0, 2.0), _exact([(math.pi, math.pi)], -1.0),
    ),
    _two_d(
        "levi13", lambda a, b: _levi13(torch.stack([a, b], -1)),
        "sin²(3πx) + (x − 1)²·(1 + sin²(3πy)) + (y − 1)²·(1 + sin²(2πy))",
        "Levi N.13: many ripples around the global minimum 0 at (1, 1).",
        ((-2.0, 4.0), (-2.0, 4.0)), (-1.5, 3.0), _exact([(1.0, 1.0)], 0.0),
    ),
    _two_d(
        "bohachevsky",
        lambda a, b: a**2 + 2 * b**2 - 0.3 * torch.cos(3 * math.pi * a) - 0.4 * torch.cos(4 * math.pi * b)
        + 0.7,
        "x² + 2y² − 0.3·cos(3πx) − 0.4·cos(4πy) + 0.7",
        "Bohachevsky N.1: a bowl with ripples; minimum 0 at the origin.",
        ((-2.0, 2.0), (-2.0, 2.0)), (1.5, 1.2), _exact([(0.0, 0.0)], 0.0),
    ),
]


FACTORIES: dict[str, Callable[..., Function]] = {
    "square": _square,
    "risk": _risk,
    "empirical_risk": _empirical_risk,
    "xcos": _xcos,
    "cosh": _cosh,
    "cube": _cube,
    "tanh": _tanh,
    "logexp": _logexp,
    "x2sin": _x2sin,
    "cos_pi": _cos_pi,
    "exp": _exp,
    "quadratic": _quadratic,
    "ill_conditioned": _ill_conditioned,
    "ill_conditioned_rotated": _ill_conditioned_rotated,
    "saddle": _saddle,
    "monkey_saddle": _monkey_saddle,
    "sphere": _sphere,
    "rosenbrock": _rosenbrock_fn,
    "rastrigin": _rastrigin_fn,
    "styblinski_tang": _styblinski_tang_fn,
    "ackley": _ackley_fn,
    **{factory().name: factory for factory in _CLASSIC_2D},
}

# fmt: on
