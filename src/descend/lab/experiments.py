"""The chapter's experiments, each a function that trains, measures and returns a
:class:`~descend.lab.study.Study`; :func:`prepare` checks an experiment's settings and loads its data
before any work is done, as ``descend experiment NAME`` needs.

Section numbers are those of *Dive into Deep Learning*, chapter 12 "Optimization Algorithms". The airfoil
runs of sections 12.5-12.10 (``minibatch-sgd``, ``momentum``, ``adagrad``, ``rmsprop``, ``adadelta``,
``adam``, ``yogi``) are described in :mod:`descend.lab.airfoil`.

The others:

* :func:`linear_regression` (the lecture's lesson): gradient descent with automatic differentiation on
  the mean squared error ``L(w, b) = mean((Xw + b − y)²)`` of ``linear_synthetic`` data
  (``y = Xw* + b* + ε``, ``w* = (2, −3.4)``, ``b* = 4.2``), 100 steps, training against test MSE.
* :func:`vectorization` (12.5.1): a 256×256 product ``A = BC`` element by element, column by column,
  whole, and in blocks of 64 columns, in GFLOP/s (``2n³`` operations).
* :func:`lr_scheduling` (12.11): a LeNet-style network trained by SGD with no schedule and with the
  square-root, factor, multi-factor, cosine and cosine-with-warmup schedules.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from descend import data as data_module
from descend import optim, plot
from descend import schedules as sch
from descend.checks import positive, positive_int, unknown
from descend.data import Dataset
from descend.history import History
from descend.lab.airfoil import CHAPTER_RUNS, chapter_runs, regression_data
from descend.lab.models import lenet
from descend.lab.study import Log, Notes, Panel, Study, median_curves, quiet
from descend.lab.vectorization import vectorization
from descend.train import fit

__all__ = [
    "adadelta",
    "adagrad",
    "adam",
    "classification_data",
    "from_options",
    "linear_regression",
    "lr_scheduling",
    "minibatch_sgd",
    "momentum",
    "names",
    "prepare",
    "rmsprop",
    "run",
    "vectorization",
    "yogi",
]


def minibatch_sgd(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> Study:
    """Section 12.5: gradient descent, SGD and minibatch SGD, loss against epochs and against seconds.

    GD η = 1 with batch 1500 (the whole table) for 10 epochs; SGD η = 0.005, batch 1; minibatch η = 0.4,
    batch 100 and η = 0.05, batch 10 (2 epochs each). Options as :func:`~descend.lab.airfoil.chapter_runs`.
    """
    return chapter_runs("minibatch-sgd", data, **options)


def momentum(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> Study:
    """Section 12.6: v ← βv + g, w ← w − ηv with (η, β) = (0.02, 0.5), (0.01, 0.9), (0.005, 0.9)."""
    return chapter_runs("momentum", data, **options)


def adagrad(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> Study:
    """Section 12.7: s ← s + g², w ← w − η g/√(s + ε) with η = 0.1, ε = 1e-6."""
    return chapter_runs("adagrad", data, **options)


def rmsprop(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> Study:
    """Section 12.8: s ← γs + (1 − γ)g², w ← w − η g/√(s + ε) with η = 0.01, γ = 0.9, ε = 1e-6."""
    return chapter_runs("rmsprop", data, **options)


def adadelta(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> Study:
    """Section 12.9: s ← ρs + (1 − ρ)g², g' = √(Δx + ε)/√(s + ε) g, w ← w − g',
    Δx ← ρΔx + (1 − ρ)g'², with ρ = 0.9, ε = 1e-5 (no learning rate: torch's lr = 1)."""
    return chapter_runs("adadelta", data, **options)


def adam(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> Study:
    """Section 12.10: Adam with β₁ = 0.9, β₂ = 0.999, η = 0.01, ε = 1e-6 added outside the root."""
    return chapter_runs("adam", data, **options)


def yogi(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> Study:
    """Section 12.10.3: Yogi, s ← s + (1 − β₂) g² sign(g² − s), with η = 0.01, ε = 1e-3."""
    return chapter_runs("yogi", data, **options)


# ---------------------------------------------------------------------------------- linear regression


def linear_regression(
    data: str | os.PathLike[str] | None = None,
    *,
    steps: int = 100,
    lr: float = 0.1,
    n_train: int = 1000,
    n_test: int = 1000,
    w: Sequence[float] = (2.0, -3.4),
    b: float = 4.2,
    noise: float = 0.01,
    seed: int = 0,
    log: Log = quiet,
) -> Study:
    """The lecture's lesson: full-batch gradient descent on the mean squared error, with autograd.

    ``L(w, b) = (1/n) Σᵢ (xᵢ·w + b − yᵢ)²`` on the training set; each step computes ∇L by
    ``backward()`` and takes ``w ← w − η ∇_w L``, ``b ← b − η ∂_b L`` from ``w = 0, b = 0``. The data are
    ``linear_synthetic(n, w, b, noise)`` (training seed ``seed``, test seed ``seed + 1``), so the best
    possible MSE is about ``noise²``; the table also shows the least-squares solution's MSE. With
    ``data=PATH`` the airfoil table is used instead (first 1200 rows to train, the remaining rows to
    test). η = 0.1 is stable for standardized features (the Hessian 2XᵀX/n has eigenvalues near 2, and
    GD needs η < 2/λ_max).
    """
    steps = positive_int("steps", steps)
    lr = positive("lr", lr)
    if data is None:
        x, y = data_module.linear_synthetic(n_train, w, b, noise, seed)
        tx, ty = data_module.linear_synthetic(n_test, w, b, noise, seed + 1)
        source = f"linear_synthetic(w={list(w)}, b={b}, noise={noise})"
    else:
        ax, ay = data_module.airfoil(data)
        x, y, tx, ty = ax[:1200], ay[:1200], ax[1200:], ay[1200:]
        source = str(data)
    weight = torch.zeros(x.shape[1], requires_grad=True)
    bias = torch.zeros((), requires_grad=True)
    records = []

    def mse(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((features @ weight + bias - target) ** 2).mean()

    for step in range(steps + 1):
        loss = mse(x, y)
        with torch.no_grad():
            test = float(mse(tx, ty))
        records.append({"run": "gd", "step": step, "train_mse": float(loss.detach()), "test_mse": test})
        if step == steps:
            break
        loss.backward()
        with torch.no_grad():
            weight -= lr * weight.grad
            bias -= lr * bias.grad
        weight.grad = None
        bias.grad = None
    design = torch.cat([x, torch.ones(len(x), 1)], dim=1).double()
    solution = torch.linalg.lstsq(design, y.double().unsqueeze(1)).solution.squeeze(1)
    ls_w, ls_b = solution[:-1].float(), float(solution[-1])
    ls_train = float(((x @ ls_w + ls_b - y) ** 2).mean())
    ls_test = float(((tx @ ls_w + ls_b - ty) ** 2).mean())
    shown = sorted({0, 1, 5, 10, 25, 50, steps} & set(range(steps + 1)))
    rows = [{k: v for k, v in records[s].items() if k != "run"} for s in shown]
    rows.append({"step": "least squares", "train_mse": ls_train, "test_mse": ls_test})
    log(
        f"linear-regression: train MSE {records[-1]['train_mse']:.4g}, test MSE {records[-1]['test_mse']:.4g}"
    )
    curve = {
        "training MSE": np.array([[r["step"], r["train_mse"]] for r in records]),
        "test MSE": np.array([[r["step"], r["test_mse"]] for r in records]),
    }
    fig = plot.loss_curves(
        curve, xlabel="step", ylabel="mean squared error", title="Gradient descent on the MSE"
    )
    config = {
        "experiment": "linear-regression",
        "data": source,
        "n_train": len(x),
        "n_test": len(tx),
        "steps": steps,
        "lr": lr,
        "seed": seed,
        "learned_w": weight.detach().tolist(),
        "learned_b": float(bias.detach()),
        "least_squares_w": ls_w.tolist(),
        "least_squares_b": ls_b,
    }
    desc = (
        f"Gradient descent with autograd on the mean squared error of a linear model, {steps} steps of "
        f"η = {lr} from zero, on {source}. Training and test MSE at chosen steps; the least-squares "
        "solution is the best a linear model can do on the training set."
    )
    caption = "Training and test MSE against gradient-descent steps; they fall together to the noise level."
    return Study(
        "linear-regression",
        "descend experiment linear-regression",
        desc,
        rows,
        [Panel(fig, caption, name="mse")],
        config=config,
        records=records,
    )


# -------------------------------------------------------------------------------------- lr scheduling


def _schedule_set(epochs: int) -> dict[str, tuple[float, sch.Schedule | None]]:
    """The chapter's schedules (12.11), per epoch: name -> (SGD's base lr, schedule or None)."""
    cos_steps = max(1, min(20, epochs))
    warm = min(5, cos_steps)
    return {
        "no schedule (η 0.3)": (0.3, None),
        "square root (η 0.1)": (0.1, sch.polynomial(0.1, alpha=0.5, beta=1.0)),
        "factor (0.3·0.9ᵗ)": (0.3, sch.factor(0.3, factor=0.9, stop_factor_lr=1e-2)),
        "multi-factor (0.5, ×0.5 at 15, 30)": (0.5, sch.multi_factor(0.5, milestones=(15, 30), factor=0.5)),
        "cosine (0.3 → 0.01)": (0.3, sch.cosine(0.3, max_steps=cos_steps, final_lr=0.01)),
        "cosine + warmup": (0.3, sch.cosine(0.3, max_steps=cos_steps, final_lr=0.01, warmup_steps=warm)),
    }


def classification_data(data: str | os.PathLike[str] | Dataset | None, log: Log = quiet) -> Dataset:
    """The data of :func:`lr_scheduling`: a :class:`Dataset`; the Fashion-MNIST files in the folder
    ``data``; or, for None, Fashion-MNIST when its files are in the cache, else scikit-learn's 8×8 digits
    (which ``log`` is told about, with how to get Fashion-MNIST)."""
    if isinstance(data, Dataset):
        return data
    if data is not None:
        return data_module.fashion_mnist(data, download=False)
    cached = data_module.cache_dir() / "fashion-mnist"
    try:
        return data_module.fashion_mnist(download=False)
    except (FileNotFoundError, data_module.DataError):
        log(
            f"Fashion-MNIST is not in {cached}, so these runs use scikit-learn's 8×8 digits. To train on "
            'Fashion-MNIST as the chapter does, download it once (python -c "from descend import data; '
            'data.fashion_mnist()") or pass a folder holding its four files (--data FOLDER).'
        )
        return data_module.digits()


def lr_scheduling(
    data: str | os.PathLike[str] | Dataset | None = None,
    *,
    epochs: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    schedules: Sequence[str] | None = None,
    progress: bool = False,
    log: Log = quiet,
) -> Study:
    """Section 12.11: LeNet trained by SGD with the chapter's learning-rate schedules.

    Each schedule is a function of the epoch (d2l calls its schedulers once per epoch), applied through
    :class:`descend.schedules.LRScheduler` with ``scheduler_interval="epoch"``:

    * no schedule: η = 0.3;
    * square root: η(t) = 0.1·(t + 1)^(−1/2);
    * factor: η(t) = max(0.01, 0.3·0.9ᵗ) (the chapter plots this schedule from 2.0 but does not train it;
      here it starts from the same 0.3 as the others);
    * multi-factor: η = 0.5, halved at epochs 15 and 30;
    * cosine: from 0.3 to 0.01 over 20 epochs, then 0.01;
    * cosine with warmup: the same after a linear warmup from 0 over 5 epochs.

    Data: a :class:`Dataset`, a Fashion-MNIST folder, or None: Fashion-MNIST when its files are in the
    cache (``descend.data.cache_dir()/fashion-mnist``), else the bundled 8×8 digits. The model is
    initialized from ``seed`` identically for every schedule.
    """
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    notes = Notes(log)
    dataset = classification_data(data, notes)
    table = _schedule_set(epochs)
    chosen = list(table) if schedules is None else list(schedules)
    for s in chosen:
        if s not in table:
            raise unknown("schedule", s, list(table))
    histories: dict[str, list[History]] = {}
    rows = []
    for label in chosen:
        base_lr, schedule = table[label]
        torch.manual_seed(seed)
        model = lenet(dataset.input_shape, dataset.num_classes or 10)
        opt = optim.SGD(model.parameters(), lr=base_lr)
        scheduler = sch.LRScheduler(opt, schedule) if schedule is not None else None
        hist = fit(
            model,
            nn.functional.cross_entropy,
            opt,
            dataset,
            epochs=epochs,
            batch_size=batch_size,
            scheduler=scheduler,
            scheduler_interval="epoch",
            seed=seed,
            progress=progress,
        )
        histories[label] = [hist]
        rows.append(
            {
                "schedule": label,
                "train loss": hist.final("train_loss"),
                "train acc": hist.final("train_acc"),
                "test acc": hist.final("test_acc"),
                "best test acc": hist.best("test_acc", "max"),
                "final lr": hist.final("lr"),
                "seconds": hist.final("seconds"),
                "status": str(hist.status),
            }
        )
        log(f"lr-scheduling: {label}: test acc {hist.final('test_acc'):.4f} ({hist.status})")
    named = {k: (lambda t, s=table[k]: s[1](t) if s[1] is not None else s[0]) for k in chosen}
    panels = [
        Panel(
            plot.loss_curves(
                median_curves(histories, "epoch", f"{split}_acc"),
                xlabel="epoch",
                ylabel=f"{words} accuracy",
                log_y=False,
                title=f"{words.capitalize()} accuracy",
            ),
            f"Accuracy on the {words} set after each epoch.",
            name=f"{split}_accuracy",
        )
        for split, words in (("train", "training"), ("test", "test"))
    ]
    steps = max(epochs, 2)
    schedule_fig = plot.schedules(
        named, steps=steps, title="Schedules (per epoch)", stairs=True, xlabel="epoch"
    )
    panels.append(
        Panel(schedule_fig, "The learning rate of each epoch under each schedule.", name="schedules")
    )
    config = {
        "experiment": "lr-scheduling",
        "data": dataset.name,
        "n_train": dataset.n_train,
        "n_test": dataset.n_test,
        "model": "LeNet (ReLU, max pooling)",
        "optimizer": "SGD",
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "schedules": {k: {"base_lr": table[k][0], "schedule": repr(table[k][1])} for k in chosen},
        "scheduler_interval": "epoch",
    }
    desc = (
        f"LeNet on {dataset.name} ({dataset.n_train} training, {dataset.n_test} test images), SGD with "
        f"minibatches of {batch_size} for {epochs} epochs under the chapter's learning-rate schedules "
        "(section 12.11), each stepped once per epoch."
    )
    return Study(
        "lr-scheduling",
        "descend experiment lr-scheduling",
        desc,
        rows,
        panels,
        histories,
        config,
        notes=notes.lines,
    )


# ------------------------------------------------------------------------------------------ by name

_EXPERIMENTS: dict[str, Callable[..., Study]] = {
    "minibatch-sgd": minibatch_sgd,
    "momentum": momentum,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adadelta": adadelta,
    "adam": adam,
    "yogi": yogi,
    "linear-regression": linear_regression,
    "vectorization": vectorization,
    "lr-scheduling": lr_scheduling,
}


def names() -> list[str]:
    """The experiments :func:`run` knows."""
    return list(_EXPERIMENTS)


def run(name: str, **options: Any) -> Study:
    """Run the experiment ``name`` (see :func:`names`) with ``options`` passed to its function."""
    if name not in _EXPERIMENTS:
        raise unknown("experiment", name, names())
    return _EXPERIMENTS[name](**options)


def prepare(
    name: str,
    *,
    data: str | os.PathLike[str] | None = None,
    seeds: int = 3,
    epochs: int | None = None,
    progress: bool = False,
    log: Log = quiet,
) -> Callable[[], Study]:
    """Check the command line's options for ``descend experiment NAME`` and load the data; return what
    runs the experiment. Every mistake (an unknown name, an option the experiment has no use for, a data
    file that is missing or malformed) is raised here, before any work is done.

    ``seeds`` is a count (seeds 0..seeds-1) for the airfoil runs; ``epochs`` overrides the airfoil runs' and
    lr-scheduling's epochs; ``data`` is the airfoil table (airfoil runs and linear-regression) or a
    Fashion-MNIST folder (lr-scheduling). Where no data is given and an experiment stands in for the
    chapter's (synthetic airfoil-like rows, the digits for Fashion-MNIST), ``log`` is told, with how to get
    the real data.
    """
    if name not in _EXPERIMENTS:
        raise unknown("experiment", name, names())
    seeds = positive_int("seeds", seeds)
    if epochs is not None:
        positive_int("epochs", epochs)
    try:
        if name in CHAPTER_RUNS:
            notes = Notes(log)
            dataset = regression_data(data, log=notes)

            def chapter() -> Study:
                study = chapter_runs(
                    name, dataset, seeds=list(range(seeds)), epochs=epochs, progress=progress, log=log
                )
                study.notes = notes.lines + study.notes
                if data is not None:
                    study.config["data"] = str(data)
                return study

            return chapter
        if name == "lr-scheduling":
            notes = Notes(log)
            images = classification_data(data, notes)

            def scheduling() -> Study:
                study = lr_scheduling(images, epochs=epochs or 30, progress=progress, log=log)
                study.notes = notes.lines + study.notes
                return study

            return scheduling
        if epochs is not None:
            raise ValueError(f"Invalid epochs: {epochs}; the {name} experiment does not train by epochs")
        if name == "linear-regression":
            if data is not None:
                data_module.airfoil(data)
            return lambda: linear_regression(data, log=log)
    except (FileNotFoundError, data_module.DataError) as e:
        raise ValueError(f"Invalid data: {e}") from None
    if data is not None:
        raise ValueError(f"Invalid data: {str(data)!r}; the vectorization experiment uses no data")
    return lambda: vectorization(log=log)


def from_options(name: str, **options: Any) -> Study:
    """Run ``name`` with the command line's options at once (see :func:`prepare`)."""
    return prepare(name, **options)()
