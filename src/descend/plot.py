"""Figures of the lab: functions with the paths optimizers take, sweep maps, weights, schedules, losses.

Every function here returns a :class:`matplotlib.figure.Figure` built without ``pyplot`` (so nothing
depends on a display or on global figure state, and figures are freed when dropped). Save one with
:func:`save` (PNG, SVG or PDF, chosen by the suffix, written atomically) or turn it into bytes with
:func:`render` (for embedding in HTML).

Paths are given as a tensor or array of iterates of shape (n, d) (``path[0]`` is the start), as anything
with a ``path`` attribute (a :class:`descend.result.Result`), or as a dict ``name -> path`` to draw several
at once with a legend entry each. Rows that are not finite (a run that diverged) end the drawn path, and
its legend entry says so.

>>> from descend import functions, plot
>>> import torch
>>> f = functions.get("ill_conditioned")
>>> path = torch.tensor([[-5.0, -2.0], [-4.0, 1.2], [-3.2, -0.7], [-2.6, 0.4]])
>>> fig = plot.contour(f, {"gd, η = 0.4": path})
>>> plot.save(fig, "gd.png")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.colors import ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from descend.files import atomic_write
from descend.functions import Function

__all__ = [
    "bars",
    "contour",
    "convexity",
    "curve",
    "loss_curves",
    "momentum_weights",
    "render",
    "rmsprop_weights",
    "save",
    "schedules",
    "surface",
    "sweep_map",
]

# Path colours chosen to stand out on the pale contour background and from each other.
PATH_COLORS = ["#d62728", "#000000", "#ff7f0e", "#7b2cbf", "#1f77b4", "#8c564b", "#e377c2", "#2ca02c"]
CONTOUR_CMAP = "YlGnBu"
CURVE_COLOR = "#4d4d4d"
DIVERGED_COLOR = "#bdbdbd"
UNCONVERGED_COLOR = "#f4c7c3"
_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

PathLike = Any  # tensor, array, nested sequence of shape (n, d), or an object with a `path` attribute
Paths = PathLike | Mapping[str, PathLike] | None
Box1 = tuple[float, float]
Box2 = tuple[tuple[float, float], tuple[float, float]]


# ---------------------------------------------------------------------------------------------------
# Saving


def render(fig: Figure, format: str = "png", *, dpi: int = 150) -> bytes:
    """The figure encoded as ``format`` ("png", "svg" or "pdf")."""
    if format not in _FORMATS.values():
        raise ValueError(f"Invalid format: {format!r}; expected one of {sorted(_FORMATS.values())}")
    buffer = BytesIO()
    fig.savefig(buffer, format=format, dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def save(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix: .png, .svg or .pdf) and return the path.

    The file is written to a temporary file in the same folder and moved into place with ``os.replace``,
    so a reader never sees half a figure and an interrupted save leaves the old file intact. Missing
    parent folders are created.
    """
    target = Path(path)
    fmt = _FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"Invalid path: {str(path)!r}; expected a suffix among {sorted(_FORMATS)}")
    return atomic_write(target, render(fig, fmt, dpi=dpi))


# ---------------------------------------------------------------------------------------------------
# Inputs


def _array(values: Any, name: str) -> np.ndarray:
    if hasattr(values, "path") and not isinstance(values, (np.ndarray, torch.Tensor)):
        if values.path is None:
            raise ValueError(f"Invalid {name}: the result has no path")
        values = values.path
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"Invalid {name}: {type(values).__name__}; expected numbers (a tensor or array)"
        ) from None


def _paths(paths: Paths, dim: int) -> dict[str, np.ndarray]:
    """Paths as a dict name -> (n, dim) array, cut at the first non-finite row."""
    if paths is None:
        return {}
    items = paths.items() if isinstance(paths, Mapping) else [("iterates", paths)]
    out = {}
    for name, p in items:
        arr = _array(p, f"path {name!r}")
        if dim == 1 and arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != dim or len(arr) == 0:
            raise ValueError(f"Invalid path {name!r}: shape {arr.shape}; expected (n, {dim}) with n >= 1")
        out[str(name)] = arr
    return out


def _finite_prefix(arr: np.ndarray) -> tuple[np.ndarray, bool]:
    bad = ~np.isfinite(arr).all(axis=-1)
    if not bad.any():
        return arr, False
    return arr[: int(np.argmax(bad))], True


