"""`descend compare` (descend.lab.compare): every optimizer in the report, divergence reported, the rerun
command reproduces, optimizers written as specs, evaluation often enough to draw a curve."""

from __future__ import annotations

import csv
import json
import math
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from descend.cli import main
from descend.cli.reports import _assignment
from descend.lab.compare import DEFAULT_LR, DEFAULT_OPTIMIZERS, TASKS, compare

FIGURES = {"loss_vs_epoch", "val_loss_vs_epoch", "val_loss_vs_seconds", "test_loss_vs_epoch",
           "accuracy_vs_epoch", "lr_vs_epoch"}  # fmt: skip


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> tuple[Path, str]:
    """`descend compare --epochs 1` with no other argument, run in a fresh folder."""
    folder = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        result = CliRunner().invoke(main, ["compare", "--epochs", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    reports = list(folder.glob("descend-report-*"))
    assert len(reports) == 1
    return reports[0], result.output


def test_default_compare_writes_every_optimizer(default_run):
    folder, output = default_run
    assert re.fullmatch(r"descend-report-\d{8}-\d{6}", folder.name)
    assert output.rstrip().splitlines()[-1] == f"Folder: {folder.name}"
    summary = _csv(folder / "summary.csv")
    assert [r["optimizer"] for r in summary] == list(DEFAULT_OPTIMIZERS)
    for row in summary:
        assert float(row["lr"]) == DEFAULT_LR["digits-cnn"][row["optimizer"]]
        assert row["status"] == "ok"
        assert 0.0 <= float(row["test_acc"]) <= 1.0
        assert float(row["test_loss min"]) <= float(row["test_loss"]) <= float(row["test_loss max"])
        assert float(row["steps_per_s"]) > 0
    runs = _csv(folder / "runs.csv")
    assert sorted((r["optimizer"], r["seed"]) for r in runs) == sorted(
        (o, str(s)) for o in DEFAULT_OPTIMIZERS for s in range(3)
    )
    history = _csv(folder / "history.csv")
    # one epoch: the untrained model and the end of the epoch, per optimizer and seed
    assert len(history) == 2 * len(runs)
    assert {r["optimizer"] for r in history} == set(DEFAULT_OPTIMIZERS)
    for name in DEFAULT_OPTIMIZERS:
        assert re.search(rf"^{name}\s", output, re.MULTILINE), f"{name} missing from the table"


def test_default_compare_html_embeds_every_figure(default_run):
    folder, _ = default_run
    page = (folder / "report.html").read_text()
    for name in FIGURES:
        assert f'<figure id="{name}">' in page
        assert f'Plotly.newPlot("chart-{name}"' in page  # interactive in the page
        assert (folder / "figures" / f"{name}.png").is_file()  # and an image for the Markdown
    # the chart library is inlined once: the page needs no network
    assert page.count("<script") == len(FIGURES) + 1
    assert not re.search(r"<script[^>]+src=", page) and "cdn.plot.ly" not in page.split("<body>")[1]
    assert "<img" not in page
    for name in FIGURES:
        with Image.open(folder / "figures" / f"{name}.png") as img:
            assert img.size[0] > 100 and img.size[1] > 100
        assert f"(figures/{name}.png)" in (folder / "report.md").read_text()
    for name in DEFAULT_OPTIMIZERS:
        assert f'<td class="text">{name}</td>' in page
    assert "NOT tuned" in page and "chosen on the test loss of seeds 0 and 1" in page


def test_same_seed_same_start(default_run):
    folder, _ = default_run
    history = _csv(folder / "history.csv")
    for seed in ("0", "1", "2"):
        start = {r["train_loss"] for r in history if r["seed"] == seed and r["step"] == "0"}
        assert len(start) == 1, "every optimizer must start from the same model for a seed"


def test_rerun_command_reproduces(tmp_path):
    runner = CliRunner()
    first = tmp_path / "first"
    args = ["compare", "--task", "digits-mlp", "-o", "adam", "-o", "nesterov", "--lr", "adam=0.005",
            "--set", "adam.betas=0.8,0.99", "--epochs", "1", "--seed-list", "4",
            "--out", str(first)]  # fmt: skip
    result = runner.invoke(main, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    config = json.loads((first / "config.json").read_text())
    assert config["optimizers"]["adam"] == {"lr": 0.005, "betas": [0.8, 0.99]}
    assert config["optimizers"]["nesterov"] == {"momentum": 0.9, "nesterov": True, "lr": 0.3}
    # what was given is recorded as given
    assert config["given"] == {
        "optimizers": ["adam", "nesterov"],
        "lr": {"adam": 0.005},
        "options": {"adam": {"betas": [0.8, 0.99]}},
    }
    assert config["seeds"] == [4]
    command = (first / "command.txt").read_text().strip()
    assert command == config["command"]
    words = shlex.split(command)
    assert words[:2] == ["descend", "compare"]
    second = tmp_path / "second"
    again = runner.invoke(main, [*words[1:], "--out", str(second), "--no-progress"])
    assert again.exit_code == 0, again.output
    a, b = _csv(first / "runs.csv"), _csv(second / "runs.csv")
    for ra, rb in zip(a, b, strict=True):
        for key in ("optimizer", "seed", "train_loss", "test_loss", "train_acc", "test_acc", "steps"):
            assert ra[key] == rb[key]


def test_diverged_optimizer_is_reported_not_raised(tmp_path):
    result = compare("diabetes", ["sgd", "adam"], lrs={"sgd": 1e6}, epochs=2, seeds=[0, 1], progress=False)
    rows = {r["optimizer"]: r for r in result.rows}
    assert rows["sgd"]["status"] == "diverged (2/2)"
    assert math.isnan(rows["sgd"]["test_loss"])
    assert rows["adam"]["status"] == "ok" and math.isfinite(rows["adam"]["test_loss"])
    assert all(r["status"] == "diverged" and "non-finite" in r["message"] for r in result.tables["runs"][:1])
    written = result.write(tmp_path / "rep")
    assert "diverged (2/2)" in written["html"].read_text()
    assert "diverged" in result.table()


def test_lr_and_set_take_python_literals():
    assert _assignment("Adam=0.001", "--lr") == ("adam", "lr", 0.001)
    assert _assignment("adam.betas=(0.9,0.99)", "--set") == ("adam", "betas", (0.9, 0.99))
    assert _assignment("adam.betas=0.9,0.99", "--set") == ("adam", "betas", (0.9, 0.99))
    assert _assignment("sgd.nesterov=true", "--set") == ("sgd", "nesterov", True)
    assert _assignment("rmsprop.alpha=1e-1", "--set") == ("rmsprop", "alpha", 0.1)
    assert _assignment("adagrad.initial_accumulator_value=1", "--set") == (
        "adagrad",
        "initial_accumulator_value",
        1,
    )
    for bad in ("adam", "=0.1", "adam=", "adam=fast"):
        with pytest.raises(ValueError, match="Invalid --lr"):
            _assignment(bad, "--lr")


def test_optimizers_are_specs_and_the_same_name_may_come_twice():
    result = compare("diabetes", ["adam:lr=0.01,betas=(0.8,0.99)", "adam:lr=0.001", "momentum"], epochs=1,
                     progress=False)  # fmt: skip
    assert [r["optimizer"] for r in result.rows] == [
        "adam:lr=0.01,betas=(0.8,0.99)",
        "adam:lr=0.001",
        "momentum",
    ]
    opts = result.config["optimizers"]
    assert opts["adam:lr=0.01,betas=(0.8,0.99)"] == {"lr": 0.01, "betas": [0.8, 0.99]}
    assert opts["momentum"] == {"momentum": 0.9, "lr": DEFAULT_LR["diabetes"]["momentum"]}
    assert "-o 'adam:lr=0.01,betas=(0.8,0.99)'" in result.command
    with pytest.raises(ValueError, match="given twice"):
        compare("diabetes", ["adam", "adam"], epochs=1, progress=False)


def test_airfoil_is_evaluated_every_200_examples_as_the_chapter(tmp_path):
    path = _airfoil_file(tmp_path)
    result = compare("airfoil", ["sgd"], data=path, epochs=2, seeds=[0], progress=False)
    hist = result.histories["sgd"][0]
    # 1200 rows for training (300 held out for validation): 13 points, not the 3 of one per epoch
    assert hist["examples"] == list(range(0, 2401, 200))
    assert len(result.tables["runs"]) == 1


def test_bad_options_are_usage_errors():
    runner = CliRunner()
    cases = [
        (["compare", "-o", "lbgfs"], "lbgfs"),
        (["compare", "--lr", "adam=0.1", "-o", "sgd"], "adam"),
        (["compare", "--set", "adam.betas=2,0.9", "-o", "adam"], "beta"),
        (["compare", "-o", "adam:betas=(2,0.9)"], "beta"),
        (["compare", "-o", "adam:foo=1"], "foo"),
        (["compare", "--task", "mnist"], "mnist"),
        (["compare", "--task", "airfoil"], "--data"),
        (["compare", "--device", "tpu"], "tpu"),
        (["compare", "--seed-list", "a,b"], "seed-list"),
    ]
    for args, word in cases:
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert word in result.output, (args, result.output)


def test_the_chapters_tasks_have_a_default_lr_for_every_optimizer():
    assert {"digits-cnn", "digits-mlp", "diabetes", "airfoil"} <= set(DEFAULT_LR) <= set(TASKS)
    for task in DEFAULT_LR:
        assert set(DEFAULT_OPTIMIZERS) <= set(DEFAULT_LR[task])
        assert all(lr > 0 for lr in DEFAULT_LR[task].values())


def _airfoil_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(1503, 6))
    table[:, 5] = table[:, :5] @ np.array([0.5, -0.3, 0.2, 0.1, -0.4]) + 0.5 * rng.normal(size=1503)
    path = tmp_path / "airfoil.dat"
    path.write_text("".join("\t".join(f"{v:.6f}" for v in row) + "\r\n" for row in table))
    return path


def test_airfoil_task_takes_the_chapters_hyperparameters(tmp_path):
    path = _airfoil_file(tmp_path)
    result = compare("airfoil", ["adadelta", "rmsprop"], data=path, epochs=1, seeds=[0], progress=False)
    assert result.config["optimizers"]["adadelta"] == {"lr": 1.0, "rho": 0.9, "eps": 1e-5}
    assert result.config["optimizers"]["rmsprop"] == {"lr": 0.01, "alpha": 0.9, "eps": 0.0, "eps_root": 1e-6}
    assert "--set rmsprop.eps_root=1e-06" in result.command
    rows = result.rows
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert all(r["train_loss"] < result.histories[r["optimizer"]][0].records[0]["train_loss"] for r in rows)
    with pytest.raises(ValueError, match="embedded data"):
        compare("diabetes", ["sgd"], data=path, epochs=1, progress=False)
