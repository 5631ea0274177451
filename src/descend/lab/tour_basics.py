"""The tour's first sections: minima and saddles, vanishing gradients, convexity, gradient descent in
1-D and 2-D, and Newton's method. Each returns a :class:`~descend.lab.study.Panel`: the figure, a caption
with the run's numbers in it, and the numbers themselves (``data``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from descend import analysis, plot
from descend import functions as catalogue
from descend._minimize import minimize
from descend.lab.study import Panel
from descend.result import Result

__all__ = [
    "convexity",
    "gd_ill_conditioned",
    "gd_learning_rates",
    "gd_local_minimum",
    "gd_overshoot",
    "local_global_minimum",
    "newton_cosh",
    "newton_nonconvex",
    "path_of",
    "point",
    "run",
    "saddle_1d",
    "saddle_2d",
    "start",
    "vanishing_gradient",
]


def start(*values: float) -> torch.Tensor:
    """A float64 point."""
    return torch.tensor(values, dtype=torch.float64)


def run(f: Callable[..., Any], x0: Sequence[float], method: str, steps: int, **options: Any) -> Result:
    """``minimize`` from the float64 point x0."""
    return minimize(f, start(*x0), method, steps=steps, **options)


def path_of(r: Result) -> np.ndarray:
    """A run's iterates as a float64 array."""
    return r.path.detach().double().numpy()


def point(r: Result) -> str:
    """A run's last iterate as text."""
    return "(" + ", ".join(f"{v:.3g}" for v in r.x.reshape(-1).tolist()) + ")"


# ---------------------------------------------------------------------------------------------------------
# optimization and deep learning; convexity


def local_global_minimum() -> Panel:
    f = catalogue.get("risk")
    (local,), (best,) = f.local_minima, f.minima
    fl, fb = (float(f(start(*p))) for p in (local, best))
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
    r = run(f, (1.5,), "gd", 20, lr=0.1)
    path = path_of(r)
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
    origin = start(0.0, 0.0)
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
    ax.plot(xs, math.tanh(x) + slope * (xs - x), "--", color=plot.PALETTE[0], lw=1.5)
    ax.plot([x], [math.tanh(x)], "o", color=plot.PALETTE[0], ms=8, zorder=5)
    ax.annotate(
        f"x = {x:g}: f'(x) = 1 − tanh²(x) ≈ {slope:.1e}\n(the dashed tangent is nearly flat)",
        (x, math.tanh(x)),
        xytext=(-200, -70),
        textcoords="offset points",
        fontsize=8,
        arrowprops={"arrowstyle": "->", "color": plot.PALETTE[0]},
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
    return {f"η = {lr:g}": run(f, (10.0,), "gd", 10, lr=lr) for lr in lrs}


def gd_learning_rates() -> Panel:
    runs = _gd_square((0.2, 0.05))
    paths = {k: path_of(r) for k, r in runs.items()}
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
    paths = {k: path_of(r) for k, r in runs.items()}
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
    r = run(f, (10.0,), "gd", 10, lr=2.0)
    end = float(r.x[0])
    trap = min((p[0] for p in f.local_minima + f.minima), key=lambda m: abs(m - end))
    deeper = sorted(p[0] for p in f.local_minima + f.minima if f(start(p[0])) < f(start(trap)))
    first = float(r.path[1, 0])
    skipped = min((m for m in deeper if first < m < 10.0), default=float("nan"))
    fig = plot.curve(
        f,
        {"gd, η = 2": path_of(r)},
        numbered=False,
        title="Gradient descent on x·cos(cx), c = 0.15π, with η = 2: a trap",
    )
    caption = (
        "Gradient descent with η = 2 from x = 10 on f(x) = x·cos(cx), c = 0.15π (10 steps). The first step "
        f"is so large that it jumps over the nearby minimum at x ≈ {skipped:.2f} to x ≈ {first:.2f}, and the "
        f"slope there pulls the iterates into the shallow dip around x ≈ {trap:.2f}: after 10 steps "
        f"x ≈ {end:.2f}, f ≈ {float(r.fun):.2f}. "
        f"Deeper minima lie at x ≈ {', '.join(f'{m:.2f}' for m in deeper)} (f ≈ "
        f"{', '.join(f'{float(f(start(m))):.2f}' for m in deeper)}). Notice that the gradient vanishes at "
        "any local minimum: once in a dip, gradient descent has no reason to leave it, and which dip it "
        "finds depends on the start and on η."
    )
    return Panel(fig, caption, {"paths": {"gd, η = 2": path_of(r)}, "trap": trap})


def gd_ill_conditioned() -> Panel:
    f = catalogue.get("ill_conditioned")
    runs = {f"gd, η = {lr:g}": run(f, (-5.0, -2.0), "gd", 20, lr=lr) for lr in (0.4, 0.6)}
    paths = {k: path_of(r) for k, r in runs.items()}
    fig = plot.contour(
        f, paths, box=((-5.5, 1.0), (-6.0, 6.0)), title="Gradient descent on 0.1·x1² + 2·x2², 20 steps"
    )
    fig.axes[0].set_ylim(-6.0, 6.0)
    slow, fast = runs["gd, η = 0.4"], runs["gd, η = 0.6"]
    caption = (
        "f(x) = 0.1·x1² + 2·x2² has curvatures 0.2 along x1 and 4 along x2 (condition number 20). Gradient "
        f"descent multiplies x1 by 1 − 0.2η and x2 by 1 − 4η at every step. With η = 0.4 x2 shrinks fast "
        f"but x1 only by 8% a step: after 20 steps x = {point(slow)}. With η = 0.6 the factor along x2 is "
        f"−1.4: the path zigzags out of the picture (x2 = {float(fast.x[1]):.3g} after 20 steps). Notice "
        "the dilemma: the steep direction limits η, and the shallow one then crawls."
    )
    return Panel(fig, caption, {"paths": paths})


# ---------------------------------------------------------------------------------------------------------
# Newton's method


def newton_cosh() -> Panel:
    f = catalogue.get("cosh")
    r = run(f, (10.0,), "newton", 10, lr=1.0)
    fig = plot.curve(
        f,
        {"Newton, η = 1": path_of(r)},
        numbered=False,
        title="Newton's method on f(x) = cosh(0.5x) from x = 10",
    )
    xs = path_of(r)[:, 0]
    caption = (
        "Newton's method x ← x − f'(x)/f''(x) = x − 2·tanh(0.5x) on the convex f(x) = cosh(0.5x). Far "
        "from the minimum the step is at most 2 (the curvature is large there), then convergence is "
        f"quadratic: x_6 = {xs[6]:.2g}, x_7 = {xs[7]:.2g}, x_8 = {xs[8]:.2g}, the number of correct digits "
        "roughly doubling each step. Notice that no learning rate had to be tuned: the Hessian sets the step."
    )
    return Panel(fig, caption, {"paths": {"Newton, η = 1": path_of(r)}})


def newton_nonconvex() -> Panel:
    f = catalogue.get("xcos")
    runs = {
        "Newton, η = 1": run(f, (10.0,), "newton", 10, lr=1.0),
        "Newton, η = 0.5": run(f, (10.0,), "newton", 10, lr=0.5),
        "Newton with |f''|, η = 1": run(f, (10.0,), "newton-abs", 10, lr=1.0),
    }
    paths = {k: path_of(r) for k, r in runs.items()}
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
