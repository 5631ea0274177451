"""Figures of numbers against steps: loss curves, schedules, the weights momentum and RMSProp give past
gradients, and bars."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from descend.checks import integer
from descend.plot.common import as_array, style

__all__ = ["bars", "loss_curves", "momentum_weights", "rmsprop_weights", "schedules"]


def _weights_figure(rows: Iterable[tuple[str, np.ndarray]], steps: int, ylabel: str, title: str) -> Figure:
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    t = np.arange(steps)
    for k, (label, w) in enumerate(rows):
        look = style(k)
        ax.plot(
            t,
            w,
            color=look["color"],
            ls=look["linestyle"],
            marker=look["marker"],
            ms=2.5,
            lw=1.5,
            label=label,
        )
    ax.set_xlabel("t: steps into the past")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_xlim(0, steps - 1)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def momentum_weights(betas: Sequence[float] = (0.95, 0.9, 0.6, 0.0), steps: int = 40) -> Figure:
    """The weight βᵗ momentum gives the gradient from t steps ago, v_t = Σ_τ β^τ g_(t−τ), for several β.

    The weights sum to 1/(1 − β): the effective step is η/(1 − β) on a steady slope.
    """
    steps = integer("steps", steps, minimum=1)
    for b in betas:
        if not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid beta: {b}; expected 0 <= beta < 1")
    rows = [
        (f"β = {b:g} (weights sum to {1 / (1 - b):.3g})", np.float64(b) ** np.arange(steps)) for b in betas
    ]
    return _weights_figure(rows, steps, "weight βᵗ", "Momentum: how much past gradients count")


def rmsprop_weights(gammas: Sequence[float] = (0.95, 0.9, 0.8, 0.7), steps: int = 40) -> Figure:
    """The weight (1 − γ)γᵗ RMSProp gives the squared gradient from t steps ago in s_t (d2l's γ, torch's
    ``alpha``): s_t = γ s_(t−1) + (1 − γ) g_t², so s_t = Σ_τ (1 − γ)γ^τ g²_(t−τ); the weights sum to 1.
    """
    steps = integer("steps", steps, minimum=1)
    for g in gammas:
        if not 0.0 <= g < 1.0:
            raise ValueError(f"Invalid gamma: {g}; expected 0 <= gamma < 1")
    rows = [
        (f"γ = {g:g} (about {1 / (1 - g):.3g} steps remembered)", (1 - g) * np.float64(g) ** np.arange(steps))
        for g in gammas
    ]
    return _weights_figure(rows, steps, "weight (1 − γ)γᵗ", "RMSProp: how much past squared gradients count")


def schedules(
    named: Mapping[str, Callable[[int], float]] | Callable[[int], float],
    steps: int = 100,
    *,
    log_y: bool = False,
    title: str = "Learning-rate schedules",
    stairs: bool = False,
    xlabel: str = "step t",
) -> Figure:
    """Learning rate against step for one or several schedules (callables ``step -> lr``, step 0 first).

    ``stairs=True`` draws each rate as a level held for its whole step (the rate of step t is the one update
    t takes), so a piecewise-constant schedule shows its jumps where they happen.
    """
    steps = integer("steps", steps, minimum=1)
    items = named.items() if isinstance(named, Mapping) else [(getattr(named, "__name__", "schedule"), named)]
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    t = np.arange(steps)
    for k, (name, sched) in enumerate(items):
        if not callable(sched):
            raise TypeError(
                f"Invalid schedule {name!r}: {type(sched).__name__}; expected a callable step -> lr"
            )
        lr = np.array([float(sched(int(i))) for i in t])
        if log_y and (lr <= 0).any():
            raise ValueError(f"Invalid schedule {name!r} for log_y: it reaches lr = {lr.min():g} <= 0")
        look = style(k)
        ax.plot(
            t,
            lr,
            lw=1.8,
            color=look["color"],
            ls=look["linestyle"],
            label=str(name),
            drawstyle="steps-post" if stairs else "default",
        )
    if log_y:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlim(0, steps - 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate η")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def loss_curves(
    curves: Mapping[str, Any],
    *,
    xlabel: str = "epoch",
    ylabel: str = "loss",
    log_y: bool | None = None,
    title: str | None = None,
    bands: Mapping[str, Any] | None = None,
) -> Figure:
    """Loss against epochs or seconds, one line per optimizer (up to 20 told apart by colour, dash and
    marker), on a log y axis where every value is positive.

    Args:
        curves: dict name -> sequence of (x, loss) pairs (or an (n, 2) array/tensor); a curve with no
            points (a run that diverged at once) keeps its legend entry.
        xlabel: "epoch", "seconds", "examples", ...
        log_y: log scale for the loss (True: every loss must be positive); default: log when they all are.
        bands: dict name -> (x, low, high) arrays: a shaded band in the line's colour (e.g. the range over
            seeds around their median).
    """
    if not curves:
        raise ValueError("Invalid curves: empty; expected a dict name -> sequence of (x, loss)")
    arrays = {}
    for name, pairs in curves.items():
        arr = as_array(pairs, f"curve {name!r}")
        if arr.size == 0:
            arr = np.zeros((0, 2))
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"Invalid curve {name!r}: shape {arr.shape}; expected (n, 2) pairs (x, loss)")
        arrays[str(name)] = arr
    finite = [a[:, 1][np.isfinite(a[:, 1])] for a in arrays.values()]
    positive = all((v > 0).all() for v in finite)
    if log_y is None:
        log_y = positive and any(v.size for v in finite)
    elif log_y and not positive:
        bad = next(n for n, v in zip(arrays, finite, strict=True) if (v <= 0).any())
        raise ValueError(f"Invalid curve {bad!r} for a log axis: a loss is <= 0; pass log_y=False")
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for k, (name, arr) in enumerate(arrays.items()):
        look = style(k)
        label = name if len(arr) else f"{name} (no finite values)"
        # about a dozen markers per line, so markers tell the lines apart without hiding them
        ax.plot(
            arr[:, 0],
            arr[:, 1],
            color=look["color"],
            ls=look["linestyle"],
            marker=look["marker"],
            ms=3.5,
            markevery=max(1, len(arr) // 12),
            lw=1.6,
            label=label,
        )
        if bands and name in bands:
            bx, lo, hi = (np.asarray(v, dtype=float) for v in bands[name])
            keep = np.isfinite(bx) & np.isfinite(lo) & np.isfinite(hi) & (not log_y or (lo > 0))
            ax.fill_between(bx[keep], lo[keep], hi[keep], color=look["color"], alpha=0.15, lw=0)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if log_y else ""))
    ax.set_title(title if title is not None else f"{ylabel.capitalize()} against {xlabel}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2 if len(arrays) > 10 else 1)
    return fig


def bars(
    values: Mapping[str, float],
    *,
    ylabel: str = "value",
    log_y: bool = False,
    title: str | None = None,
) -> Figure:
    """One bar per named value (e.g. GFLOP/s by method), the value written above each bar.

    Args:
        values: dict name -> finite number (positive when ``log_y``).
        ylabel: the axis label.
        log_y: log scale for the values.
    """
    if not values:
        raise ValueError("Invalid values: empty; expected a dict name -> number")
    names = [str(k) for k in values]
    heights = np.array([float(v) for v in values.values()])
    if not np.isfinite(heights).all():
        raise ValueError(f"Invalid values: {dict(values)}; expected finite numbers")
    if log_y and (heights <= 0).any():
        raise ValueError(f"Invalid values for a log axis: {dict(values)}; expected every value > 0")
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    colors = [style(k)["color"] for k in range(len(names))]
    rects = ax.bar(names, heights, color=colors, alpha=0.85)
    ax.bar_label(rects, labels=[f"{h:.3g}" for h in heights], fontsize=8, padding=2)
    if log_y:
        ax.set_yscale("log")
    ax.margins(y=0.15)
    ax.set_ylabel(ylabel + (" (log scale)" if log_y else ""))
    ax.set_title(title if title is not None else ylabel)
    ax.grid(alpha=0.3, axis="y", which="both")
    return fig
