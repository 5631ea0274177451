"""descend tour (descend.lab.tour: the chapter's figures on one page) and descend schedule."""

from __future__ import annotations

import base64
import io
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from matplotlib import image as mpimg

from descend import plot, schedules
from descend.cli import main
from descend.lab import tour

PNG = b"\x89PNG\r\n\x1a\n"


def _png_pixels(data: bytes) -> np.ndarray:
    assert data.startswith(PNG)
    return mpimg.imread(io.BytesIO(data), format="png")


def _assert_drawn(data: bytes) -> None:
    """A decodable PNG with a real picture: many distinct colours, not one flat fill."""
    pixels = _png_pixels(data)
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 300
    rgb = pixels[..., :3].reshape(-1, 3)
    assert float(rgb.std()) > 0.05
    packed = (rgb * 255).astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.uint32)
    assert len(np.unique(packed)) > 20


@pytest.fixture(scope="module")
def full_tour(tmp_path_factory: pytest.TempPathFactory) -> tuple[tour.TourResult, str]:
    out = tmp_path_factory.mktemp("tour")
    result = tour.run(out, progress=False)
    return result, result.page.read_text(encoding="utf-8")


def test_page_has_every_section_with_a_decodable_figure_and_a_caption(full_tour) -> None:
    result, page = full_tour
    names = [s.name for s in tour.sections()]
    assert list(result.figures) == names
    blocks = re.findall(r'<section id="([^"]+)">(.*?)</section>', page, flags=re.S)
    assert [name for name, _ in blocks] == names
    for name, block in blocks:
        (uri,) = re.findall(r'<img alt="[^"]+" src="data:image/png;base64,([^"]+)">', block)
        data = base64.b64decode(uri)
        _assert_drawn(data)
        # the file beside the page holds the same figure
        assert result.figures[name].read_bytes() == data
        (caption,) = re.findall(r"<figcaption>(.+?)</figcaption>", block, flags=re.S)
        assert len(caption.split()) >= 25, name
        assert "Notice" in caption, name
    # self-contained: nothing loaded from elsewhere, no scripts
    assert "<script" not in page and 'src="http' not in page
    # atomic writes leave no temporary files behind
    leftovers = [p.name for p in result.page.parent.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert result.summary().endswith(str(result.page))


def test_gd_on_square_follows_the_closed_form() -> None:
    panel = tour.get("gd-1d").build()
    k = np.arange(11)
    for lr in (0.2, 0.05):
        path = panel.data["paths"][f"η = {lr:g}"][:, 0]
        np.testing.assert_allclose(path, 10 * (1 - 2 * lr) ** k, rtol=1e-12)
    # the figure draws those iterates at (x_k, x_k²)
    drawn = [line for line in panel.figure.axes[0].get_lines() if line.get_label().startswith("η = 0.2")]
    np.testing.assert_allclose(drawn[0].get_xdata(), 10 * 0.6**k, rtol=1e-12)
    np.testing.assert_allclose(drawn[0].get_ydata(), (10 * 0.6**k) ** 2, rtol=1e-12)
    over = tour.get("gd-overshoot").build().data["paths"]["η = 1.1"][:, 0]
    np.testing.assert_allclose(over, 10 * (-1.2) ** k, rtol=1e-12)


def test_newton_on_cosh_converges_to_zero_quadratically() -> None:
    path = tour.get("newton-cosh").build().data["paths"]["Newton, η = 1"][:, 0]
    assert path[0] == 10.0
    # x ← x − f'/f'' = x − 2·tanh(x/2), computed here step by step
    x, expected = 10.0, [10.0]
    for _ in range(10):
        x -= 2 * math.tanh(x / 2)
        expected.append(x)
    # absolute tolerance: the last steps subtract nearly equal numbers (x − 2·tanh(x/2) ≈ x³/12)
    np.testing.assert_allclose(path, expected, rtol=1e-12, atol=1e-20)
    assert abs(path[-1]) < 1e-15
    # near 0 the error is cubed each step (f''' = 0 at the minimum): e_(k+1) ≈ e_k³/12
    assert abs(path[7]) == pytest.approx(abs(path[6]) ** 3 / 12, rel=1e-2)


def test_adagrad_and_rmsprop_reproduce_the_chapter() -> None:
    paths = tour.get("adagrad-rmsprop").build().data["paths"]
    # the book prints: adagrad epoch 20, x1: -2.382563, x2: -0.158591; rmsprop x1: -0.010599, x2: 0.000000
    np.testing.assert_allclose(paths["AdaGrad, η = 0.4"][-1], [-2.382563, -0.158591], atol=1e-6)
    np.testing.assert_allclose(paths["RMSProp, η = 0.4, γ = 0.9"][-1], [-0.010599, 0.0], atol=1e-6)


def test_momentum_paths_follow_the_heavy_ball_recursion() -> None:
    paths = tour.get("momentum").build().data["paths"]
    x, v = np.array([-5.0, -2.0]), np.zeros(2)
    expected = [x.copy()]
    for _ in range(20):
        v = 0.5 * v + np.array([0.2, 4.0]) * x
        x = x - 0.6 * v
        expected.append(x.copy())
    np.testing.assert_allclose(paths["momentum, η = 0.6, β = 0.5"], expected, rtol=1e-10, atol=1e-12)


def test_noisy_sgd_exponential_rate_freezes_and_polynomial_gets_closer() -> None:
    exp_path = tour.get("sgd-exponential").build().data["paths"]
    (path,) = exp_path.values()
    assert len(path) == 1001
    # after step 50 the remaining rates sum to 0.1·e^(−5)/(1 − e^(−0.1)) ≈ 7e-3: the iterates barely move
    assert np.abs(path[1000] - path[50]).max() < 0.05
    assert np.linalg.norm(path[1000]) > 0.2
    constant = next(iter(tour.get("sgd-constant").build().data["paths"].values()))
    polynomial = next(iter(tour.get("sgd-polynomial").build().data["paths"].values()))
    assert len(constant) == len(polynomial) == 51
    assert np.linalg.norm(polynomial[-25:], axis=1).mean() < np.linalg.norm(constant[-25:], axis=1).mean()


def test_sweep_map_agrees_with_theory() -> None:
    panel = tour.get("sweep-map").build()
    assert panel.data["agreement"] >= 0.98
    r = panel.data["result"]
    # ηλmax < 2 + 2β with λmax = 4, checked directly on a few rows well inside each region
    lr, beta = r.grid["lr"], r.grid["momentum"]
    stable = 4 * lr < 2 + 2 * beta - 0.3
    unstable = 4 * lr > 2 + 2 * beta + 0.3
    assert bool((~r.diverged[stable]).all()) and bool(r.diverged[unstable].all())


def test_svg_format_and_a_subset_of_sections(tmp_path: Path) -> None:
    result = tour.run(tmp_path, format="svg", progress=False, only=["saddle-1d", "schedules-cosine"])
    assert list(result.figures) == ["saddle-1d", "schedules-cosine"]
    page = result.page.read_text(encoding="utf-8")
    uris = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert len(uris) == 2
    for uri, path in zip(uris, result.figures.values(), strict=True):
        data = base64.b64decode(uri)
        assert data == path.read_bytes() and path.suffix == ".svg"
        root = ET.fromstring(data)
        assert root.tag.endswith("svg") and len(list(root.iter())) > 50


def test_run_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Invalid format: 'jpg'"):
        tour.run(tmp_path, format="jpg")
    with pytest.raises(ValueError, match="Invalid section: 'nope'"):
        tour.run(tmp_path, only=["nope"])
    with pytest.raises(ValueError, match="Invalid dpi"):
        tour.run(tmp_path, dpi=0)
    assert not (tmp_path / "tour.html").exists()


def test_tour_command(tmp_path: Path) -> None:
    out = tmp_path / "t"
    result = CliRunner().invoke(main, ["tour", "--out", str(out), "--section", "gd-1d", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].endswith(str(out / "tour.html"))
    assert (out / "figures" / "06-gd-1d.png").read_bytes().startswith(PNG)
    bad = CliRunner().invoke(main, ["tour", "--out", str(out), "--format", "gif"])
    assert bad.exit_code == 2 and "--format" in bad.output


# ---------------------------------------------------------------------------------------------------------
# descend schedule


def _table(output: str) -> list[list[str]]:
    lines = output.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line) <= {"-", " "} and "-" in line)
    width = len(lines[rule - 1].split())
    rows = []
    for line in lines[rule + 1 :]:
        cells = line.split()
        if len(cells) != width or not cells[0].isdigit():
            break
        rows.append(cells)
    return rows