def _evaluate(f: Callable[..., Any], points: np.ndarray) -> np.ndarray:
    """f on an (..., d) grid of points, as a float array of shape (...); no gradients are kept."""
    x = torch.as_tensor(points, dtype=torch.float64)
    with torch.no_grad():
        if isinstance(f, Function):
            y = f(x)
        elif points.shape[-1] == 1:
            y = f(x[..., 0])  # a plain 1-D callable acts elementwise
        else:
            y = f(x)
    return np.asarray(torch.as_tensor(y, dtype=torch.float64).detach().cpu().numpy(), dtype=float)


def _label(f: Callable[..., Any]) -> str:
    if isinstance(f, Function):
        return textwrap.fill(f"{f.name}: f = {f.formula}", width=64)
    return getattr(f, "__name__", "f")


def _fit(lo: float, hi: float, points: np.ndarray, pad: float = 0.06) -> tuple[float, float]:
    """[lo, hi] widened to hold the points, but never beyond three widths on either side."""
    width = hi - lo
    if points.size:
        lo = max(min(lo, float(points.min())), lo - 3 * width)
        hi = min(max(hi, float(points.max())), hi + 3 * width)
    margin = pad * (hi - lo) if points.size else 0.0
    return lo - margin, hi + margin


def _box(f: Callable[..., Any], box: Any, points: np.ndarray, dim: int) -> list[tuple[float, float]]:
    """The plotting box per axis: given, else the function's, widened to hold the paths."""
    if box is not None:
        sides = [tuple(box)] if dim == 1 else [tuple(b) for b in box]
        if len(sides) != dim or any(len(s) != 2 or not s[0] < s[1] for s in sides):
            raise ValueError(
                f"Invalid box: {box!r}; expected " + ("(lo, hi)" if dim == 1 else "((xlo, xhi), (ylo, yhi))")
            )
        return [(float(a), float(b)) for a, b in sides]
    if isinstance(f, Function):
        sides = [f.box] if f.dim == 1 else list(f.box)[:dim]
        return [_fit(lo, hi, points[:, i] if points.size else points) for i, (lo, hi) in enumerate(sides)]
    if not points.size:
        raise ValueError("Invalid box: None; a function outside the catalogue needs a box or a path")
    sides = []
    for i in range(dim):
        lo, hi = float(points[:, i].min()), float(points[:, i].max())
        half = max(hi - lo, 1e-3 * max(1.0, abs(lo)), 1.0 if hi == lo else 0.0) / 2
        mid = (lo + hi) / 2
        sides.append((mid - 1.15 * half, mid + 1.15 * half))
    return sides


def _all_points(paths: dict[str, np.ndarray]) -> np.ndarray:
    parts = [_finite_prefix(p)[0] for p in paths.values()]
    parts = [p for p in parts if len(p)]
    return np.concatenate(parts) if parts else np.zeros((0, 1))


def _path_label(name: str, arr: np.ndarray, diverged: bool, value: float | None) -> str:
    steps = len(arr) - 1 + (1 if diverged else 0)
    if diverged:
        return f"{name} (diverged after {len(arr)} iterates)"
    counted = f"{steps} step" + ("" if steps == 1 else "s")
    if value is None or not math.isfinite(value):
        return f"{name} ({counted})"
    return f"{name} ({counted}, f = {value:.3g})"


def _legend_below(fig: Figure, handles: list[Any]) -> None:
    """One legend under the axes, where it hides neither the function nor the paths."""
    if handles:
        ncol = 2 if any(len(h.get_label()) > 28 for h in handles) else 3
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=min(ncol, len(handles)),
            fontsize=8,
            frameon=False,
        )


def _minimum_label(f: Function) -> str:
    if not f.local_minima:
        return "minimum"
    return "global minimum" if f.bounded_below else "lowest minimum in the box"


def _marker_legend() -> list[Line2D]:
    return [
        Line2D([], [], ls="none", marker="o", mfc="white", mec="black", ms=7, label="start"),
        Line2D([], [], ls="none", marker="*", mfc="white", mec="black", ms=11, label="end"),
    ]


# ---------------------------------------------------------------------------------------------------
# Functions with paths


