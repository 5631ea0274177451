"""descend.minimize: the chapter's runs, Newton, line searches, preconditioning, optimizers, failures."""

from __future__ import annotations

import math

import pytest
import torch

import descend
from descend import functions, minimize, optim, schedules, sweep

C = 0.15 * math.pi


def xcos_derivatives(x: float) -> tuple[float, float]:
    """f'(x) and f''(x) of f(x) = x·cos(cx)."""
    d1 = math.cos(C * x) - C * x * math.sin(C * x)
    d2 = -2 * C * math.sin(C * x) - C * C * x * math.cos(C * x)
    return d1, d2


def expected_path(x0: float, update, steps: int = 10) -> list[float]:
    xs = [x0]
    for _ in range(steps):
        xs.append(update(xs[-1]))
    return xs


def path_1d(result) -> list[float]:
    return result.path.reshape(len(result.path)).tolist()


# ------------------------------------------------------------------------------------------------------
# The chapter's values


@pytest.mark.parametrize("lr", [0.2, 0.05, 1.1])
def test_gd_on_square_matches_the_update_written_out(lr):
    r = minimize(functions.get("square"), [10.0], "gd", steps=10, lr=lr)
    want = expected_path(10.0, lambda x: x - lr * 2 * x)
    assert path_1d(r) == pytest.approx(want, rel=1e-14, abs=1e-14)
    assert r.nit == 10 and r.nfev == 11 and r.njev == 11 and r.nhev == 0
    assert r.values.tolist() == pytest.approx([x * x for x in want], rel=1e-13)
    assert r.grad_norms.tolist() == pytest.approx([abs(2 * x) for x in want], rel=1e-13)
    assert r.success
    # η = 0.2 ends at 10·0.6^10 = 0.06047 (the chapter's "epoch 10, x: 0.060466"); η = 1.1 moves away.
    if lr == 0.2:
        assert float(r.x[0]) == pytest.approx(0.060466176, rel=1e-8)
    if lr == 1.1:
        assert abs(float(r.x[0])) == pytest.approx(10 * 1.2**10, rel=1e-12)


def test_gd_on_xcos_with_lr_2():
    r = minimize(functions.get("xcos"), [10.0], "gd", steps=10, lr=2.0)
    want = expected_path(10.0, lambda x: x - 2.0 * xcos_derivatives(x)[0])
    assert path_1d(r) == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_newton_on_cosh():
    r = minimize(functions.get("cosh"), [10.0], "newton", steps=10, lr=1.0)
    want = expected_path(10.0, lambda x: x - (0.5 * math.sinh(0.5 * x)) / (0.25 * math.cosh(0.5 * x)))
    assert path_1d(r) == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert abs(float(r.x[0])) < 1e-10  # converges to the minimum at 0
    assert r.nhev == 10


@pytest.mark.parametrize("lr", [1.0, 0.5])
def test_plain_newton_on_xcos_is_the_textbook_step(lr):
    r = minimize(lambda x: x * torch.cos(C * x), 10.0, "newton", steps=10, lr=lr)

    def update(x):
        d1, d2 = xcos_derivatives(x)
        return x - lr * d1 / d2

    want = expected_path(10.0, update)
    assert path_1d(r) == pytest.approx(want, rel=1e-10, abs=1e-10)
    d1, d2 = xcos_derivatives(want[-1])
    if lr == 1.0:
        # The full step overshoots into a region where f'' < 0 and then converges to a local maximum.
        assert abs(d1) < 1e-8 and d2 < 0 and float(r.values[-1]) > float(r.values[0]) + 20
    else:
        # The half step stays where f'' > 0 and heads for the local minimum near 7.27.
        assert d2 > 0 and float(r.values[-1]) < float(r.values[0]) - 6.9


def test_newton_abs_takes_the_absolute_second_derivative():
    r = minimize(functions.get("xcos"), [10.0], "newton-abs", steps=10, lr=0.5)

    def update(x):
        d1, d2 = xcos_derivatives(x)
        return x - 0.5 * d1 / abs(d2)

    assert path_1d(r) == pytest.approx(expected_path(10.0, update), rel=1e-10, abs=1e-10)
    assert r.values[-1] < r.values[0]