def test_schedule_command_cosine_with_warmup(tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    args = ["schedule", "cosine", "--base-lr", "0.3", "--final-lr", "0.01", "--max-steps", "20",
            "--warmup-steps", "5", "--show", "25", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    _assert_drawn(out.read_bytes())
    rows = _table(result.output)
    assert [int(r[0]) for r in rows] == list(range(25))
    for t, row in enumerate(rows):
        if t < 5:
            want = 0.3 * t / 5
        elif t <= 20:
            want = 0.01 + (0.3 - 0.01) * (1 + math.cos(math.pi * (t - 5) / 15)) / 2
        else:
            want = 0.01
        assert float(row[1]) == pytest.approx(want, rel=1e-5, abs=1e-12), t
    assert "cosine(base_lr=0.3, max_steps=20, final_lr=0.01, warmup_steps=5" in result.output
    assert result.output.strip().splitlines()[-1].endswith(str(out))


def test_schedule_command_several_schedules(tmp_path: Path) -> None:
    out = tmp_path / "s.svg"
    args = ["schedule", "factor:factor=0.9,stop_factor_lr=0.2", "multi_factor:milestones=3,6,factor=0.5",
            "polynomial", "--base-lr", "0.5", "--set", "beta=0.1", "--steps", "12", "--show", "8",
            "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert ET.fromstring(out.read_bytes()).tag.endswith("svg")
    rows = _table(result.output)
    assert len(rows) == 8
    for t, (step, fac, multi, poly) in enumerate(rows):
        assert int(step) == t
        assert float(fac) == pytest.approx(max(0.2, 0.5 * 0.9**t), rel=1e-5)
        assert float(multi) == pytest.approx(0.5 * 0.5 ** ((t >= 3) + (t >= 6)), rel=1e-5)
        assert float(poly) == pytest.approx(0.5 * (0.1 * t + 1) ** -0.5, rel=1e-5)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["cosine", "--base-lr", "-1", "--max-steps", "5"], "--base-lr"),
        (["cosine", "--base-lr", "0.1"], "--max-steps"),
        (["bogus"], "NAME"),
        (["join"], "NAME"),
        (["exponential", "--base-lr", "1", "--rate", "0.1", "--factor", "0.5"], "--factor"),
        (["cosine:max_steps=x", "--base-lr", "1"], "max_steps"),
        (["cosine:nope=1", "--base-lr", "1", "--max-steps", "3"], "nope"),
        (["cosine", "--base-lr", "1", "--max-steps", "3", "--set", "foo=1"], "--set foo"),
        (["cosine", "--base-lr", "1", "--max-steps", "0"], "--max-steps"),
        (["multi_factor", "--base-lr", "1", "--factor", "0.5", "--milestones", "5,3"], "milestones"),
        (["exponential", "--base-lr", "1", "--rate", "0.1", "--out", "x.docx"], "--out"),
        (["cosine", "--base-lr", "1", "--max-steps", "5", "--log-y"], "--log-y"),
    ],
)
def test_schedule_command_bad_arguments(tmp_path: Path, args: list[str], named: str) -> None:
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "s.png")]
    result = CliRunner().invoke(main, ["schedule", *args])
    assert result.exit_code == 2, result.output
    assert "Error" in result.output and named in result.output
    assert "Traceback" not in result.output


def test_schedule_help_lists_every_schedule() -> None:
    text = CliRunner().invoke(main, ["schedule", "--help"]).output
    listed = re.search(r"NAME is one of: (.*?)\.", text, flags=re.S).group(1)
    assert [n.strip() for n in listed.replace("\n", " ").split(",")] == [
        n for n in schedules.names() if n != "join"
    ]


def test_schedule_figure_draws_each_step_as_a_level() -> None:
    cos = schedules.cosine(0.3, max_steps=20, final_lr=0.01)
    fig = plot.schedules({"cosine": cos}, 25, stairs=True)
    (line,) = fig.axes[0].get_lines()
    assert line.get_drawstyle() == "steps-post"
    np.testing.assert_allclose(line.get_ydata(), cos(torch.arange(25)).numpy(), rtol=1e-12)