def curve(
    f: Callable[..., Any],
    paths: Paths = None,
    *,
    box: Box1 | None = None,
    title: str | None = None,
    numbered: bool | None = None,
    show_critical: bool = True,
    points: int = 600,
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
    """
    if isinstance(f, Function) and f.dim != 1:
        raise ValueError(
            f"Invalid f: {f.name} has dim {f.dim}; curve() draws 1-D functions, contour() 2-D ones"
        )
    drawn = _paths(paths, 1)
    ((lo, hi),) = _box(f, box, _all_points(drawn), 1)
    xs = np.linspace(lo, hi, points)
    ys = _evaluate(f, xs[:, None])
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(xs, ys, color=CURVE_COLOR, lw=1.8, label="f(x)", zorder=1)
    if show_critical and isinstance(f, Function):
        _mark_critical_1d(ax, f, lo, hi)
    if numbered is None:
        numbered = len(drawn) == 1 and all(len(p) <= 12 for p in drawn.values())
    low, high = float(np.nanmin(ys)), float(np.nanmax(ys))
    for k, (name, arr) in enumerate(drawn.items()):
        color = PATH_COLORS[k % len(PATH_COLORS)]
        arr, diverged = _finite_prefix(arr)
        if not len(arr):
            ax.plot([], [], color=color, label=f"{name} (diverged at once)")
            continue
        px = arr[:, 0]
        py = _evaluate(f, arr)
        inside = (px >= lo) & (px <= hi) & np.isfinite(py)
        if inside.any():
            low, high = min(low, float(py[inside].min())), max(high, float(py[inside].max()))
        label = _path_label(name, arr, diverged, float(py[-1]))
        ax.plot(px, py, "-o", color=color, ms=4.5, lw=1.2, alpha=0.9, label=label, zorder=3)
        ax.plot(px[:1], py[:1], "o", mfc="white", mec=color, mew=1.8, ms=8, zorder=4)
        ax.plot(px[-1:], py[-1:], "*", color=color, mec="black", mew=0.6, ms=13, zorder=5)
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
    ax.set_title(title if title is not None else _label(f))
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if drawn:
        handles += _marker_legend()
    _legend_below(fig, handles)
    return fig


def _mark_critical_1d(ax: Any, f: Function, lo: float, hi: float) -> None:
    kinds = [
        (f.minima, "v", "black", _minimum_label(f)),
        (f.local_minima, "v", "#8a8a8a", "local minimum"),
        (f.maxima, "^", "#8a8a8a", "local maximum"),
        (f.saddles, "D", "black", "saddle point"),
    ]
    for pts, marker, color, label in kinds:
        xs = np.array([p[0] for p in pts if lo <= p[0] <= hi])
        if xs.size:
            ax.plot(
                xs, _evaluate(f, xs[:, None]), marker, color=color, ms=7, ls="none", label=label, zorder=2
            )


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
    """
    if isinstance(f, Function) and f.dim != 2:
        raise ValueError(f"Invalid f: {f.name} has dim {f.dim}; contour() draws 2-D functions")
    drawn = _paths(paths, 2)
    (x0, x1), (y0, y1) = _box(f, box, _all_points(drawn), 2)
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    z = _evaluate(f, np.stack([gx, gy], axis=-1))
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
            (f.minima, "x", "black", _minimum_label(f)),
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
        color = PATH_COLORS[k % len(PATH_COLORS)]
        arr, diverged = _finite_prefix(arr)
        if not len(arr):
            handles.append(Line2D([], [], color=color, label=f"{name} (diverged at once)"))
            continue
        value = float(_evaluate(f, arr[-1]))
        marker = dict(marker="o", ms=3.5) if len(arr) <= 80 else {}
        (line,) = ax.plot(
            arr[:, 0],
            arr[:, 1],
            "-",
            color=color,
            lw=1.5,
            zorder=5,
            label=_path_label(name, arr, diverged, value),
            **marker,
        )
        ax.plot(arr[:1, 0], arr[:1, 1], "o", mfc="white", mec=color, mew=2, ms=9, zorder=6)
        ax.plot(arr[-1:, 0], arr[-1:, 1], "*", color=color, mec="black", mew=0.7, ms=15, zorder=7)
        handles.append(line)
    if drawn:
        handles += _marker_legend()
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(title if title is not None else _label(f))
    _legend_below(fig, handles)
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
    drawn = _paths(path, 2)
    (x0, x1), (y0, y1) = _box(f, box, _all_points(drawn), 2)
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    z = _evaluate(f, np.stack([gx, gy], axis=-1))
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
                    _evaluate(f, arr),
                    color=color,
                    s=70,
                    ec="white",
                    depthshade=False,
                    zorder=10,
                )
                handles.append(Line2D([], [], ls="none", marker="o", color=color, label=label))
    for name, arr in drawn.items():
        arr, _ = _finite_prefix(arr)
        if len(arr):
            ax.plot(arr[:, 0], arr[:, 1], _evaluate(f, arr), "-o", color=PATH_COLORS[0], ms=3, zorder=11)
            handles.append(Line2D([], [], color=PATH_COLORS[0], marker="o", ms=3, label=name))
    ax.view_init(elev=elev, azim=azim)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_zlabel("f(x)")
    ax.set_title(title if title is not None else _label(f))
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="upper left")
    return fig