# ------------------------------------------------------------------------------------------------------
# Newton with line searches, the search conditions along the path


@pytest.mark.parametrize("method", ["newton-armijo", "newton-wolfe", "newton-exact"])
def test_newton_with_a_line_search_solves_rosenbrock(method):
    r = minimize(functions.get("rosenbrock"), [-1.2, 1.0], method, steps=100, tol=1e-8)
    assert r.success, r.message
    assert r.nit <= 40
    assert torch.allclose(r.x, torch.tensor([1.0, 1.0], dtype=torch.float64), atol=1e-8)
    assert float(r.grad_norms[-1]) <= 1e-8
    assert r.nhev == r.nit
    # f decreases at every step of a line-search method.
    assert bool((r.values[1:] <= r.values[:-1]).all())


def test_a_search_that_lands_on_the_minimum_exactly_succeeds():
    # Without tol the run goes on until ∇f = 0 exactly, where no search can decrease f: that is success.
    r = minimize(functions.get("rosenbrock"), [-1.2, 1.0], "newton-wolfe", steps=60)
    assert r.success and "exactly 0" in r.message and r.nit < 60
    assert r.x.tolist() == [1.0, 1.0]


def test_line_search_option_equals_the_method_suffix():
    f = functions.get("rosenbrock")
    a = minimize(f, [-1.2, 1.0], "newton", steps=50, tol=1e-8, line_search="armijo")
    b = minimize(f, [-1.2, 1.0], "newton-armijo", steps=50, tol=1e-8)
    assert torch.equal(a.path, b.path) and a.nfev == b.nfev


def test_newton_line_search_is_safe_where_the_hessian_is_indefinite():
    # From x = 10, f''(x) < 0 on x·cos(cx): plain Newton climbs; with a search the direction is made
    # descending (|f''|) and f decreases every step to a local minimum.
    f = functions.get("xcos")
    r = minimize(f, [10.0], "newton-armijo", steps=50, tol=1e-10)
    assert r.success, r.message
    assert bool((r.values[1:] <= r.values[:-1]).all())
    d1, d2 = xcos_derivatives(float(r.x[0]))
    assert abs(d1) < 1e-9 and d2 > 0
    damped = minimize(f, [10.0], "newton-wolfe", steps=50, tol=1e-10, modify="damp")
    assert damped.success and float(damped.x[0]) == pytest.approx(float(r.x[0]), abs=1e-8)


def _grad(f, x):
    z = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(z), z)
    return g


PROBLEMS = [
    ("rosenbrock", [-1.2, 1.0]),
    ("beale", [1.0, 1.5]),
    ("himmelblau", [0.5, -1.0]),
    ("ill_conditioned_rotated", [-5.0, -2.0]),
    ("logexp", [2.0]),
    ("three_hump_camel", [-2.0, 2.0]),
]


@pytest.mark.parametrize(("name", "start"), PROBLEMS)
def test_gd_armijo_steps_satisfy_the_armijo_condition(name, start):
    f = functions.get(name)
    r = minimize(f, start, "gd-armijo", steps=30, c1=1e-4)
    assert r.nit == 30 or r.success
    alphas = r.extra["step_sizes"]
    for k in range(r.nit):
        x, x_new = r.path[k], r.path[k + 1]
        g = _grad(f, x)
        alpha = float(alphas[k])
        assert torch.allclose(x_new, x - alpha * g, rtol=0, atol=1e-12)
        slope = -float(g @ g)
        assert float(f(x_new)) <= float(f(x)) + 1e-4 * alpha * slope
        # Backtracking from 1 by halves: the accepted α is a power of 1/2, and 2α failed (if α < 1).
        assert math.log2(alpha) == round(math.log2(alpha))
        if alpha < 1.0:
            assert float(f(x - 2 * alpha * g)) > float(f(x)) + 1e-4 * 2 * alpha * slope


