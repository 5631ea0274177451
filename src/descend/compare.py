"""``descend compare``: the chapter's optimizers side by side on one task, with a report.

:func:`compare` trains the same model from the same initialization (per seed) with each optimizer, on
the same minibatches, and gathers the histories; :class:`Comparison` turns them into a table, figures
(loss against epochs and against seconds, test accuracy, learning rate) and a report folder:

* ``report.html``: one self-contained page (figures embedded), ``report.md`` and ``figures/*.png``;
* ``summary.csv`` (one row per optimizer: medians and ranges over seeds), ``runs.csv`` (one row per
  optimizer and seed), ``history.csv`` (every evaluation point of every run);
* ``config.json``: every setting and hyperparameter, and ``command.txt``: the command line that reruns it.

Tasks (all but ``airfoil`` need no file and no network):

==============  ======================================================  =====  ======  ===============
task            model and data                                          batch  epochs  loss
==============  ======================================================  =====  ======  ===============
``digits-cnn``  LeNet (3×3 convolutions) on the 8×8 digits (1438 / 359)  64     12      cross-entropy
``digits-mlp``  MLP 64-128-10 (ReLU) on the same digits                 64     10      cross-entropy
``diabetes``    linear regression on the diabetes table (353 / 89)      32     30      mean (ŷ − y)²/2
``airfoil``     the chapter's linear regression on the airfoil table    10     2       mean (ŷ − y)²/2
==============  ======================================================  =====  ======  ===============

Default learning rates (:data:`DEFAULT_LR`): for ``airfoil`` the chapter's own (12.5-12.10: SGD 0.05,
momentum and Nesterov 0.005 with β = 0.9, AdaGrad 0.1, RMSProp 0.01, Adadelta 1 (it has no learning
rate; torch's lr = 1 is the chapter's algorithm), Adam, AdamW and Yogi 0.01). For the other tasks, the
best final test loss (median of seeds 0 and 1) over the grid {0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1} at
the task's default epochs and batch size, as measured by ``benchmarks/compare_lr_grid.py`` (the grids are
in ``benchmarks/RESULTS.md``; amsgrad takes Adam's). Every other hyperparameter is torch's default
(momentum and Nesterov: β = 0.9; AdamW: weight decay 0.01), except on ``airfoil``, which takes the
chapter's (:data:`DEFAULT_OPTIONS`).

A run whose loss turns NaN or infinite is stopped by :func:`descend.train.fit` and reported as
``diverged`` (its final values are NaN in the table, its curve ends where it diverged); the other runs go
on.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from descend import data as data_module
from descend import optim
from descend.data import Dataset
from descend.experiments import _curves_figure, _spread, lenet, median_curve
from descend.report import Report, atomic_write, text_table, write_csv
from descend.train import History, fit, squared_loss

__all__ = [
    "DEFAULT_LR",
    "DEFAULT_OPTIMIZERS",
    "DEFAULT_OPTIONS",
    "TASKS",
    "Comparison",
    "Task",
    "compare",
    "default_out",
    "parse_assignment",
]

Log = Callable[[str], None]

#: The chapter's optimizers, in the chapter's order (short names of :mod:`descend.optim`).
DEFAULT_OPTIMIZERS: tuple[str, ...] = (
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "yogi",
)  # fmt: skip


@dataclass(frozen=True)
class Task:
    """A comparison task: how to load the data and build the model, the loss, and default settings."""

    name: str
    description: str
    load: Callable[[str | None], Dataset]
    model: Callable[[Dataset], nn.Module]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    batch_size: int
    epochs: int
    needs_data: bool = False


def _mlp(ds: Dataset) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(int(np.prod(ds.input_shape)), 128), nn.ReLU(), nn.Linear(128, 10)
    )


def _linear(ds: Dataset) -> nn.Module:
    model = nn.Linear(ds.input_shape[0], 1)
    nn.init.normal_(model.weight, std=0.01)  # the chapter's initialization
    nn.init.zeros_(model.bias)
    return model


def _digits(_: str | None) -> Dataset:
    return data_module.digits()


def _diabetes(_: str | None) -> Dataset:
    return data_module.diabetes()


def _airfoil(path: str | None) -> Dataset:
    if path is None:
        raise ValueError("Invalid data: None; the airfoil task needs the table's path (--data PATH)")
    return data_module.airfoil_dataset(path)


TASKS: dict[str, Task] = {
    "digits-mlp": Task(
        "digits-mlp", "an MLP 64-128-10 (ReLU) on scikit-learn's 8×8 digits",
        _digits, _mlp, nn.functional.cross_entropy, 64, 10,
    ),
    "digits-cnn": Task(
        "digits-cnn", "LeNet (ReLU, max pooling, 3×3 convolutions) on scikit-learn's 8×8 digits",
        _digits, lambda ds: lenet(ds.input_shape, 10), nn.functional.cross_entropy, 64, 12,
    ),
    "diabetes": Task(
        "diabetes", "linear regression on scikit-learn's diabetes table (standardized)",
        _diabetes, _linear, squared_loss, 32, 30,
    ),
    "airfoil": Task(
        "airfoil", "the chapter's linear regression on the NASA airfoil table",
        _airfoil, _linear, squared_loss, 10, 2, needs_data=True,
    ),
}  # fmt: skip

_CHAPTER_LR = {
    "sgd": 0.05, "momentum": 0.005, "nesterov": 0.005, "adagrad": 0.1, "rmsprop": 0.01,
    "adadelta": 1.0, "adam": 0.01, "amsgrad": 0.01, "adamw": 0.01, "yogi": 0.01,
}  # fmt: skip

#: Default learning rate per task and optimizer (see the module docstring for where they come from).
DEFAULT_LR: dict[str, dict[str, float]] = {
    "digits-mlp": {
        "sgd": 1.0, "momentum": 0.3, "nesterov": 0.3, "adagrad": 0.1, "rmsprop": 0.01,
        "adadelta": 1.0, "adam": 0.03, "amsgrad": 0.03, "adamw": 0.03, "yogi": 0.03,
    },
    "digits-cnn": {
        "sgd": 0.3, "momentum": 0.03, "nesterov": 0.1, "adagrad": 0.03, "rmsprop": 0.003,
        "adadelta": 1.0, "adam": 0.01, "amsgrad": 0.01, "adamw": 0.01, "yogi": 0.01,
    },
    "diabetes": {
        "sgd": 0.01, "momentum": 0.001, "nesterov": 0.001, "adagrad": 0.03, "rmsprop": 0.001,
        "adadelta": 1.0, "adam": 0.003, "amsgrad": 0.003, "adamw": 0.003, "yogi": 0.003,
    },
    "airfoil": dict(_CHAPTER_LR),
}  # fmt: skip

#: Hyperparameters other than the learning rate that a task sets by default: on the airfoil table, the
#: chapter's (ε inside the root for AdaGrad and RMSProp, γ = 0.9, Adadelta's ρ = 0.9 and ε = 1e-5, Adam's ε).
DEFAULT_OPTIONS: dict[str, dict[str, dict[str, Any]]] = {
    "airfoil": {
        "adagrad": {"eps": 0.0, "eps_root": 1e-6},
        "rmsprop": {"alpha": 0.9, "eps": 0.0, "eps_root": 1e-6},
        "adadelta": {"rho": 0.9, "eps": 1e-5},
        "adam": {"eps": 1e-6},
        "amsgrad": {"eps": 1e-6},
        "adamw": {"eps": 1e-6},
    },
}


# ------------------------------------------------------------------------------------------- options


def parse_assignment(text: str, *, what: str = "--lr") -> tuple[str, str, Any]:
    """Parse ``NAME=VALUE`` (``--lr adam=0.001``) or ``NAME.KEY=VALUE`` (``--set adam.betas=0.9,0.99``).

    Returns ``(name, key, value)`` with ``key = "lr"`` for the first form. Values are parsed as bool
    (``true``/``false``), int, float, or a tuple of floats when they contain a comma.
    """
    if not isinstance(text, str) or "=" not in text:
        raise ValueError(f"Invalid {what}: {text!r}; expected NAME=VALUE")
    left, _, right = text.partition("=")
    name, _, key = left.strip().partition(".")
    key = key.strip() or "lr"
    if not name or not right.strip():
        raise ValueError(f"Invalid {what}: {text!r}; expected NAME=VALUE with both sides given")
    return name.strip().lower(), key, _parse_value(right.strip(), what, text)


def _parse_value(raw: str, what: str, text: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        if "," in raw:
            return tuple(float(v) for v in raw.split(","))
        number = float(raw)
    except ValueError:
        raise ValueError(
            f"Invalid {what}: {text!r}; {raw!r} is not a number, a list of numbers or a bool"
        ) from None
    if number.is_integer() and not any(c in raw for c in ".eE"):
        return int(number)
    return number


def default_out(now: datetime | None = None, root: str | os.PathLike[str] = ".") -> Path:
    """``descend-report-YYYYmmdd-HHMMSS`` under ``root``, with ``-2``, ``-3``, ... if that name is taken."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"descend-report-{stamp}"
    candidate, k = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{k}")
        k += 1
    return candidate


