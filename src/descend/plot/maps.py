"""Sweep maps: the outcome of a grid of hyperparameters, coloured, with the theory's boundary on top."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from descend.plot.common import DIVERGED_COLOR, UNCONVERGED_COLOR, as_array

__all__ = ["sweep_map"]

_BOUNDARY_STYLES = ["--", "-.", ":", (0, (5, 1, 1, 1))]


def _grid_axis(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Cell edges around sorted centres, and whether the axis is geometric (then drawn on a log scale)."""
    log = len(values) > 2 and bool((values > 0).all())
    if log:
        ratios = values[1:] / values[:-1]
        log = bool(np.allclose(ratios, ratios[0], rtol=1e-6)) and ratios[0] > 1 + 1e-9
    centres = np.log(values) if log else values
    if len(centres) == 1:
        edges = centres[0] + np.array([-0.5, 0.5]) * (abs(centres[0]) or 1.0) * 0.1
    else:
        mids = (centres[1:] + centres[:-1]) / 2
        edges = np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])
    return (np.exp(edges) if log else edges), log


def _pivot(
    x: np.ndarray, y: np.ndarray, values: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Flat (x_i, y_i, v_i) triples (a sweep's rows) arranged on the grid of unique x and y values."""
    xs, xi = np.unique(x, return_inverse=True)
    ys, yi = np.unique(y, return_inverse=True)
    if len(xs) * len(ys) != len(values) or len(set(zip(xi.tolist(), yi.tolist(), strict=True))) != len(
        values
    ):
        raise ValueError(
            f"Invalid sweep: {len(values)} values do not fill the {len(ys)} × {len(xs)} grid of unique x, y"
        )
    grid = np.empty((len(ys), len(xs)))
    grid[yi, xi] = values
    out_mask = None
    if mask is not None:
        out_mask = np.zeros((len(ys), len(xs)), dtype=bool)
        out_mask[yi, xi] = mask
    return xs, ys, grid, out_mask


def _boundaries(
    boundary: Any, x_range: tuple[float, float], x_log: bool
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if boundary is None:
        return {}
    items = boundary.items() if isinstance(boundary, Mapping) else [("predicted boundary", boundary)]
    out = {}
    for name, b in items:
        if callable(b):
            lo, hi = x_range
            xs = np.geomspace(lo, hi, 400) if x_log else np.linspace(lo, hi, 400)
            ys = np.array([float(b(v)) for v in xs])
        else:
            arr = as_array(b, f"boundary {name!r}")
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ValueError(
                    f"Invalid boundary {name!r}: shape {arr.shape}; expected (m, 2) or a callable"
                )
            xs, ys = arr[:, 0], arr[:, 1]
        out[str(name)] = (xs, ys)
    return out


def _scale(
    va: np.ndarray, good: np.ndarray, kind: str, fstar: float | None
) -> tuple[np.ndarray, Normalize, str]:
    """The values to draw, their colour scale and its label.

    Final losses are drawn as f − f* on a log scale where f* is known (so a function with negative values
    still spans its colours); without f*, on a log scale when all are positive, else on a linear scale that
    fits them. Step counts are drawn on a log scale (a run done at step 0 at the smallest one).
    """
    if kind == "loss" and fstar is not None:
        va = va - fstar
        label = f"f − f* after the last step (f* = {fstar:.6g})"
    else:
        label = "final loss" if kind == "loss" else "steps to tolerance"
    values = va[good]
    if not values.size:
        return va, Normalize(0, 1), label
    positive = values[values > 0]
    if kind == "loss" and fstar is None and positive.size < values.size:
        lo, hi = float(values.min()), float(values.max())
        return va, Normalize(lo, hi if hi > lo else lo + 1.0), label
    if not positive.size:
        return np.ones_like(va), Normalize(0, 2), label
    vmax = float(positive.max())
    vmin = max(float(positive.min()), vmax * 1e-30)
    shown = np.clip(va, vmin, None)
    return shown, (LogNorm(vmin, vmax) if vmax > vmin else Normalize(vmin * 0.5, vmax * 1.5)), label


def _arrange(x: Any, y: Any, values: Any, diverged: Any, kind: str) -> tuple[np.ndarray, ...]:
    """Sorted axes, the values on their grid (ny, nx) (ny = 1 without y), and the masks of diverged runs
    and of finite runs that never reached the tolerance."""
    xa, va = as_array(x, "x").ravel(), as_array(values, "values")
    ya = np.zeros(1) if y is None else as_array(y, "y").ravel()
    mask = None if diverged is None else np.asarray(as_array(diverged, "diverged"), dtype=bool)
    if y is None:
        if va.ravel().shape != xa.shape:
            raise ValueError(f"Invalid values: shape {va.shape}; expected ({len(xa)},), one per x value")
        va = va.reshape(1, -1)
        mask = None if mask is None else mask.reshape(1, -1)
    elif va.ndim == 1 and len(xa) == len(ya) == len(va):
        xa, ya, va, mask = _pivot(xa, ya, va, None if mask is None else mask.ravel())
    elif va.shape != (len(ya), len(xa)):
        raise ValueError(
            f"Invalid values: shape {va.shape}; expected ({len(ya)}, {len(xa)}) for {len(ya)} y and "
            f"{len(xa)} x values, or one value per (x, y) pair"
        )
    order_x, order_y = np.argsort(xa, kind="stable"), np.argsort(ya, kind="stable")
    xa, ya, va = xa[order_x], ya[order_y], va[np.ix_(order_y, order_x)]
    if mask is not None:
        if mask.shape != va.shape:
            raise ValueError(f"Invalid diverged: shape {mask.shape}; expected {va.shape}")
        mask = mask[np.ix_(order_y, order_x)]
    finite = np.isfinite(va)
    if mask is None:
        mask = ~finite if kind == "loss" else np.zeros_like(finite)
    return xa, ya, va, mask, ~finite & ~mask


def sweep_map(
    x: Any,
    y: Any,
    values: Any,
    *,
    x_name: str = "learning rate η",
    y_name: str = "momentum β",
    kind: str = "loss",
    diverged: Any = None,
    boundary: Any = None,
    title: str | None = None,
    fstar: float | None = None,
    note: str | None = None,
) -> Figure:
    """A sweep over two hyperparameters as a coloured grid (over one, as a line), with theory on top.

    The colour (the height, over one hyperparameter) is the final loss (``kind="loss"``), as f − f* on a log
    scale when the minimum ``fstar`` is known, or the steps taken to reach the tolerance (``kind="steps"``).
    Diverged runs are grey; with ``kind="steps"``, finite runs that never reached the tolerance (value inf
    or nan, not flagged diverged) are pale red, and when no run reached it the figure says so (``note``).

    Args:
        x, y: the grid's axes — either the unique values (nx,) and (ny,) with ``values`` of shape (ny, nx),
            or one value per run (K,) each with ``values`` of shape (K,), as in a sweep's result
            (``sweep.grid["lr"]``, ``sweep.grid["momentum"]``, ``sweep.fun``); ``y=None`` for a sweep of
            one hyperparameter. Geometric axes are drawn on a log scale.
        values: final losses or step counts.
        diverged: boolean mask like ``values``; default: non-finite values when ``kind="loss"``.
        boundary: a callable y = b(x), an (m, 2) array of points, or a dict label -> either (e.g.
            ``{"GD: ηλ = 2": ..., "heavy ball: ηλ = 2 + 2β": ...}``); over one hyperparameter, x values
            drawn as vertical lines. Each has a legend entry.
        fstar: the minimum of the function, for ``kind="loss"``.
        note: what to write over the figure when no run has a value to colour (default: says so).
        x_name, y_name: axis labels.
    """
    if kind not in ("loss", "steps"):
        raise ValueError(f"Invalid kind: {kind!r}; expected 'loss' or 'steps'")
    xa, ya, va, mask, unconverged = _arrange(x, y, values, diverged, kind)
    good = np.isfinite(va) & ~mask
    shown, norm, label = _scale(va, good, kind, fstar)
    fig = Figure(figsize=(7.0, 5.4), layout="constrained")
    ax = fig.add_subplot()
    xe, x_log = _grid_axis(xa)
    cells = _Cells(xa, shown, good, mask, unconverged, norm, label)
    if y is None:
        legend = _line(ax, cells, boundary)
    else:
        legend = _grid(fig, ax, cells, ya, xe, x_log, boundary)
        ax.set_ylabel(y_name)
    if not good.any():
        nothing = "no run reached the tolerance" if kind == "steps" else "every run diverged"
        ax.text(
            0.5,
            0.5,
            textwrap.fill(note or nothing, 40),
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=12,
            bbox={"facecolor": "white", "edgecolor": "#777777", "alpha": 0.95},
            zorder=10,
        )
    ax.set_xlim(xe[0], xe[-1])
    if x_log:
        ax.set_xscale("log")
    ax.set_xlabel(x_name)
    default = ("Final loss" if kind == "loss" else "Steps to tolerance") + f" over {va.size} runs"
    ax.set_title(title if title is not None else default)
    if legend:
        ax.legend(
            handles=legend,
            fontsize=8,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12),
            ncol=min(len(legend), 3),
            frameon=False,
        )
    return fig


@dataclass
class _Cells:
    """What a map draws: the x values, the values shown (one row per y value), which runs have a value,
    which diverged and which never reached the tolerance, and the colour scale with its label."""

    x: np.ndarray
    shown: np.ndarray
    good: np.ndarray
    diverged: np.ndarray
    unreached: np.ndarray
    norm: Normalize
    label: str


def _grid(
    fig: Figure, ax: Any, c: _Cells, ya: np.ndarray, xe: np.ndarray, x_log: bool, boundary: Any
) -> list[Any]:
    shown, good, mask, unconverged, norm, label = c.shown, c.good, c.diverged, c.unreached, c.norm, c.label
    ye, y_log = _grid_axis(ya)
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_where(~good, shown), norm=norm, cmap="viridis", shading="flat")
    if good.any():  # a colour bar with no colours in use says nothing
        fig.colorbar(mesh, ax=ax).set_label(label)
    legend: list[Any] = []
    for cells, color, name in (
        (mask, DIVERGED_COLOR, "diverged"),
        (unconverged, UNCONVERGED_COLOR, "tolerance not reached"),
    ):
        if cells.any():
            ones = np.ma.masked_where(~cells, np.ones_like(shown))
            ax.pcolormesh(xe, ye, ones, cmap=ListedColormap([color]), shading="flat")
            legend.append(Patch(facecolor=color, edgecolor="#777777", label=name))
    lines = _boundaries(boundary, (float(xe[0]), float(xe[-1])), x_log)
    for k, (name, (bx, by)) in enumerate(lines.items()):
        color = "#e8112d" if k == 0 else "#ff9f1c"
        (line,) = ax.plot(bx, by, _BOUNDARY_STYLES[k % 4], color=color, lw=2.2, label=name)
        legend.append(line)
    ax.set_ylim(ye[0], ye[-1])
    if y_log:
        ax.set_yscale("log")
    return legend


def _line(ax: Any, c: _Cells, boundary: Any) -> list[Any]:
    """One hyperparameter: the values as a line, the runs without a value marked along the top."""
    xa, shown, good, mask, unconverged = c.x, c.shown[0], c.good[0], c.diverged[0], c.unreached[0]
    norm, label = c.norm, c.label
    ax.plot(xa[good], shown[good], "-o", color="#1f77b4", ms=4, lw=1.6, zorder=3)
    ax.set_ylabel(label)
    if isinstance(norm, LogNorm):
        ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    legend: list[Any] = [Line2D([], [], color="#1f77b4", marker="o", ms=4, label=label)]
    top = ax.get_xaxis_transform()
    for cells, color, name in (
        (mask, "#7f7f7f", "diverged"),
        (unconverged, "#e377c2", "tolerance not reached"),
    ):
        if cells.any():
            ax.plot(xa[cells], np.full(int(cells.sum()), 0.97), "x", color=color, ms=7, mew=2, transform=top)
            legend.append(
                Line2D([], [], ls="none", marker="x", color=color, mew=2, label=f"{name} (marked on top)")
            )
    items = (
        boundary.items()
        if isinstance(boundary, Mapping)
        else ([("predicted boundary", boundary)] if boundary is not None else [])
    )
    for k, (name, at) in enumerate(items):
        if callable(at):
            raise ValueError(
                f"Invalid boundary {name!r}: over one hyperparameter, give the x value of the edge"
            )
        line = ax.axvline(
            float(at),
            ls=_BOUNDARY_STYLES[k % 4],
            color="#e8112d" if k == 0 else "#ff9f1c",
            lw=2.2,
            label=name,
        )
        legend.append(line)
    return legend