@pytest.mark.parametrize(("name", "start"), PROBLEMS)
def test_gd_wolfe_steps_satisfy_the_strong_wolfe_conditions(name, start):
    f = functions.get(name)
    r = minimize(f, start, "gd-wolfe", steps=30, c1=1e-4, c2=0.9)
    alphas = r.extra["step_sizes"]
    assert len(alphas) == r.nit > 0
    for k in range(r.nit):
        x, x_new = r.path[k], r.path[k + 1]
        g = _grad(f, x)
        d = -g
        alpha = float(alphas[k])
        assert torch.allclose(x_new, x + alpha * d, rtol=0, atol=1e-12)
        assert float(f(x_new)) <= float(f(x)) + 1e-4 * alpha * float(g @ d)
        assert abs(float(_grad(f, x_new) @ d)) <= 0.9 * abs(float(g @ d)) + 1e-15


def test_gd_exact_line_search_on_a_quadratic_takes_the_exact_step():
    # On f = ½xᵀAx the exact step along −g is gᵀg / gᵀAg.
    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)

    def f(x):
        return 0.5 * x @ a @ x

    r = minimize(f, [4.0, -3.0], "gd-exact", steps=5)
    for k in range(5):
        g = a @ r.path[k]
        assert float(r.extra["step_sizes"][k]) == pytest.approx(float(g @ g / (g @ a @ g)), rel=1e-6)
    golden = minimize(f, [4.0, -3.0], "gd-golden", steps=5)
    assert torch.allclose(golden.path, r.path, atol=1e-6)


def test_line_search_exercise_log_exp():
    # The chapter's exercise: the minimizer of log(e^x + e^(−2x−3)) is (ln 2 − 3)/3.
    for method in ("gd-armijo", "gd-wolfe", "newton-wolfe", "gd-exact"):
        r = minimize(functions.get("logexp"), [2.0], method, steps=200, tol=1e-8)
        assert r.success, (method, r.message)
        assert float(r.x[0]) == pytest.approx((math.log(2) - 3) / 3, abs=1e-8)


# ------------------------------------------------------------------------------------------------------
# Preconditioning


def test_precond_gd_is_the_diagonal_scaling():
    f = functions.get("ill_conditioned")  # H = diag(0.2, 4)
    r = minimize(f, [-5.0, -2.0], "precond-gd", steps=3, lr=0.5)
    x = torch.tensor([-5.0, -2.0], dtype=torch.float64)
    for k in range(3):
        x = x - 0.5 * torch.tensor([0.2, 4.0], dtype=torch.float64).reciprocal() * _grad(f, x)
        assert torch.allclose(r.path[k + 1], x, rtol=1e-14, atol=1e-14)


def test_precond_gd_beats_gd_on_an_ill_conditioned_quadratic():
    # f = ½(x1 − x2)²·… a quadratic with Hessian [[50, 2], [2, 1]]: condition ~51, diagonals far apart.
    a = torch.tensor([[50.0, 2.0], [2.0, 1.0]], dtype=torch.float64)

    def f(x):
        return 0.5 * x @ a @ x

    lam = torch.linalg.eigvalsh(a)
    gd = minimize(f, [1.0, 1.0], "gd", steps=5000, tol=1e-8, lr=float(2 / (lam[0] + lam[-1])))
    pre = minimize(f, [1.0, 1.0], "precond-gd", steps=5000, tol=1e-8, lr=0.9)
    assert gd.success and pre.success
    assert pre.nit * 5 < gd.nit
    # precond-abs on an indefinite diagonal still descends with a search.
    saddle = minimize(lambda x: x[0] ** 2 - 0.5 * x[1] ** 2 + 0.25 * x[1] ** 4, [1.0, 0.1], "precond-abs-gd")
    assert float(saddle.values[-1]) < float(saddle.values[0])


# ------------------------------------------------------------------------------------------------------
# Optimizer classes, schedules and noise