# ---------------------------------------------------------------------------------------------------
# Sweep maps


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
            arr = _array(b, f"boundary {name!r}")
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ValueError(
                    f"Invalid boundary {name!r}: shape {arr.shape}; expected (m, 2) or a callable"
                )
            xs, ys = arr[:, 0], arr[:, 1]
        out[str(name)] = (xs, ys)
    return out


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
) -> Figure:
    """A sweep over two hyperparameters as a coloured grid, with the theory's boundary on top.

    Colour is the final loss (``kind="loss"``) or the steps taken to reach the tolerance
    (``kind="steps"``), on a log scale. Diverged cells are grey; with ``kind="steps"``, finite runs that
    never reached the tolerance (value inf or nan, not flagged diverged) are pale red.

    Args:
        x, y: the grid's axes — either the unique values (nx,) and (ny,) with ``values`` of shape (ny, nx),
            or one value per run (K,) each with ``values`` of shape (K,), as in a sweep's result
            (``sweep.grid["lr"]``, ``sweep.grid["momentum"]``, ``sweep.fun``). Geometric axes are drawn on
            a log scale.
        values: final losses or step counts; values ≤ 0 are drawn at the smallest positive value.
        diverged: boolean mask like ``values``; default: non-finite values when ``kind="loss"``.
        boundary: a callable y = b(x), an (m, 2) array of points, or a dict label -> either (e.g.
            ``{"GD: ηλ = 2": ..., "heavy ball: ηλ = 2 + 2β": ...}``); drawn as lines with a legend.
        x_name, y_name: axis labels.
    """
    if kind not in ("loss", "steps"):
        raise ValueError(f"Invalid kind: {kind!r}; expected 'loss' or 'steps'")
    xa, ya, va = _array(x, "x").ravel(), _array(y, "y").ravel(), _array(values, "values")
    mask = None if diverged is None else np.asarray(_array(diverged, "diverged"), dtype=bool)
    if va.ndim == 1 and len(xa) == len(ya) == len(va):
        xa, ya, va, mask = _pivot(xa, ya, va, None if mask is None else mask.ravel())
    elif va.shape != (len(ya), len(xa)):
        raise ValueError(
            f"Invalid values: shape {va.shape}; expected ({len(ya)}, {len(xa)}) for {len(ya)} y and "
            f"{len(xa)} x values, or one value per (x, y) pair"
        )
    order_x, order_y = np.argsort(xa), np.argsort(ya)
    xa, ya, va = xa[order_x], ya[order_y], va[np.ix_(order_y, order_x)]
    if mask is not None:
        if mask.shape != va.shape:
            raise ValueError(f"Invalid diverged: shape {mask.shape}; expected {va.shape}")
        mask = mask[np.ix_(order_y, order_x)]
    finite = np.isfinite(va)
    if mask is None:
        mask = ~finite if kind == "loss" else np.zeros_like(finite)
    unconverged = ~finite & ~mask
    good = finite & ~mask
    fig = Figure(figsize=(7.0, 5.4), layout="constrained")
    ax = fig.add_subplot()
    xe, x_log = _grid_axis(xa)
    ye, y_log = _grid_axis(ya)
    shown = np.ma.masked_where(~good, va)
    positive = va[good & (va > 0)]
    if positive.size:
        vmin, vmax = float(positive.min()), float(positive.max())
        vmin = max(vmin, vmax * 1e-30)
        norm: Normalize = LogNorm(vmin, vmax) if vmax > vmin else Normalize(vmin * 0.5, vmax * 1.5)
        shown = np.ma.masked_where(~good, np.clip(va, vmin, None))
    else:
        norm = Normalize(0, 1)
    mesh = ax.pcolormesh(xe, ye, shown, norm=norm, cmap="viridis", shading="flat")
    bar = fig.colorbar(mesh, ax=ax)
    bar.set_label("final loss" if kind == "loss" else "steps to tolerance")
    legend: list[Any] = []
    for cells, color, label in (
        (mask, DIVERGED_COLOR, "diverged"),
        (unconverged, UNCONVERGED_COLOR, "tolerance not reached"),
    ):
        if cells.any():
            ax.pcolormesh(
                xe,
                ye,
                np.ma.masked_where(~cells, np.ones_like(va)),
                cmap=ListedColormap([color]),
                shading="flat",
            )
            legend.append(Patch(facecolor=color, edgecolor="#777777", label=label))
    styles = ["--", "-.", ":", (0, (5, 1, 1, 1))]
    for k, (name, (bx, by)) in enumerate(_boundaries(boundary, (float(xe[0]), float(xe[-1])), x_log).items()):
        (line,) = ax.plot(
            bx, by, styles[k % len(styles)], color="#e8112d" if k == 0 else "#ff9f1c", lw=2.2, label=name
        )
        legend.append(line)
    ax.set_xlim(xe[0], xe[-1])
    ax.set_ylim(ye[0], ye[-1])
    if x_log:
        ax.set_xscale("log")
    if y_log:
        ax.set_yscale("log")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.set_title(
        title
        if title is not None
        else ("Final loss" if kind == "loss" else "Steps to tolerance") + f" over {va.size} runs"
    )
    if legend:
        ax.legend(
            handles=legend,
            fontsize=8,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12),
            ncol=len(legend),
            frameon=False,
        )
    return fig


