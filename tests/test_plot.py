"""Figures: every builder writes a valid, non-blank PNG and a parseable SVG, and draws what it is given."""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest
import torch
from matplotlib.colors import LogNorm

from descend import functions, plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def gd_path(f, x0, lr, steps, beta=0.0):
    """Heavy-ball iterates x ← x − lr·v, v ← βv + ∇f(x), computed here so the tests need no optimizer."""
    x = torch.tensor(x0, dtype=torch.float64)
    v = torch.zeros_like(x)
    out = [x.clone()]
    for _ in range(steps):
        x.requires_grad_(True)
        (g,) = torch.autograd.grad(f(x), x)
        x = x.detach()
        v = beta * v + g
        x = x - lr * v
        out.append(x.clone())
    return torch.stack(out)


def heavy_ball_sweep():
    lrs = torch.logspace(-2, 0.5, 12, dtype=torch.float64)
    betas = torch.linspace(0.0, 0.9, 7, dtype=torch.float64)
    lr, beta = torch.meshgrid(lrs, betas, indexing="xy")
    lam = torch.tensor([0.2, 4.0], dtype=torch.float64)
    x = torch.tensor([-5.0, -2.0], dtype=torch.float64).expand(*lr.shape, 2).clone()
    v = torch.zeros_like(x)
    for _ in range(100):
        v = beta[..., None] * v + lam * x
        x = x - lr[..., None] * v
    loss = (0.5 * lam * x**2).sum(-1)
    loss[~torch.isfinite(loss) | (loss > 1e6)] = math.inf
    return lrs, betas, loss


def builders():
    quad = functions.get("ill_conditioned")
    square = functions.get("square")
    lrs, betas, loss = heavy_ball_sweep()
    return {
        "curve": lambda: plot.curve(square, {"η = 0.2": gd_path(square, [10.0], 0.2, 8)}),
        "contour": lambda: plot.contour(
            quad,
            {
                "gd": gd_path(quad, [-5.0, -2.0], 0.4, 20),
                "momentum": gd_path(quad, [-5.0, -2.0], 0.4, 20, 0.5),
            },
        ),
        "surface": lambda: plot.surface(functions.get("saddle")),
        "sweep_map": lambda: plot.sweep_map(lrs, betas, loss, boundary=lambda lr: 4.0 * lr / 2 - 1),
        "momentum_weights": lambda: plot.momentum_weights(),
        "rmsprop_weights": lambda: plot.rmsprop_weights(),
        "schedules": lambda: plot.schedules(
            {"constant": lambda t: 0.1, "exp": lambda t: 0.1 * math.exp(-0.05 * t)}
        ),
        "loss_curves": lambda: plot.loss_curves(
            {"sgd": [(0, 1.0), (1, 0.5), (2, 0.3)], "adam": [(0, 1.0), (1, 0.1)]}
        ),
        "convexity": lambda: plot.convexity(),
    }


def check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].var() > 1e-3  # not blank


