"""``descend compare``: the chapter's optimizers side by side on one task, with a report.

:func:`compare` trains the same model from the same initialization (per seed) with each optimizer, on
the same minibatches, and returns a :class:`~descend.lab.study.Study`: a table, figures (loss against
epochs and against seconds, test accuracy, learning rate) and the histories, which it writes as a report
folder. :func:`prepare` checks every setting and loads the data first, so a mistake is found before any
work is done. Optimizers are written as :mod:`descend.lab.spec` specs: ``"adam"``,
``"adam:lr=0.003,betas=(0.9,0.99)"``; the same name may appear with different settings.

* ``report.html``: one self-contained page (figures embedded), ``report.md`` and ``figures/*.png``;
* ``summary.csv`` (one row per optimizer: medians and ranges over seeds), ``runs.csv`` (one row per
  optimizer and seed), ``history.csv`` (every evaluation point of every run);
* ``config.json``: every setting and hyperparameter, with the optimizers as they were written, and
  ``command.txt``: the command line that reruns it.

The tasks and the default learning rates are in :mod:`descend.lab.tasks`.

A run whose loss turns NaN or infinite is stopped by :func:`descend.train.fit` and reported as
``diverged`` (its final values are NaN in the table, its curve ends where it diverged); the other runs go
on.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from descend import optim, plot
from descend.checks import positive_int, unknown
from descend.checks import seeds as check_seeds
from descend.data import Dataset
from descend.history import History
from descend.lab import spec
from descend.lab.study import Log, Panel, Study, median_curves, quiet, spread
from descend.lab.tasks import DEFAULT_LR, DEFAULT_OPTIMIZERS, DEFAULT_OPTIONS, TASKS, Task
from descend.train import fit

__all__ = [
    "DEFAULT_LR",
    "DEFAULT_OPTIMIZERS",
    "DEFAULT_OPTIONS",
    "TASKS",
    "Entry",
    "Plan",
    "Task",
    "compare",
    "prepare",
    "run",
]

# ------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Entry:
    """One optimizer of a comparison: its label (the spec as written), short name, class and the keyword
    arguments it is built with."""

    label: str
    name: str
    cls: type[torch.optim.Optimizer]
    kwargs: dict[str, Any]
    own: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """A checked comparison, its data loaded, ready to run (:func:`run`)."""

    task: Task
    entries: list[Entry]
    dataset: Dataset
    epochs: int
    batch_size: int
    seeds: list[int]
    device: torch.device
    threads: int | None
    data: str | None
    given: dict[str, Any] = field(default_factory=dict)


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


def _entries(
    task: str, specs: Sequence[str], lrs: Mapping[str, float], options: Mapping[str, Mapping[str, Any]]
) -> list[Entry]:
    known = optim.names()
    for where, keys in (("lr", lrs), ("options", options)):
        for name in keys:
            if name not in known:
                raise unknown(f"{where} entry", name, known)
    parsed = [(text, *spec.parse(text)) for text in specs]
    names = {name.lower() for _, name, _ in parsed}
    for name in lrs:
        if name not in names:
            raise ValueError(
                f"Invalid lr entry: {name!r}; it is not among the optimizers compared {sorted(names)}"
            )
    entries, labels = [], set()
    for text, name, own in parsed:
        key = name.lower()
        if key not in known:
            raise unknown("optimizer", name, known)
        label = text.strip() if own else key
        if label in labels:
            raise ValueError(f"Invalid optimizers: {label!r} is given twice; each may appear once")
        labels.add(label)
        hyper = {"lr": DEFAULT_LR[task].get(key, 0.01), **DEFAULT_OPTIONS.get(task, {}).get(key, {})}
        if key in lrs:
            hyper["lr"] = lrs[key]
        hyper.update(options.get(key, {}))
        hyper.update(own)
        choice = spec.resolve_optimizer(key, hyper, text=text)
        entries.append(Entry(label, key, choice.cls, choice.kwargs, dict(own)))
    return entries


def prepare(
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
) -> Plan:
    """Check every setting of a comparison and load its data (see :func:`compare` for the arguments).
    Every mistake raises here (a ``ValueError`` naming the setting), before any training."""
    if task not in TASKS:
        raise unknown("task", task, list(TASKS))
    spec_task = TASKS[task]
    specs = list(optimizers) if optimizers else list(DEFAULT_OPTIMIZERS)
    lrs = {k.lower(): v for k, v in (lrs or {}).items()}
    options = {k.lower(): dict(v) for k, v in (options or {}).items()}
    entries = _entries(task, specs, lrs, options)
    seeds = check_seeds("seeds", seeds)
    epochs = spec_task.epochs if epochs is None else positive_int("epochs", epochs)
    batch_size = spec_task.batch_size if batch_size is None else positive_int("batch_size", batch_size)
    threads = None if threads is None else positive_int("threads", threads)
    dev = _device(device)
    if data is not None and not spec_task.needs_data:
        raise ValueError(f"Invalid data: {str(data)!r}; the {task} task uses its embedded data set")
    dataset = spec_task.load(None if data is None else str(data))
    given = {"optimizers": specs, "lr": lrs, "options": options}
    return Plan(
        spec_task,
        entries,
        dataset,
        epochs,
        batch_size,
        seeds,
        dev,
        threads,
        None if data is None else str(data),
        given,
    )


def compare(
    task: str = "digits-cnn",
    optimizers: Sequence[str] | None = None,
    *,
    progress: bool = True,
    log: Log | None = None,
    **settings: Any,
) -> Study:
    """Train the task's model with each optimizer and seed and return the :class:`Study`.

    Args:
        task: a key of :data:`TASKS`.
        optimizers: specs (``"adam"``, ``"adam:lr=0.003"``, see :mod:`descend.lab.spec`); default
            :data:`DEFAULT_OPTIMIZERS`.
        lrs: learning rate per optimizer name, overriding :data:`DEFAULT_LR` (a spec's own lr wins).
        options: other hyperparameters per optimizer name, e.g. ``{"adam": {"betas": (0.9, 0.99)}}``.
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
    return run(prepare(task, optimizers, **settings), progress=progress, log=log)


def run(plan: Plan, *, progress: bool = True, log: Log | None = None) -> Study:
    """Run a prepared comparison: every optimizer on every seed, then the study."""
    log = log or quiet
    previous = torch.get_num_threads()
    if plan.threads is not None:
        torch.set_num_threads(plan.threads)
    histories: dict[str, list[History]] = {e.label: [] for e in plan.entries}
    total, done, started = len(plan.entries) * len(plan.seeds), 0, time.perf_counter()
    try:
        for seed in plan.seeds:
            for entry in plan.entries:
                hist = _one_run(plan, entry, seed, progress)
                histories[entry.label].append(hist)
                done += 1
                log(_run_line(done, total, entry.label, seed, hist))
    finally:
        torch.set_num_threads(previous)
    return _study(plan, histories, time.perf_counter() - started, previous)


def _one_run(plan: Plan, entry: Entry, seed: int, progress: bool) -> History:
    torch.manual_seed(seed)
    model = plan.task.model(plan.dataset).to(plan.device)
    opt = entry.cls(model.parameters(), **entry.kwargs)
    return fit(
        model,
        plan.task.loss,
        opt,
        plan.dataset,
        epochs=plan.epochs,
        batch_size=plan.batch_size,
        seed=seed,
        device=plan.device,
        progress=progress,
        eval_every=plan.task.eval_every,
    )


def _run_line(done: int, total: int, label: str, seed: int, hist: History) -> str:
    head = f"[{done}/{total}] {label:<9} seed {seed}"
    if not hist.ok:
        return f"{head}: diverged ({hist.message})"
    parts = [f"train loss {hist.final('train_loss'):.4g}"]
    if "test_loss" in hist.columns():
        parts.append(f"test loss {hist.final('test_loss'):.4g}")
    if "test_acc" in hist.columns():
        parts.append(f"test acc {hist.final('test_acc'):.3f}")
    parts.append(f"{hist.final('seconds'):.2f} s")
    return f"{head}: " + ", ".join(parts)


# ----------------------------------------------------------------------------------------- the study


def _finals(h: History) -> dict[str, Any]:
    cols = h.columns()
    out: dict[str, Any] = {}
    for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
        if key in cols:
            out[key] = math.nan if not h.ok else float(h.final(key))
    seconds = float(h.final("seconds")) if len(h) else 0.0
    steps = int(h.final("step")) if len(h) else 0
    out["seconds"] = seconds
    out["steps"] = steps
    out["steps_per_s"] = steps / seconds if seconds > 0 else math.nan
    out["status"] = "ok" if h.ok else "diverged"
    if not h.ok:
        out["message"] = h.message
    return out


def _summary(plan: Plan, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per optimizer: the median over seeds of each final value, with the range of the test
    loss (or training loss without a test set), and how many seeds diverged."""
    out = []
    for entry in plan.entries:
        mine = [r for r in runs if r["optimizer"] == entry.label]
        row: dict[str, Any] = {"optimizer": entry.label, "lr": entry.kwargs.get("lr")}
        for key in ("train_loss", "test_loss", "train_acc", "test_acc", "seconds", "steps_per_s"):
            if any(key in r for r in mine):
                row[key] = spread([r.get(key, math.nan) for r in mine])[0]
        main = "test_loss" if "test_loss" in row else "train_loss"
        _, lo, hi = spread([r.get(main, math.nan) for r in mine])
        if len(mine) > 1:
            row[f"{main} min"], row[f"{main} max"] = lo, hi
        bad = sum(r["status"] == "diverged" for r in mine)
        row["status"] = "ok" if bad == 0 else f"diverged ({bad}/{len(mine)})"
        out.append(row)
    return out


_COLUMNS = (
    "optimizer",
    "lr",
    "train_loss",
    "test_loss",
    "test_loss min",
    "test_loss max",
    "train_loss min",
    "train_loss max",
    "train_acc",
    "test_acc",
    "seconds",
    "steps_per_s",
    "status",
)
_CAPTIONS = {
    "loss_vs_epoch": "Training loss (whole training set) against epochs.",
    "test_loss_vs_epoch": "Test loss against epochs.",
    "loss_vs_seconds": "Training loss against training time.",
    "accuracy_vs_epoch": "Test accuracy against epochs.",
    "lr_vs_epoch": "Learning rate of each optimizer (first parameter group).",
}


def _panels(histories: dict[str, list[History]], seeds: int, classification: bool) -> list[Panel]:
    tag = f" (median of {seeds} seeds)" if seeds > 1 else ""
    figs = {
        "loss_vs_epoch": plot.loss_curves(
            median_curves(histories, "epoch", "train_loss"),
            xlabel="epoch",
            ylabel="training loss",
            title=f"Training loss against epochs{tag}",
        )
    }
    test = median_curves(histories, "epoch", "test_loss")
    if test:
        figs["test_loss_vs_epoch"] = plot.loss_curves(
            test, xlabel="epoch", ylabel="test loss", title=f"Test loss against epochs{tag}"
        )
    figs["loss_vs_seconds"] = plot.loss_curves(
        median_curves(histories, "seconds", "train_loss"),
        xlabel="seconds (training only)",
        ylabel="training loss",
        title=f"Training loss against time{tag}",
    )
    if classification:
        figs["accuracy_vs_epoch"] = plot.loss_curves(
            median_curves(histories, "epoch", "test_acc"),
            xlabel="epoch",
            ylabel="test accuracy",
            log_y=False,
            title=f"Test accuracy against epochs{tag}",
        )
    figs["lr_vs_epoch"] = plot.loss_curves(
        median_curves(histories, "epoch", "lr"),
        xlabel="epoch",
        ylabel="learning rate",
        title="Learning rate of each optimizer",
    )
    return [Panel(fig, _CAPTIONS[name], name=name) for name, fig in figs.items()]


def _study(plan: Plan, histories: dict[str, list[History]], seconds: float, threads: int) -> Study:
    ds, task = plan.dataset, plan.task
    runs = [
        {"optimizer": label, "seed": h.config.get("seed"), **_finals(h)}
        for label, hs in histories.items()
        for h in hs
    ]
    command = _command(plan)
    config = {
        "task": task.name,
        "task_description": task.description,
        "dataset": ds.name,
        "data": plan.data,
        "n_train": ds.n_train,
        "n_test": ds.n_test,
        "given": plan.given,
        "optimizers": {
            e.label: {k: (list(v) if isinstance(v, tuple) else v) for k, v in e.kwargs.items()}
            for e in plan.entries
        },
        "epochs": plan.epochs,
        "batch_size": plan.batch_size,
        "eval_every": task.eval_every,
        "seeds": plan.seeds,
        "device": str(plan.device),
        "threads": plan.threads if plan.threads is not None else threads,
        "wall_seconds": seconds,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "command": command,
    }
    evaluated = f"every {task.eval_every} examples" if task.eval_every else "after each epoch"
    desc = (
        f"{len(plan.entries)} optimizers on {task.description}: {ds.n_train} training and {ds.n_test} test "
        f"examples, minibatches of {plan.batch_size}, {plan.epochs} epochs, evaluated {evaluated}, seeds "
        f"{plan.seeds} (each seed gives every optimizer the same initial model and the same minibatches), on "
        f"{plan.device}. Times count training only, not evaluation."
    )
    study = Study(
        "compare",
        f"descend compare: {task.name}",
        desc,
        _summary(plan, runs),
        _panels(histories, len(plan.seeds), ds.task == "classification"),
        histories,
        config,
        command,
        tables={"runs": runs},
    )
    study.columns = [c for c in _COLUMNS if any(c in r for r in study.rows)]
    study.run_column = "optimizer"
    return study


def _command(plan: Plan) -> str:
    """The command line that reruns the comparison: each optimizer as it was written, and every setting
    it took that neither its name implies nor its spec says pinned with ``--lr`` and ``--set`` (so a rerun
    gives the same numbers even if the defaults change)."""
    args = ["descend", "compare", "--task", plan.task.name]
    if plan.data is not None:
        args += ["--data", plan.data]
    pinned: dict[str, dict[str, Any]] = {}
    for e in plan.entries:
        args += ["-o", e.label]
        implied = optim.resolve(e.name)[1]
        for k, v in e.kwargs.items():
            if k not in e.own and implied.get(k, object()) != v:
                pinned.setdefault(e.name, {})[k] = v
    for name, settings in pinned.items():
        for k, v in settings.items():
            value = spec.format("x", {k: v}).split("=", 1)[1]
            args += ["--lr", f"{name}={value}"] if k == "lr" else ["--set", f"{name}.{k}={value}"]
    args += ["--epochs", str(plan.epochs), "--batch-size", str(plan.batch_size)]
    if plan.seeds == list(range(len(plan.seeds))):
        args += ["--seeds", str(len(plan.seeds))]
    else:
        args += ["--seed-list", ",".join(str(s) for s in plan.seeds)]
    device = "auto" if plan.device.type == "cpu" and not torch.cuda.is_available() else str(plan.device)
    args += ["--device", device, "--threads", str(plan.threads) if plan.threads is not None else "0"]
    return shlex.join(args)
