"""descend.sweep: rows equal single runs, one batch, the stability map against theory, the commands."""

from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner

from descend import SweepResult, analysis, functions, minimize, optim, sweep
from descend.cli import main

PNG = b"\x89PNG\r\n\x1a\n"

CASES = [
    ("gd", {"lr": [0.05, 0.3, 0.55]}, {}),
    ("sgd", {"lr": [0.05, 0.3], "weight_decay": [0.0, 0.1]}, {}),
    ("momentum", {"lr": [0.05, 0.3, 0.6], "momentum": [0.0, 0.5, 0.9]}, {}),
    ("nesterov", {"lr": [0.05, 0.2], "momentum": [0.5, 0.9]}, {}),
    ("adagrad", {"lr": [0.1, 0.4], "lr_decay": [0.0, 0.1]}, {"eps_root": 1e-6}),
    ("rmsprop", {"lr": [0.01, 0.1], "alpha": [0.9, 0.99], "momentum": [0.0, 0.5]}, {"centered": True}),
    ("adadelta", {"rho": [0.9, 0.99], "lr": [1.0, 0.5]}, {}),
    ("adam", {"lr": [0.1, 0.3], "beta1": [0.5, 0.9], "beta2": [0.9, 0.999]}, {"amsgrad": True}),
    ("yogi", {"lr": [0.1, 0.3], "eps": [1e-3, 1e-6]}, {}),
    (optim.AdamW, {"lr": [0.1, 0.3], "weight_decay": [0.0, 0.5]}, {}),
]


