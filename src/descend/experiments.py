"""The chapter's experiments, each a function that trains, measures and returns an :class:`ExperimentReport`.

Section numbers are those of *Dive into Deep Learning*, chapter 12 "Optimization Algorithms".

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

import json
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from descend import data as data_module
from descend import optim, plot
from descend import schedules as sch
from descend.checks import positive_int
from descend.data import Dataset
from descend.report import Report, atomic_write, text_table, write_csv
from descend.train import History, fit, squared_loss

__all__ = [
    "CHAPTER_RUNS",
    "ExperimentReport",
    "Run",
    "adadelta",
    "adagrad",
    "adam",
    "airfoil_like",
    "chapter_runs",
    "from_options",
    "lenet",
    "linear_regression",
    "lr_scheduling",
    "median_curve",
    "minibatch_sgd",
    "momentum",
    "names",
    "regression_data",
    "rmsprop",
    "run",
    "vectorization",
    "yogi",
]

Log = Callable[[str], None]


# --------------------------------------------------------------------------------------------- report


@dataclass
class ExperimentReport:
    """What an experiment measured: a summary table, the training histories, figures and its settings.

    Attributes:
        name: the experiment's name (``"momentum"``).
        title: a one-line title.
        description: what was run, in words.
        rows: the summary table, one dict per run.
        histories: run label -> one :class:`History` per seed (empty for experiments that do not train).
        figures: figure name -> matplotlib Figure.
        config: the settings, JSON-serializable, enough to run it again.
        records: extra per-point rows for the CSV (experiments that do not use :func:`fit`).
    """

    name: str
    title: str
    description: str
    rows: list[dict[str, Any]]
    histories: dict[str, list[History]] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> str:
        """The summary as an aligned text table."""
        return text_table(self.rows)

    def history_rows(self) -> list[dict[str, Any]]:
        """Every evaluation point of every run and seed, one dict each (``run`` and ``seed`` first)."""
        out = list(self.records)
        for label, runs in self.histories.items():
            for hist in runs:
                seed = hist.config.get("seed")
                out.extend({"run": label, "seed": seed, **rec} for rec in hist.records)
        return out

    def to_report(self) -> Report:
        rep = Report(self.title)
        rep.add_text(self.description)
        rep.add_heading("Summary")
        rep.add_table(self.rows)
        if self.figures:
            rep.add_heading("Figures")
            for fname, fig in self.figures.items():
                rep.add_figure(fname, fig, caption=fname.replace("_", " "))
        rep.add_heading("Configuration")
        rep.add_code(json.dumps(self.config, indent=2, default=str))
        return rep

    def write(self, folder: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``report.html`` (self-contained), ``report.md``, ``figures/*.png``, ``summary.csv``,
        ``history.csv`` and ``config.json`` into ``folder``, each file atomically."""
        root = Path(folder)
        written = self.to_report().write(root)
        written["summary"] = write_csv(root / "summary.csv", self.rows)
        history = self.history_rows()
        if history:
            written["history"] = write_csv(root / "history.csv", history)
        text = json.dumps(self.config, indent=2, default=str) + "\n"
        written["config"] = atomic_write(root / "config.json", text)
        return written


# ---------------------------------------------------------------------------------------------- helpers


def _quiet(_: str) -> None:
    return None


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, int) or not isinstance(seeds, Sequence) or not seeds:
        raise ValueError(f"Invalid seeds: {seeds!r}; expected a non-empty sequence of integers >= 0")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"Invalid seeds: {seeds!r}; expected integers >= 0")
    return list(seeds)


