"""The chapter's experiments (descend.lab.experiments, descend.lab.airfoil) in reduced sizes: real numbers,
checked against hand computations; the data they stand in when none is given is said."""

from __future__ import annotations

import csv
import itertools
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from descend import schedules
from descend.cli import main
from descend.data import Dataset, write_idx
from descend.lab import airfoil as A
from descend.lab import experiments as E
from descend.lab.models import lenet


@pytest.fixture(scope="module")
def small() -> Dataset:
    return A.airfoil_like(200, seed=3)


def _chapter_by_hand(ds: Dataset, steps: int, update) -> list[float]:
    """The chapter's full-batch loop on a linear model, initialized as chapter_runs does for seed 0."""
    torch.manual_seed(0)
    lin = nn.Linear(ds.input_shape[0], 1)
    nn.init.normal_(lin.weight, std=0.01)
    w = lin.weight.detach().reshape(-1).clone().requires_grad_(True)
    b = torch.zeros((), requires_grad=True)
    x, y = ds.train_x, ds.train_y
    state: dict = {}
    losses = []
    for step in range(steps + 1):
        loss = ((x @ w + b - y) ** 2 / 2).mean()
        losses.append(float(loss.detach()))
        if step == steps:
            break
        gw, gb = torch.autograd.grad(loss, [w, b])
        with torch.no_grad():
            update(state, w, gw, "w")
            update(state, b, gb, "b")
    return losses


