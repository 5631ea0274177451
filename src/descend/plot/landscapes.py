"""Functions as landscapes: a curve in 1-D, contours and a surface in 2-D, with the paths optimizers take;
and the convexity picture (a chord above the graph)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from descend.functions import Function
from descend.plot.common import (
    CONTOUR_CMAP,
    CURVE_COLOR,
    PALETTE,
    Box1,
    Box2,
    PathLike,
    Paths,
    all_points,
    as_paths,
    box_of,
    evaluate,
    finite_prefix,
    label_of,
    legend_below,
    marker_legend,
    minimum_label,
    path_label,
    path_style,
)

__all__ = ["contour", "convexity", "curve", "surface"]


def curve(
    f: Callable[..., Any],
    paths: Paths = None,
    *,
    box: Box1 | None = None,
    title: str | None = None,
    numbered: bool | None = None,
    show_critical: bool = True,
    points: int = 600,
    styles: Mapping[str, Mapping[str, Any]] | None = None,
) -> Figure:
    """A 1-D function on its box with the iterates of one or several paths.

    Args:
        f: a 1-D catalogue :class:`~descend.functions.Function`, or a plain callable acting elementwise on a
            1-D tensor (the chapter's ``lambda x: x * torch.cos(np.pi * x)``).
        paths: iterates of shape (n,) or (n, 1), or a dict name -> iterates.
        box: the x range; default the function's box, widened to hold the paths.
        title: default names the function and its formula.
        numbered: write the iteration number next to each iterate; default for a single path of ≤ 12.
        show_critical: mark the function's known minima, local minima, maxima and saddles in the box.
        points: how many points draw the curve.
        styles: per path name, what to change in its look (``color``, ``linestyle``, ``marker``, ``lw``,
            ``ms``, ``alpha``, ``zorder``), e.g. to keep two paths that coincide both visible.
    """
    if isinstance(f, Function) and f.dim != 1:
        raise ValueError(
            f"Invalid f: {f.name} has dim {f.dim}; curve() draws 1-D functions, contour() 2-D ones"
        )
    drawn = as_paths(paths, 1)
    ((lo, hi),) = box_of(f, box, all_points(drawn), 1)
    xs = np.linspace(lo, hi, points)
    ys = evaluate(f, xs[:, None])
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(xs, ys, color=CURVE_COLOR, lw=1.8, label="f(x)", zorder=1)
    if show_critical and isinstance(f, Function):
        _mark_critical_1d(ax, f, lo, hi)
    if numbered is None:
        numbered = len(drawn) == 1 and all(len(p) <= 12 for p in drawn.values())
    low, high = float(np.nanmin(ys)), float(np.nanmax(ys))
    for k, (name, arr) in enumerate(drawn.items()):
        look = path_style(k, name, styles)
        color = look["color"]
        arr, diverged = finite_prefix(arr)
        if not len(arr):
            ax.plot([], [], color=color, label=f"{name} (diverged at once)")
            continue
        px = arr[:, 0]
        py = evaluate(f, arr)
        inside = (px >= lo) & (px <= hi) & np.isfinite(py)
        if inside.any():
            low, high = min(low, float(py[inside].min())), max(high, float(py[inside].max()))
        label = path_label(name, arr, diverged, float(py[-1]))
        ax.plot(
            px,
            py,
            color=color,
            ls=look["linestyle"],
            marker=look["marker"],
            ms=look["ms"] + 0.5,
            lw=look["lw"] - 0.3,
            alpha=0.9 * look["alpha"],
            label=label,
            zorder=look["zorder"] - 2,
        )
        ax.plot(px[:1], py[:1], "o", mfc="white", mec=color, mew=1.8, ms=8, zorder=look["zorder"] - 1)
        ax.plot(px[-1:], py[-1:], "*", color=color, mec="black", mew=0.6, ms=13, zorder=look["zorder"])
        if numbered:
            for i, (a, b) in enumerate(zip(px, py, strict=True)):
                ax.annotate(
                    str(i), (a, b), xytext=(4, 5), textcoords="offset points", fontsize=7, color=color
                )
    pad = 0.06 * (high - low if high > low else 1.0)
    ax.set_xlim(lo, hi)
    ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.set_title(title if title is not None else label_of(f))
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if drawn:
        handles += marker_legend()
    legend_below(fig, handles)
    return fig


def _mark_critical_1d(ax: Any, f: Function, lo: float, hi: float) -> None:
    kinds = [
        (f.minima, "v", "black", minimum_label(f)),
        (f.local_minima, "v", "#8a8a8a", "local minimum"),
        (f.maxima, "^", "#8a8a8a", "local maximum"),
        (f.saddles, "D", "black", "saddle point"),
    ]
    for pts, marker, color, label in kinds:
        xs = np.array([p[0] for p in pts if lo <= p[0] <= hi])
        if xs.size:
            ax.plot(xs, evaluate(f, xs[:, None]), marker, color=color, ms=7, ls="none", label=label, zorder=2)


def _levels(z: np.ndarray, levels: int | Sequence[float] | None, log_levels: bool | None) -> dict[str, Any]:
    """Contour levels: log-spaced above the grid's minimum where a few peaks dwarf most of the box."""
    finite = z[np.isfinite(z)]
    zmin, zmax = float(finite.min()), float(finite.max())
    span = zmax - zmin
    if isinstance(levels, Sequence) or span <= 0:
        return {"levels": levels if span > 0 else None, "norm": None, "offset": 0.0, "log": False}
    count = 20 if levels is None else int(levels)
    if log_levels is None:
        log_levels = float(np.median(finite - zmin)) < 0.12 * span
    if not log_levels:
        return {
            "levels": MaxNLocator(count).tick_values(zmin, zmax),
            "norm": None,
            "offset": 0.0,
            "log": False,
        }
    floor = max(float(np.percentile(finite - zmin, 0.5)), span * 1e-7)
    offset = zmin - floor  # contour the positive quantity f − offset on a log scale
    lv = np.geomspace(floor, span + floor, count)
    return {"levels": lv, "norm": LogNorm(lv[0], lv[-1]), "offset": offset, "log": True}


def contour(
    f: Callable[..., Any],
    paths: Paths = None,
    *,
    box: Box2 | None = None,
    levels: int | Sequence[float] | None = None,
    log_levels: bool | None = None,
    title: str | None = None,
    show_critical: bool = True,
    resolution: int = 200,
    styles: Mapping[str, Mapping[str, Any]] | None = None,
) -> Figure:
    """Contours of a 2-D function with one or several paths (start ○, end ★, a legend entry each).

    Args:
        f: a 2-D catalogue function, or a callable mapping (..., 2) to (...).
        paths: iterates of shape (n, 2), a Result, or a dict name -> either.
        box: ((xlo, xhi), (ylo, yhi)); default the function's box widened to hold the paths (at most three
            box widths each way, so a diverging path does not shrink the picture to a dot); for a plain
            callable, the paths' extent.
        levels: number of contour levels (20) or the levels themselves.
        log_levels: log-spaced levels; default when the values have a long upper tail (Rosenbrock, Beale,
            Goldstein–Price), so the valleys stay readable.
        show_critical: mark the function's known minima (×) and saddles (+).
        resolution: grid points per axis.
        styles: per path name, what to change in its look (as in :func:`curve`).
    """
    if isinstance(f, Function) and f.dim != 2:
        raise ValueError(f"Invalid f: {f.name} has dim {f.dim}; contour() draws 2-D functions")
    drawn = as_paths(paths, 2)
    (x0, x1), (y0, y1) = box_of(f, box, all_points(drawn), 2)
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    z = evaluate(f, np.stack([gx, gy], axis=-1))
    spec = _levels(z, levels, log_levels)
    fig = Figure(figsize=(6.6, 5.2), layout="constrained")
    ax = fig.add_subplot()
    zz = z - spec["offset"]
    filled = ax.contourf(
        gx,
        gy,
        zz,
        levels=spec["levels"],
        norm=spec["norm"],
        cmap=CONTOUR_CMAP,
        alpha=0.6,
        extend="both" if spec["log"] else "neither",
    )
    ax.contour(
        gx, gy, zz, levels=spec["levels"], norm=spec["norm"], colors="#5a6b7b", linewidths=0.5, alpha=0.7
    )
    bar = fig.colorbar(filled, ax=ax, shrink=0.9)
    bar.set_label("f(x)" + (" (log-spaced levels)" if spec["log"] else ""))
    if spec["log"]:
        bar.formatter = FuncFormatter(lambda v, _pos: f"{v + spec['offset']:.3g}")
        bar.update_ticks()
    handles: list[Any] = []
    if show_critical and isinstance(f, Function):
        kinds = [
            (f.minima, "x", "black", minimum_label(f)),
            (f.local_minima, "x", "#707070", "local minimum"),
            (f.saddles, "+", "black", "saddle"),
        ]
        for pts, marker, color, label in kinds:
            inside = [p for p in pts if x0 <= p[0] <= x1 and y0 <= p[1] <= y1]
            if inside:
                arr = np.array(inside)
                ax.plot(arr[:, 0], arr[:, 1], marker, color=color, ms=9, mew=2, ls="none", zorder=4)
                handles.append(
                    Line2D([], [], ls="none", marker=marker, color=color, ms=8, mew=2, label=label)
                )
    for k, (name, arr) in enumerate(drawn.items()):
        look = path_style(k, name, styles)
        color, z = look["color"], look["zorder"]
        arr, diverged = finite_prefix(arr)
        if not len(arr):
            handles.append(Line2D([], [], color=color, label=f"{name} (diverged at once)"))
            continue
        value = float(evaluate(f, arr[-1]))
        # markers on at most about 80 iterates, so a long path stays a line
        (line,) = ax.plot(
            arr[:, 0],
            arr[:, 1],
            color=color,
            ls=look["linestyle"],
            lw=look["lw"],
            marker=look["marker"],
            ms=look["ms"],
            markevery=max(1, len(arr) // 80),
            alpha=look["alpha"],
            zorder=z,
            label=path_label(name, arr, diverged, value),
        )
        ax.plot(arr[:1, 0], arr[:1, 1], "o", mfc="white", mec=color, mew=2, ms=9, zorder=z + 1)
        ax.plot(arr[-1:, 0], arr[-1:, 1], "*", color=color, mec="black", mew=0.7, ms=15, zorder=z + 2)
        handles.append(line)
    if drawn:
        handles += marker_legend()
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(title if title is not None else label_of(f))
    legend_below(fig, handles)
    return fig


def surface(
    f: Callable[..., Any],
    *,
    box: Box2 | None = None,
    path: PathLike | None = None,
    title: str | None = None,
    resolution: int = 60,
    elev: float = 28.0,
    azim: float = -58.0,
) -> Figure:
    """A 3-D surface of a 2-D function (the chapter's saddle x² − y²), its saddles marked, and a path.

    Args:
        f: a 2-D catalogue function, or a callable mapping (..., 2) to (...) together with ``box``.
        box: ((xlo, xhi), (ylo, yhi)); default the function's box.
        path: optional iterates (n, 2), drawn on the surface.
        elev, azim: the viewing angles in degrees.
    """
    if isinstance(f, Function) and f.dim != 2:
        raise ValueError(f"Invalid f: {f.name} has dim {f.dim}; surface() draws 2-D functions")
    drawn = as_paths(path, 2)
    (x0, x1), (y0, y1) = box_of(f, box, all_points(drawn), 2)
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    z = evaluate(f, np.stack([gx, gy], axis=-1))
    fig = Figure(figsize=(6.8, 5.4), layout="constrained")
    # markers and paths lie on the surface; drawing them last (no depth sorting) keeps them visible
    ax = fig.add_subplot(projection="3d", computed_zorder=False)
    ax.contour(gx, gy, z, levels=12, zdir="z", offset=float(np.nanmin(z)), cmap="coolwarm", linewidths=0.8)
    ax.plot_surface(gx, gy, z, cmap="coolwarm", rstride=1, cstride=1, linewidth=0, alpha=0.9, zorder=2)
    handles = []
    if isinstance(f, Function):
        for pts, color, label in ((f.saddles, "black", "saddle point"), (f.minima, "#2ca02c", "minimum")):
            inside = [p for p in pts if x0 <= p[0] <= x1 and y0 <= p[1] <= y1]
            if inside:
                arr = np.array(inside)
                ax.scatter(
                    arr[:, 0],
                    arr[:, 1],
                    evaluate(f, arr),
                    color=color,
                    s=70,
                    ec="white",
                    depthshade=False,
                    zorder=10,
                )
                handles.append(Line2D([], [], ls="none", marker="o", color=color, label=label))
    for name, arr in drawn.items():
        arr, _ = finite_prefix(arr)
        if len(arr):
            ax.plot(arr[:, 0], arr[:, 1], evaluate(f, arr), "-o", color=PALETTE[0], ms=3, zorder=11)
            handles.append(Line2D([], [], color=PALETTE[0], marker="o", ms=3, label=name))
    ax.view_init(elev=elev, azim=azim)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_zlabel("f(x)")
    ax.set_title(title if title is not None else label_of(f))
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="upper left")
    return fig


# ---------------------------------------------------------------------------------------------------
# Convexity


def _is_convex(ys: np.ndarray) -> bool:
    second = ys[2:] - 2 * ys[1:-1] + ys[:-2]
    return bool((second >= -1e-9 * max(1.0, float(np.abs(ys).max()))).all())


def convexity(
    fs: Sequence[Callable[..., Any] | str] = ("square", "cos_pi", "exp"),
    *,
    chord: tuple[float, float] = (-1.5, 1.0),
    box: Box1 = (-2.0, 2.0),
    title: str = "Convex or not: a chord never dips below a convex function (Jensen)",
) -> Figure:
    """One panel per function with the chord between ``chord[0]`` and ``chord[1]``.

    Jensen's inequality for convex f: f(λa + (1 − λ)b) ≤ λf(a) + (1 − λ)f(b), i.e. the chord lies on or
    above the graph. Where the graph rises above the chord, the panel shades the gap. A panel is titled
    convex when f's second differences on the box are all ≥ 0. Default: the chapter's x², cos(πx), eˣᐟ².

    Args:
        fs: catalogue names, 1-D catalogue functions, or elementwise callables.
    """
    a, b = float(chord[0]), float(chord[1])
    lo, hi = float(box[0]), float(box[1])
    if not (lo <= a < b <= hi):
        raise ValueError(f"Invalid chord: {chord}; expected box[0] <= a < b <= box[1] with box = {box}")
    from descend import functions

    resolved = [functions.get(f) if isinstance(f, str) else f for f in fs]
    if not resolved:
        raise ValueError("Invalid fs: empty; expected at least one function")
    fig = Figure(figsize=(3.6 * len(resolved), 3.8), layout="constrained")
    axes = fig.subplots(1, len(resolved), squeeze=False)[0]
    xs = np.linspace(lo, hi, 801)
    for ax, f in zip(axes, resolved, strict=True):
        ys = evaluate(f, xs[:, None])
        fa, fb = (float(v) for v in evaluate(f, np.array([[a], [b]])))
        inner = (xs >= a) & (xs <= b)
        line = fa + (fb - fa) * (xs[inner] - a) / (b - a)
        ax.plot(xs, ys, color=CURVE_COLOR, lw=1.8, label="f(x)")
        ax.plot([a, b], [fa, fb], "-o", color="#1f77b4", lw=1.6, ms=5, label="chord")
        above = ys[inner] > line + 1e-12 * max(1.0, float(np.abs(ys).max()))
        if above.any():
            ax.fill_between(
                xs[inner],
                line,
                ys[inner],
                where=above,
                color=PALETTE[0],
                alpha=0.3,
                label="graph above chord",
            )
        convex = _is_convex(ys)
        name = f.formula if isinstance(f, Function) else label_of(f)
        ax.set_title(f"{name}: {'convex' if convex else 'not convex'}", fontsize=10)
        ax.set_xlim(lo, hi)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("f(x)")
    fig.suptitle(title, fontsize=11)
    handles = [
        Line2D([], [], color=CURVE_COLOR, lw=1.8, label="f(x)"),
        Line2D([], [], color="#1f77b4", lw=1.6, marker="o", ms=5, label=f"chord from x = {a:g} to x = {b:g}"),
        Patch(facecolor=PALETTE[0], alpha=0.3, label="graph above the chord (Jensen fails)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return fig
