"""The chapter's runs on the airfoil regression (sections 12.5-12.10), each a :class:`Study`.

Airfoil-style linear regression (12.5-12.10). The chapter fits ``ŷ = x·w + b`` (``w ~ N(0, 0.01²)``,
``b = 0``) to the first 1500 rows of the standardized NASA airfoil table with the loss
``ℓ = mean((ŷ − y)²/2)`` (``descend.train.squared_loss``), evaluates that loss on the whole training set
every 200 examples (d2l's ``train_ch11``) and prints the last value. Given ``data=PATH`` these functions use
that table (:func:`descend.data.airfoil_dataset`); by default they run on :func:`airfoil_like`, 1500
synthetic rows with the table's feature correlations, coefficients and noise level (so the same curvature
and the same best loss, 0.242), which needs no download. The runs and the
chapter's hyperparameters, as the book's from-scratch code writes them (symbols as the chapter's):

==================  ==========================================================================  ======
experiment          runs                                                                        section
==================  ==========================================================================  ======
``minibatch-sgd``   GD η = 1, batch 1500, 10 epochs; SGD η = 0.005, batch 1; minibatch η = 0.4,  12.5
                    batch 100 and η = 0.05, batch 10 (2 epochs each)
``momentum``        v ← βv + g, w ← w − ηv: (η, β) = (0.02, 0.5), (0.01, 0.9), (0.005, 0.9)       12.6
``adagrad``         s ← s + g², w ← w − η g/√(s + ε), η = 0.1, ε = 1e-6                          12.7
``rmsprop``         s ← γs + (1 − γ)g², w ← w − η g/√(s + ε), η = 0.01, γ = 0.9, ε = 1e-6        12.8
``adadelta``        s ← ρs + (1 − ρ)g², g' = √(Δx + ε)/√(s + ε)·g, w ← w − g',                  12.9
                    Δx ← ρΔx + (1 − ρ)g'², ρ = 0.9, ε = 1e-5
``adam``            β₁ = 0.9, β₂ = 0.999, η = 0.01, ε = 1e-6 (outside the root)                  12.10
``yogi``            s ← s + (1 − β₂) g² sign(g² − s), otherwise Adam's; η = 0.01, ε = 1e-3       12.10
==================  ==========================================================================  ======

All use minibatches of 10 for 2 epochs unless said otherwise. The chapter puts ε inside the root for
AdaGrad and RMSProp: that is ``eps=0, eps_root=1e-6`` in :mod:`descend.optim` (``rho``, ``alpha`` are the
chapter's ρ and γ).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from descend import data as data_module
from descend import optim, plot
from descend.checks import positive_int
from descend.checks import seeds as check_seeds
from descend.data import Dataset
from descend.history import History
from descend.lab.models import linear
from descend.lab.study import Log, Notes, Panel, Study, median_curves, quiet, spread
from descend.train import fit, squared_loss

__all__ = ["CHAPTER_RUNS", "Run", "airfoil_like", "chapter_runs", "regression_data"]


@dataclass(frozen=True)
class Run:
    """One training run of the chapter: a label, an optimizer (short name of :mod:`descend.optim`) with
    its hyperparameters, the minibatch size and the number of epochs."""

    label: str
    optimizer: str
    options: Mapping[str, Any]
    batch_size: int = 10
    epochs: int = 2


#: The chapter's runs on the airfoil regression, by experiment name (see the module docstring).
CHAPTER_RUNS: dict[str, tuple[Run, ...]] = {
    "minibatch-sgd": (
        Run("gd (η 1, batch 1500)", "sgd", {"lr": 1.0}, batch_size=1500, epochs=10),
        Run("sgd (η 0.005, batch 1)", "sgd", {"lr": 0.005}, batch_size=1),
        Run("minibatch (η 0.4, batch 100)", "sgd", {"lr": 0.4}, batch_size=100),
        Run("minibatch (η 0.05, batch 10)", "sgd", {"lr": 0.05}, batch_size=10),
    ),
    "momentum": (
        Run("momentum η 0.02, β 0.5", "sgd", {"lr": 0.02, "momentum": 0.5}),
        Run("momentum η 0.01, β 0.9", "sgd", {"lr": 0.01, "momentum": 0.9}),
        Run("momentum η 0.005, β 0.9", "sgd", {"lr": 0.005, "momentum": 0.9}),
    ),
    "adagrad": (Run("adagrad η 0.1", "adagrad", {"lr": 0.1, "eps": 0.0, "eps_root": 1e-6}),),
    "rmsprop": (
        Run("rmsprop η 0.01, γ 0.9", "rmsprop", {"lr": 0.01, "alpha": 0.9, "eps": 0.0, "eps_root": 1e-6}),
    ),
    "adadelta": (Run("adadelta ρ 0.9", "adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-5}),),
    "adam": (Run("adam η 0.01", "adam", {"lr": 0.01, "eps": 1e-6}),),
    "yogi": (Run("yogi η 0.01", "yogi", {"lr": 0.01, "eps": 1e-3}),),
}

SECTIONS = {
    "minibatch-sgd": "12.5 Minibatch Stochastic Gradient Descent",
    "momentum": "12.6 Momentum",
    "adagrad": "12.7 Adagrad",
    "rmsprop": "12.8 RMSProp",
    "adadelta": "12.9 Adadelta",
    "adam": "12.10 Adam (and Yogi)",
    "yogi": "12.10.3 Yogi",
}


# The airfoil table's statistics (standardized columns, all 1503 rows): the features' correlation matrix,
# the least-squares coefficients and the residual variance (its half is the best loss, 0.2421).
_AIRFOIL_CORR = (
    (1.0, -0.2728, -0.0037, 0.1337, -0.2301),
    (-0.2728, 1.0, -0.5049, 0.0588, 0.7534),
    (-0.0037, -0.5049, 1.0, 0.0038, -0.2208),
    (0.1337, 0.0588, 0.0038, 1.0, -0.0040),
    (-0.2301, 0.7534, -0.2208, -0.0040, 1.0),
)
_AIRFOIL_COEF = (-0.5859, -0.3619, -0.4839, 0.2254, -0.2808)
_AIRFOIL_RESIDUAL_VAR = 0.4843


def airfoil_like(n: int = 1500, seed: int = 0) -> Dataset:
    """A synthetic stand-in for the airfoil table that needs no file: ``n`` rows of 5 Gaussian features
    with the table's correlation matrix, ``y = X w_ls + ε`` with the table's least-squares coefficients
    ``w_ls`` and residual variance (ε ~ N(0, 0.4843)), every column then standardized as the chapter does.

    The loss surface thus has the real table's curvature (the Hessian ``XᵀX/n`` has the same spectrum,
    λ_max ≈ 2.1) and its floor (best loss ≈ 0.242), so the chapter's hyperparameters behave as they do on
    the real table. Seeded: the same arguments give the same tensors.
    """
    n = positive_int("n", n)
    g = torch.Generator().manual_seed(seed)
    chol = torch.linalg.cholesky(torch.tensor(_AIRFOIL_CORR, dtype=torch.float64))
    x = torch.randn(n, 5, generator=g, dtype=torch.float64) @ chol.T
    noise = torch.randn(n, generator=g, dtype=torch.float64) * math.sqrt(_AIRFOIL_RESIDUAL_VAR)
    y = x @ torch.tensor(_AIRFOIL_COEF, dtype=torch.float64) + noise
    table = torch.cat([x, y.unsqueeze(1)], dim=1)
    table = ((table - table.mean(0)) / table.std(0, unbiased=False)).float()
    return Dataset(
        table[:, :5].contiguous(), table[:, 5].contiguous(), None, None, "airfoil-like", "regression"
    )


SYNTHETIC_NOTE = (
    "No airfoil table was given, so these runs use airfoil-like synthetic data: 1500 rows with the "
    "table's feature correlations, least-squares coefficients and noise (the same curvature and best loss, "
    f"0.242). For the chapter's table, download {data_module.AIRFOIL_URL} and pass its path (--data)."
)


def regression_data(path: str | os.PathLike[str] | None = None, n: int = 1500, log: Log = quiet) -> Dataset:
    """The airfoil table at ``path`` (first ``n`` rows, no test split, as the chapter); ``"diabetes"`` for
    scikit-learn's bundled diabetes regression; None for :func:`airfoil_like` (``n`` rows), which ``log``
    is told about, with where to get the real table."""
    if path is None:
        log(SYNTHETIC_NOTE)
        return airfoil_like(n)
    if str(path) == "diabetes":
        return data_module.diabetes()
    return data_module.airfoil_dataset(path, n=n)


def _train(dataset: Dataset, run: Run, seed: int, epochs: int, progress: bool) -> History:
    torch.manual_seed(seed)
    model = linear(dataset.input_shape[0])
    opt = optim.create(run.optimizer, model.parameters(), **dict(run.options))
    # d2l's train_ch11 evaluates every 200 examples
    return fit(
        model,
        squared_loss,
        opt,
        dataset,
        epochs=epochs,
        batch_size=run.batch_size,
        eval_every=200,
        seed=seed,
        progress=progress,
    )


def chapter_runs(
    name: str,
    data: str | os.PathLike[str] | Dataset | None = None,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int | None = None,
    runs: Sequence[Run] | None = None,
    progress: bool = False,
    log: Log = quiet,
) -> Study:
    """Run one of the chapter's airfoil experiments (a key of :data:`CHAPTER_RUNS`) for every seed.

    Args:
        name: ``"minibatch-sgd"``, ``"momentum"``, ``"adagrad"``, ``"rmsprop"``, ``"adadelta"``, ``"adam"``
            or ``"yogi"``.
        data: the airfoil table's path, ``"diabetes"``, a :class:`Dataset`, or None for
            :func:`airfoil_like` (which ``log`` is told about).
        seeds: one run per seed (initialization and minibatch order); the table shows the median and the
            range of the final loss.
        epochs: override every run's number of epochs (for quick runs).
        runs: override the chapter's runs.
        progress: show a progress bar per run.
        log: called with a line of text after each run.

    Returns:
        A :class:`Study` whose rows hold, per run, the final training loss (median, min, max over seeds),
        the test loss where the data has a test split, and the training time per epoch.
    """
    if name not in CHAPTER_RUNS:
        raise ValueError(f"Invalid experiment: {name!r}; expected one of {', '.join(CHAPTER_RUNS)}")
    seeds = check_seeds("seeds", seeds)
    if epochs is not None:
        positive_int("epochs", epochs)
    notes = Notes(log)
    dataset = data if isinstance(data, Dataset) else regression_data(data, log=notes)
    todo = tuple(runs) if runs is not None else CHAPTER_RUNS[name]
    histories: dict[str, list[History]] = {}
    rows = []
    for r in todo:
        n_epochs = epochs if epochs is not None else r.epochs
        hists = []
        for seed in seeds:
            hist = _train(dataset, r, seed, n_epochs, progress)
            hists.append(hist)
            log(f"{name}: {r.label}, seed {seed}: loss {hist.final('train_loss'):.4g} ({hist.status})")
        histories[r.label] = hists
        rows.append(_row(r, hists, n_epochs))
    section = SECTIONS[name]
    epoch_fig = plot.loss_curves(
        median_curves(histories, "epoch", "train_loss"),
        xlabel="epoch",
        ylabel="training loss",
        title=f"{section}: loss against epochs",
    )
    time_fig = plot.loss_curves(
        median_curves(histories, "seconds", "train_loss"),
        xlabel="seconds",
        ylabel="training loss",
        title=f"{section}: loss against time",
    )
    if name == "minibatch-sgd":
        # the chapter's time axis is logarithmic; symlog keeps the untrained model's point at t = 0
        ax = time_fig.axes[0]
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlim(left=0)
    config = {
        "experiment": name,
        "section": section,
        "data": str(data) if isinstance(data, str | os.PathLike) else dataset.name,
        "n_train": dataset.n_train,
        "n_test": dataset.n_test,
        "model": "linear, w ~ N(0, 0.01²), b = 0",
        "loss": "mean((y_hat - y)^2 / 2)",
        "eval_every": 200,
        "seeds": seeds,
        "runs": [
            {
                "label": r.label,
                "optimizer": r.optimizer,
                "options": dict(r.options),
                "batch_size": r.batch_size,
                "epochs": epochs if epochs is not None else r.epochs,
            }
            for r in todo
        ],
    }
    if dataset.name == "airfoil-like":
        where = "airfoil-like synthetic data (the table's correlations, coefficients and noise)"
    else:
        where = f"{dataset.name} ({data})" if isinstance(data, str | os.PathLike) else dataset.name
    desc = (
        f"The runs of section {section} on {where} ({dataset.n_train} training rows): a linear "
        f"model, loss mean((ŷ − y)²/2) on the whole training set every 200 examples, median over seeds "
        f"{seeds}. Times exclude evaluation."
    )
    panels = [
        Panel(
            epoch_fig,
            "Training loss (whole training set) against epochs, median over seeds.",
            name="loss_vs_epoch",
        ),
        Panel(time_fig, "Training loss against training time, median over seeds.", name="loss_vs_seconds"),
    ]
    return Study(name, f"descend experiment {name}", desc, rows, panels, histories, config, notes=notes.lines)


def _row(run: Run, hists: Sequence[History], epochs: int) -> dict[str, Any]:
    med, lo, hi = spread([h.final("train_loss") for h in hists])
    row: dict[str, Any] = {
        "run": run.label,
        "optimizer": run.optimizer,
        "batch": run.batch_size,
        "epochs": epochs,
        "loss (median)": med,
        "loss min": lo,
        "loss max": hi,
    }
    if "test_loss" in hists[0].columns():
        row["test loss (median)"] = spread([h.final("test_loss") for h in hists])[0]
    row["sec/epoch"] = spread([h.final("seconds") / max(h.final("epoch"), 1e-12) for h in hists])[0]
    row["diverged"] = sum(not h.ok for h in hists)
    return row