def test_airfoil_like_has_the_tables_statistics():
    ds = A.airfoil_like(1500)
    x, y = ds.train_x.double(), ds.train_y.double()
    assert ds.input_shape == (5,) and ds.n_train == 1500 and ds.test_x is None
    assert torch.allclose(x.mean(0), torch.zeros(5, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(5, dtype=torch.float64), atol=1e-5)
    corr = torch.corrcoef(x.T)
    assert torch.allclose(corr, torch.tensor(A._AIRFOIL_CORR, dtype=torch.float64), atol=0.08)
    design = torch.cat([x, torch.ones(1500, 1, dtype=torch.float64)], 1)
    sol = torch.linalg.lstsq(design, y.unsqueeze(1)).solution
    best = float(((design @ sol).squeeze(1) - y).pow(2).mean() / 2)
    assert 0.21 < best < 0.28  # the real table's best loss is 0.2421
    assert torch.equal(A.airfoil_like(50, seed=1).train_x, A.airfoil_like(50, seed=1).train_x)


def test_adagrad_run_matches_the_chapters_update(small):
    run = A.Run("adagrad", "adagrad", {"lr": 0.1, "eps": 0.0, "eps_root": 1e-6}, batch_size=200, epochs=3)
    report = A.chapter_runs("adagrad", small, seeds=[0], runs=[run])
    hist = report.histories["adagrad"][0]

    def adagrad(state, p, g, key):
        s = state.setdefault(key, torch.zeros_like(p))
        s += g * g
        p -= 0.1 * g / torch.sqrt(s + 1e-6)

    expected = _chapter_by_hand(small, 3, adagrad)
    assert hist["examples"] == [0, 200, 400, 600]
    # float32 both ways; AdaGrad's first step g/√(g² + ε) magnifies rounding in small gradients
    np.testing.assert_allclose(hist["train_loss"], expected, rtol=1e-4)
    assert report.rows[0]["loss (median)"] == pytest.approx(expected[-1], rel=1e-4)


def test_momentum_run_matches_the_chapters_update(small):
    run = A.Run("m", "sgd", {"lr": 0.02, "momentum": 0.5}, batch_size=200, epochs=4)
    hist = A.chapter_runs("momentum", small, seeds=[0], runs=[run]).histories["m"][0]

    def heavy_ball(state, p, g, key):
        v = state.setdefault(key, torch.zeros_like(p))
        v.mul_(0.5).add_(g)
        p -= 0.02 * v

    np.testing.assert_allclose(hist["train_loss"], _chapter_by_hand(small, 4, heavy_ball), rtol=1e-5)


def test_minibatch_sgd_reduced(small):
    report = E.minibatch_sgd(small, seeds=[0, 1], epochs=1)
    assert [r["run"] for r in report.rows] == [r.label for r in A.CHAPTER_RUNS["minibatch-sgd"]]
    initial = report.histories[report.rows[0]["run"]][0].records[0]["train_loss"]
    for row in report.rows:
        hists = report.histories[row["run"]]
        assert len(hists) == 2 and all(h.status == "finished" for h in hists)
        assert row["loss min"] <= row["loss (median)"] <= row["loss max"] < initial
        assert row["sec/epoch"] > 0 and row["diverged"] == 0
        # one epoch of 200 examples, evaluated every 200 examples: the start and the end
        assert hists[0]["examples"] == [0, 200]
    sgd = report.histories["sgd (η 0.005, batch 1)"][0]
    assert sgd.final("step") == 200
    assert set(report.figures) == {"loss_vs_epoch", "loss_vs_seconds"}


def test_chapter_hyperparameters_are_the_books():
    runs = {
        r.label: (r.optimizer, dict(r.options), r.batch_size, r.epochs)
        for v in A.CHAPTER_RUNS.values()
        for r in v
    }
    assert runs["gd (η 1, batch 1500)"] == ("sgd", {"lr": 1.0}, 1500, 10)
    assert runs["momentum η 0.01, β 0.9"] == ("sgd", {"lr": 0.01, "momentum": 0.9}, 10, 2)
    assert runs["rmsprop η 0.01, γ 0.9"][1] == {"lr": 0.01, "alpha": 0.9, "eps": 0.0, "eps_root": 1e-6}
    assert runs["adadelta ρ 0.9"][1] == {"lr": 1.0, "rho": 0.9, "eps": 1e-5}
    assert runs["yogi η 0.01"][1] == {"lr": 0.01, "eps": 1e-3}


def test_linear_regression_reaches_the_noise_level():
    report = E.linear_regression(steps=100, n_train=500, n_test=500)
    final = report.records[-1]
    assert final["step"] == 100
    # noise 0.01: the best MSE is about 1e-4; GD ends on the least-squares solution's MSE
    ls = report.rows[-1]
    assert ls["step"] == "least squares"
    assert final["train_mse"] == pytest.approx(ls["train_mse"], rel=1e-3)
    assert 0.5e-4 < final["train_mse"] < 2e-4
    assert 0.5e-4 < final["test_mse"] < 2e-4
    assert report.records[0]["train_mse"] > 10  # ‖w*‖² + b*² ≈ 33 from w = 0, b = 0
    np.testing.assert_allclose(report.config["learned_w"], [2.0, -3.4], atol=2e-3)
    assert report.config["learned_b"] == pytest.approx(4.2, abs=2e-3)
    train = [r["train_mse"] for r in report.records]
    assert all(a >= b - 1e-7 for a, b in itertools.pairwise(train))  # float32 at the floor


def test_linear_regression_diverges_beyond_the_stability_limit():
    # the Hessian of the MSE is 2XᵀX/n ≈ 2I: gradient descent needs η < 2/2 = 1
    report = E.linear_regression(steps=30, lr=1.2, n_train=500, n_test=100)
    assert report.records[-1]["train_mse"] > report.records[0]["train_mse"]


def test_vectorization_reports_gflops():
    report = E.vectorization(n=64, block=16, element_rows=8, repeats=2)
    rates = {r["method"]: r["GFLOP/s"] for r in report.rows}
    assert list(rates) == ["element", "column", "full", "block 16"]
    assert all(v > 0 and math.isfinite(v) for v in rates.values())
    assert rates["full"] > rates["element"]
    assert rates["column"] > rates["element"]
    assert report.config["threads"] == 1
    assert torch.get_num_threads() >= 1
    with pytest.raises(ValueError, match="block"):
        E.vectorization(n=8, block=16)


def test_lenet_shapes():
    assert lenet((1, 8, 8))(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    big = lenet((1, 28, 28))
    assert big(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert big[7].in_features == 16 * 5 * 5  # the chapter's LeNet


def test_lr_scheduling_follows_each_schedule(tmp_path, monkeypatch):
    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path))  # no Fashion-MNIST files there: the digits
    chosen = ["no schedule (η 0.3)", "cosine + warmup", "multi-factor (0.5, ×0.5 at 15, 30)"]
    report = E.lr_scheduling(epochs=2, batch_size=256, schedules=chosen)
    assert [r["schedule"] for r in report.rows] == chosen
    assert report.config["data"] == "digits"
    warm = report.histories["cosine + warmup"][0]
    expected = schedules.cosine(0.3, max_steps=2, final_lr=0.01, warmup_steps=2)
    assert warm["lr"] == pytest.approx([expected(k) for k in range(3)])
    assert report.histories["no schedule (η 0.3)"][0]["lr"] == pytest.approx([0.3] * 3)
    for row in report.rows:
        assert 0.0 <= row["test acc"] <= 1.0 and row["status"] == "finished"
    assert set(report.figures) == {"train_accuracy", "test_accuracy", "schedules"}
    with pytest.raises(ValueError, match="Invalid schedule"):
        E.lr_scheduling(epochs=1, schedules=["warp"])


def test_report_files(tmp_path, small):
    report = E.adam(small, seeds=[0], epochs=1)
    written = report.write(tmp_path / "r")
    with open(written["summary"], newline="") as f:
        assert [r["run"] for r in csv.DictReader(f)] == ["adam η 0.01"]
    with open(written["history"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(report.histories["adam η 0.01"][0])
    config = json.loads(written["config"].read_text())
    assert config["runs"][0]["options"] == {"lr": 0.01, "eps": 1e-6}
    page = written["html"].read_text()
    assert page.count("data:image/png;base64,") == 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="Invalid experiment: 'momentun'; did you mean momentum"):
        E.run("momentun")
    with pytest.raises(ValueError, match=r"Invalid data: .*missing\.dat"):
        E.prepare("momentum", data="missing.dat")
    with pytest.raises(ValueError, match="Invalid seeds"):
        A.chapter_runs("adam", seeds=[])
    with pytest.raises(ValueError, match="Invalid data"):
        E.from_options("vectorization", data="x.dat")
    with pytest.raises(ValueError, match="Invalid epochs"):
        E.from_options("linear-regression", epochs=3)
    with pytest.raises(ValueError, match="Invalid steps"):
        E.linear_regression(steps=0)


def test_experiment_command(tmp_path):
    runner = CliRunner()
    out = tmp_path / "lin"
    result = runner.invoke(main, ["experiment", "linear-regression", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "least squares" in result.output
    assert (out / "report.html").is_file() and (out / "history.csv").is_file()
    bad = runner.invoke(main, ["experiment", "vectorization", "--data", "x.dat"])
    assert bad.exit_code == 2 and "Invalid data" in bad.output


def test_experiments_say_what_data_stands_in_and_how_to_get_the_real_one(tmp_path, monkeypatch, small):
    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path))  # no Fashion-MNIST there
    said: list[str] = []
    job = E.prepare("minibatch-sgd", log=said.append)
    assert (
        len(said) == 1
        and "synthetic" in said[0]
        and "airfoil_self_noise.dat" in said[0]
        and "--data" in said[0]
    )
    said.clear()
    E.prepare("lr-scheduling", log=said.append)
    assert len(said) == 1 and "digits" in said[0] and "fashion_mnist()" in said[0]
    # the report keeps the note
    study = A.chapter_runs("adam", seeds=[0], epochs=1)
    assert any("synthetic" in n for n in study.notes)
    written = study.write(tmp_path / "r")
    assert "synthetic" in written["html"].read_text()
    assert callable(job)
    said.clear()
    A.chapter_runs("adam", small, seeds=[0], epochs=1, log=said.append)
    assert not any("synthetic" in line for line in said)  # data given: nothing to say


def _tiny_fashion(folder, n_train: int = 64, n_test: int = 32) -> None:
    g = torch.Generator().manual_seed(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
        labels = torch.randint(0, 10, (n,), generator=g, dtype=torch.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)


def test_lr_scheduling_uses_fashion_mnist_when_its_files_are_there(tmp_path, monkeypatch):
    _tiny_fashion(tmp_path / "fashion-mnist")
    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path))
    report = E.lr_scheduling(epochs=1, batch_size=32, schedules=["square root (η 0.1)"])
    assert report.config["data"] == "fashion-mnist"
    assert (report.config["n_train"], report.config["n_test"]) == (64, 32)
    hist = report.histories["square root (η 0.1)"][0]
    assert hist.config["parameters"] == sum(p.numel() for p in lenet((1, 28, 28)).parameters())
    assert hist["lr"] == pytest.approx([0.1, 0.1 / math.sqrt(2)])
    explicit = E.lr_scheduling(tmp_path / "fashion-mnist", epochs=1, schedules=["no schedule (η 0.3)"])
    assert explicit.config["n_train"] == 64