def _device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"Invalid device: {device!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Invalid device: {device!r}; CUDA is not available on this machine")
    return dev


# ---------------------------------------------------------------------------------------- comparison


@dataclass
class Comparison:
    """The histories of a comparison and everything needed to report and rerun it.

    Attributes:
        task: the task's name.
        optimizers: optimizer short name -> the keyword arguments it was built with.
        histories: optimizer -> one :class:`History` per seed.
        config: the settings (JSON-serializable).
        command: the command line that reruns the comparison.
    """

    task: str
    optimizers: dict[str, dict[str, Any]]
    histories: dict[str, list[History]]
    config: dict[str, Any]
    command: str
    classification: bool = True
    extra_text: list[str] = field(default_factory=list)

    # -- numbers -----------------------------------------------------------------------------------------

    def run_rows(self) -> list[dict[str, Any]]:
        """One row per optimizer and seed: final values (NaN where the run diverged), time, steps/s."""
        rows = []
        for name, hists in self.histories.items():
            for h in hists:
                rows.append(
                    {"optimizer": name, "seed": h.config.get("seed"), **_finals(h, self.classification)}
                )
        return rows

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per optimizer: the median over seeds of each final value, with the range of the test
        loss (or training loss without a test set), and how many seeds diverged."""
        out = []
        per_run = self.run_rows()
        for name in self.histories:
            mine = [r for r in per_run if r["optimizer"] == name]
            row: dict[str, Any] = {"optimizer": name, "lr": self.optimizers[name].get("lr")}
            keys = ["train_loss", "test_loss", "train_acc", "test_acc", "seconds", "steps_per_s"]
            for key in keys:
                if any(key in r for r in mine):
                    row[key] = _spread([r.get(key, math.nan) for r in mine])[0]
            main = "test_loss" if "test_loss" in row else "train_loss"
            _, lo, hi = _spread([r.get(main, math.nan) for r in mine])
            if len(mine) > 1:
                row[f"{main} min"], row[f"{main} max"] = lo, hi
            bad = sum(r["status"] == "diverged" for r in mine)
            row["status"] = "ok" if bad == 0 else f"diverged ({bad}/{len(mine)})"
            out.append(row)
        return out

    def table(self) -> str:
        """The summary as a terminal table."""
        rows = self.summary_rows()
        return text_table(rows, _summary_columns(rows))

    def history_rows(self) -> list[dict[str, Any]]:
        return [
            {"optimizer": name, "seed": h.config.get("seed"), **rec}
            for name, hists in self.histories.items()
            for h in hists
            for rec in h.records
        ]

    # -- figures -----------------------------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        h = self.histories
        seeds = len(self.config["seeds"])
        tag = f" (median of {seeds} seeds)" if seeds > 1 else ""
        figs = {
            "loss_vs_epoch": _curves_figure(
                {k: median_curve(v, "epoch", "train_loss") for k, v in h.items()},
                "epoch", "training loss", f"Training loss against epochs{tag}",
            ),
        }  # fmt: skip
        if any("test_loss" in v[0].columns() for v in h.values() if v):
            figs["test_loss_vs_epoch"] = _curves_figure(
                {k: median_curve(v, "epoch", "test_loss") for k, v in h.items()},
                "epoch", "test loss", f"Test loss against epochs{tag}",
            )  # fmt: skip
        figs["loss_vs_seconds"] = _curves_figure(
            {k: median_curve(v, "seconds", "train_loss") for k, v in h.items()},
            "seconds (training only)", "training loss", f"Training loss against time{tag}",
        )  # fmt: skip
        if self.classification:
            figs["accuracy_vs_epoch"] = _curves_figure(
                {k: median_curve(v, "epoch", "test_acc") for k, v in h.items()},
                "epoch", "test accuracy", f"Test accuracy against epochs{tag}", log_y=False,
            )  # fmt: skip
        figs["lr_vs_epoch"] = _curves_figure(
            {k: median_curve(v, "epoch", "lr") for k, v in h.items()},
            "epoch", "learning rate", "Learning rate of each optimizer",
        )  # fmt: skip
        return figs

    # -- report ------------------------------------------------------------------------------------------

    def to_report(self) -> Report:
        cfg = self.config
        rep = Report(f"descend compare: {self.task}")
        rep.add_text(
            f"{len(self.histories)} optimizers on {cfg['task_description']}: {cfg['n_train']} training and "
            f"{cfg['n_test']} test examples, minibatches of {cfg['batch_size']}, {cfg['epochs']} epochs, "
            f"seeds {cfg['seeds']} (each seed gives every optimizer the same initial model and the same "
            f"minibatches), on {cfg['device']}. Times count training only, not evaluation."
        )
        for line in self.extra_text:
            rep.add_text(line)
        rep.add_heading("Results")
        rep.add_table(
            self.summary_rows(), caption="Final values, median over seeds (min and max of the loss)."
        )
        captions = {
            "loss_vs_epoch": "Training loss (whole training set) against epochs.",
            "test_loss_vs_epoch": "Test loss against epochs.",
            "loss_vs_seconds": "Training loss against training time.",
            "accuracy_vs_epoch": "Test accuracy against epochs.",
            "lr_vs_epoch": "Learning rate of each optimizer (first parameter group).",
        }
        rep.add_heading("Figures")
        for name, fig in self.figures().items():
            rep.add_figure(name, fig, caption=captions[name])
        rep.add_heading("Every run")
        rep.add_table(self.run_rows())
        rep.add_heading("Rerun")
        rep.add_code(self.command)
        rep.add_code(json.dumps(cfg, indent=2, default=str))
        return rep

    def write(self, folder: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the report folder (see the module docstring); every file atomically."""
        root = Path(folder)
        written = self.to_report().write(root)
        written["summary"] = write_csv(root / "summary.csv", self.summary_rows())
        written["runs"] = write_csv(root / "runs.csv", self.run_rows())
        written["history"] = write_csv(root / "history.csv", self.history_rows())
        written["config"] = atomic_write(
            root / "config.json", json.dumps(self.config, indent=2, default=str) + "\n"
        )
        written["command"] = atomic_write(root / "command.txt", self.command + "\n")
        return written


