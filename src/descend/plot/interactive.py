"""Interactive charts for HTML reports (plotly): hover for values, click a legend entry to hide a curve,
zoom and pan. A chart is an HTML fragment without the library; :func:`library` is plotly.js itself, which
a page inlines once (:class:`descend.report.Report` does), so the page works offline.

Each curve is a line (the median over seeds) with a shaded band (their range) in the same colour; the
two share a legend entry, so one click hides both.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from descend.plot.common import style

__all__ = ["band_chart", "library", "step_chart"]


@functools.cache
def library() -> str:
    """plotly.js, minified, to inline in a page."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _hex(color: Any) -> str:
    from matplotlib.colors import to_hex

    return to_hex(color)


def _rgba(color: Any, alpha: float) -> str:
    from matplotlib.colors import to_rgb

    r, g, b = (round(255 * c) for c in to_rgb(color))
    return f"rgba({r},{g},{b},{alpha})"


def _list(values: Any) -> list[float | None]:
    return [float(v) if math.isfinite(float(v)) else None for v in np.asarray(values, dtype=float)]


_DASH = {"-": "solid", "--": "dash", ":": "dot", "-.": "dashdot"}


def _figure(div: str, traces: list[dict], layout: dict) -> str:
    config = {"responsive": True, "displaylogo": False}
    payload = ", ".join(json.dumps(v, separators=(",", ":")) for v in (traces, layout, config))
    return (
        f'<div id="{div}" class="chart" style="width:100%;height:440px"></div>\n'
        f'<script type="text/javascript">Plotly.newPlot("{div}", {payload});</script>'
    )


def _layout(title: str, xlabel: str, ylabel: str, log_y: bool) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": xlabel}},
        "yaxis": {"title": {"text": ylabel}, "type": "log" if log_y else "linear"},
        "hovermode": "closest",
        "legend": {"title": {"text": "click to hide"}},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "template": "plotly_white",
    }


def band_chart(
    div: str,
    curves: Mapping[str, Sequence[Any]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    log_y: bool | None = None,
) -> str:
    """A chart of ``curves``: name -> ``(x, median, low, high)`` arrays, one line and band each, in the
    colours of :func:`descend.plot.common.style`. ``div`` is the element's id (unique in the page: not
    the id of the figure that holds it)."""
    traces: list[dict[str, Any]] = []
    finite = [np.asarray(c[1], dtype=float) for c in curves.values()]
    if log_y is None:
        log_y = all((v[np.isfinite(v)] > 0).all() for v in finite) and any(v.size for v in finite)
    for k, (name, (x, med, lo, hi)) in enumerate(curves.items()):
        look = style(k)
        color = look["color"]
        xs, los, his = _list(x), _list(lo), _list(hi)
        traces.append({
            "x": xs + xs[::-1], "y": his + los[::-1], "fill": "toself", "fillcolor": _rgba(color, 0.15),
            "line": {"width": 0}, "hoverinfo": "skip", "legendgroup": name, "showlegend": False,
            "name": f"{name} range", "type": "scatter", "mode": "lines",
        })  # fmt: skip
        traces.append({
            "x": xs, "y": _list(med), "name": name, "legendgroup": name, "type": "scatter",
            "mode": "lines+markers", "marker": {"size": 4},
            "line": {"color": _hex(color), "dash": _DASH.get(look["linestyle"], "dash"), "width": 2},
            "customdata": [[a, b] for a, b in zip(los, his, strict=True)],
            "hovertemplate": f"{name}<br>{xlabel} %{{x:.4g}}<br>{ylabel} %{{y:.4g}} "
            "(seeds: %{customdata[0]:.4g} to %{customdata[1]:.4g})<extra></extra>",
        })  # fmt: skip
    return _figure(div, traces, _layout(title, xlabel, ylabel + (" (log)" if log_y else ""), log_y))


def step_chart(
    div: str, curves: Mapping[str, Sequence[Any]], *, xlabel: str, ylabel: str, title: str
) -> str:
    """Step functions (a performance profile): name -> ``(x, y)``."""
    traces = []
    for k, (name, (x, y)) in enumerate(curves.items()):
        look = style(k)
        traces.append({
            "x": _list(x), "y": _list(y), "name": name, "type": "scatter", "mode": "lines",
            "line": {"shape": "hv", "color": _hex(look["color"]), "width": 2,
                     "dash": _DASH.get(look["linestyle"], "dash")},
            "hovertemplate": f"{name}<br>τ %{{x:.3g}}<br>{ylabel} %{{y:.3g}}<extra></extra>",
        })  # fmt: skip
    layout = _layout(title, xlabel, ylabel, False)
    layout["yaxis"]["range"] = [0, 1.05]  # a fraction
    return _figure(div, traces, layout)