# ---------------------------------------------------------------------------------------------------
# Weights, schedules, losses


def _steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"Invalid steps: {steps!r}; expected an integer >= 1")
    return steps


def _weights_figure(rows: Iterable[tuple[str, np.ndarray]], steps: int, ylabel: str, title: str) -> Figure:
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    t = np.arange(steps)
    for k, (label, w) in enumerate(rows):
        ax.plot(t, w, "-o", ms=2.5, lw=1.5, color=PATH_COLORS[k % len(PATH_COLORS)], label=label)
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
    steps = _steps(steps)
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
    steps = _steps(steps)
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
) -> Figure:
    """Learning rate against step for one or several schedules (callables ``step -> lr``, step 0 first)."""
    steps = _steps(steps)
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
        ax.plot(t, lr, lw=1.8, color=PATH_COLORS[k % len(PATH_COLORS)], label=str(name))
    if log_y:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlim(0, steps - 1)
    ax.set_xlabel("step t")
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
    log_y: bool = True,
    title: str | None = None,
) -> Figure:
    """Loss against epochs or seconds, one line per optimizer, on a log y axis.

    Args:
        curves: dict name -> sequence of (x, loss) pairs (or an (n, 2) array/tensor).
        xlabel: "epoch", "seconds", "examples", ...
        log_y: log scale for the loss (every loss must then be positive).
    """
    if not curves:
        raise ValueError("Invalid curves: empty; expected a dict name -> sequence of (x, loss)")
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for k, (name, pairs) in enumerate(curves.items()):
        arr = _array(pairs, f"curve {name!r}")
        if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
            raise ValueError(f"Invalid curve {name!r}: shape {arr.shape}; expected (n, 2) pairs (x, loss)")
        loss = arr[:, 1]
        if log_y and (loss[np.isfinite(loss)] <= 0).any():
            raise ValueError(f"Invalid curve {name!r} for a log axis: a loss is <= 0; pass log_y=False")
        ms = 3 if len(arr) <= 50 else 0
        ax.plot(
            arr[:, 0], loss, "-o", ms=ms, lw=1.6, color=PATH_COLORS[k % len(PATH_COLORS)], label=str(name)
        )
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if log_y else ""))
    ax.set_title(title if title is not None else f"{ylabel.capitalize()} against {xlabel}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
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
        ys = _evaluate(f, xs[:, None])
        fa, fb = (float(v) for v in _evaluate(f, np.array([[a], [b]])))
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
                color=PATH_COLORS[0],
                alpha=0.3,
                label="graph above chord",
            )
        convex = _is_convex(ys)
        name = f.formula if isinstance(f, Function) else _label(f)
        ax.set_title(f"{name}: {'convex' if convex else 'not convex'}", fontsize=10)
        ax.set_xlim(lo, hi)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("f(x)")
    fig.suptitle(title, fontsize=11)
    handles = [
        Line2D([], [], color=CURVE_COLOR, lw=1.8, label="f(x)"),
        Line2D([], [], color="#1f77b4", lw=1.6, marker="o", ms=5, label=f"chord from x = {a:g} to x = {b:g}"),
        Patch(facecolor=PATH_COLORS[0], alpha=0.3, label="graph above the chord (Jensen fails)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return fig


# ---------------------------------------------------------------------------------------------------
# Bars


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
    colors = [PATH_COLORS[k % len(PATH_COLORS)] for k in range(len(names))]
    rects = ax.bar(names, heights, color=colors, alpha=0.85)
    ax.bar_label(rects, labels=[f"{h:.3g}" for h in heights], fontsize=8, padding=2)
    if log_y:
        ax.set_yscale("log")
    ax.margins(y=0.15)
    ax.set_ylabel(ylabel + (" (log scale)" if log_y else ""))
    ax.set_title(title if title is not None else ylabel)
    ax.grid(alpha=0.3, axis="y", which="both")
    return fig
