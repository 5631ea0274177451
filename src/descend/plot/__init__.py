"""Figures of the lab: functions with the paths optimizers take, sweep maps, weights, schedules, losses.

Every function here returns a :class:`matplotlib.figure.Figure` built without ``pyplot`` (so nothing
depends on a display or on global figure state, and figures are freed when dropped). Save one with
:func:`save` (the format chosen by the suffix, any matplotlib writes: PNG, SVG, PDF, JPEG, ...; written
whole or not at all) or turn it into bytes with :func:`render` (for embedding in HTML).

Paths are given as a tensor or array of iterates of shape (n, d) (``path[0]`` is the start), as anything
with a ``path`` attribute (a :class:`descend.result.Result`), or as a dict ``name -> path`` to draw several
at once with a legend entry each. Rows that are not finite (a run that diverged) end the drawn path, and
its legend entry says so. Lines and paths take their colour, dash and marker from :func:`style`, which
keeps up to 20 of them apart.

>>> from descend import functions, plot
>>> import torch
>>> f = functions.get("ill_conditioned")
>>> path = torch.tensor([[-5.0, -2.0], [-4.0, 1.2], [-3.2, -0.7], [-2.6, 0.4]])
>>> fig = plot.contour(f, {"gd, η = 0.4": path})
>>> plot.save(fig, "gd.png")  # doctest: +SKIP
"""

from descend.plot.common import (
    CONTOUR_CMAP,
    CURVE_COLOR,
    DIVERGED_COLOR,
    MARKERS,
    PALETTE,
    PATH_COLORS,
    UNCONVERGED_COLOR,
    check_format,
    formats,
    render,
    save,
    style,
)
from descend.plot.curves import bars, loss_curves, momentum_weights, rmsprop_weights, schedules
from descend.plot.landscapes import contour, convexity, curve, surface
from descend.plot.maps import sweep_map

__all__ = [
    "CONTOUR_CMAP",
    "CURVE_COLOR",
    "DIVERGED_COLOR",
    "MARKERS",
    "PALETTE",
    "PATH_COLORS",
    "UNCONVERGED_COLOR",
    "bars",
    "check_format",
    "contour",
    "convexity",
    "curve",
    "formats",
    "loss_curves",
    "momentum_weights",
    "render",
    "rmsprop_weights",
    "save",
    "schedules",
    "style",
    "surface",
    "sweep_map",
]
