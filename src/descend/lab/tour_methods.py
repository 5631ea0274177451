"""The tour's later sections: SGD with noise and decaying rates, momentum and where it converges (a sweep
held against theory), AdaGrad, RMSProp, Adadelta, Adam and Yogi, and learning-rate schedules."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from descend import functions as catalogue
from descend import plot
from descend import schedules as sch
from descend._sweep import check_theory, sweep
from descend.lab.study import Panel
from descend.lab.tour_basics import path_of, point, run
from descend.result import Result

__all__ = [
    "adadelta_adam_yogi",
    "adagrad_rmsprop",
    "momentum_paths",
    "momentum_weights",
    "rmsprop_weights",
    "schedules_cosine",
    "schedules_decay",
    "sgd_constant",
    "sgd_exponential",
    "sgd_polynomial",
    "sweep_map",
]


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
    r = run(f, (-5.0, -2.0), "gd", steps, lr=_NOISY_LR, schedule=schedule, noise=1.0, seed=0)
    return r, formula, steps


def _noisy_panel(kind: str, notice: Callable[[np.ndarray], str]) -> Panel:
    r, formula, steps = _noisy_sgd(kind)
    f = catalogue.get("quadratic")
    label = f"SGD, {formula}"
    path = path_of(r)
    fig = plot.contour(
        f, {label: path}, title=f"SGD with gradient noise σ = 1 on x1² + 2·x2², {kind} learning rate"
    )
    caption = (
        f"Gradient descent on f(x) = x1² + 2·x2² with N(0, 1) noise added to each gradient coordinate (a "
        f"stand-in for the minibatch's error), {formula}, {steps} steps from (−5, −2); it ends at "
        f"{point(r)}, f = {float(r.fun):.3g}. {notice(path)}"
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
# momentum: paths, theory and a sweep


def momentum_paths() -> Panel:
    f = catalogue.get("ill_conditioned")
    runs = {
        "gd, η = 0.4": run(f, (-5.0, -2.0), "gd", 20, lr=0.4),
        "momentum, η = 0.6, β = 0.5": run(f, (-5.0, -2.0), "momentum", 20, lr=0.6, momentum=0.5),
        "momentum, η = 0.6, β = 0.25": run(f, (-5.0, -2.0), "momentum", 20, lr=0.6, momentum=0.25),
    }
    paths = {k: path_of(r) for k, r in runs.items()}
    fig = plot.contour(f, paths, title="Momentum on 0.1·x1² + 2·x2², 20 steps")
    half, quarter = runs["momentum, η = 0.6, β = 0.5"], runs["momentum, η = 0.6, β = 0.25"]
    caption = (
        "Heavy-ball momentum v ← βv + g, x ← x − ηv on the same quadratic, with η = 0.6 (where plain "
        "gradient descent diverges). The velocity averages past gradients: the x2 components alternate in "
        "sign and cancel, the x1 components agree and add up. With β = 0.5 the run reaches "
        f"{point(half)} (f = {float(half.fun):.2g}) in 20 steps; with β = 0.25 it still converges, more "
        f"slowly ({point(quarter)}, f = {float(quarter.fun):.2g}). Notice that momentum both allows the "
        "larger η and speeds up the shallow direction; gradient descent with η = 0.4 is drawn for comparison."
    )
    return Panel(fig, caption, {"paths": paths})


def sweep_map() -> Panel:
    f = catalogue.get("ill_conditioned")
    lrs = torch.linspace(0.02, 1.2, 60, dtype=torch.float64)
    betas = torch.linspace(0.0, 0.95, 40, dtype=torch.float64)
    steps = 200
    r = sweep(f, list(f.start), "momentum", steps=steps, lr=lrs, momentum=betas)
    theory = check_theory(r, f, f.start, f.box)
    lmax = theory.lmax
    fig = plot.sweep_map(
        r.grid["lr"],
        r.grid["momentum"],
        r.steps_to_tol,
        x_name="learning rate η",
        y_name="momentum β",
        kind="steps",
        diverged=r.diverged,
        boundary=theory.boundary(lr_axis=True, momentum_axis=True),
        title=f"Heavy ball on 0.1·x1² + 2·x2²: steps to f < {r.steps_tol:g}, {len(r)} runs",
    )
    fastest = int(torch.where(torch.isfinite(r.steps_to_tol), r.steps_to_tol, torch.inf).argmin())
    best = r.row(fastest)
    caption = (
        f"{len(r)} runs of heavy-ball momentum from (−5, −2), one per (η, β), run at once as one batch "
        f"({steps} steps each). Colour is the number of steps until f < {r.steps_tol:g}; grey runs diverged, "
        f"pale red ones converge too slowly to get there in {steps} steps. The dashed line is the theory's "
        "boundary: on a quadratic, momentum converges when ηλ < 2 + 2β for every Hessian eigenvalue λ, here "
        f"λmax = {lmax:g}. Measurement and theory agree on {100 * theory.agreement:.1f}% of the cells away "
        "from the line. Notice that β widens the range of stable learning rates (η < 0.5 without momentum, "
        f"almost 1 with β = 0.95), and that the fastest run (η = {best['lr']:.2f}, "
        f"β = {best['momentum']:.2f}, {int(r.steps_to_tol[fastest])} steps) lies inside the region, not at "
        "its edge: near the boundary, "
        "and for β close to 1, the iterates oscillate for a long time."
    )
    return Panel(fig, caption, {"agreement": theory.agreement, "result": r})


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
# AdaGrad, RMSProp, Adadelta, Adam and Yogi


def _adaptive(runs: Sequence[tuple[str, str, dict[str, Any]]], steps: int) -> dict[str, Result]:
    f = catalogue.get("ill_conditioned")
    return {label: run(f, (-5.0, -2.0), name, steps, **opts) for label, name, opts in runs}


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
    paths = {k: path_of(r) for k, r in runs.items()}
    f = catalogue.get("ill_conditioned")
    fig = plot.contour(f, paths, title="AdaGrad and RMSProp on 0.1·x1² + 2·x2², 20 steps")
    slow, fast, rms = runs.values()
    caption = (
        "AdaGrad divides each coordinate's step by the root of the sum of its past squared gradients, "
        "x ← x − η·g/√(s + ε) with s ← s + g², so the steep x2 and the shallow x1 move at similar speeds "
        "from the first step. But s only grows: with η = 0.4 the steps shrink so fast that the run stalls at "
        f"{point(slow)} after 20 steps (the chapter's numbers); η = 2 gets to {point(fast)}. RMSProp "
        "replaces the sum by a leaky average, s ← γs + (1 − γ)g² with γ = 0.9, so the steps stop shrinking: "
        f"with η = 0.4 it reaches {point(rms)}. Notice the steps near the end: AdaGrad's crawl, RMSProp's "
        "keep their size. Both add ε = 1e-6 inside the root, as the chapter does."
    )
    return Panel(fig, caption, {"paths": paths})


_ADAM = "Adam, η = 0.4, ε = 1e-6 (wide line)"
_YOGI = "Yogi, η = 0.4, ε = 1e-3 (dashed, on Adam's)"


def adadelta_adam_yogi() -> Panel:
    steps = 50
    runs = _adaptive(
        (
            ("Adadelta, ρ = 0.9, ε = 1e-5", "adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-5}),
            (_ADAM, "adam", {"lr": 0.4, "eps": 1e-6}),
            (_YOGI, "yogi", {"lr": 0.4, "eps": 1e-3}),
        ),
        steps,
    )
    paths = {k: path_of(r) for k, r in runs.items()}
    f = catalogue.get("ill_conditioned")
    # Yogi's path lies on Adam's: Adam as a wide pale band with large markers, Yogi dashed and dark on top,
    # so both stay visible where they coincide
    styles = {
        _ADAM: {"color": "#ff7f0e", "lw": 6.0, "alpha": 0.45, "ms": 9.0, "marker": "o", "zorder": 5},
        _YOGI: {
            "color": "#000000",
            "lw": 1.2,
            "linestyle": (0, (3, 2)),
            "ms": 3.0,
            "marker": "s",
            "zorder": 8,
        },
    }
    fig = plot.contour(
        f, paths, styles=styles, title=f"Adadelta, Adam and Yogi on 0.1·x1² + 2·x2², {steps} steps"
    )
    delta, adam, yogi = runs.values()
    first = float(np.linalg.norm(paths[next(iter(paths))][1] - paths[next(iter(paths))][0]))
    gap = max(float((a - b).abs().max()) for a, b in zip(adam.path, yogi.path, strict=True))
    caption = (
        "Adadelta has no learning rate: it scales the gradient by √(Δ + ε)/√(s + ε), where Δ is the leaky "
        f"average of its own past squared updates. Δ starts at 0, so the first step is only {first:.2g} long "
        f"and the steps grow slowly: after {steps} steps it is still at {point(delta)}. Adam adds momentum "
        "to RMSProp's scaling (with bias correction, β1 = 0.9, β2 = 0.999): it heads for the minimum fast, "
        f"overshoots x1 = 0 and swings back ({point(adam)} after {steps} steps). Yogi changes only how s "
        f"follows g², s ← s − (1 − β2)·g²·sign(s − g²); with β2 = 0.999 s moves by 0.1% a step in either "
        f"method, so over {steps} steps Yogi's path (dashed, black squares) runs inside Adam's (the wide "
        f"orange band): they differ by at most {gap:.2g}. "
        "Notice that Adadelta needs many steps to build up its step size, while Adam's momentum buys speed "
        "at the price of overshooting. The chapter runs Adam and Yogi with η = 0.01 on the airfoil data; "
        "here they take AdaGrad's and RMSProp's η = 0.4 so the paths compare."
    )
    return Panel(fig, caption, {"paths": paths, "styles": styles})


# ---------------------------------------------------------------------------------------------------------
# learning-rate scheduling


def schedules_decay() -> Panel:
    named = {
        "factor: 2.0·0.9^t, floor 0.01": sch.factor(2.0, 0.9, stop_factor_lr=1e-2),
        "multi-factor: 0.5, ×0.5 at t = 15 and 30": sch.multi_factor(0.5, (15, 30), 0.5),
        "square root: 0.1·(t + 1)^(−0.5)": sch.polynomial(0.1),
    }
    fig = plot.schedules(
        named, 60, log_y=True, stairs=True, title="Decaying learning-rate schedules (log scale)"
    )
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
    fig = plot.schedules(named, 30, stairs=True, title="Cosine schedule, with and without warmup")
    caption = (
        "The cosine schedule η_t = η_T + (η0 − η_T)(1 + cos(πt/T))/2 falls from η0 = 0.3 to η_T = 0.01 over "
        "T = 20 steps and stays at η_T afterwards. With warmup, η first rises linearly from 0 over 5 steps, "
        "then follows the cosine over the remaining 15. Notice why warmup helps: at the start the "
        "parameters (and an adaptive method's statistics) are far from settled, and a full-size step can "
        "throw the run off before it has begun."
    )
    return Panel(fig, caption, {"schedules": named})
