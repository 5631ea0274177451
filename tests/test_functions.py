"""The function catalogue: critical points, broadcasting, dtypes, errors, families."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.optimize import rosen, rosen_der

from descend import functions
from descend.functions import Function

NAMES = functions.names()


def grad(f: Function, p: tuple[float, ...]) -> torch.Tensor:
    x = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(x), x)
    return g


def hessian(f: Function, p: tuple[float, ...]) -> torch.Tensor:
    return torch.autograd.functional.hessian(f, torch.tensor(p, dtype=torch.float64))


def value(f: Function, p: tuple[float, ...]) -> float:
    return float(f(torch.tensor(p, dtype=torch.float64)))


def box_points(f: Function, n: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """n uniform points in the plotting box (every coordinate beyond the second uses the second's range)."""
    box = [f.box] if f.dim == 1 else list(f.box)
    box = box + [box[-1]] * (f.dim - len(box))
    lo = torch.tensor([b[0] for b in box], dtype=torch.float64)
    hi = torch.tensor([b[1] for b in box], dtype=torch.float64)
    return (lo + (hi - lo) * torch.rand(n, f.dim, generator=generator, dtype=torch.float64)).to(dtype)


def test_catalogue_has_the_chapter_and_the_classics():
    assert len(NAMES) >= 25
    assert len(set(NAMES)) == len(NAMES)
    for name in [
        "square", "risk", "empirical_risk", "xcos", "cosh", "cube", "tanh", "quadratic", "ill_conditioned",
        "ill_conditioned_rotated", "saddle", "logexp", "x2sin", "rosenbrock", "beale", "himmelblau",
        "rastrigin", "booth", "matyas", "three_hump_camel", "styblinski_tang", "ackley", "goldstein_price",
        "mccormick", "sphere", "six_hump_camel", "easom", "levi13", "bohachevsky",
    ]:  # fmt: skip
        assert name in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_attributes_are_consistent(name):
    f = functions.get(name)
    assert f.name == name
    assert functions.get(name) is f
    assert isinstance(f.formula, str) and f.formula
    assert isinstance(f.description, str) and f.description and "\n" not in f.description
    assert len(f.start) == f.dim
    boxes = [f.box] if f.dim == 1 else list(f.box)
    assert len(boxes) == min(f.dim, 2)
    for (lo, hi), s in zip(boxes, f.start, strict=False):
        assert lo < hi
        assert lo <= s <= hi
    for p in f.minima + f.local_minima + f.maxima + f.saddles:
        assert len(p) == f.dim
    assert (f.fmin is None) == (not f.minima)


@pytest.mark.parametrize("name", NAMES)
def test_minimizers_have_zero_gradient_and_the_documented_value(name):
    f = functions.get(name)
    for m in f.minima:
        fm = value(f, m)
        assert fm == pytest.approx(f.fmin, rel=1e-12, abs=1e-12)
        assert grad(f, m).abs().max() <= 1e-9 * max(1.0, abs(fm))


@pytest.mark.parametrize("name", NAMES)
def test_minimizers_are_minima_nearby(name):
    f = functions.get(name)
    gen = torch.Generator().manual_seed(0)
    for m in f.minima + f.local_minima:
        centre = torch.tensor(m, dtype=torch.float64)
        around = centre + 1e-3 * (2 * torch.rand(200, f.dim, generator=gen, dtype=torch.float64) - 1)
        assert (f(around) >= value(f, m) - 1e-14).all()


@pytest.mark.parametrize("name", [n for n in NAMES if functions.get(n).local_minima])
def test_local_minima_are_strict_critical_points(name):
    f = functions.get(name)
    for m in f.local_minima:
        assert grad(f, m).abs().max() <= 1e-9 * max(1.0, abs(value(f, m)))
        assert torch.linalg.eigvalsh(hessian(f, m).reshape(f.dim, f.dim)).min() > 0
        assert value(f, m) > f.fmin


@pytest.mark.parametrize("name", [n for n in NAMES if functions.get(n).maxima or functions.get(n).saddles])
def test_maxima_and_saddles(name):
    f = functions.get(name)
    for p in f.maxima + f.saddles:
        assert grad(f, p).abs().max() <= 1e-9 * max(1.0, abs(value(f, p)))
    for p in f.maxima:
        assert torch.linalg.eigvalsh(hessian(f, p).reshape(f.dim, f.dim)).max() < 0
    for p in f.saddles:
        # not an extremum: some nearby point is lower and some higher
        centre = torch.tensor(p, dtype=torch.float64)
        gen = torch.Generator().manual_seed(1)
        vals = f(centre + 1e-2 * (2 * torch.rand(2000, f.dim, generator=gen, dtype=torch.float64) - 1))
        assert (vals < value(f, p)).any() and (vals > value(f, p)).any()


WITH_MINIMUM = [n for n in NAMES if functions.get(n).fmin is not None]


@pytest.mark.parametrize("name", WITH_MINIMUM)
def test_nothing_in_the_box_is_below_the_minimum(name):
    # for a function unbounded below, fmin is the lowest minimum in the box: it must be the lowest point there
    f = functions.get(name)
    pts = box_points(f, 20000, torch.Generator().manual_seed(2))
    if f.dim == 1:  # the ends of the box too
        pts = torch.cat([pts, torch.tensor([[f.box[0]], [f.box[1]]], dtype=pts.dtype)])
    assert f(pts).min() >= f.fmin - 1e-12 * max(1.0, abs(f.fmin))


def test_literature_values():
    """Minima as the test-function literature tabulates them (Jamil & Yang 2013, Surjanovic & Bingham)."""
    table = {
        "six_hump_camel": (-1.031628453, (0.0898, -0.7126)),
        "styblinski_tang": (-39.16616570 * 2, (-2.903534, -2.903534)),
        "mccormick": (-1.913222955, (-0.54719, -1.54719)),
        "goldstein_price": (3.0, (0.0, -1.0)),
        "easom": (-1.0, (math.pi, math.pi)),
        "beale": (0.0, (3.0, 0.5)),
        "booth": (0.0, (1.0, 3.0)),
        "levi13": (0.0, (1.0, 1.0)),
    }
    for name, (fmin, argmin) in table.items():
        f = functions.get(name)
        assert f.fmin == pytest.approx(fmin, abs=1e-6)
        assert any(all(abs(a - b) < 1e-4 for a, b in zip(m, argmin, strict=True)) for m in f.minima), name
    himmelblau = functions.get("himmelblau")
    expected = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
    assert len(himmelblau.minima) == 4
    for e in expected:
        assert any(all(abs(a - b) < 1e-6 for a, b in zip(m, e, strict=True)) for m in himmelblau.minima)
    assert himmelblau.maxima[0] == pytest.approx((-0.270845, -0.923039), abs=1e-6)


def test_chapter_closed_forms():
    logexp = functions.get("logexp")
    x = math.log(2) / 3 - 1
    assert logexp.minima[0][0] == pytest.approx(x, abs=1e-15)
    assert logexp.fmin == pytest.approx(math.log(math.exp(x) + math.exp(-2 * x - 3)), rel=1e-15)
    # x·cos(πx) on [-1, 2]: the chapter's global minimum near 1.09 and local minimum near -0.27
    risk = functions.get("risk")
    assert risk.minima[0][0] == pytest.approx(1.0904, abs=1e-4)
    assert risk.local_minima[0][0] == pytest.approx(-0.2739, abs=1e-4)
    x2sin = functions.get("x2sin")
    expected = [-5 * math.pi / 2, -math.pi / 2, 0.0, 3 * math.pi / 2]
    assert sorted(m[0] for m in x2sin.minima) == pytest.approx(expected)
    assert x2sin.minima[0] == (0.0,)
    assert functions.get("cosh").fmin == 1.0
    assert functions.get("cube").saddles == [(0.0,)] and functions.get("cube").fmin is None


@pytest.mark.parametrize("name", NAMES)
def test_broadcasting_equals_elementwise(name):
    f = functions.get(name)
    pts = box_points(f, 12, torch.Generator().manual_seed(3)).reshape(3, 4, f.dim)
    batched = f(pts)
    assert batched.shape == (3, 4)
    single = torch.stack([torch.stack([f(pts[i, j]) for j in range(4)]) for i in range(3)])
    assert single.shape == (3, 4)
    torch.testing.assert_close(batched, single, rtol=1e-14, atol=1e-14)
    assert f(pts[0, 0]).shape == ()
    assert f(pts[:0].reshape(0, f.dim)).shape == (0,)


@pytest.mark.parametrize("name", NAMES)
def test_float32_agrees_with_float64_and_is_differentiable(name):
    f = functions.get(name)
    # round the points to float32 first, so only the arithmetic differs
    pts = box_points(f, 64, torch.Generator().manual_seed(4)).float().double()
    y64 = f(pts)
    x32 = pts.float().requires_grad_(True)
    y32 = f(x32)
    assert y32.dtype == torch.float32 and y64.dtype == torch.float64
    scale = 1.0 + y64.abs()
    # float32 carries ~7 digits; Goldstein–Price's polynomial product loses one or two to cancellation
    assert ((y32.double() - y64).abs() / scale).max() < 1e-4
    (g32,) = torch.autograd.grad(y32.sum(), x32)
    x64 = pts.clone().requires_grad_(True)
    (g64,) = torch.autograd.grad(f(x64).sum(), x64)
    assert torch.isfinite(g32).all()
    assert ((g32.double() - g64).abs() / (1.0 + g64.abs())).max() < 1e-3


def test_gradients_match_finite_differences():
    gen = torch.Generator().manual_seed(5)
    for name in NAMES:
        f = functions.get(name)
        x = box_points(f, 1, gen)[0]
        g = grad(f, tuple(x.tolist()))
        h = 1e-6
        for i in range(f.dim):
            e = torch.zeros(f.dim, dtype=torch.float64)
            e[i] = h
            fd = (f(x + e) - f(x - e)) / (2 * h)
            assert float(g[i]) == pytest.approx(float(fd), rel=1e-5, abs=1e-5 * (1 + abs(float(f(x))))), name


def test_ackley_has_subgradient_zero_at_its_kink():
    f = functions.get("ackley")
    assert not f.smooth
    assert grad(f, (0.0, 0.0)).tolist() == [0.0, 0.0]
    assert float(f(torch.zeros(2, dtype=torch.float64))) == pytest.approx(0.0, abs=1e-15)


def test_rosenbrock_matches_scipy_in_any_dimension():
    f = functions.get("rosenbrock", dim=6)
    assert f.dim == 6 and f.name == "rosenbrock(dim=6)"
    x = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    assert float(f(x)) == pytest.approx(rosen(x.numpy()), rel=1e-14)
    assert grad(f, tuple(x.tolist())).numpy() == pytest.approx(rosen_der(x.numpy()), rel=1e-12)
    assert f.minima == [(1.0,) * 6] and grad(f, f.minima[0]).abs().max() == 0


def test_families():
    xcos = functions.get("xcos")
    assert "0.15π" in xcos.formula and xcos.start == (10.0,)
    x = torch.tensor([[2.0]], dtype=torch.float64)
    assert float(xcos(x)) == pytest.approx(2.0 * math.cos(0.15 * math.pi * 2.0), rel=1e-15)
    xpi = functions.get("xcos", c=math.pi)
    assert xpi.name != "xcos"
    assert float(xpi(x)) == pytest.approx(2.0, rel=1e-15)
    # the family member with c = π is the chapter's risk: its minima in [-1, 2] are found in the wider box
    found = [m[0] for m in xpi.minima + xpi.local_minima]
    risk = functions.get("risk")
    for m in risk.minima + risk.local_minima:
        assert min(abs(m[0] - v) for v in found) < 1e-12
    cosh = functions.get("cosh", c=2.0)
    assert float(cosh(x)) == pytest.approx(math.cosh(4.0), rel=1e-15)
    st = functions.get("styblinski_tang", dim=3)
    assert st.fmin == pytest.approx(-39.16616570377142 * 3, rel=1e-12)
    assert grad(st, st.minima[0]).abs().max() < 1e-12
    assert functions.get("rastrigin", dim=1).box == (-5.12, 5.12)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: functions.get("nope"), ValueError, ["nope", "rosenbrock"]),
        (lambda: functions.get("xcos", c=-1.0), ValueError, ["c", "-1.0"]),
        (lambda: functions.get("xcos", k=1.0), ValueError, ["xcos", "k"]),
        (lambda: functions.get("rosenbrock", dim=1), ValueError, ["dim", "1"]),
        (lambda: functions.get("sphere", dim=2.5), ValueError, ["dim", "2.5"]),
    ],
)
def test_get_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    for w in words:
        assert w in str(info.value)


