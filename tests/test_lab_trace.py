"""descend.lab.trace and descend.lab.sweeps: honest defaults (no dot for a picture), early stops, the map's
numbers and theory's verdict, and the short tables the commands end with."""

from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner

from descend import functions, minimize, optim
from descend.cli import main
from descend.lab import sweeps, trace

DRAWN = [n for n in functions.names() if functions.get(n).dim <= 2]


def _extent(r) -> float:
    path = r.path.reshape(len(r.path), -1)
    return float(torch.linalg.vector_norm(path.amax(0) - path.amin(0)))


def _size(f) -> float:
    box = [f.box] if f.dim == 1 else list(f.box)[: f.dim]
    return math.hypot(*(hi - lo for lo, hi in box))


@pytest.mark.parametrize("name", DRAWN)
def test_every_optimizer_draws_a_path_on_every_function_by_default(name):
    f = functions.get(name)
    plan = trace.prepare(name, ["adam", "momentum", "rmsprop", "gd"], steps=20)
    for t in trace.run(plan, progress=False):
        r = t.result
        start = float(f(torch.tensor(plan.start, dtype=torch.float64)))
        # a real path: it moves across the picture, or ends lower than it began
        moved = _extent(r) >= 0.01 * _size(f)
        ended = r.status in ("converged", "max_steps")
        assert ended and (moved or float(r.fun) < start - 1e-9), (name, t.label, t.options, r.message)
        assert t.chosen_lr is None or t.notes[0].startswith(f"lr={t.chosen_lr:.3g} chosen")


def test_the_chosen_learning_rate_is_the_gentlest_that_ends_lowest():
    f = functions.get("ill_conditioned")
    plan = trace.prepare("ill_conditioned", ["gd"], steps=20)
    (t,) = trace.run(plan, progress=False)
    finals = {lr: float(minimize(f, plan.start, "gd", steps=20, lr=lr).fun) for lr in trace.LR_GRID}
    start = float(f(torch.tensor(plan.start, dtype=torch.float64)))
    ok = {lr: v for lr, v in finals.items() if math.isfinite(v) and v < start}
    best = min(ok.values())
    assert t.chosen_lr == min(lr for lr, v in ok.items() if v <= best + 1e-3 * (start - best))
    # torch's default for Adam barely moves: said, with what to raise
    (slow,) = trace.run(trace.prepare("ill_conditioned", ["adam:lr=0.001"], steps=20), progress=False)
    assert slow.chosen_lr is None and any("raise lr" in n and "-o adam:lr=" in n for n in slow.notes)


def test_a_long_trace_stops_once_converged():
    with CliRunner().isolated_filesystem():
        result = CliRunner().invoke(main, ["trace", "ill_conditioned", "-o", "momentum:lr=0.5,momentum=0.5",
                                           "--steps", "1000000", "--no-progress"])  # fmt: skip
        assert result.exit_code == 0, result.output
        row = result.stdout.splitlines()[2].split()
        assert row[-1] == "converged" and int(row[-2]) < 1000


def test_the_sweep_map_plan_checks_before_running_and_reports_theory():
    plan = sweeps.prepare(
        "ill_conditioned", "momentum", {"lr": "0.02:1.2:12", "momentum": "0:0.9:6"}, steps=100
    )
    assert plan.runs == 72
    outcome = sweeps.run(plan)
    assert outcome.theory is not None and outcome.theory.agreement == 1.0
    (row,) = sweeps.summary(plan, outcome)
    assert row["runs"] == 72 and row["diverged"] == int(outcome.result.diverged.sum()) > 0
    assert row["theory agrees"] == "100.0%"
    # a non-quadratic: no theory
    other = sweeps.prepare("rosenbrock", "momentum", {"lr": "0.0001,0.001"}, steps=10)
    assert sweeps.run(other).theory is None
    for axes, words in [({"lr": "0.1", "momentum": "0.5", "eps": "1,2"}, "expected 1 or 2"),
                        ({"lr": "1:0:3:log"}, "a, b > 0"), ({"foo": "0:1:3"}, "'foo'")]:  # fmt: skip
        with pytest.raises(ValueError, match=words):
            sweeps.prepare("quadratic", "momentum", axes)
    with pytest.raises(ValueError, match="Invalid momentum"):
        sweeps.prepare("quadratic", "momentum", {"lr": "0.1", "momentum": "-1,0.5"})
    with pytest.raises(ValueError, match="gradient descent takes only lr"):
        sweeps.prepare("quadratic", "gd", {"lr": "0.1", "momentum": "0.5"})


NOT_ON_A_POINT = {"muon": "only supports 2D parameters", "sparse-adam": "sparse gradients only"}


@pytest.mark.parametrize("name", optim.names())
def test_every_optimizer_traces_or_says_why_it_cannot(name):
    if name in NOT_ON_A_POINT:
        with pytest.raises(ValueError, match=NOT_ON_A_POINT[name]):
            trace.prepare("booth", [name], steps=8)
        return
    plan = trace.prepare("booth", [name], steps=8)
    (done,) = trace.run(plan, progress=False)
    path = done.result.path
    assert path.shape == (9, 2) and torch.isfinite(path).all()
    assert float(done.result.fun) < float(plan.function(torch.tensor(plan.start, dtype=torch.float64)))