@pytest.mark.parametrize(("method", "grid", "fixed"), CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_rows_equal_single_runs(method, grid, fixed):
    f = functions.get("beale")
    starts = [[1.0, 1.5], [-0.5, 0.8]]
    r = sweep(f, starts, method, steps=40, **grid, **fixed)
    k = 2 * math.prod(len(v) for v in grid.values())
    assert len(r) == k and r.x.shape == (k, 2) and r.fun.shape == (k,)
    assert set(r.grid) == {"x0", *grid}
    for i in range(k):
        row = r.row(i)
        x0 = row.pop("x0")
        single = minimize(f, x0, method, steps=40, **row, **fixed)
        assert bool(r.diverged[i]) == (not single.success)
        if single.success:
            assert torch.allclose(r.x[i], single.x, rtol=1e-12, atol=1e-12)
            assert float(r.fun[i]) == pytest.approx(single.fun, rel=1e-12, abs=1e-12)
            assert int(r.nit[i]) == single.nit


def test_grid_order_and_values():
    r = sweep(
        functions.get("quadratic"), [-5.0, -2.0], "momentum", steps=3, lr=[0.1, 0.2, 0.3], momentum=[0.0, 0.9]
    )
    assert r.grid["lr"].tolist() == [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]
    assert r.grid["momentum"].tolist() == [0.0, 0.9] * 3
    assert r.row(3) == {"lr": 0.2, "momentum": 0.9}
    assert isinstance(r, SweepResult) and "K=6" in repr(r)
    tensor_axis = sweep(
        functions.get("quadratic"),
        [-5.0, -2.0],
        "gd",
        steps=3,
        lr=torch.tensor([0.1, 0.3], dtype=torch.float64),
    )
    assert tensor_axis.grid["lr"].tolist() == [0.1, 0.3]


def test_tol_stops_rows_like_single_runs():
    f = functions.get("quadratic")
    r = sweep(f, [-5.0, -2.0], "momentum", steps=500, tol=1e-6, lr=[0.02, 0.1, 0.3], momentum=[0.0, 0.6])
    for i in range(len(r)):
        single = minimize(f, [-5.0, -2.0], "momentum", steps=500, tol=1e-6, **r.row(i))
        assert int(r.nit[i]) == single.nit and bool(r.success[i]) == single.success
        assert torch.allclose(r.x[i], single.x, rtol=1e-12, atol=1e-14)


def test_schedule_and_noise_rows_equal_single_runs():
    from descend import schedules

    f = functions.get("quadratic")
    sched = schedules.polynomial(1.0, alpha=0.5, beta=0.1)
    r = sweep(f, [-5.0, -2.0], "gd", steps=60, lr=[0.05, 0.2], schedule=sched, noise=0.5, seed=3)
    m = sweep(f, [-5.0, -2.0], "momentum", steps=60, lr=[0.05, 0.2], schedule=sched, noise=0.5, seed=3)
    for res, method in ((r, "gd"), (m, "momentum")):
        for i in range(len(res)):
            single = minimize(
                f, [-5.0, -2.0], method, steps=60, schedule=sched, noise=0.5, seed=3, **res.row(i)
            )
            assert torch.allclose(res.x[i], single.x, rtol=1e-12, atol=1e-12)


def test_diverged_rows_do_not_poison_the_others():
    f = functions.get("square")
    r = sweep(f, [10.0], "gd", steps=2000, lr=[0.1, 5.0, 0.4], max_norm=None)
    assert r.diverged.tolist() == [False, True, False]
    assert not math.isfinite(float(r.fun[1]))
    assert r.fun[[0, 2]].tolist() == pytest.approx([0.0, 0.0], abs=1e-30)
    bounded = sweep(f, [10.0], "gd", steps=2000, lr=[0.1, 5.0])
    assert bounded.diverged.tolist() == [False, True] and math.isinf(float(bounded.fun[1]))
    assert int(bounded.nit[1]) < 20
    assert bounded.best() == 0


def test_steps_to_tol_counts_the_first_step_below_the_tolerance():
    f = functions.get("square")  # x_k = 10·(1 − 2η)^k, f_k = 100·(1 − 2η)^(2k); f* = 0 from the catalogue
    r = sweep(f, [10.0], "gd", steps=200, lr=[0.1, 0.25, 0.5, 1.0], steps_tol=1e-6)
    for lr, got in zip([0.1, 0.25, 0.5], r.steps_to_tol.tolist(), strict=False):
        q = (1 - 2 * lr) ** 2
        k = 0 if q == 0 else math.ceil(math.log(1e-8) / math.log(q))
        while 100 * q**k > 1e-6:  # rounding at the edge
            k += 1
        assert got == (k if q > 0 else 1)
    assert math.isinf(float(r.steps_to_tol[3]))  # η = 1 oscillates between ±10


def test_stability_map_agrees_with_theory():
    # Heavy ball on 0.1·x1² + 2·x2² (eigenvalues 0.2 and 4): converges iff ηλ < 2 + 2β for both.
    f = functions.get("ill_conditioned")
    lrs = torch.linspace(0.02, 1.2, 60, dtype=torch.float64)
    betas = torch.linspace(0.0, 0.9, 40, dtype=torch.float64)
    r = sweep(f, [-5.0, -2.0], "momentum", steps=400, lr=lrs, momentum=betas)
    assert len(r) == 2400
    lam = [0.2, 4.0]
    predicted = analysis.converges(r.grid["lr"], r.grid["momentum"], lam)
    measured = torch.isfinite(r.fun) & (r.fun < float(f(torch.tensor([-5.0, -2.0], dtype=torch.float64))))
    margin = (r.grid["lr"] * max(lam) / (2 + 2 * r.grid["momentum"]) - 1).abs()
    away = margin > 0.05
    agree = (predicted == measured)[away].double().mean()
    assert int(away.sum()) > 2000
    assert float(agree) >= 0.98
    assert predicted.any() and (~predicted).any()


def test_bad_grids_raise():
    f = functions.get("quadratic")
    with pytest.raises(TypeError, match="Invalid grid axis 'lambd'"):
        sweep(f, [1.0, 1.0], "sgd", lambd=[0.1])
    with pytest.raises(ValueError, match="Invalid nesterov"):
        sweep(f, [1.0, 1.0], "sgd", nesterov=[True, False])
    with pytest.raises(ValueError, match="Invalid lr"):
        sweep(f, [1.0, 1.0], "sgd", lr=[])
    with pytest.raises(ValueError, match="Invalid momentum"):
        sweep(f, [1.0, 1.0], "sgd", lr=[0.1], momentum=[0.5, -0.5])
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum"):
        sweep(f, [1.0, 1.0], "sgd", lr=[0.1], momentum=[0.0, 0.5], nesterov=True)
    with pytest.raises(TypeError, match="Invalid method"):
        sweep(f, [1.0, 1.0], "newton", lr=[0.1])
    with pytest.raises(TypeError, match="Invalid method"):
        sweep(f, [1.0, 1.0], torch.optim.Adam, lr=[0.1])
    with pytest.raises(ValueError, match="broadcast"):
        sweep(lambda x: (x**2).sum(), [1.0, 1.0], "gd", lr=[0.1, 0.2])
    with pytest.raises(ValueError, match="Invalid initial_accumulator_value"):
        sweep(f, [1.0, 1.0], "adagrad", initial_accumulator_value=[0.0, 0.1])


# ------------------------------------------------------------------------------------------------------
# Commands


def test_trace_command_writes_a_png(tmp_path):
    out = tmp_path / "trace.png"
    result = CliRunner().invoke(
        main,
        ["trace", "ill_conditioned", "--optimizer", "momentum", "--optimizer", "adam", "--optimizer", "gd",
         "--lr", "0.3", "--steps", "30", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert sum(line.startswith(("momentum", "adam", "gd")) for line in lines) == 3
    # The summary's final point is the run's.
    single = minimize(functions.get("ill_conditioned"), [-5.0, -2.0], "momentum", steps=30, lr=0.3)
    assert f"{float(single.fun):.4g}" in result.output


def test_trace_command_in_one_dimension(tmp_path):
    out = tmp_path / "newton.svg"
    result = CliRunner().invoke(
        main, ["trace", "xcos", "--optimizer", "newton", "--lr", "0.5", "--steps", "10", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().lstrip().startswith(("<?xml", "<svg"))
    bad = CliRunner().invoke(main, ["trace", "xcos", "--optimizer", "bogus", "--out", str(out)])
    assert bad.exit_code != 0 and "bogus" in bad.output


def test_sweep_command_writes_a_map(tmp_path):
    out = tmp_path / "map.png"
    result = CliRunner().invoke(
        main,
        ["sweep", "ill_conditioned", "--optimizer", "momentum", "--lr", "0.02:1.2:12", "--momentum",
         "0:0.9:6", "--steps", "100", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG)
    header, _, row, *_ = result.output.splitlines()
    assert header.split()[:7] == ["optimizer", "runs", "steps", "seconds", "reached", "tol", "diverged"]
    _, runs, steps, _, _, diverged, *_ = row.split()
    assert (runs, steps) == ("72", "100")
    r = sweep(functions.get("ill_conditioned"), [-5.0, -2.0], "momentum", steps=100,
              lr=torch.linspace(0.02, 1.2, 12, dtype=torch.float64),
              momentum=torch.linspace(0, 0.9, 6, dtype=torch.float64))  # fmt: skip
    assert int(r.diverged.sum()) > 0 and diverged == str(int(r.diverged.sum()))