@pytest.mark.parametrize(
    ("method", "options"),
    [
        (optim.Adam, {"lr": 0.1}),
        (optim.SGD, {"lr": 0.002, "momentum": 0.9, "nesterov": True}),
        (torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9}),
        (optim.Yogi, {"lr": 0.1, "betas": (0.8, 0.99)}),
    ],
)
def test_optimizer_class_equals_driving_it_by_hand(method, options):
    f = functions.get("beale")
    r = minimize(f, [1.0, 1.5], method, steps=40, **options)
    p = torch.tensor([1.0, 1.5], dtype=torch.float64, requires_grad=True)
    opt = method([p], **options)
    path = [p.detach().clone()]
    for _ in range(40):
        opt.zero_grad()
        f(p).backward()
        opt.step()
        path.append(p.detach().clone())
    assert torch.equal(r.path, torch.stack(path))
    assert r.nfev == 41 and r.njev == 41


def test_short_names_and_beta_options():
    f = functions.get("quadratic")
    a = minimize(f, [-5.0, -2.0], "adam", steps=20, lr=0.3, beta1=0.8)
    b = minimize(f, [-5.0, -2.0], optim.Adam, steps=20, lr=0.3, betas=(0.8, 0.999))
    assert torch.equal(a.path, b.path)
    m = minimize(f, [-5.0, -2.0], "momentum", steps=20, lr=0.1)
    n = minimize(f, [-5.0, -2.0], optim.SGD, steps=20, lr=0.1, momentum=0.9)
    assert torch.equal(m.path, n.path)


def test_schedule_scales_the_learning_rate():
    f = functions.get("square")
    sched = schedules.exponential(1.0, 0.1)
    r = minimize(f, [10.0], "gd", steps=8, lr=0.2, schedule=sched)  # η_k = 0.2·e^(−0.1k)
    want = [10.0]
    for k in range(8):
        want.append(want[-1] - 0.2 * math.exp(-0.1 * k) * 2 * want[-1])
    assert path_1d(r) == pytest.approx(want, rel=1e-13)
    # Without lr, the schedule is the learning rate; the same for an optimizer class.
    s = minimize(f, [10.0], optim.SGD, steps=8, schedule=schedules.exponential(0.2, 0.1))
    assert path_1d(s) == pytest.approx(want, rel=1e-13)
    assert s.extra["step_sizes"].tolist() == pytest.approx([0.2 * math.exp(-0.1 * k) for k in range(8)])


def test_noise_with_a_seed_is_reproducible_and_is_gaussian_per_coordinate():
    f = functions.get("quadratic")
    a = minimize(f, [-5.0, -2.0], "gd", steps=50, lr=0.1, noise=1.0, seed=7)
    b = minimize(f, [-5.0, -2.0], "gd", steps=50, lr=0.1, noise=1.0, seed=7)
    c = minimize(f, [-5.0, -2.0], "gd", steps=50, lr=0.1, noise=1.0, seed=8)
    assert torch.equal(a.path, b.path) and not torch.equal(a.path, c.path)
    # The update is x − η(∇f + σξ) with ξ the seeded generator's normal draws.
    gen = torch.Generator().manual_seed(7)
    x = torch.tensor([-5.0, -2.0], dtype=torch.float64)
    for k in range(50):
        x = x - 0.1 * (_grad(f, x) + torch.randn(2, generator=gen, dtype=torch.float64))
        assert torch.allclose(a.path[k + 1], x, rtol=0, atol=1e-13)
    # The recorded gradient norms are the exact gradient's.
    assert float(a.grad_norms[-1]) == pytest.approx(float(_grad(f, a.x).norm()), rel=1e-13)
    opt = minimize(f, [-5.0, -2.0], optim.SGD, steps=50, lr=0.1, noise=1.0, seed=7)
    assert torch.allclose(opt.path, a.path, rtol=0, atol=1e-13)


# ------------------------------------------------------------------------------------------------------
# Stopping and failure


def test_tol_stops_with_success():
    r = minimize(functions.get("quadratic"), [-5.0, -2.0], "gd", steps=1000, tol=1e-6, lr=0.2)
    assert r.success and float(r.grad_norms[-1]) <= 1e-6 < float(r.grad_norms[-2])
    assert len(r.path) == r.nit + 1 == len(r.values) == len(r.grad_norms)
    short = minimize(functions.get("quadratic"), [-5.0, -2.0], "gd", steps=3, tol=1e-6, lr=0.2)
    assert not short.success and "steps=3" in short.message