def median_curve(histories: Sequence[History], x: str, y: str) -> np.ndarray:
    """The point-wise median over seeds of column ``y`` against the median of column ``x``: an (n, 2)
    array. Runs of different lengths (one stopped by a non-finite loss) count where they have values;
    non-finite points are dropped."""
    if not histories:
        raise ValueError("Invalid histories: empty; expected at least one History")
    n = max(len(h) for h in histories)
    xs = np.full((len(histories), n), np.nan)
    ys = np.full((len(histories), n), np.nan)
    for i, h in enumerate(histories):
        if len(h):
            xs[i, : len(h)] = np.asarray(h[x], dtype=float)
            ys[i, : len(h)] = np.asarray(h[y], dtype=float)
    ys[~np.isfinite(ys)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns after a divergence
        mx, my = np.nanmedian(xs, axis=0), np.nanmedian(ys, axis=0)
    keep = np.isfinite(mx) & np.isfinite(my)
    return np.stack([mx[keep], my[keep]], axis=1)


def _spread(values: Sequence[float]) -> tuple[float, float, float]:
    """Median, min and max of the finite values (NaN when there is none)."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, math.nan
    return float(np.median(finite)), min(finite), max(finite)


def _curves_figure(
    named: Mapping[str, np.ndarray], xlabel: str, ylabel: str, title: str, log_y: bool = True
) -> Figure:
    """plot.loss_curves on the curves that have points, with lines past the palette dashed."""
    curves = {k: v for k, v in named.items() if len(v)}
    if not curves:
        curves = {"(no finite values)": np.array([[0.0, 1.0]])}
    if log_y and any((v[:, 1] <= 0).any() for v in curves.values()):
        log_y = False
    fig = plot.loss_curves(curves, xlabel=xlabel, ylabel=ylabel, log_y=log_y, title=title)
    distinguish_lines(fig)
    return fig


def distinguish_lines(fig: Figure) -> Figure:
    """Dash the lines that reuse a colour of the palette (more runs than colours), then redraw legends."""
    palette = len(plot.PATH_COLORS)
    for ax in fig.axes:
        lines = ax.get_lines()
        if len(lines) <= palette:
            continue
        for k, line in enumerate(lines):
            if k >= palette:
                line.set_linestyle((0, (4, 2)))
        ax.legend(fontsize=8)
    return fig


# ------------------------------------------------------------------------------- linear-regression runs


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

_SECTIONS = {
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


def regression_data(path: str | os.PathLike[str] | None = None, n: int = 1500) -> Dataset:
    """The airfoil table at ``path`` (first ``n`` rows, no test split, as the chapter); ``"diabetes"`` for
    scikit-learn's bundled diabetes regression; None for :func:`airfoil_like` (``n`` rows)."""
    if path is None:
        return airfoil_like(n)
    if str(path) == "diabetes":
        return data_module.diabetes()
    return data_module.airfoil_dataset(path, n=n)


def _linear_model(features: int, seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    model = nn.Linear(features, 1)
    # the chapter's initialization: w ~ N(0, 0.01²), b = 0
    nn.init.normal_(model.weight, std=0.01)
    nn.init.zeros_(model.bias)
    return model


def _train_linear(dataset: Dataset, run: Run, seed: int, epochs: int, progress: bool) -> History:
    model = _linear_model(dataset.input_shape[0], seed)
    opt = optim.create(run.optimizer, model.parameters(), **dict(run.options))
    return fit(
        model,
        squared_loss,
        opt,
        dataset,
        epochs=epochs,
        batch_size=run.batch_size,
        eval_every=200,  # d2l's train_ch11 evaluates every 200 examples
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
    log: Log = _quiet,
) -> ExperimentReport:
    """Run one of the chapter's airfoil experiments (a key of :data:`CHAPTER_RUNS`) for every seed.

    Args:
        name: ``"minibatch-sgd"``, ``"momentum"``, ``"adagrad"``, ``"rmsprop"``, ``"adadelta"``, ``"adam"``
            or ``"yogi"``.
        data: the airfoil table's path, ``"diabetes"``, a :class:`Dataset`, or None for
            :func:`airfoil_like`.
        seeds: one run per seed (initialization and minibatch order); the table shows the median and the
            range of the final loss.
        epochs: override every run's number of epochs (for quick runs).
        runs: override the chapter's runs.
        progress: show a progress bar per run.
        log: called with a line of text after each run.

    Returns:
        An :class:`ExperimentReport` whose rows hold, per run, the final training loss (median, min, max
        over seeds), the test loss where the data has a test split, and the training time per epoch.
    """
    if name not in CHAPTER_RUNS:
        raise ValueError(f"Invalid experiment: {name!r}; expected one of {list(CHAPTER_RUNS)}")
    seeds = _check_seeds(seeds)
    if epochs is not None:
        positive_int("epochs", epochs)
    dataset = data if isinstance(data, Dataset) else regression_data(data)
    todo = tuple(runs) if runs is not None else CHAPTER_RUNS[name]
    histories: dict[str, list[History]] = {}
    rows = []
    for r in todo:
        n_epochs = epochs if epochs is not None else r.epochs
        hists = []
        for seed in seeds:
            hist = _train_linear(dataset, r, seed, n_epochs, progress)
            hists.append(hist)
            log(f"{name}: {r.label}, seed {seed}: loss {hist.final('train_loss'):.4g} ({hist.status})")
        histories[r.label] = hists
        rows.append(_run_row(r, hists, n_epochs))
    figures = {
        "loss_vs_epoch": _curves_figure(
            {k: median_curve(h, "epoch", "train_loss") for k, h in histories.items()},
            "epoch",
            "training loss",
            f"{_SECTIONS[name]}: loss against epochs",
        ),
        "loss_vs_seconds": _curves_figure(
            {k: median_curve(h, "seconds", "train_loss") for k, h in histories.items()},
            "seconds",
            "training loss",
            f"{_SECTIONS[name]}: loss against time",
        ),
    }
    if name == "minibatch-sgd":
        # the chapter's time axis is logarithmic; symlog keeps the untrained model's point at t = 0
        ax = figures["loss_vs_seconds"].axes[0]
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlim(left=0)
    config = {
        "experiment": name,
        "section": _SECTIONS[name],
        "data": str(data) if not isinstance(data, Dataset) and data is not None else dataset.name,
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
    where = {None: "airfoil-like synthetic data (the table's correlations, coefficients and noise)"}.get(
        data if not isinstance(data, Dataset) else None, f"{dataset.name} ({data})"
    )
    desc = (
        f"The runs of section {_SECTIONS[name]} on {where} ({dataset.n_train} training rows): a linear "
        f"model, loss mean((ŷ − y)²/2) on the whole training set every 200 examples, median over seeds "
        f"{seeds}. Times exclude evaluation."
    )
    return ExperimentReport(name, f"descend experiment {name}", desc, rows, histories, figures, config)


def _run_row(run: Run, hists: Sequence[History], epochs: int) -> dict[str, Any]:
    med, lo, hi = _spread([h.final("train_loss") for h in hists])
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
        row["test loss (median)"] = _spread([h.final("test_loss") for h in hists])[0]
    row["sec/epoch"] = _spread([h.final("seconds") / max(h.final("epoch"), 1e-12) for h in hists])[0]
    row["diverged"] = sum(not h.ok for h in hists)
    return row


def minibatch_sgd(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> ExperimentReport:
    """Section 12.5: gradient descent, SGD and minibatch SGD, loss against epochs and against seconds.

    GD η = 1 with batch 1500 (the whole table) for 10 epochs; SGD η = 0.005, batch 1; minibatch η = 0.4,
    batch 100 and η = 0.05, batch 10 (2 epochs each). Options as :func:`chapter_runs`.
    """
    return chapter_runs("minibatch-sgd", data, **options)


def momentum(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> ExperimentReport:
    """Section 12.6: v ← βv + g, w ← w − ηv with (η, β) = (0.02, 0.5), (0.01, 0.9), (0.005, 0.9)."""
    return chapter_runs("momentum", data, **options)


def adagrad(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> ExperimentReport:
    """Section 12.7: s ← s + g², w ← w − η g/√(s + ε) with η = 0.1, ε = 1e-6."""
    return chapter_runs("adagrad", data, **options)


def rmsprop(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> ExperimentReport:
    """Section 12.8: s ← γs + (1 − γ)g², w ← w − η g/√(s + ε) with η = 0.01, γ = 0.9, ε = 1e-6."""
    return chapter_runs("rmsprop", data, **options)


def adadelta(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> ExperimentReport:
    """Section 12.9: s ← ρs + (1 − ρ)g², g' = √(Δx + ε)/√(s + ε) g, w ← w − g',
    Δx ← ρΔx + (1 − ρ)g'², with ρ = 0.9, ε = 1e-5 (no learning rate: torch's lr = 1)."""
    return chapter_runs("adadelta", data, **options)


def adam(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> ExperimentReport:
    """Section 12.10: Adam with β₁ = 0.9, β₂ = 0.999, η = 0.01, ε = 1e-6 added outside the root."""
    return chapter_runs("adam", data, **options)


def yogi(data: str | os.PathLike[str] | Dataset | None = None, **options: Any) -> ExperimentReport:
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
    log: Log = _quiet,
) -> ExperimentReport:
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
    if not (isinstance(lr, int | float) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"Invalid lr: {lr!r}; expected lr > 0")
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
    fig = _curves_figure(curve, "step", "mean squared error", "Gradient descent on the MSE")
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
    return ExperimentReport(
        "linear-regression", "descend experiment linear-regression", desc, rows, {}, {"mse": fig}, config,
        records,
    )  # fmt: skip


# -------------------------------------------------------------------------------------- vectorization


def _best_time(fn: Callable[[], Any], repeats: int, min_total: float = 0.1) -> float:
    """The shortest of at least ``repeats`` calls, calling again until ``min_total`` seconds are spent (the
    best of many is the least disturbed by other work on the machine)."""
    best, total, calls = math.inf, 0.0, 0
    while calls < repeats or total < min_total:
        tic = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - tic
        best, total, calls = min(best, elapsed), total + elapsed, calls + 1
    return best


def vectorization(
    n: int = 256, block: int = 64, *, element_rows: int = 16, repeats: int = 3, threads: int | None = 1,
    seed: int = 0, log: Log = _quiet,
) -> ExperimentReport:  # fmt: skip
    """Section 12.5.1: the same product ``A = BC`` of n×n float32 matrices computed four ways.

    * element: ``A[i, j] = B[i, :]·C[:, j]``, one dot product per call. Timed on the first
      ``element_rows`` rows only (``element_rows·n`` dot products; 256² Python-level calls take seconds),
      and rated by the operations those rows take, ``2·element_rows·n²``;
    * column: ``A[:, j] = B C[:, j]``, one matrix-vector product per column;
    * full: ``A = BC`` in one call;
    * block: ``A[:, j:j+block] = B C[:, j:j+block]``, ``n/block`` calls.

    GFLOP/s = operations / best time of ``repeats`` runs / 1e9, with ``2n³`` operations for the whole
    product (the chapter rounds 2·256³ = 3.36e7 to 0.03 GFLOP). Every method's result is checked against
    the full product.

    ``threads`` (default 1) is torch's intra-op thread count during the timings, restored afterwards; one
    thread measures vectorization and caches alone, while on a busy machine several threads can wait on
    each other far longer than a 256×256 product takes. ``None`` keeps torch's setting.
    """
    if threads is not None:
        positive_int("threads", threads)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _vectorization(n, block, element_rows, repeats, seed, log)
    finally:
        torch.set_num_threads(previous)


def _vectorization(
    n: int, block: int, element_rows: int, repeats: int, seed: int, log: Log
) -> ExperimentReport:
    n, block, element_rows, repeats = (positive_int(k, v) for k, v in
                                       (("n", n), ("block", block), ("element_rows", element_rows),
                                        ("repeats", repeats)))  # fmt: skip
    if block > n:
        raise ValueError(f"Invalid block: {block}; expected block <= n = {n}")
    element_rows = min(element_rows, n)
    g = torch.Generator().manual_seed(seed)
    B, C = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    A = torch.zeros(n, n)
    reference = B @ C

    def element() -> None:
        for i in range(element_rows):
            for j in range(n):
                A[i, j] = torch.dot(B[i, :], C[:, j])

    def column() -> None:
        for j in range(n):
            A[:, j] = torch.mv(B, C[:, j])

    def full() -> None:
        A.copy_(torch.mm(B, C))

    def blocks() -> None:
        for j in range(0, n, block):
            A[:, j : j + block] = torch.mm(B, C[:, j : j + block])

    flops = 2.0 * n**3
    methods = [
        ("element", element, 2.0 * element_rows * n * n, f"first {element_rows} of {n} rows"),
        ("column", column, flops, f"{n} matrix-vector products"),
        ("full", full, flops, "one matrix product"),
        (f"block {block}", blocks, flops, f"{-(-n // block)} products of {block} columns"),
    ]
    rows = []
    for label, fn, ops, what in methods:
        A.zero_()
        seconds = _best_time(fn, repeats)
        done = A[:element_rows] if label == "element" else A
        if not torch.allclose(done, reference[: done.shape[0]], rtol=1e-4, atol=1e-3):
            raise RuntimeError(f"vectorization: the {label} product disagrees with torch.mm")
        rows.append({"method": label, "timed": what, "seconds": seconds, "GFLOP/s": ops / seconds / 1e9})
        log(f"vectorization: {label}: {ops / seconds / 1e9:.4g} GFLOP/s")
    fig = plot.bars(
        {r["method"]: r["GFLOP/s"] for r in rows},
        ylabel="GFLOP/s",
        log_y=True,
        title=f"A = BC, {n}×{n} float32: GFLOP/s by method",
    )
    config = {
        "experiment": "vectorization",
        "n": n,
        "block": block,
        "element_rows": element_rows,
        "repeats": repeats,
        "seed": seed,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    desc = (
        f"A {n}×{n} matrix product element by element (timed on {element_rows} rows), column by column, "
        f"whole, and in blocks of {block} columns; the best of {repeats} runs each."
    )
    return ExperimentReport("vectorization", "descend experiment vectorization", desc, rows, {},
                            {"gflops": fig}, config)  # fmt: skip


# -------------------------------------------------------------------------------------- lr scheduling


def lenet(input_shape: Sequence[int], num_classes: int = 10) -> nn.Sequential:
    """The chapter's LeNet (12.11: ReLU and max pooling), sized for the input.

    28×28 inputs (Fashion-MNIST) get the chapter's network: conv 5×5 (6, padding 2), pool, conv 5×5 (16),
    pool, dense 120, 84, classes. Smaller images (the 8×8 digits) get 3×3 convolutions with padding 1, so
    two poolings still leave a 2×2 map.
    """
    channels, height, width = (int(s) for s in input_shape)
    big = min(height, width) >= 20
    k, pad2 = (5, 0) if big else (3, 1)
    features = nn.Sequential(
        nn.Conv2d(channels, 6, kernel_size=k, padding=k // 2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=k, padding=pad2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    with torch.no_grad():
        flat = features(torch.zeros(1, channels, height, width)).shape[1]
    return nn.Sequential(
        *features,
        nn.Linear(flat, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )


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


def _classification_data(data: str | os.PathLike[str] | Dataset | None) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if data is not None:
        return data_module.fashion_mnist(data, download=False)
    try:
        return data_module.fashion_mnist(download=False)
    except (FileNotFoundError, data_module.DataError):
        return data_module.digits()


def lr_scheduling(
    data: str | os.PathLike[str] | Dataset | None = None,
    *,
    epochs: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    schedules: Sequence[str] | None = None,
    progress: bool = False,
    log: Log = _quiet,
) -> ExperimentReport:
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
    dataset = _classification_data(data)
    table = _schedule_set(epochs)
    chosen = list(table) if schedules is None else list(schedules)
    for s in chosen:
        if s not in table:
            raise ValueError(f"Invalid schedule: {s!r}; expected one of {list(table)}")
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
        rows.append({
            "schedule": label,
            "train loss": hist.final("train_loss"),
            "train acc": hist.final("train_acc"),
            "test acc": hist.final("test_acc"),
            "best test acc": hist.best("test_acc", "max"),
            "final lr": hist.final("lr"),
            "seconds": hist.final("seconds"),
            "status": hist.status,
        })  # fmt: skip
        log(f"lr-scheduling: {label}: test acc {hist.final('test_acc'):.4f} ({hist.status})")
    named = {k: (lambda t, s=table[k]: s[1](t) if s[1] is not None else s[0]) for k in chosen}
    figures = {
        "train_accuracy": _curves_figure(
            {k: median_curve(h, "epoch", "train_acc") for k, h in histories.items()},
            "epoch", "training accuracy", "Training accuracy", log_y=False,
        ),
        "test_accuracy": _curves_figure(
            {k: median_curve(h, "epoch", "test_acc") for k, h in histories.items()},
            "epoch", "test accuracy", "Test accuracy", log_y=False,
        ),
        "schedules": distinguish_lines(
            plot.schedules(named, steps=max(epochs, 2), title="Schedules (per epoch)")
        ),
    }  # fmt: skip
    figures["schedules"].axes[0].set_xlabel("epoch")
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
    return ExperimentReport("lr-scheduling", "descend experiment lr-scheduling", desc, rows, histories,
                            figures, config)  # fmt: skip


# ------------------------------------------------------------------------------------------ by name

_EXPERIMENTS: dict[str, Callable[..., ExperimentReport]] = {
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


def run(name: str, **options: Any) -> ExperimentReport:
    """Run the experiment ``name`` (see :func:`names`) with ``options`` passed to its function."""
    if name not in _EXPERIMENTS:
        raise ValueError(f"Invalid experiment: {name!r}; expected one of {names()}")
    return _EXPERIMENTS[name](**options)


def from_options(
    name: str,
    *,
    data: str | None = None,
    seeds: int = 3,
    epochs: int | None = None,
    progress: bool = False,
    log: Log = _quiet,
) -> ExperimentReport:
    """Run ``name`` with the command line's options (``descend experiment NAME``).

    ``seeds`` is a count (seeds 0..seeds-1) for the airfoil runs and the first seed elsewhere; ``epochs``
    overrides the airfoil runs' and lr-scheduling's epochs; ``data`` is the airfoil table (airfoil runs and
    linear-regression) or a Fashion-MNIST folder (lr-scheduling). An option an experiment has no use for
    is an error rather than silently ignored.
    """
    if name not in _EXPERIMENTS:
        raise ValueError(f"Invalid experiment: {name!r}; expected one of {names()}")
    seeds = positive_int("seeds", seeds)
    if name in CHAPTER_RUNS:
        return chapter_runs(name, data, seeds=list(range(seeds)), epochs=epochs, progress=progress, log=log)
    if name == "lr-scheduling":
        return lr_scheduling(data, epochs=epochs or 30, progress=progress, log=log)
    if epochs is not None:
        raise ValueError(f"Invalid epochs: {epochs}; the {name} experiment does not train by epochs")
    if name == "linear-regression":
        return linear_regression(data, log=log)
    if data is not None:
        raise ValueError(f"Invalid data: {data!r}; the vectorization experiment uses no data")
    return vectorization(log=log)
