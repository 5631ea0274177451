"""A tour of the optimization chapter in figures: every figure regenerated, captioned, on one HTML page.

The tour is a list of :class:`Section` objects, in the chapter's order (the optimization-intro and convexity
sections, gradient descent, SGD, momentum, AdaGrad, RMSProp, Adadelta, Adam and Yogi, learning-rate
scheduling). Each section's ``build()`` runs the experiment behind its figure with :mod:`descend`'s own
pieces (:func:`descend.minimize.minimize`, :func:`descend.sweep.sweep`, :mod:`descend.schedules`,
:mod:`descend.analysis`) and draws it with :mod:`descend.plot`; it returns a :class:`Panel`: the figure, a
caption saying what it shows and what to notice (with the numbers of the run written into it), and the
numbers behind the figure (``data``) so that they can be checked.

:func:`run` builds every section and writes one self-contained HTML page (figures embedded as data URIs,
no scripts, no external resources) and the figures as image files beside it, every file atomically:

.. code-block:: text

    OUT/tour.html
    OUT/tour.md
    OUT/figures/01-local-global-minimum.png   (or .svg)
    ...

The chapter's settings, where they differ from a library default: AdaGrad and RMSProp add ε inside the
square root (``eps=0, eps_root=1e-6``), Adadelta uses ρ = 0.9 and ε = 1e-5, Adam ε = 1e-6, Yogi ε = 1e-3.
The chapter runs Adam and Yogi on the airfoil data with η = 0.01; on the quadratic of the path figures
they take η = 0.4, AdaGrad's and RMSProp's rate there, so that the paths compare. The noisy-SGD figures
follow the SGD section: η = 0.1, N(0, 1) noise on each gradient coordinate, 50 steps with the constant and
the polynomial rate and 1000 with the exponential one.

>>> from descend import tour
>>> [s.name for s in tour.sections()][:3]
['local-global-minimum', 'saddle-1d', 'saddle-2d']
>>> panel = tour.get("gd-1d").build()
>>> [round(v, 4) for v in panel.data["paths"]["η = 0.2"][:3, 0].tolist()]
[10.0, 6.0, 3.6]
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from descend import analysis, plot
from descend import functions as catalogue
from descend import schedules as sch
from descend.minimize import minimize
from descend.report import Report
from descend.result import Result

__all__ = ["FORMATS", "Panel", "Section", "TourResult", "get", "run", "schedule_figure", "sections"]

#: Image formats the tour writes.
FORMATS = ("png", "svg")
_TITLE = "Optimization algorithms: the chapter's figures"


@dataclass
class Panel:
    """One figure of the tour, its caption, and the numbers it draws (paths, sweep values)."""

    figure: Figure
    caption: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Section:
    """A figure of the chapter: a file-safe ``name``, a heading, and how to build it."""

    name: str
    title: str
    chapter: str
    build: Callable[[], Panel]


@dataclass
class TourResult:
    """What :func:`run` wrote: the page, the figure files by section name, and the time it took."""

    page: Path
    figures: dict[str, Path]
    seconds: float
    format: str

    def summary(self) -> str:
        return f"tour: {len(self.figures)} figures ({self.format}) in {self.seconds:.1f} s; page {self.page}"


# ---------------------------------------------------------------------------------------------------------
# helpers


def _start(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _run(f: Callable[..., Any], x0: Sequence[float], method: str, steps: int, **options: Any) -> Result:
    return minimize(f, _start(*x0), method, steps=steps, **options)


def _path(r: Result) -> np.ndarray:
    return r.path.detach().double().numpy()


def _point(r: Result) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in r.x.reshape(-1).tolist()) + ")"


# ---------------------------------------------------------------------------------------------------------
# optimization and deep learning; convexity


def local_global_minimum() -> Panel:
    f = catalogue.get("risk")
    (local,), (best,) = f.local_minima, f.minima
    fl, fb = (float(f(_start(*p))) for p in (local, best))
    fig = plot.curve(f, title="Local and global minimum of f(x) = x·cos(πx) on [−1, 2]")
    caption = (
        f"f(x) = x·cos(πx) on [−1, 2]. The dip at x ≈ {local[0]:.2f} (f ≈ {fl:.2f}) is a local minimum: "
        f"every point near it is higher, and the gradient there is zero. The global minimum on this interval "
        f"is at x ≈ {best[0]:.2f} (f ≈ {fb:.2f}). Notice that nothing at the local minimum tells an "
        "optimizer that a deeper one exists: gradient methods only see the slope where they stand."
    )
    return Panel(fig, caption, {"local_minimum": local[0], "global_minimum": best[0]})


def saddle_1d() -> Panel:
    f = catalogue.get("cube")
    r = _run(f, (1.5,), "gd", 20, lr=0.1)
    path = _path(r)
    fig = plot.curve(f, {"gd, η = 0.1": path}, numbered=False, title="A saddle point in 1-D: f(x) = x³")
    caption = (
        "f(x) = x³. At x = 0 both f'(x) = 3x² and f''(x) = 6x are zero, yet 0 is neither a "
        "minimum nor a maximum: f keeps falling to its left. Gradient descent from x = 1.5 (η = 0.1, "
        "x ← x − 0.3x²) heads for 0 but ever more slowly, since the slope vanishes as it gets closer: "
        f"x_5 = {path[5, 0]:.3g}, x_10 = {path[10, 0]:.3g}, x_20 = {path[20, 0]:.3g}. Notice that it never "
        "passes 0 (each step is shorter than the distance left): to gradient descent the saddle looks like a "
        "minimum, although lower values lie just beyond it."
    )
    return Panel(fig, caption, {"paths": {"gd, η = 0.1": path}})


def saddle_2d() -> Panel:
    f = catalogue.get("saddle")
    origin = _start(0.0, 0.0)
    eigs = analysis.eigenvalues(f, origin).tolist()
    kind = analysis.classify(f, origin)
    fig = plot.surface(f, title="A saddle point in 2-D: f(x) = x1² − x2²")
    caption = (
        f"f(x) = x1² − x2² as a surface, contours below. At the origin the gradient is zero and the Hessian "
        f"has eigenvalues {eigs[0]:g} and {eigs[1]:g}: one positive, one negative, so the second-derivative "
        f"test says {kind}. Notice the shape of a saddle: along x1 the origin is a minimum, along x2 a "
        "maximum. In high dimensions almost every point of zero gradient is a saddle like this one."
    )
    return Panel(fig, caption, {"eigenvalues": eigs, "kind": kind})


def vanishing_gradient() -> Panel:
    f = catalogue.get("tanh")
    x = 4.0
    slope = 1.0 - math.tanh(x) ** 2
    fig = plot.curve(f, title="Vanishing gradient: f(x) = tanh(x)")
    ax = fig.axes[0]
    xs = np.array([x - 2.5, x + 1.0])
    ax.plot(xs, math.tanh(x) + slope * (xs - x), "--", color=plot.PATH_COLORS[0], lw=1.5)
    ax.plot([x], [math.tanh(x)], "o", color=plot.PATH_COLORS[0], ms=8, zorder=5)
    ax.annotate(
        f"x = {x:g}: f'(x) = 1 − tanh²(x) ≈ {slope:.1e}\n(the dashed tangent is nearly flat)",
        (x, math.tanh(x)),
        xytext=(-200, -70),
        textcoords="offset points",
        fontsize=8,
        arrowprops={"arrowstyle": "->", "color": plot.PATH_COLORS[0]},
    )
    caption = (
        f"f(x) = tanh(x). At x = 4 the gradient is 1 − tanh²(4) ≈ {slope:.2g}, so a gradient step of size "
        f"η moves x by only {slope:.2g}·η, although f is still {1 + math.tanh(x):.3f} above its infimum −1. "
        "Notice that a small gradient does not mean being near a minimum: far from 0 the curve is almost "
        "flat, and gradient descent started there barely moves (the reason ReLU replaced such activations)."
    )
    return Panel(fig, caption, {"slope": slope})


def convexity() -> Panel:
    fig = plot.convexity(("square", "cos_pi", "exp"), chord=(-1.5, 1.0), box=(-2.0, 2.0))
    caption = (
        "Three functions with the chord from x = −1.5 to x = 1. A function is convex when every chord lies "
        "on or above its graph (Jensen: f(λa + (1 − λ)b) ≤ λf(a) + (1 − λ)f(b)). x² and exp(x/2) are convex; "
        "cos(πx) is not: its graph rises above the chord (shaded). Notice what convexity buys: every local "
        "minimum of a convex function is global, and exp(x/2) shows that a convex function need not have a "
        "minimum at all."
    )
    return Panel(fig, caption)


# ---------------------------------------------------------------------------------------------------------
# gradient descent


def _gd_square(lrs: Sequence[float]) -> dict[str, Result]:
    f = catalogue.get("square")
    return {f"η = {lr:g}": _run(f, (10.0,), "gd", 10, lr=lr) for lr in lrs}


def gd_learning_rates() -> Panel:
    runs = _gd_square((0.2, 0.05))
    paths = {k: _path(r) for k, r in runs.items()}
    fig = plot.curve(
        catalogue.get("square"), paths, title="Gradient descent on f(x) = x² from x = 10, 10 steps"
    )
    caption = (
        "Gradient descent x ← x − η·f'(x) = x − η·2x on f(x) = x², so x_k = 10·(1 − 2η)^k. With η = 0.2 each "
        f"step keeps 60% of x, and x_10 = 10·0.6^10 = {float(runs['η = 0.2'].x[0]):.3g}. With η = 0.05 it "
        f"keeps 90%: after 10 steps x is still {float(runs['η = 0.05'].x[0]):.3g}. Notice that the step "
        "shrinks as the slope does: the iterates bunch up near the minimum, and too small an η wastes steps."
    )
    return Panel(fig, caption, {"paths": paths})


def gd_overshoot() -> Panel:
    runs = _gd_square((1.1,))
    paths = {k: _path(r) for k, r in runs.items()}
    fig = plot.curve(catalogue.get("square"), paths, title="Gradient descent on f(x) = x² with η = 1.1")
    x = paths["η = 1.1"][:, 0]
    caption = (
        "The same function with η = 1.1: now x_k = 10·(1 − 2.2)^k = 10·(−1.2)^k. Every step jumps over the "
        f"minimum to the other side, and farther out: x_1 = {x[1]:.3g}, x_2 = {x[2]:.3g}, ..., "
        f"x_10 = {x[10]:.3g}. Notice that one number, |1 − 2η|, decides: below 1 gradient descent converges "
        "(η < 1 here), above 1 it diverges, whatever the start."
    )
    return Panel(fig, caption, {"paths": paths})


def gd_local_minimum() -> Panel:
    f = catalogue.get("xcos")
    r = _run(f, (10.0,), "gd", 10, lr=2.0)
    end = float(r.x[0])
    trap = min((p[0] for p in f.local_minima + f.minima), key=lambda m: abs(m - end))
    deeper = sorted(p[0] for p in f.local_minima + f.minima if f(_start(p[0])) < f(_start(trap)))
    first = float(r.path[1, 0])
    skipped = min((m for m in deeper if first < m < 10.0), default=float("nan"))
    fig = plot.curve(
        f,
        {"gd, η = 2": _path(r)},
        numbered=False,
        title="Gradient descent on x·cos(cx), c = 0.15π, with η = 2: a trap",
    )
    caption = (
        "Gradient descent with η = 2 from x = 10 on f(x) = x·cos(cx), c = 0.15π (10 steps). The first step "
        f"is so large that it jumps over the nearby minimum at x ≈ {skipped:.2f} to x ≈ {first:.2f}, and the "
        f"slope there pulls the iterates into the shallow dip around x ≈ {trap:.2f}: after 10 steps "
        f"x ≈ {end:.2f}, f ≈ {float(r.fun):.2f}. "
        f"Deeper minima lie at x ≈ {', '.join(f'{m:.2f}' for m in deeper)} (f ≈ "
        f"{', '.join(f'{float(f(_start(m))):.2f}' for m in deeper)}). Notice that the gradient vanishes at "
        "any local minimum: once in a dip, gradient descent has no reason to leave it, and which dip it "
        "finds depends on the start and on η."
    )
    return Panel(fig, caption, {"paths": {"gd, η = 2": _path(r)}, "trap": trap})


def gd_ill_conditioned() -> Panel:
    f = catalogue.get("ill_conditioned")
    runs = {f"gd, η = {lr:g}": _run(f, (-5.0, -2.0), "gd", 20, lr=lr) for lr in (0.4, 0.6)}
    paths = {k: _path(r) for k, r in runs.items()}
    fig = plot.contour(
        f, paths, box=((-5.5, 1.0), (-6.0, 6.0)), title="Gradient descent on 0.1·x1² + 2·x2², 20 steps"
    )
    fig.axes[0].set_ylim(-6.0, 6.0)
    slow, fast = runs["gd, η = 0.4"], runs["gd, η = 0.6"]
    caption = (
        "f(x) = 0.1·x1² + 2·x2² has curvatures 0.2 along x1 and 4 along x2 (condition number 20). Gradient "
        f"descent multiplies x1 by 1 − 0.2η and x2 by 1 − 4η at every step. With η = 0.4 x2 shrinks fast "
        f"but x1 only by 8% a step: after 20 steps x = {_point(slow)}. With η = 0.6 the factor along x2 is "
        f"−1.4: the path zigzags out of the picture (x2 = {float(fast.x[1]):.3g} after 20 steps). Notice "
        "the dilemma: the steep direction limits η, and the shallow one then crawls."
    )
    return Panel(fig, caption, {"paths": paths})


def momentum_paths() -> Panel:
    f = catalogue.get("ill_conditioned")
    runs = {
        "gd, η = 0.4": _run(f, (-5.0, -2.0), "gd", 20, lr=0.4),
        "momentum, η = 0.6, β = 0.5": _run(f, (-5.0, -2.0), "momentum", 20, lr=0.6, momentum=0.5),
        "momentum, η = 0.6, β = 0.25": _run(f, (-5.0, -2.0), "momentum", 20, lr=0.6, momentum=0.25),
    }
    paths = {k: _path(r) for k, r in runs.items()}
    fig = plot.contour(f, paths, title="Momentum on 0.1·x1² + 2·x2², 20 steps")
    half, quarter = runs["momentum, η = 0.6, β = 0.5"], runs["momentum, η = 0.6, β = 0.25"]
    caption = (
        "Heavy-ball momentum v ← βv + g, x ← x − ηv on the same quadratic, with η = 0.6 (where plain "
        "gradient descent diverges). The velocity averages past gradients: the x2 components alternate in "
        "sign and cancel, the x1 components agree and add up. With β = 0.5 the run reaches "
        f"{_point(half)} (f = {float(half.fun):.2g}) in 20 steps; with β = 0.25 it still converges, more "
        f"slowly ({_point(quarter)}, f = {float(quarter.fun):.2g}). Notice that momentum both allows the "
        "larger η and speeds up the shallow direction; gradient descent with η = 0.4 is drawn for comparison."
    )
    return Panel(fig, caption, {"paths": paths})


def _adaptive(runs: Sequence[tuple[str, str, dict[str, Any]]], steps: int) -> dict[str, Result]:
    f = catalogue.get("ill_conditioned")
    return {label: _run(f, (-5.0, -2.0), name, steps, **opts) for label, name, opts in runs}


# the chapter's AdaGrad and RMSProp put ε inside the square root
_ROOT_EPS = {"eps": 0.0, "eps_root": 1e-6}


def adagrad_rmsprop() -> Panel:
    runs = _adaptive(
        (
            ("AdaGrad, η = 0.4", "adagrad", {"lr": 0.4, **_ROOT_EPS}),
            ("AdaGrad, η = 2", "adagrad", {"lr": 2.0, **_ROOT_EPS}),
            ("RMSProp, η = 0.4, γ = 0.9", "rmsprop", {"lr": 0.4, "alpha": 0.9, **_ROOT_EPS}),
        ),
        20,
    )
    paths = {k: _path(r) for k, r in runs.items()}
    f = catalogue.get("ill_conditioned")
    fig = plot.contour(f, paths, title="AdaGrad and RMSProp on 0.1·x1² + 2·x2², 20 steps")
    slow, fast, rms = runs.values()
    caption = (
        "AdaGrad divides each coordinate's step by the root of the sum of its past squared gradients, "
        "x ← x − η·g/√(s + ε) with s ← s + g², so the steep x2 and the shallow x1 move at similar speeds "
        "from the first step. But s only grows: with η = 0.4 the steps shrink so fast that the run stalls at "
        f"{_point(slow)} after 20 steps (the chapter's numbers); η = 2 gets to {_point(fast)}. RMSProp "
        "replaces the sum by a leaky average, s ← γs + (1 − γ)g² with γ = 0.9, so the steps stop shrinking: "
        f"with η = 0.4 it reaches {_point(rms)}. Notice the steps near the end: AdaGrad's crawl, RMSProp's "
        "keep their size. Both add ε = 1e-6 inside the root, as the chapter does."
    )
    return Panel(fig, caption, {"paths": paths})


def adadelta_adam_yogi() -> Panel:
    steps = 50
    runs = _adaptive(
        (
            ("Adadelta, ρ = 0.9, ε = 1e-5", "adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-5}),
            ("Yogi, η = 0.4, ε = 1e-3 (under Adam's path)", "yogi", {"lr": 0.4, "eps": 1e-3}),
            ("Adam, η = 0.4, ε = 1e-6", "adam", {"lr": 0.4, "eps": 1e-6}),
        ),
        steps,
    )
    paths = {k: _path(r) for k, r in runs.items()}
    f = catalogue.get("ill_conditioned")
    fig = plot.contour(f, paths, title=f"Adadelta, Adam and Yogi on 0.1·x1² + 2·x2², {steps} steps")
    delta, yogi, adam = runs.values()
    first = float(np.linalg.norm(paths[next(iter(paths))][1] - paths[next(iter(paths))][0]))
    gap = max(float((a - b).abs().max()) for a, b in zip(adam.path, yogi.path, strict=True))
    caption = (
        "Adadelta has no learning rate: it scales the gradient by √(Δ + ε)/√(s + ε), where Δ is the leaky "
        f"average of its own past squared updates. Δ starts at 0, so the first step is only {first:.2g} long "
        f"and the steps grow slowly: after {steps} steps it is still at {_point(delta)}. Adam adds momentum "
        "to RMSProp's scaling (with bias correction, β1 = 0.9, β2 = 0.999): it heads for the minimum fast, "
        f"overshoots x1 = 0 and swings back ({_point(adam)} after {steps} steps). Yogi changes only how s "
        f"follows g², s ← s − (1 − β2)·g²·sign(s − g²); with β2 = 0.999 s moves by 0.1% a step in either "
        f"method, so over {steps} steps Yogi's path lies on Adam's (they differ by at most {gap:.2g}). "
        "Notice that Adadelta needs many steps to build up its step size, while Adam's momentum buys speed "
        "at the price of overshooting. The chapter runs Adam and Yogi with η = 0.01 on the airfoil data; "
        "here they take AdaGrad's and RMSProp's η = 0.4 so the paths compare."
    )
    return Panel(fig, caption, {"paths": paths})


# ---------------------------------------------------------------------------------------------------------
# Newton's method


def newton_cosh() -> Panel:
    f = catalogue.get("cosh")
    r = _run(f, (10.0,), "newton", 10, lr=1.0)
    fig = plot.curve(
        f,
        {"Newton, η = 1": _path(r)},
        numbered=False,
        title="Newton's method on f(x) = cosh(0.5x) from x = 10",
    )
    xs = _path(r)[:, 0]
    caption = (
        "Newton's method x ← x − f'(x)/f''(x) = x − 2·tanh(0.5x) on the convex f(x) = cosh(0.5x). Far "
        "from the minimum the step is at most 2 (the curvature is large there), then convergence is "
        f"quadratic: x_6 = {xs[6]:.2g}, x_7 = {xs[7]:.2g}, x_8 = {xs[8]:.2g}, the number of correct digits "
        "roughly doubling each step. Notice that no learning rate had to be tuned: the Hessian sets the step."
    )
    return Panel(fig, caption, {"paths": {"Newton, η = 1": _path(r)}})


def newton_nonconvex() -> Panel:
    f = catalogue.get("xcos")
    runs = {
        "Newton, η = 1": _run(f, (10.0,), "newton", 10, lr=1.0),
        "Newton, η = 0.5": _run(f, (10.0,), "newton", 10, lr=0.5),
        "Newton with |f''|, η = 1": _run(f, (10.0,), "newton-abs", 10, lr=1.0),
    }
    paths = {k: _path(r) for k, r in runs.items()}
    fig = plot.curve(f, paths, title="Newton's method on x·cos(cx), c = 0.15π, from x = 10")
    plain, half, absolute = runs.values()
    curvature = float(analysis.hessian(f, plain.x).reshape(-1)[0])
    where = "a local maximum" if curvature < 0 else "a point of zero slope"
    caption = (
        f"Newton's method seeks f'(x) = 0, whatever the sign of f''. With η = 1 from x = 10 it climbs to "
        f"{where}: x ends at {float(plain.x[0]):.3g} with f = {float(plain.fun):.3g} (f'' = {curvature:.2g} "
        "there), higher than where it started. Two fixes from the chapter: dividing by |f''| instead of f'' "
        "makes every step point downhill (it ends at "
        f"{float(absolute.x[0]):.3g}, f = {float(absolute.fun):.3g}), and bringing back a learning rate, "
        f"η = 0.5, ends at {float(half.x[0]):.3g}, f = {float(half.fun):.3g}. Notice that on a nonconvex "
        "function the Newton step is only as good as the curvature it divides by."
    )
    return Panel(fig, caption, {"paths": paths})


# ---------------------------------------------------------------------------------------------------------
# stochastic gradient descent


_NOISY_LR = 0.1
_NOISY_SCHEDULES: dict[str, tuple[sch.Schedule, int, str]] = {
    "constant": (sch.constant(1.0), 50, "η = 0.1 at every step"),
    "exponential": (sch.exponential(1.0, rate=0.1), 1000, "η_t = 0.1·e^(−0.1t)"),
    "polynomial": (sch.polynomial(1.0, alpha=0.5, beta=0.1), 50, "η_t = 0.1·(0.1t + 1)^(−0.5)"),
}


def _noisy_sgd(kind: str) -> tuple[Result, str, int]:
    schedule, steps, formula = _NOISY_SCHEDULES[kind]
    f = catalogue.get("quadratic")
    r = _run(f, (-5.0, -2.0), "gd", steps, lr=_NOISY_LR, schedule=schedule, noise=1.0, seed=0)
    return r, formula, steps


def _noisy_panel(kind: str, notice: Callable[[np.ndarray], str]) -> Panel:
    r, formula, steps = _noisy_sgd(kind)
    f = catalogue.get("quadratic")
    label = f"SGD, {formula}"
    path = _path(r)
    fig = plot.contour(
        f, {label: path}, title=f"SGD with gradient noise σ = 1 on x1² + 2·x2², {kind} learning rate"
    )
    caption = (
        f"Gradient descent on f(x) = x1² + 2·x2² with N(0, 1) noise added to each gradient coordinate (a "
        f"stand-in for the minibatch's error), {formula}, {steps} steps from (−5, −2); it ends at "
        f"{_point(r)}, f = {float(r.fun):.3g}. {notice(path)}"
    )
    return Panel(fig, caption, {"paths": {label: path}})


def _settled(path: np.ndarray, last: int = 25) -> float:
    """Mean distance from the minimum (0, 0) over the last iterates."""
    return float(np.linalg.norm(path[-last:], axis=1).mean())


def sgd_constant() -> Panel:
    return _noisy_panel(
        "constant",
        lambda path: (
            "Notice that the iterates reach the minimum's neighbourhood within about 20 steps but never "
            f"settle: over the last 25 steps they stay {_settled(path):.2g} from (0, 0) on average, kicked "
            "around by the noise; more steps would not change that, only a smaller η would."
        ),
    )


def sgd_exponential() -> Panel:
    return _noisy_panel(
        "exponential",
        lambda path: (
            f"Notice the opposite failure: the rate decays so fast (η_50 = {_NOISY_LR * math.exp(-5.0):.1g}) "
            f"that the iterates freeze before they arrive: x_50 = ({path[50, 0]:.3g}, {path[50, 1]:.3g}) and "
            f"x_1000 = ({path[1000, 0]:.3g}, {path[1000, 1]:.3g}). The noise is tamed, but 950 more steps "
            "move x by almost nothing, far from (0, 0)."
        ),
    )


def sgd_polynomial() -> Panel:
    return _noisy_panel(
        "polynomial",
        lambda path: (
            "Notice the compromise: the rate decays like 1/√t, slowly enough to keep moving toward the "
            "minimum and fast enough to damp the noise: over the last 25 steps the iterates stay "
            f"{_settled(path):.2g} from (0, 0) on average, closer than with a constant rate (same noise)."
        ),
    )


# ---------------------------------------------------------------------------------------------------------
# momentum: theory and a sweep


def sweep_map() -> Panel:
    from descend.sweep import heavy_ball_theory, quadratic_eigenvalues, sweep

    f = catalogue.get("ill_conditioned")
    lrs = torch.linspace(0.02, 1.2, 60, dtype=torch.float64)
    betas = torch.linspace(0.0, 0.95, 40, dtype=torch.float64)
    steps = 200
    r = sweep(f, list(f.start), "momentum", steps=steps, lr=lrs, momentum=betas)
    lam = quadratic_eigenvalues(f, f.start, f.box)
    lmax = float(lam.max())
    predicted = heavy_ball_theory(r, lam)
    start_value = float(f(_start(*f.start)))
    measured = ~r.diverged & (r.fun < start_value)
    # cells within a grid step of the boundary may take more than `steps` to show which side they are on
    margin = (r.grid["lr"] * lmax - (2 + 2 * r.grid["momentum"])).abs() > 2 * float(lrs[1] - lrs[0]) * lmax
    agree = float((measured == predicted)[margin].double().mean())
    fig = plot.sweep_map(
        r.grid["lr"],
        r.grid["momentum"],
        r.steps_to_tol,
        x_name="learning rate η",
        y_name="momentum β",
        kind="steps",
        diverged=r.diverged,
        boundary={"theory: ηλmax = 2 + 2β (λmax = 4)": lambda eta: eta * lmax / 2 - 1},
        title=f"Heavy ball on 0.1·x1² + 2·x2²: steps to f < {r.steps_tol:g}, {len(r)} runs",
    )
    fastest = int(torch.where(torch.isfinite(r.steps_to_tol), r.steps_to_tol, torch.inf).argmin())
    best = r.row(fastest)
    caption = (
        f"{len(r)} runs of heavy-ball momentum from (−5, −2), one per (η, β), run at once as one batch "
        f"({steps} steps each). Colour is the number of steps until f < {r.steps_tol:g}; grey runs diverged, "
        f"pale red ones converge too slowly to get there in {steps} steps. The dashed line is the theory's "
        "boundary: on a quadratic, momentum converges when ηλ < 2 + 2β for every Hessian eigenvalue λ, here "
        f"λmax = {lmax:g}. Measurement and theory agree on {100 * agree:.1f}% of the cells away from the "
        "line. Notice that β widens the range of stable learning rates (η < 0.5 without momentum, almost 1 "
        f"with β = 0.95), and that the fastest run (η = {best['lr']:.2f}, β = {best['momentum']:.2f}, "
        f"{int(r.steps_to_tol[fastest])} steps) lies inside the region, not at its edge: near the boundary, "
        "and for β close to 1, the iterates oscillate for a long time."
    )
    return Panel(fig, caption, {"agreement": agree, "result": r})


def momentum_weights() -> Panel:
    betas = (0.95, 0.9, 0.6, 0.0)
    fig = plot.momentum_weights(betas, steps=40)
    caption = (
        "Momentum's velocity is a weighted sum of past gradients, v_t = Σ_τ β^τ g_(t−τ). The weight of the "
        "gradient from τ steps ago is β^τ, and the weights add up to 1/(1 − β): 20 for β = 0.95, 10 for "
        "β = 0.9. Notice the two effects of a large β: the velocity remembers many past gradients "
        "(averaging out noise and zigzags), and on a steady slope the effective step is η/(1 − β)."
    )
    return Panel(fig, caption, {"betas": betas})


def rmsprop_weights() -> Panel:
    gammas = (0.95, 0.9, 0.8, 0.7)
    fig = plot.rmsprop_weights(gammas, steps=40)
    caption = (
        "RMSProp keeps a leaky average of squared gradients, s_t = γs_(t−1) + (1 − γ)g_t², so the squared "
        "gradient from τ steps ago has weight (1 − γ)γ^τ, and the weights add up to 1 (a true average, "
        "unlike AdaGrad's ever-growing sum). Notice that about 1/(1 − γ) recent steps matter: the scale "
        "adapts when the gradients change, instead of shrinking forever."
    )
    return Panel(fig, caption, {"gammas": gammas})


# ---------------------------------------------------------------------------------------------------------
# learning-rate scheduling


def schedule_figure(
    named: dict[str, Callable[[int], float]], steps: int, *, log_y: bool = False, title: str | None = None
) -> Figure:
    """:func:`descend.plot.schedules` drawn as steps: the rate of step t holds for the whole update t."""
    fig = plot.schedules(named, steps=steps, log_y=log_y, title=title or "Learning-rate schedules")
    for line in fig.axes[0].get_lines():
        line.set_drawstyle("steps-post")
    return fig


def schedules_decay() -> Panel:
    named = {
        "factor: 2.0·0.9^t, floor 0.01": sch.factor(2.0, 0.9, stop_factor_lr=1e-2),
        "multi-factor: 0.5, ×0.5 at t = 15 and 30": sch.multi_factor(0.5, (15, 30), 0.5),
        "square root: 0.1·(t + 1)^(−0.5)": sch.polynomial(0.1),
    }
    fig = schedule_figure(named, 60, log_y=True, title="Decaying learning-rate schedules (log scale)")
    caption = (
        "Three of the chapter's decays. The factor schedule multiplies η by 0.9 at every step until it "
        "reaches the floor 0.01; the multi-factor (piecewise constant) schedule halves η at steps 15 and 30 "
        "and is flat in between, the shape used to train deep networks for a long time; the square-root "
        "schedule decays like 1/√t, the rate for which SGD's convergence on convex problems is proved. "
        "Notice the difference in how fast they give up the large early steps."
    )
    return Panel(fig, caption, {"schedules": named})


def schedules_cosine() -> Panel:
    named = {
        "cosine: 0.3 → 0.01 over 20 steps": sch.cosine(0.3, max_steps=20, final_lr=0.01),
        "cosine with 5 warmup steps": sch.cosine(0.3, max_steps=20, final_lr=0.01, warmup_steps=5),
    }
    fig = schedule_figure(named, 30, title="Cosine schedule, with and without warmup")
    caption = (
        "The cosine schedule η_t = η_T + (η0 − η_T)(1 + cos(πt/T))/2 falls from η0 = 0.3 to η_T = 0.01 over "
        "T = 20 steps and stays at η_T afterwards. With warmup, η first rises linearly from 0 over 5 steps, "
        "then follows the cosine over the remaining 15. Notice why warmup helps: at the start the "
        "parameters (and an adaptive method's statistics) are far from settled, and a full-size step can "
        "throw the run off before it has begun."
    )
    return Panel(fig, caption, {"schedules": named})


# ---------------------------------------------------------------------------------------------------------
# the tour


_INTRO, _GD, _SGD = "Optimization and deep learning", "Gradient descent", "Stochastic gradient descent"
_SECTIONS = (
    Section("local-global-minimum", "Local and global minima", _INTRO,
            local_global_minimum),
    Section("saddle-1d", "A saddle point in 1-D", _INTRO, saddle_1d),
    Section("saddle-2d", "A saddle point in 2-D", _INTRO, saddle_2d),
    Section("vanishing-gradient", "Vanishing gradients", _INTRO, vanishing_gradient),
    Section("convexity", "Convex and nonconvex functions", "Convexity", convexity),
    Section("gd-1d", "Gradient descent: learning rate and speed", _GD, gd_learning_rates),
    Section("gd-overshoot", "Gradient descent with too large a learning rate", _GD, gd_overshoot),
    Section("gd-local-minimum", "Gradient descent caught in a local minimum", _GD,
            gd_local_minimum),
    Section("gd-ill-conditioned", "Gradient descent on an ill-conditioned quadratic", _GD,
            gd_ill_conditioned),
    Section("newton-cosh", "Newton's method on a convex function", _GD, newton_cosh),
    Section("newton-nonconvex", "Newton's method on a nonconvex function", _GD,
            newton_nonconvex),
    Section("sgd-constant", "SGD with a constant learning rate", _SGD, sgd_constant),
    Section("sgd-exponential", "SGD with an exponentially decaying learning rate", _SGD,
            sgd_exponential),
    Section("sgd-polynomial", "SGD with a polynomially decaying learning rate", _SGD,
            sgd_polynomial),
    Section("momentum", "Momentum on the ill-conditioned quadratic", "Momentum", momentum_paths),
    Section("momentum-weights", "Momentum's weights on past gradients", "Momentum", momentum_weights),
    Section("sweep-map", "Where heavy ball converges: measurement and theory", "Momentum", sweep_map),
    Section("adagrad-rmsprop", "AdaGrad and RMSProp", "AdaGrad and RMSProp", adagrad_rmsprop),
    Section("rmsprop-weights", "RMSProp's weights on past squared gradients", "RMSProp", rmsprop_weights),
    Section("adadelta-adam-yogi", "Adadelta, Adam and Yogi", "Adadelta, Adam and Yogi", adadelta_adam_yogi),
    Section("schedules-decay", "Factor, multi-factor and square-root schedules", "Learning-rate scheduling",
            schedules_decay),
    Section("schedules-cosine", "Cosine schedule and warmup", "Learning-rate scheduling", schedules_cosine),
)  # fmt: skip


def sections() -> list[Section]:
    """The tour's sections, in the chapter's order."""
    return list(_SECTIONS)


def get(name: str) -> Section:
    """The section called ``name``."""
    for s in _SECTIONS:
        if s.name == name:
            return s
    raise ValueError(f"Invalid section: {name!r}; expected one of {', '.join(s.name for s in _SECTIONS)}")


# ---------------------------------------------------------------------------------------------------------
# the page


def run(
    out: str | os.PathLike[str] = "descend-tour",
    *,
    format: str = "png",
    dpi: int = 110,
    progress: bool = True,
    only: Sequence[str] | None = None,
) -> TourResult:
    """Build every section; write ``out/tour.html`` (and ``tour.md``) and ``out/figures/NN-<name>.<format>``.

    Args:
        out: the folder (created if missing).
        format: ``"png"`` or ``"svg"``; the page embeds the same bytes as the files.
        dpi: resolution of PNG figures.
        progress: a progress bar over the sections (on a terminal only).
        only: build just these sections (names), in the tour's order.

    Returns:
        :class:`TourResult` with the page's path and the figure files.
    """
    if format not in FORMATS:
        raise ValueError(f"Invalid format: {format!r}; expected one of {', '.join(FORMATS)}")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 10:
        raise ValueError(f"Invalid dpi: {dpi!r}; expected an integer >= 10")
    chosen = sections() if only is None else [s for s in _SECTIONS if s.name in {get(n).name for n in only}]
    root = Path(out)
    began = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        # disable=None: the bar shows on a terminal and stays silent when output is redirected
        bar = tqdm(total=len(chosen), desc="tour", unit="figure", disable=None, leave=False)
    report = Report(_TITLE, dpi=dpi, format=format, contents=True)
    report.add_text(
        "The chapter's figures, regenerated by descend tour: the runs behind them use descend's optimizers, "
        "minimizers, sweeps and schedules. The caption under each figure says what it shows and what to "
        "notice."
    )
    files = {}
    try:
        for number, s in enumerate(_SECTIONS, start=1):
            if s not in chosen:
                continue
            if bar is not None:
                bar.set_postfix_str(s.name)
            panel = s.build()
            report.add_heading(f"{s.title} ({s.chapter})", anchor=s.name)
            files[s.name] = f"{number:02d}-{s.name}"
            report.add_figure(
                files[s.name], plot.render(panel.figure, format, dpi=dpi), caption=panel.caption
            )
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    written = report.write(root, stem="tour")
    figures = {name: written[file] for name, file in files.items()}
    return TourResult(written["html"], figures, time.perf_counter() - began, format)