def test_divergence_and_nan_give_success_false_without_raising():
    r = minimize(functions.get("square"), [10.0], "gd", steps=5000, lr=3.0)
    assert not r.success and "diverged" in r.message
    assert r.nit < 5000
    overflow = minimize(functions.get("square"), [10.0], "gd", steps=5000, lr=3.0, max_norm=None)
    assert not overflow.success and not math.isfinite(overflow.fun)
    nan = minimize(lambda x: torch.sqrt(x).sum() + (x * x).sum(), [1.0], "gd", steps=50, lr=1.0)
    assert not nan.success and math.isnan(nan.fun)
    start = minimize(lambda x: torch.log(x).sum(), [-1.0], "gd", steps=5)
    assert not start.success and start.nit == 0
    singular = minimize(lambda x: x[0] ** 2, [1.0, 2.0], "newton", steps=3)
    assert not singular.success and "singular" in singular.message


def test_bad_arguments_raise_with_the_value():
    f = functions.get("quadratic")
    with pytest.raises(ValueError, match=r"Invalid tol: -1\.0; expected tol > 0"):
        minimize(f, [1.0, 1.0], tol=-1.0)
    with pytest.raises(ValueError, match="Invalid method: 'bfgs'"):
        minimize(f, [1.0, 1.0], "bfgs")
    with pytest.raises(ValueError, match="Invalid lr"):
        minimize(f, [1.0, 1.0], "gd", lr=0.0)
    with pytest.raises(TypeError, match="Invalid steps"):
        minimize(f, [1.0, 1.0], steps=2.5)
    with pytest.raises(TypeError, match="Invalid option 'momentum' for method 'gd'"):
        minimize(f, [1.0, 1.0], "gd", momentum=0.9)
    with pytest.raises(ValueError, match="Invalid line_search"):
        minimize(f, [1.0, 1.0], "gd-armijo", line_search="wolfe")
    with pytest.raises(ValueError, match="Invalid noise"):
        minimize(f, [1.0, 1.0], "gd-wolfe", noise=0.1)
    with pytest.raises(ValueError, match="Invalid momentum"):
        minimize(f, [1.0, 1.0], "sgd", momentum=-1.0)
    with pytest.raises(TypeError, match="Invalid x0"):
        minimize(f, torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="scalar tensor"):
        minimize(lambda x: x, [1.0, 2.0])


def test_package_exports():
    assert descend.minimize is minimize
    assert descend.Result is type(minimize(functions.get("square"), [1.0], steps=1))
    assert callable(descend.sweep)


def test_lbfgs_runs_through_a_closure_and_counts_every_evaluation():
    f = functions.get("rosenbrock")
    x0 = torch.tensor(f.start, dtype=torch.float64)
    runs = []
    for method in (optim.LBFGS, "lbfgs", torch.optim.LBFGS):
        r = minimize(f, x0, method, steps=10, tol=1e-6, line_search_fn="strong_wolfe")
        assert torch.allclose(r.x, torch.ones(2, dtype=torch.float64), atol=1e-3), method
        assert r.nfev > r.nit + 1  # its line search evaluates f several times per step
        runs.append(r)
    for r in runs[:2]:  # descend's strong-Wolfe search takes torch's steps
        assert (r.nfev, r.nit) == (runs[2].nfev, runs[2].nit)
        torch.testing.assert_close(r.path, runs[2].path, rtol=0, atol=1e-6)


def test_a_sweep_refuses_an_optimizer_whose_update_would_mix_its_rows():
    f = functions.get("quadratic")
    for name in ("lamb", "lars", "adafactor", "muon", "schedule-free-adamw", "prodigy", "lbfgs"):
        with pytest.raises(TypeError, match="Invalid method"):
            sweep(f, [1.0, 1.0], name, steps=3, lr=[0.1, 0.2])
