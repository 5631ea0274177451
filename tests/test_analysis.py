"""Tests of descend.analysis: second-derivative test, convexity check, projections, GD/heavy-ball theory."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.optimize as so
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descend.analysis import (
    NotCriticalWarning,
    check_convexity,
    classify,
    converges,
    describe_point,
    effective_lr,
    eigenvalues,
    hessian,
    iteration_matrix,
    max_stable_lr,
    project_box,
    project_l1_ball,
    project_l2_ball,
    rate,
    spectral_radius,
)

ZERO2 = torch.zeros(2, dtype=torch.float64)


# ------------------------------------------------------------------------------- second-derivative test


def test_hessian_and_eigenvalues_match_closed_forms():
    def f(z):
        return z[0] ** 2 * z[1] + 3 * z[1] ** 2

    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    expected = torch.tensor([[2 * 2.0, 2 * 1.0], [2 * 1.0, 6.0]], dtype=torch.float64)
    assert torch.allclose(hessian(f, x), expected)
    assert torch.allclose(eigenvalues(f, x), torch.linalg.eigvalsh(expected))
    assert hessian(lambda t: t**3, 2.0).shape == (1, 1) and float(hessian(lambda t: t**3, 2.0)) == 12.0


@pytest.mark.parametrize(
    ("f", "x", "kind"),
    [
        (lambda z: z[0] ** 2 + z[1] ** 2, ZERO2, "minimum"),
        (lambda z: -(z[0] ** 2) - z[1] ** 2, ZERO2, "maximum"),
        (lambda z: z[0] ** 2 - z[1] ** 2, ZERO2, "saddle"),
        (lambda t: t**3, 0.0, "degenerate"),
        (lambda t: t**4, 0.0, "degenerate"),
        (lambda z: z[0] ** 2 - z[1] ** 4, ZERO2, "degenerate"),
        (lambda z: z[0] ** 2 - z[1] ** 2 + z[2] ** 4, torch.zeros(3, dtype=torch.float64), "saddle"),
        (
            lambda z: (1 - z[0]) ** 2 + 100 * (z[1] - z[0] ** 2) ** 2,
            torch.ones(2, dtype=torch.float64),
            "minimum",
        ),
    ],
)
def test_classify(f, x, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotCriticalWarning)  # every case is a critical point
        assert classify(f, x) == kind


def test_classify_warns_away_from_critical_points():
    with pytest.warns(NotCriticalWarning, match="not a critical point"):
        assert classify(lambda t: t**2, 1.0) == "minimum"
    info = describe_point(lambda t: t**2, 1.0)
    assert not info.critical and info.grad_norm == pytest.approx(2.0) and info.value == 1.0


def test_classify_chapter_saddle_x_cubed_and_monkey_saddle():
    info = describe_point(lambda z: z[0] ** 3 - 3 * z[0] * z[1] ** 2, ZERO2)
    assert info.kind == "degenerate" and info.critical and torch.allclose(info.eigenvalues, ZERO2)


# ------------------------------------------------------------------------------------------- convexity


def test_convexity_finds_a_counterexample_for_x_cos_pi_x():
    f = lambda t: t * torch.cos(math.pi * t)  # noqa: E731
    report = check_convexity(f, -2.0, 2.0)
    assert not report.convex
    c = report.counterexample
    assert c["test"] == "jensen"
    lhs = float(f(c["t"] * c["x"] + (1 - c["t"]) * c["y"]))
    rhs = c["t"] * float(f(c["x"])) + (1 - c["t"]) * float(f(c["y"]))
    assert lhs > rhs and lhs == pytest.approx(c["lhs"]) and rhs == pytest.approx(c["rhs"])
    hess_only = check_convexity(f, -2.0, 2.0, n_pairs=0, n_points=50)
    assert hess_only.counterexample["test"] == "hessian"
    x = hess_only.counterexample["x"]
    assert (
        float(hessian(f, x)) == pytest.approx(hess_only.counterexample["min_eigenvalue"])
        and float(hessian(f, x)) < 0
    )


@pytest.mark.parametrize(
    ("f", "low", "high"),
    [
        (lambda t: t**2, -3.0, 3.0),
        (torch.cosh, -3.0, 3.0),
        (lambda z: torch.logsumexp(z, 0), [-3.0, -3.0, -3.0], [3.0, 3.0, 3.0]),
        (lambda z: z[0] ** 2 + 2 * z[1] ** 2, [-5.0, -5.0], [5.0, 5.0]),
    ],
)
def test_convex_functions_have_no_counterexample(f, low, high):
    report = check_convexity(f, low, high, n_pairs=1000, n_points=50)
    assert report.convex and report.counterexample is None
    assert report.max_jensen_gap <= 1e-12 and report.min_eigenvalue >= -1e-12


def test_convexity_check_validates_its_box():
    with pytest.raises(ValueError, match="Invalid box"):
        check_convexity(torch.cosh, 1.0, 0.0)
    with pytest.raises(ValueError, match="Invalid n_pairs"):
        check_convexity(torch.cosh, 0.0, 1.0, n_pairs=-1)


# ----------------------------------------------------------------------------------------- projections


def _brute_argmin(x: np.ndarray, constraint, bounds=None) -> np.ndarray:
    res = so.minimize(
        lambda z: 0.5 * np.sum((z - x) ** 2),
        np.zeros_like(x),
        jac=lambda z: z - x,
        constraints=[constraint],
        bounds=bounds,
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    return res.x


SIGNS = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))


def test_projections_match_the_definition_on_small_cases():
    gen = np.random.default_rng(0)
    for _ in range(10):
        x = gen.normal(size=4) * 2
        r = float(gen.uniform(0.2, 2.0))
        l2 = {"type": "ineq", "fun": lambda z, r=r: r**2 - np.sum(z**2)}
        assert np.allclose(project_l2_ball(torch.tensor(x), r).numpy(), _brute_argmin(x, l2), atol=1e-5)
        # The ℓ1 ball is the polytope {z : s·z <= r for every sign vector s}.
        l1 = {"type": "ineq", "fun": lambda z, r=r: r - SIGNS @ z}
        assert np.allclose(project_l1_ball(torch.tensor(x), r).numpy(), _brute_argmin(x, l1), atol=1e-5)


def test_projection_onto_a_box_is_the_grid_argmin():
    x = torch.tensor([-3.0, 0.25, 7.0], dtype=torch.float64)
    low, high = torch.tensor([-1.0, 0.0, 0.0]), torch.tensor([1.0, 1.0, 5.0])
    grids = [
        torch.linspace(float(a), float(b), 401, dtype=torch.float64) for a, b in zip(low, high, strict=True)
    ]
    brute = torch.stack([g[torch.argmin((g - xi) ** 2)] for g, xi in zip(grids, x, strict=True)])
    assert torch.allclose(project_box(x, low, high), brute)
    with pytest.raises(ValueError, match="Invalid box"):
        project_box(x, 1.0, 0.0)


finite = st.floats(-100, 100, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(finite, min_size=1, max_size=12), st.floats(0.0, 50.0))
def test_l1_projection_properties(values, radius):
    x = torch.tensor(values, dtype=torch.float64)
    p = project_l1_ball(x, radius)
    assert float(p.abs().sum()) <= radius * (1 + 1e-12) + 1e-12
    if float(x.abs().sum()) <= radius:
        assert torch.equal(p, x)
    else:
        assert float(p.abs().sum()) == pytest.approx(radius, rel=1e-9, abs=1e-9)
    # Optimality (variational inequality): (x − p)·(z − p) <= 0 for z in the ball; the worst z is a vertex.
    grad = x - p
    worst = radius * float(grad.abs().max()) - float(grad @ p)
    assert worst <= 1e-7 * (1 + float(x.abs().sum()))
    assert torch.all(p * x >= 0)


# Radii are 0 or at least 1e-100: below that, the squares inside a norm are subnormal, and the check's own
# torch.linalg.vector_norm loses the precision the assertions ask for.
radii = st.just(0.0) | st.floats(1e-100, 50.0)


@settings(max_examples=150, deadline=None)
@given(st.lists(finite, min_size=1, max_size=12), radii)
def test_l2_projection_properties(values, radius):
    x = torch.tensor(values, dtype=torch.float64)
    p = project_l2_ball(x, radius)
    norm = float(torch.linalg.vector_norm(x))
    assert float(torch.linalg.vector_norm(p)) <= radius * (1 + 1e-12) + 1e-300
    if norm <= radius:
        assert torch.equal(p, x)
    else:
        assert torch.allclose(p, x * (radius / norm))
    # (x − p)·(z − p) <= 0 for z in the ball: the worst z is radius·(x − p)/‖x − p‖.
    grad = x - p
    worst = radius * float(torch.linalg.vector_norm(grad)) - float(grad @ p)
    assert worst <= 1e-9 * (1 + norm)


def test_projections_per_slice_and_errors():
    x = torch.tensor([[3.0, 4.0], [0.3, 0.4]], dtype=torch.float64)
    assert torch.allclose(
        project_l2_ball(x, 1.0, dim=1), torch.tensor([[0.6, 0.8], [0.3, 0.4]], dtype=x.dtype)
    )
    rows = project_l1_ball(x, 1.0, dim=1)
    assert torch.allclose(rows[0], project_l1_ball(x[0], 1.0)) and torch.allclose(rows[1], x[1])
    cols = project_l1_ball(x, 1.0, dim=0)
    assert torch.allclose(cols[:, 1], project_l1_ball(x[:, 1], 1.0))
    with pytest.raises(ValueError, match="Invalid radius: -1"):
        project_l2_ball(x, -1)
    with pytest.raises(ValueError, match="Invalid radius"):
        project_l1_ball(x, math.nan)


def test_l1_projection_example_by_hand():
    # |x| = (3, 1, 0.5), r = 2: θ solves (3 − θ) + (1 − θ)_+ + (0.5 − θ)_+ = 2 → θ = 1 (only the first stays).
    p = project_l1_ball(torch.tensor([3.0, -1.0, 0.5], dtype=torch.float64), 2.0)
    assert torch.allclose(p, torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64))


# ------------------------------------------------------------------------------- GD and momentum theory


def test_spectral_radius_matches_a_numerical_eigendecomposition():
    lr = torch.linspace(0.0, 1.5, 31, dtype=torch.float64).reshape(-1, 1, 1)
    beta = torch.linspace(0.0, 0.99, 12, dtype=torch.float64).reshape(1, -1, 1)
    lam = torch.tensor([0.1, 1.0, 2.0, 5.0], dtype=torch.float64)
    rho = spectral_radius(lr, beta, lam)
    numerical = torch.linalg.eigvals(iteration_matrix(lr, beta, lam)).abs().amax(-1)
    assert rho.shape == (31, 12, 4)
    assert torch.allclose(rho, numerical, atol=1e-6)  # eigvals of a defective T are only ~sqrt(eps) accurate


def test_gd_radius_is_one_minus_eta_lambda():
    lr = torch.linspace(-1, 3, 41, dtype=torch.float64)
    assert torch.allclose(spectral_radius(lr, 0.0, 2.0), (1 - 2.0 * lr).abs())


def _run_heavy_ball(lr: float, beta: float, lam: float, steps: int) -> list[float]:
    x, prev, out = 1.0, 1.0, []
    for _ in range(steps):
        x, prev = x - lr * lam * x + beta * (x - prev), x
        out.append(x)
    return out


@pytest.mark.parametrize(
    ("lr", "beta", "lam"),
    [
        (0.2, 0.0, 1.0),
        (0.9, 0.0, 2.0),
        (1.1, 0.0, 2.0),
        (0.5, 0.5, 1.0),
        (1.0, 0.9, 3.0),
        (2.5, 0.5, 1.0),
        (3.1, 0.5, 1.0),
    ],
)
def test_spectral_radius_matches_running_heavy_ball(lr, beta, lam):
    steps = 400
    path = _run_heavy_ball(lr, beta, lam, steps)
    rho = float(spectral_radius(lr, beta, lam))
    observed = (abs(path[-1]) + abs(path[-2])) ** (1 / steps)
    assert observed == pytest.approx(rho, rel=2e-2)
    assert bool(converges(lr, beta, [lam])) == (abs(path[-1]) < 1e-3)


def test_chapter_gd_runs_on_x_squared():
    # f(x) = x², f' = 2x: λ = 2. η = 0.2 and 0.05 converge, η = 1.1 diverges (the chapter's three runs).
    for lr, ok in ((0.2, True), (0.05, True), (1.1, False)):
        x = 10.0
        for _ in range(10):
            x -= lr * 2 * x
        assert bool(converges(lr, 0.0, 2.0)) is ok
        assert abs(x) == pytest.approx(10 * float(spectral_radius(lr, 0.0, 2.0)) ** 10)


def test_converges_matches_the_inequalities_on_a_grid():
    lr = torch.linspace(0.0, 2.0, 201, dtype=torch.float64).reshape(-1, 1)
    beta = torch.linspace(0.0, 0.98, 50, dtype=torch.float64).reshape(1, -1)
    eigs = [0.5, 2.0]
    ok = converges(lr, beta, eigs)
    assert ok.shape == (201, 50)
    expected = (lr * 2.0 < 2 + 2 * beta) & (lr > 0)
    assert torch.equal(ok, expected)
    r = rate(lr, beta, eigs)
    away = (r - 1).abs() > 1e-9
    assert torch.equal((r < 1)[away], ok[away])
    assert torch.allclose(r, torch.maximum(spectral_radius(lr, beta, 0.5), spectral_radius(lr, beta, 2.0)))


def test_boundary_and_effective_step():
    assert float(max_stable_lr([1.0, 4.0])) == 0.5
    assert torch.allclose(
        max_stable_lr([4.0], torch.tensor([0.0, 0.5, 0.9])), torch.tensor([0.5, 0.75, 0.95])
    )
    assert float(effective_lr(0.1, 0.9)) == pytest.approx(1.0)
    # Under a constant gradient, the velocity settles to g/(1 − β), so each step moves η·g/(1 − β).
    v, g = 0.0, 1.0
    for _ in range(500):
        v = 0.9 * v + g
    assert 0.1 * v == pytest.approx(float(effective_lr(0.1, 0.9)))
    assert not bool(converges(0.1, 0.5, [0.0])) and not bool(converges(0.1, 1.0, [1.0]))
    with pytest.raises(ValueError, match="Invalid eigenvalues"):
        max_stable_lr([0.0, 1.0])
    assert spectral_radius(torch.tensor([0.1], dtype=torch.float32), 0.5, 1.0).dtype == torch.float32