def test_shape_and_dtype_errors_name_the_function_and_the_shape():
    f = functions.get("himmelblau")
    with pytest.raises(ValueError, match=r"himmelblau.*\(4, 3\).*\(\.\.\., 2\)"):
        f(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"himmelblau.*\(\)"):
        f(torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"himmelblau.*torch.int64"):
        f(torch.zeros(2, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"himmelblau.*list"):
        f([1.0, 2.0])
    square = functions.get("square")
    with pytest.raises(ValueError, match=r"square.*\(5,\).*\(\.\.\., 1\)"):
        square(torch.zeros(5))
    assert square(torch.zeros(5, 1)).shape == (5,)


def test_command_lists_every_function():
    from click.testing import CliRunner

    from descend.cli import main

    result = CliRunner().invoke(main, ["functions"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    listed = {line.split()[0] for line in lines[2:] if line and not line.startswith("*")}
    assert listed == set(NAMES)
    row = next(line for line in lines if line.startswith("goldstein_price "))
    assert row.split()[1:4] == ["2", "3", "(0,"] and row.endswith(functions.get("goldstein_price").formula)
    assert "-1.91322*" in next(line for line in lines if line.startswith("mccormick "))
    detail = CliRunner().invoke(main, ["functions", "himmelblau"])
    assert detail.exit_code == 0 and "saddles: (0.0866775, 2.88425)" in detail.output
    bad = CliRunner().invoke(main, ["functions", "nope"])
    assert bad.exit_code == 2 and "'nope'" in bad.output


def test_table_cuts_formulas_to_the_width():
    text = functions.table(width=90)
    assert all(len(line) <= 90 for line in text.splitlines())
    assert any(line.endswith("…") for line in text.splitlines())
    assert all(name in text for name in NAMES)
