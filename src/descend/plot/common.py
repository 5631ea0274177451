"""What every figure shares: the palette and line styles, saving and rendering, and reading its inputs."""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable, Mapping
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from descend.files import atomic_write
from descend.functions import Function

# Ten colours that stand out on the pale contour background and from each other, and ten markers; the
# second ten styles reuse the colours dashed and with other markers, so up to 20 lines stay apart.
PALETTE = [
    "#d62728",
    "#000000",
    "#ff7f0e",
    "#7b2cbf",
    "#1f77b4",
    "#8c564b",
    "#e377c2",
    "#2ca02c",
    "#17becf",
    "#bcbd22",
]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
#: The palette's first colours (paths on a contour plot), kept for code that picks a colour by index.
PATH_COLORS = PALETTE
CONTOUR_CMAP = "YlGnBu"
CURVE_COLOR = "#4d4d4d"
DIVERGED_COLOR = "#bdbdbd"
UNCONVERGED_COLOR = "#f4c7c3"

PathLike = Any  # tensor, array, nested sequence of shape (n, d), or an object with a `path` attribute
Paths = PathLike | Mapping[str, PathLike] | None
Box1 = tuple[float, float]
Box2 = tuple[tuple[float, float], tuple[float, float]]


def style(k: int) -> dict[str, Any]:
    """The colour, line style and marker of the k-th line of a figure: distinct for k < 20."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"Invalid k: {k!r}; expected an integer >= 0")
    n = len(PALETTE)
    second = (k // n) % 2 == 1
    return {
        "color": PALETTE[k % n],
        "linestyle": (0, (5, 2)) if second else "-",
        "marker": MARKERS[(k + 5 * second) % len(MARKERS)],
    }


# ---------------------------------------------------------------------------------------------------
# Saving


def formats() -> dict[str, str]:
    """Every suffix matplotlib can write (``.png``, ``.svg``, ``.pdf``, ``.jpg``, ...), with its format."""
    types = FigureCanvasAgg(Figure()).get_supported_filetypes()
    return {f".{ext}": ext for ext in sorted(types)}


@functools.cache
def _can_write(fmt: str) -> str | None:
    """None if matplotlib writes ``fmt`` here, else why not (a format may need LaTeX or a Pillow codec)."""
    try:
        Figure(figsize=(0.5, 0.5)).savefig(BytesIO(), format=fmt)
    except Exception as e:  # whatever the backend raises, the answer is "cannot write"
        return f"{type(e).__name__}: {e}".splitlines()[0]
    return None


def check_format(path: str | Path, *, what: str = "path") -> str:
    """The format of the figure file ``path`` (from its suffix), checked to be one matplotlib can write
    here; a ``ValueError`` naming the path otherwise. Cheap enough to call before any work is done."""
    suffix = Path(path).suffix.lower()
    fmt = formats().get(suffix)
    if fmt is None:
        common = ", ".join(s for s in (".png", ".svg", ".pdf", ".jpg") if s in formats())
        raise ValueError(f"Invalid {what}: {str(path)!r}; expected a figure suffix such as {common}")
    why = _can_write(fmt)
    if why is not None:
        raise ValueError(f"Invalid {what}: {str(path)!r}; matplotlib cannot write {suffix} here ({why})")
    return fmt


def render(
    fig: Figure, format: str = "png", *, dpi: int = 150, metadata: dict[str, str] | None = None
) -> bytes:
    """The figure encoded as ``format`` (any matplotlib writes: "png", "svg", "pdf", "jpg", ...)."""
    known = set(formats().values())
    if format not in known:
        raise ValueError(f"Invalid format: {format!r}; expected one of {', '.join(sorted(known))}")
    buffer = BytesIO()
    fig.savefig(buffer, format=format, dpi=dpi, bbox_inches="tight", metadata=_metadata(format, metadata))
    return buffer.getvalue()


def _metadata(fmt: str, metadata: dict[str, str] | None) -> dict[str, str] | None:
    """``metadata`` under the keys the format keeps (a description in PNG and SVG, a subject in PDF)."""
    if not metadata:
        return None
    if fmt in ("png", "svg"):
        return dict(metadata)
    if fmt == "pdf":
        return {("Subject" if k == "Description" else k): v for k, v in metadata.items()}
    return None


def save(fig: Figure, path: str | Path, *, dpi: int = 150, metadata: dict[str, str] | None = None) -> Path:
    """Write ``fig`` to ``path`` (the format from the suffix: .png, .svg, .pdf, .jpg, ... as matplotlib
    writes) and return the path. ``metadata`` (e.g. ``{"Description": the command line}``) is stored in
    the file where the format has room for it (PNG, SVG, PDF).

    The file is written to a temporary file in the same folder and moved into place with ``os.replace``,
    so a reader never sees half a figure and an interrupted save leaves the old file intact. Missing
    parent folders are created.
    """
    fmt = check_format(path)
    return atomic_write(path, render(fig, fmt, dpi=dpi, metadata=metadata))


# ---------------------------------------------------------------------------------------------------
# Inputs


def as_array(values: Any, name: str) -> np.ndarray:
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


def as_paths(paths: Paths, dim: int) -> dict[str, np.ndarray]:
    """Paths as a dict name -> (n, dim) array, cut at the first non-finite row."""
    if paths is None:
        return {}
    items = paths.items() if isinstance(paths, Mapping) else [("iterates", paths)]
    out = {}
    for name, p in items:
        arr = as_array(p, f"path {name!r}")
        if dim == 1 and arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != dim or len(arr) == 0:
            raise ValueError(f"Invalid path {name!r}: shape {arr.shape}; expected (n, {dim}) with n >= 1")
        out[str(name)] = arr
    return out


def finite_prefix(arr: np.ndarray) -> tuple[np.ndarray, bool]:
    bad = ~np.isfinite(arr).all(axis=-1)
    if not bad.any():
        return arr, False
    return arr[: int(np.argmax(bad))], True


def evaluate(f: Callable[..., Any], points: np.ndarray) -> np.ndarray:
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


def label_of(f: Callable[..., Any]) -> str:
    if isinstance(f, Function):
        return textwrap.fill(f"{f.name}: f = {f.formula}", width=64)
    return getattr(f, "__name__", "f")


def fit_range(lo: float, hi: float, points: np.ndarray, pad: float = 0.06) -> tuple[float, float]:
    """[lo, hi] widened to hold the points (with a margin on the side they leave it), but never beyond three
    widths on either side; the box itself where the points lie inside it."""
    width = hi - lo
    if not points.size:
        return lo, hi
    low = max(min(lo, float(points.min())), lo - 3 * width)
    high = min(max(hi, float(points.max())), hi + 3 * width)
    margin = pad * (high - low)
    return (low - margin if low < lo else lo), (high + margin if high > hi else hi)


def box_of(f: Callable[..., Any], box: Any, points: np.ndarray, dim: int) -> list[tuple[float, float]]:
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
        return [
            fit_range(lo, hi, points[:, i] if points.size else points) for i, (lo, hi) in enumerate(sides)
        ]
    if not points.size:
        raise ValueError("Invalid box: None; a function outside the catalogue needs a box or a path")
    sides = []
    for i in range(dim):
        lo, hi = float(points[:, i].min()), float(points[:, i].max())
        half = max(hi - lo, 1e-3 * max(1.0, abs(lo)), 1.0 if hi == lo else 0.0) / 2
        mid = (lo + hi) / 2
        sides.append((mid - 1.15 * half, mid + 1.15 * half))
    return sides


def all_points(paths: dict[str, np.ndarray]) -> np.ndarray:
    parts = [finite_prefix(p)[0] for p in paths.values()]
    parts = [p for p in parts if len(p)]
    return np.concatenate(parts) if parts else np.zeros((0, 1))


def path_label(name: str, arr: np.ndarray, diverged: bool, value: float | None) -> str:
    steps = len(arr) - 1 + (1 if diverged else 0)
    if diverged:
        return f"{name} (diverged after {len(arr)} iterates)"
    counted = f"{steps} step" + ("" if steps == 1 else "s")
    if value is None or not math.isfinite(value):
        return f"{name} ({counted})"
    return f"{name} ({counted}, f = {value:.3g})"


def legend_below(fig: Figure, handles: list[Any]) -> None:
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


def minimum_label(f: Function) -> str:
    if not f.local_minima:
        return "minimum"
    return "global minimum" if f.bounded_below else "lowest minimum in the box"


def marker_legend() -> list[Line2D]:
    return [
        Line2D([], [], ls="none", marker="o", mfc="white", mec="black", ms=7, label="start"),
        Line2D([], [], ls="none", marker="*", mfc="white", mec="black", ms=11, label="end"),
    ]


def path_style(k: int, name: str, styles: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """The k-th path's look: :func:`style` with the caller's overrides for that path (``color``,
    ``linestyle``, ``marker``, ``lw``, ``ms``, ``alpha``, ``zorder``)."""
    look = {**style(k), "lw": 1.5, "ms": 4.0, "alpha": 1.0, "zorder": 5}
    extra = dict((styles or {}).get(name, {}))
    unknown = sorted(set(extra) - set(look))
    if unknown:
        raise ValueError(f"Invalid style of path {name!r}: {unknown[0]!r}; expected one of {', '.join(look)}")
    return {**look, **extra}