def check_svg(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 10


@pytest.mark.parametrize("name", list(builders()))
def test_each_figure_writes_png_and_svg(name, tmp_path):
    fig = builders()[name]()
    assert (fig.axes and fig.axes[0].get_title()) or fig.get_suptitle()
    check_png(plot.save(fig, tmp_path / f"{name}.png"))
    check_svg(plot.save(fig, tmp_path / f"{name}.svg"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.png", f"{name}.svg"]


def test_save_is_atomic_and_checks_the_suffix(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "fig.png"
    fig = plot.momentum_weights()
    assert plot.save(fig, target) == target
    first = target.read_bytes()
    with pytest.raises(ValueError, match=r"fig\.txt"):
        plot.save(fig, tmp_path / "fig.txt")
    assert plot.save(fig, tmp_path / "fig.jpeg").read_bytes()[:2] == b"\xff\xd8"  # any format it writes
    (tmp_path / "fig.jpeg").unlink()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        plot.save(plot.rmsprop_weights(), target)
    monkeypatch.undo()
    assert target.read_bytes() == first  # the old figure is intact
    assert [p.name for p in target.parent.iterdir()] == ["fig.png"]  # no temporary left behind
    assert plot.render(fig, "svg").lstrip().startswith(b"<?xml")
    with pytest.raises(ValueError, match="txt"):
        plot.render(fig, "txt")


def test_curve_draws_the_iterates_on_the_function():
    f = functions.get("square")
    path = gd_path(f, [10.0], 0.2, 6)
    fig = plot.curve(f, path)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    label = next(k for k in lines if k.startswith("iterates"))
    xs, ys = lines[label].get_data()
    np.testing.assert_allclose(xs, path[:, 0].numpy())
    np.testing.assert_allclose(ys, path[:, 0].numpy() ** 2)
    assert "6 steps" in label
    assert [t.get_text() for t in ax.texts] == [str(i) for i in range(7)]  # numbered points
    lo, hi = ax.get_xlim()
    assert lo <= -10 and hi >= 10


def test_curve_accepts_plain_callables_and_marks_divergence():
    path = torch.tensor([[1.0], [-2.0], [4.0], [math.inf]])
    fig = plot.curve(lambda x: x**2, {"η = 1.5": path})
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("diverged" in t for t in legend)
    lo, hi = fig.axes[0].get_xlim()
    assert lo <= -2 and hi >= 4


def test_contour_legend_box_and_levels():
    f = functions.get("himmelblau")
    fig = plot.contour(
        f, {"a": gd_path(f, [0.0, 0.0], 0.01, 30), "b": torch.tensor([[0.0, 0.0], [9.0, 1.0]])}
    )
    ax = fig.axes[0]
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("a (30 steps") for t in texts)
    assert any(t.startswith("b (1 step,") for t in texts)
    assert {"minimum", "saddle", "start", "end"} <= set(texts)
    assert ax.get_xlim()[1] >= 9.0  # the box grows to hold the paths
    # a path that runs off to 1e30 does not shrink the picture: at most three box widths each way
    wide = plot.contour(f, {"x": torch.tensor([[0.0, 0.0], [1e30, 1e30]])}).axes[0]
    assert wide.get_xlim()[1] <= 5 + 3 * 10 + 5
    # log-spaced levels for Rosenbrock's steep walls, evenly spaced ones for a quadratic bowl
    rosen = plot.contour(functions.get("rosenbrock"))
    assert isinstance(rosen.axes[0].collections[0].norm, LogNorm)
    quad = plot.contour(functions.get("quadratic"))
    assert not isinstance(quad.axes[0].collections[0].norm, LogNorm)
    levels = quad.axes[0].collections[0].levels
    assert np.allclose(np.diff(levels), np.diff(levels)[0])


def test_contour_of_a_plain_callable_fits_the_paths():
    path = torch.tensor([[3.0, 4.0], [2.0, 1.0], [0.5, 0.5]])
    ax = plot.contour(lambda x: (x**2).sum(-1), path).axes[0]
    assert ax.get_xlim()[0] <= 0.5 and ax.get_xlim()[1] >= 3.0
    assert ax.get_ylim()[0] <= 0.5 and ax.get_ylim()[1] >= 4.0
    with pytest.raises(ValueError, match="box"):
        plot.contour(lambda x: (x**2).sum(-1))


def test_sweep_map_flat_equals_grid_and_shows_divergence_and_boundary():
    lrs, betas, loss = heavy_ball_sweep()
    grid_fig = plot.sweep_map(lrs, betas, loss, boundary={"theory": lambda lr: 2 * lr - 1})
    lr_flat, beta_flat = (m.flatten() for m in torch.meshgrid(lrs, betas, indexing="xy"))
    perm = torch.randperm(lr_flat.numel(), generator=torch.Generator().manual_seed(0))
    flat_fig = plot.sweep_map(lr_flat[perm], beta_flat[perm], loss.flatten()[perm])
    a = grid_fig.axes[0].collections[0].get_array()
    b = flat_fig.axes[0].collections[0].get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
    np.testing.assert_allclose(a.compressed(), b.compressed())
    ax = grid_fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["diverged", "theory"]
    diverged = (~torch.isfinite(loss)).sum().item()
    assert 0 < diverged < loss.numel()
    assert np.ma.getmaskarray(a).sum() == diverged
    assert isinstance(ax.collections[0].norm, LogNorm)
    assert "final loss" in grid_fig.axes[1].get_ylabel()


def test_sweep_map_steps_and_errors():
    steps = np.array([[10.0, 20.0, np.inf], [5.0, np.inf, np.inf]])
    diverged = np.array([[False, False, False], [False, False, True]])
    fig = plot.sweep_map([0.1, 0.2, 0.3], [0.0, 0.5], steps, kind="steps", diverged=diverged)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == ["diverged", "tolerance not reached"]
    assert "steps" in fig.axes[1].get_ylabel()
    with pytest.raises(ValueError, match=r"shape \(2, 3\); expected \(3, 2\)"):
        plot.sweep_map([0.1, 0.2], [0.0, 0.5, 0.9], np.ones((2, 3)))
    with pytest.raises(ValueError, match="kind"):
        plot.sweep_map([0.1], [0.2], np.ones((1, 1)), kind="time")
    with pytest.raises(ValueError, match="grid"):
        plot.sweep_map([0.1, 0.1, 0.2], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0])


def test_weights_are_the_formulas():
    fig = plot.momentum_weights((0.9, 0.5), steps=20)
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), 0.9 ** np.arange(20))
    np.testing.assert_allclose(lines[1].get_ydata(), 0.5 ** np.arange(20))
    assert "10" in lines[0].get_label()  # 1/(1 − 0.9)
    fig = plot.rmsprop_weights((0.9,), steps=200)
    w = fig.axes[0].get_lines()[0].get_ydata()
    np.testing.assert_allclose(w, 0.1 * 0.9 ** np.arange(200))
    assert w.sum() == pytest.approx(1 - 0.9**200)
    with pytest.raises(ValueError, match=r"beta: 1\.0"):
        plot.momentum_weights((1.0,))
    with pytest.raises(ValueError, match="steps: 0"):
        plot.rmsprop_weights(steps=0)