def _summary_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    order = ("optimizer", "lr", "train_loss", "test_loss", "test_loss min", "test_loss max", "train_loss min",
             "train_loss max", "train_acc", "test_acc", "seconds", "steps_per_s", "status")  # fmt: skip
    return [c for c in order if any(c in r for r in rows)]


def _finals(h: History, classification: bool) -> dict[str, Any]:
    cols = h.columns()
    diverged = not h.ok
    out: dict[str, Any] = {}
    for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
        if key in cols:
            out[key] = math.nan if diverged else float(h.final(key))
    seconds = float(h.final("seconds")) if len(h) else 0.0
    steps = int(h.final("step")) if len(h) else 0
    out["seconds"] = seconds
    out["steps"] = steps
    out["steps_per_s"] = steps / seconds if seconds > 0 else math.nan
    out["status"] = "diverged" if diverged else "ok"
    if diverged:
        out["message"] = h.message
    return out


# ------------------------------------------------------------------------------------------- compare


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, int) or not isinstance(seeds, Sequence) or not seeds:
        raise ValueError(f"Invalid seeds: {seeds!r}; expected a non-empty sequence of integers >= 0")
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"Invalid seeds: {seeds!r}; expected integers >= 0")
    return list(seeds)


def _positive_or_none(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Invalid {name}: {value!r}; expected a positive integer")
    return value


def _hyperparameters(
    task: str, names: Sequence[str], lrs: Mapping[str, float], options: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    known = optim.names()
    for where, keys in (("optimizers", names), ("lr", lrs), ("options", options)):
        for name in keys:
            if name not in known:
                raise ValueError(f"Invalid {where} entry: {name!r}; expected one of {', '.join(known)}")
    for name in lrs:
        if name not in names:
            raise ValueError(
                f"Invalid lr entry: {name!r}; it is not among the optimizers compared {list(names)}"
            )
    chosen = {}
    for name in names:
        hyper = {"lr": DEFAULT_LR[task].get(name, 0.01), **DEFAULT_OPTIONS.get(task, {}).get(name, {})}
        if name in lrs:
            hyper["lr"] = lrs[name]
        hyper.update(options.get(name, {}))
        cls, kwargs = optim.resolve(name, **hyper)
        probe = nn.Parameter(torch.zeros(1))
        cls([probe], **kwargs)  # raises ValueError/TypeError naming a bad hyperparameter now, not mid-run
        chosen[name] = kwargs
    return chosen


def compare(
    task: str = "digits-cnn",
    optimizers: Sequence[str] | None = None,
    *,
    lrs: Mapping[str, float] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seeds: Sequence[int] = (0,),
    device: str | None = None,
    data: str | os.PathLike[str] | None = None,
    threads: int | None = 1,
    progress: bool = True,
    log: Log | None = None,
) -> Comparison:
    """Train the task's model with each optimizer and seed and return the :class:`Comparison`.

    Args:
        task: a key of :data:`TASKS`.
        optimizers: short names (:func:`descend.optim.names`); default :data:`DEFAULT_OPTIMIZERS`.
        lrs: learning rate per optimizer, overriding :data:`DEFAULT_LR`.
        options: other hyperparameters per optimizer, e.g. ``{"adam": {"betas": (0.9, 0.99)}}``.
        epochs, batch_size: override the task's defaults.
        seeds: one run per optimizer and seed; seed s fixes the initial model and the minibatch order.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        data: the table's path for the ``airfoil`` task.
        threads: torch's CPU threads during the comparison (restored after); 1 by default, as small
            models run fastest on one thread and timings stay steady on a shared machine. None keeps
            torch's setting.
        progress: a progress bar per run (on a terminal).
        log: called with one line per finished run.
    """
    if task not in TASKS:
        raise ValueError(f"Invalid task: {task!r}; expected one of {', '.join(TASKS)}")
    spec = TASKS[task]
    names = list(optimizers) if optimizers else list(DEFAULT_OPTIMIZERS)
    names = [n.lower() for n in names]
    if len(set(names)) != len(names):
        raise ValueError(f"Invalid optimizers: {names}; each may appear once")
    hyper = _hyperparameters(task, names, dict(lrs or {}), {k.lower(): v for k, v in (options or {}).items()})
    seeds = _check_seeds(seeds)
    epochs = _positive_or_none("epochs", epochs) or spec.epochs
    batch_size = _positive_or_none("batch_size", batch_size) or spec.batch_size
    threads = _positive_or_none("threads", threads)
    dev = _device(device)
    if data is not None and not spec.needs_data:
        raise ValueError(f"Invalid data: {str(data)!r}; the {task} task uses its embedded data set")
    dataset = spec.load(None if data is None else str(data))
    log = log or (lambda _: None)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    histories: dict[str, list[History]] = {n: [] for n in names}
    total, done, started = len(names) * len(seeds), 0, time.perf_counter()
    try:
        for seed in seeds:
            for name in names:
                hist = _one_run(spec, dataset, name, hyper[name], seed, epochs, batch_size, dev, progress)
                histories[name].append(hist)
                done += 1
                log(_run_line(done, total, name, seed, hist, spec))
    finally:
        torch.set_num_threads(previous)
    config = {
        "task": task,
        "task_description": spec.description,
        "dataset": dataset.name,
        "data": None if data is None else str(data),
        "n_train": dataset.n_train,
        "n_test": dataset.n_test,
        "optimizers": {
            n: {k: (list(v) if isinstance(v, tuple) else v) for k, v in h.items()} for n, h in hyper.items()
        },
        "epochs": epochs,
        "batch_size": batch_size,
        "seeds": seeds,
        "device": str(dev),
        "threads": threads if threads is not None else previous,
        "wall_seconds": time.perf_counter() - started,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }
    command = _command(task, names, hyper, epochs, batch_size, seeds, device, data, threads, spec)
    config["command"] = command
    return Comparison(
        task, hyper, histories, config, command, classification=dataset.task == "classification"
    )


def _one_run(spec: Task, dataset: Dataset, name: str, kwargs: dict[str, Any], seed: int, epochs: int,
             batch_size: int, device: torch.device, progress: bool) -> History:  # fmt: skip
    torch.manual_seed(seed)
    model = spec.model(dataset).to(device)
    cls, _ = optim.resolve(name)
    opt = cls(model.parameters(), **kwargs)
    return fit(model, spec.loss, opt, dataset, epochs=epochs, batch_size=batch_size, seed=seed,
               device=device, progress=progress)  # fmt: skip


def _run_line(done: int, total: int, name: str, seed: int, hist: History, spec: Task) -> str:
    head = f"[{done}/{total}] {name:<9} seed {seed}"
    if not hist.ok:
        return f"{head}: diverged ({hist.message})"
    parts = [f"train loss {hist.final('train_loss'):.4g}"]
    if "test_loss" in hist.columns():
        parts.append(f"test loss {hist.final('test_loss'):.4g}")
    if "test_acc" in hist.columns():
        parts.append(f"test acc {hist.final('test_acc'):.3f}")
    parts.append(f"{hist.final('seconds'):.2f} s")
    return f"{head}: " + ", ".join(parts)


def _command(task, names, hyper, epochs, batch_size, seeds, device, data, threads, spec) -> str:
    args = ["descend", "compare", "--task", task]
    if data is not None:
        args += ["--data", str(data)]
    for name in names:
        args += ["--optimizer", name]
    for name in names:
        args += ["--lr", f"{name}={hyper[name]['lr']!r}"]
        implied = optim.resolve(name)[1]
        for key, value in hyper[name].items():
            if key == "lr" or implied.get(key) == value:
                continue
            shown = (
                ",".join(repr(v) for v in value)
                if isinstance(value, tuple | list)
                else str(value).lower()
                if isinstance(value, bool)
                else repr(value)
            )
            args += ["--set", f"{name}.{key}={shown}"]
    args += ["--epochs", str(epochs), "--batch-size", str(batch_size)]
    if seeds == list(range(len(seeds))):
        args += ["--seeds", str(len(seeds))]
    else:
        args += ["--seed-list", ",".join(str(s) for s in seeds)]
    args += ["--device", device or "auto", "--threads", str(threads) if threads is not None else "0"]
    return shlex.join(args)
