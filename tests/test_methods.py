"""descend.methods: public directions × step rules, the method strings as their shorthand, one status."""

from __future__ import annotations

import doctest
from dataclasses import dataclass, field

import pytest
import torch

import descend
from descend import functions, methods, minimize, sweep
from descend.methods import Armijo, Descent, DiagonalNewton, Exact, Fixed, Gradient, Newton, Wolfe
from descend.result import Status


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("gd", {}, Descent(Gradient(), Fixed())),
        ("gd", {"lr": 0.3}, Descent(Gradient(), Fixed(0.3))),
        ("newton", {}, Descent(Newton(), Fixed())),
        ("newton-abs", {"damping": 1e-6}, Descent(Newton("abs", 1e-6), Fixed())),
        ("newton-armijo", {}, Descent(Newton("abs"), Armijo())),
        ("newton", {"line_search": "wolfe", "modify": "damp"}, Descent(Newton("damp"), Wolfe())),
        ("gd-wolfe", {"lr": 2.0, "c2": 0.5}, Descent(Gradient(), Wolfe(alpha0=2.0, c2=0.5))),
        ("precond-gd", {}, Descent(DiagonalNewton(), Fixed())),
        ("precond-abs-gd", {}, Descent(DiagonalNewton("abs"), Fixed())),
        ("gd-golden", {}, Descent(Gradient(), Exact(golden=True))),
    ],
)
def test_method_strings_are_shorthand_for_the_pieces(text, options, expected):
    assert methods.parse(text, **options) == expected


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("gd", {"lr": 0.3}),
        ("newton-armijo", {}),
        ("gd-wolfe", {}),
        ("precond-gd", {"lr": 0.2}),
        ("gd-exact", {}),
    ],
)
def test_pieces_and_strings_take_the_same_path(text, options):
    f = functions.get("rosenbrock")
    by_name = minimize(f, [-1.5, 2.0], text, steps=25, **options)
    by_pieces = minimize(f, [-1.5, 2.0], methods.parse(text, **options), steps=25)
    assert torch.equal(by_name.path, by_pieces.path) and by_name.nfev == by_pieces.nfev


def test_a_direction_of_ones_own_composes_with_any_step_rule():
    @dataclass(frozen=True)
    class Sign:
        """d = −sign(∇f): signSGD's direction."""

        default_lr: float = field(default=0.05, init=False)

        def __call__(self, objective, x, g):
            return -torch.sign(g)

    f = functions.get("quadratic")
    fixed = minimize(f, [-5.0, -2.0], Descent(Sign()), steps=3)
    assert fixed.path[:, 0].tolist() == pytest.approx(
        [-5.0, -4.95, -4.9, -4.85]
    )  # 0.05 a step, its own default
    searched = minimize(f, [-5.0, -2.0], Descent(Sign(), Armijo()), steps=30, tol=1e-8)
    assert searched.fun < 1e-6 and all(a > 0 for a in searched.extra["step_sizes"].tolist())


def test_a_schedule_drives_a_fixed_step():
    f = functions.get("square")
    r = minimize(f, [10.0], Descent(Gradient(), Fixed(0.2)), steps=4, schedule=lambda k: 0.5**k)
    assert r.extra["step_sizes"].tolist() == pytest.approx([0.2, 0.1, 0.05, 0.025])
    with pytest.raises(ValueError, match="line search"):
        minimize(f, [10.0], Descent(Gradient(), Armijo()), schedule=lambda k: 1.0)


def test_bad_pieces_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match="Invalid modify: 'xyz'"):
        Newton("xyz")
    with pytest.raises(ValueError, match="Invalid modify: 'damp'"):
        DiagonalNewton("damp")
    with pytest.raises(ValueError, match=r"Invalid c1: 1\.5"):
        Armijo(c1=1.5)
    with pytest.raises(ValueError, match=r"Invalid c2: 0\.0001"):
        Wolfe(c2=1e-4)
    with pytest.raises(ValueError, match="Invalid lr: -1"):
        Fixed(-1)
    with pytest.raises(TypeError, match="Invalid direction"):
        Descent(3)
    with pytest.raises(TypeError, match="Invalid option 'lr' with a Descent"):
        minimize(functions.get("square"), [1.0], Descent(Gradient()), lr=0.1)
    with pytest.raises(TypeError, match="Invalid option 'c2' for method 'gd-armijo'"):
        methods.parse("gd-armijo", c2=0.5)


def test_one_status_for_every_way_a_run_ends():
    f = functions.get("square")
    assert minimize(f, [10.0], "gd", steps=5).status == Status.FINISHED
    done = minimize(f, [10.0], "gd", steps=500, tol=1e-6)
    assert done.status == Status.CONVERGED and done.success and done.nit < 500
    short = minimize(f, [10.0], "gd", steps=5, tol=1e-6)
    assert short.status == "max_steps" and not short.success
    assert minimize(f, [10.0], "gd", steps=50, lr=5.0).status == Status.DIVERGED
    failed = minimize(lambda x: (x**3).sum(), torch.tensor([0.0]), "newton", steps=3)
    assert failed.status == Status.FAILED and "singular" in failed.message
    rows = sweep(f, [10.0], "gd", steps=500, tol=1e-6, lr=[0.1, 5.0, 0.001])
    assert rows.status == [Status.CONVERGED, Status.DIVERGED, Status.MAX_STEPS]
    assert sweep(f, [10.0], "gd", steps=5, lr=[0.1]).status == [Status.FINISHED]
    assert [s.success for s in Status] == [True, True, False, False, False, False]


def test_a_long_run_stops_once_converged_or_diverged():
    f = functions.get("ill_conditioned")
    r = minimize(f, [-5.0, -2.0], "momentum", steps=1_000_000, tol=1e-10, lr=0.5, momentum=0.5, progress=True)
    assert r.status == "converged" and r.nit < 1000 and len(r.path) == r.nit + 1
    far = minimize(f, [-5.0, -2.0], "gd", steps=1_000_000, lr=0.6)  # ηλ = 2.4: diverges
    assert far.status == "diverged" and far.nit < 200


@pytest.mark.parametrize("module", ["descend", "descend.methods", "descend._minimize", "descend._sweep"])
def test_docstring_examples(module):
    import importlib

    assert doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS).failed == 0
    assert descend.methods is methods