def test_schedules_and_loss_curves_draw_the_values():
    fig = plot.schedules({"halving": lambda t: 0.5 ** (t // 10)}, steps=30)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.5 ** (t // 10) for t in range(30)])
    with pytest.raises(TypeError, match="halving"):
        plot.schedules({"halving": 0.5})
    fig = plot.loss_curves({"sgd": torch.tensor([[0.0, 2.0], [1.5, 1.0]])}, xlabel="seconds")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "seconds"
    np.testing.assert_allclose(ax.get_lines()[0].get_xydata(), [[0.0, 2.0], [1.5, 1.0]])
    with pytest.raises(ValueError, match="sgd"):
        plot.loss_curves({"sgd": [(0, 1.0), (1, 0.0)]}, log_y=True)
    assert plot.loss_curves({"sgd": [(0, 1.0), (1, 0.0)]}).axes[0].get_yscale() == "linear"  # a zero: linear
    empty = plot.loss_curves({"sgd": np.zeros((0, 2)), "adam": [(0, 1.0), (1, 0.5)]}).axes[0]
    assert [line.get_label() for line in empty.get_lines()] == ["sgd (no finite values)", "adam"]


def test_convexity_titles_and_shading():
    fig = plot.convexity()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["x²: convex", "cos(πx): not convex", "exp(x/2): convex"]
    shaded = [len(ax.collections) for ax in fig.axes]
    assert shaded == [0, 1, 0]
    with pytest.raises(ValueError, match="chord"):
        plot.convexity(chord=(1.0, -1.0))


def test_dimension_errors():
    with pytest.raises(ValueError, match="rosenbrock has dim 2"):
        plot.curve(functions.get("rosenbrock"))
    with pytest.raises(ValueError, match="square has dim 1"):
        plot.contour(functions.get("square"))
    with pytest.raises(ValueError, match=r"path 'p'.*\(4, 3\)"):
        plot.contour(functions.get("booth"), {"p": torch.zeros(4, 3)})


def test_figures_stay_out_of_pyplot_state():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = plot.contour(functions.get("booth"))
    assert plt.get_fignums() == before  # built without pyplot: nothing to close, nothing leaks
    assert plot.render(fig, "png")[:8] == PNG_SIGNATURE


# ---------------------------------------------------------------------------------------------------------
# Telling lines apart, maps that say something


def _look(line) -> tuple:
    return (matplotlib.colors.to_hex(line.get_color()), str(line.get_linestyle()), line.get_marker())


def test_twenty_lines_are_told_apart_by_colour_dash_and_marker():
    looks = [tuple(sorted((k, str(v)) for k, v in plot.style(k).items())) for k in range(20)]
    assert len(set(looks)) == 20
    curves = {f"optimizer {k}": [(0, 1.0 + k), (1, 0.5 + k)] for k in range(20)}
    fig = plot.loss_curves(curves)
    lines = fig.axes[0].get_lines()
    assert len({_look(line) for line in lines}) == 20
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == list(curves)
    assert len({_look(h) for h in legend.legend_handles}) == 20  # the legend's entries differ as the lines do
    # the first two (sgd and momentum in the chapter's order) and the ninth (yogi) share no colour
    assert len({plot.style(k)["color"] for k in (0, 1, 8)}) == 3


def test_a_sweep_of_a_function_with_negative_values_spans_its_colours():
    f = functions.get("styblinski_tang")  # minimum −78.33: every final value is negative
    lrs = np.linspace(0.001, 0.1, 30)
    betas = np.linspace(0.0, 0.9, 10)
    lr, beta = np.meshgrid(lrs, betas)
    x = torch.tensor([[-4.0, 4.0]], dtype=torch.float64).repeat(lr.size, 1)
    v = torch.zeros_like(x)
    lr_t, beta_t = torch.tensor(lr.ravel())[:, None], torch.tensor(beta.ravel())[:, None]
    for _ in range(60):
        xg = x.requires_grad_(True)
        (g,) = torch.autograd.grad(f(xg).sum(), xg)
        x = x.detach()
        v = beta_t * v + g
        x = x - lr_t * v
    final = f(x).detach().numpy()
    assert (final[np.isfinite(final)] < 0).all()
    fig = plot.sweep_map(lr.ravel(), beta.ravel(), final, fstar=f.fmin)
    mesh = fig.axes[0].collections[0]
    drawn = mesh.get_array().compressed()
    gap = final[np.isfinite(final)] - f.fmin
    # the data drawn is f − f*, and the colour scale covers all of it
    np.testing.assert_allclose(np.sort(drawn), np.sort(np.clip(gap, gap[gap > 0].min(), None)))
    assert mesh.norm.vmin == pytest.approx(drawn.min()) and mesh.norm.vmax == pytest.approx(drawn.max())
    assert drawn.max() / drawn.min() > 10
    colours = {tuple(np.round(c, 3)) for c in mesh.cmap(mesh.norm(drawn))}
    assert len(colours) > 20
    assert "f − f*" in fig.axes[1].get_ylabel()
    # without a known minimum: a linear scale that fits the (negative) values
    plain = plot.sweep_map(lr.ravel(), beta.ravel(), final).axes[0].collections[0]
    assert not isinstance(plain.norm, LogNorm)
    assert plain.norm.vmin == pytest.approx(np.nanmin(final)) and plain.norm.vmax == pytest.approx(
        np.nanmax(final)
    )


def test_a_sweep_of_one_hyperparameter_is_a_line():
    lrs = np.linspace(0.05, 1.2, 24)
    final = np.where(lrs < 1.0, 10.0 * np.abs(1 - 2 * lrs) ** 40 + 1e-12, np.inf)
    fig = plot.sweep_map(lrs, None, final, x_name="lr", boundary={"η = 1": 1.0})
    ax = fig.axes
    assert len(ax) == 1  # no colour bar, no empty heat map
    (curve, marks, edge) = ax[0].get_lines()
    np.testing.assert_allclose(curve.get_xdata(), lrs[lrs < 1.0])
    assert ax[0].get_yscale() == "log" and len(marks.get_xdata()) == int((lrs >= 1.0).sum())
    assert list(edge.get_xdata()) == [1.0, 1.0]
    assert {t.get_text() for t in ax[0].get_legend().get_texts()} >= {"diverged (marked on top)", "η = 1"}


def test_a_steps_map_where_no_run_reached_the_tolerance_says_so():
    steps = np.full((3, 4), np.inf)
    fig = plot.sweep_map([0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.9], steps, kind="steps", note="no run got there")
    assert [t.get_text() for t in fig.axes[0].texts] == ["no run got there"]
    assert len(fig.axes) == 1  # no colour bar without colours
    fig = plot.sweep_map([0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.9], steps, kind="steps")
    assert fig.axes[0].texts[0].get_text() == "no run reached the tolerance"


def test_a_path_can_be_drawn_so_that_another_on_top_of_it_shows():
    f = functions.get("ill_conditioned")
    path = gd_path(f, [-5.0, -2.0], 0.4, 10)
    styles = {
        "under": {"lw": 6.0, "alpha": 0.4},
        "over": {"linestyle": "--", "color": "#000000", "zorder": 9},
    }
    ax = plot.contour(f, {"under": path, "over": path}, styles=styles).axes[0]
    under = next(line for line in ax.get_lines() if line.get_label().startswith("under"))
    over = next(line for line in ax.get_lines() if line.get_label().startswith("over"))
    assert (
        under.get_linewidth() == 6.0
        and over.get_linestyle() == "--"
        and over.get_zorder() > under.get_zorder()
    )
    with pytest.raises(ValueError, match="Invalid style of path 'under': 'width'"):
        plot.contour(f, {"under": path}, styles={"under": {"width": 3}})


def test_figures_keep_the_command_that_made_them(tmp_path):
    from PIL import Image

    fig = plot.momentum_weights()
    png = plot.save(fig, tmp_path / "w.png", metadata={"Description": "descend trace quadratic -o gd"})
    assert Image.open(png).text["Description"] == "descend trace quadratic -o gd"
    svg = plot.save(fig, tmp_path / "w.svg", metadata={"Description": "descend trace quadratic -o gd"})
    assert "descend trace quadratic -o gd" in svg.read_text()
