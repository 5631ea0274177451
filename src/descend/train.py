"""The training loop: minibatches, evaluation points, history, checkpoints and exact resume.

:func:`fit` trains any ``torch.nn.Module`` with any ``torch.optim.Optimizer`` (``descend.optim``'s or
torch's) and any ``torch.optim.lr_scheduler.LRScheduler`` (``descend.schedules.LRScheduler`` or torch's),
as the chapter's ``train_ch11`` does, and returns a :class:`History`.

One step on a minibatch ``B`` of the training set, with loss ``ℓ`` and parameters ``w``::

    L_B(w) = loss(model(X_B), y_B)        (the loss function's own reduction, normally the batch mean)
    w ← optimizer.step(∇L_B(w))            (after which the scheduler, if any, moves the learning rate)

Minibatches. Without replacement (the default) each epoch visits a fresh random permutation of the
``n`` training examples in ``ceil(n / batch_size)`` batches (the last one smaller, unless ``drop_last``).
With ``replacement=True`` every batch draws its indices independently and uniformly from ``0..n-1``
(the chapter's exercise); an epoch has the same number of batches of the same sizes, so the two are
compared at equal cost. The permutations and draws come from a ``torch.Generator`` seeded with ``seed``.

Evaluation points: at the end of each epoch (``eval_every=None``), or every ``k`` training examples
(``eval_every=k``, as d2l plots every 200 examples: after each step that takes the count of examples seen
past a multiple of ``k``), plus the untrained model (``eval_at_start``) and the final model. At each
point the loss (and the metrics, e.g. accuracy for classification) is measured in evaluation mode on the
whole training set (``train_eval="full"``, d2l's ``evaluate_loss``) or averaged over the minibatches seen
since the previous point (``train_eval="running"``, cheaper), and on the whole test set if there is one.
``seconds`` counts training time only: evaluation, checkpoints and the progress bar are excluded.

A non-finite minibatch loss (or evaluation loss) stops the run before the offending update. By default
:func:`fit` returns the history so far with ``status == "non-finite"`` and the reason in ``message`` (as
``scipy.optimize`` reports ``success=False`` rather than crashing, so that one diverging optimizer does
not end a comparison); ``on_nonfinite="raise"`` raises :class:`NonFiniteLossError` instead, which carries
the same history.

Checkpoints (``checkpoint=PATH``) hold the model, optimizer and scheduler states, every random state
(the sampler's generator, torch's CPU and CUDA generators, Python's ``random``, NumPy's global one), the
position (epoch, batch within it, the epoch's permutation, step, examples, seconds) and the history. They
are written atomically (a temporary file, then ``os.replace``) at the end of each epoch, every
``checkpoint_every`` steps, and when ``max_steps`` stops the run. ``resume=True`` continues from the file
(or starts afresh when there is none yet); a resumed run ends bit-identical, parameters and history
(``seconds`` aside), to one never stopped.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from descend.checks import positive_int
from descend.data import Dataset
from descend.files import atomic_write, replacing

__all__ = [
    "History",
    "NonFiniteLossError",
    "accuracy",
    "evaluate",
    "fit",
    "squared_loss",
]

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_CHECKPOINT_FORMAT = "descend-checkpoint"
_CHECKPOINT_VERSION = 1
_INT_COLUMNS = ("step", "examples")
# Settings that fix the sequence of updates: a checkpoint only resumes a call that agrees on all of them.
_RESUME_KEYS = (
    "n_train",
    "batch_size",
    "replacement",
    "drop_last",
    "seed",
    "eval_every",
    "train_eval",
    "scheduler_interval",
)


# -------------------------------------------------------------------------------------- losses, metrics


def squared_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The chapter's loss: ``mean((ŷ − y)² / 2)``, with ``y`` reshaped to ``ŷ``'s shape (d2l's
    ``squared_loss(...).mean()``). Half the mean squared error."""
    return ((output - target.reshape(output.shape)) ** 2 / 2).mean()


def accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of correct predictions: ``mean(argmax(ŷ) == y)`` for scores of shape ``(B, C)``; a single
    score per example (shape ``(B,)`` or ``(B, 1)``) is a binary logit, predicting class 1 when > 0."""
    if output.ndim > 1 and output.shape[-1] > 1:
        predicted = output.argmax(dim=-1)
    else:
        predicted = (output.reshape(target.shape) > 0).to(target.dtype)
    return (predicted == target).float().mean()


# ---------------------------------------------------------------------------------------------- History


@dataclass
class History:
    """What :func:`fit` measured, one record per evaluation point.

    Each record has ``epoch`` (examples seen / training-set size, a float), ``step`` (updates taken),
    ``examples`` (examples seen), ``seconds`` (training time so far, evaluation excluded), ``lr`` (the first
    parameter group's learning rate, the one the next update will use), ``train_loss`` and, where they
    apply, ``test_loss`` and each metric as ``train_<name>``/``test_<name>`` (``train_acc``, ``test_acc``).

    Attributes:
        records: the evaluation points in order.
        status: ``"finished"`` (all epochs done), ``"max_steps"`` (stopped by ``max_steps``),
            ``"non-finite"`` (stopped by a non-finite loss) or ``"running"`` (a checkpoint's own copy).
        message: the reason, in words.
        config: the run's settings (optimizer, hyperparameters, batch size, ...), JSON-serializable.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    message: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the run ended without a non-finite loss."""
        return self.status != "non-finite"

    def columns(self) -> list[str]:
        """Every record key, in order of first appearance."""
        seen: dict[str, None] = {}
        for record in self.records:
            seen.update(dict.fromkeys(record))
        return list(seen)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, name: str) -> list[Any]:
        """The column ``name`` (NaN where a record lacks it)."""
        if name not in self.columns():
            raise KeyError(f"Invalid column: {name!r}; this history has {self.columns()}")
        return [record.get(name, math.nan) for record in self.records]

    def final(self, name: str) -> Any:
        """The last recorded value of ``name``, e.g. ``history.final("test_loss")``."""
        if not self.records:
            raise IndexError(f"history is empty: no value of {name!r} recorded")
        return self[name][-1]

    def best(self, name: str, mode: Literal["min", "max"] = "min") -> float:
        """The smallest (``mode="min"``) or largest finite value of ``name``; NaN if there is none."""
        if mode not in ("min", "max"):
            raise ValueError(f"Invalid mode: {mode!r}; expected 'min' or 'max'")
        finite = [v for v in self[name] if math.isfinite(v)]
        if not finite:
            return math.nan
        return min(finite) if mode == "min" else max(finite)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (non-finite numbers become ``None``)."""
        return {
            "records": [{k: _json_number(v) for k, v in r.items()} for r in self.records],
            "status": self.status,
            "message": self.message,
            "config": self.config,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> History:
        records = [{k: (math.nan if v is None else v) for k, v in r.items()} for r in d["records"]]
        return cls(records, d.get("status", "running"), d.get("message", ""), dict(d.get("config", {})))

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the history (records, status, message, config) as JSON, atomically."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        return atomic_write(path, text + "\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> History:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the records as CSV, one row per evaluation point (status and config are not included:
        use :meth:`to_json` for those)."""
        columns = self.columns()
        lines = [",".join(columns)]
        for record in self.records:
            lines.append(",".join(_csv_cell(record.get(c)) for c in columns))
        return atomic_write(path, "\n".join(lines) + "\n")

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> History:
        """Read the records written by :meth:`to_csv` (status ``"finished"``, empty config)."""
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        records = [{k: _parse_cell(k, v) for k, v in row.items() if v != ""} for row in rows]
        return cls(records, status="finished")

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else {}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k.startswith(("train_", "test_")))
        return f"History({len(self.records)} points, status={self.status!r}{', ' if shown else ''}{shown})"


def _json_number(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _parse_cell(column: str, text: str) -> int | float:
    return int(text) if column in _INT_COLUMNS else float(text)


def _csv_cell(v: Any) -> str:
    return "" if v is None else repr(v) if isinstance(v, float) else str(v)


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite under ``fit(..., on_nonfinite="raise")``.

    ``history`` holds the run so far.
    """

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


# ------------------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss: Loss,
    x: torch.Tensor,
    y: torch.Tensor,
    metrics: Mapping[str, Metric] | None = None,
    batch_size: int = 4096,
) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``(x, y)`` in evaluation mode, in chunks of ``batch_size``.

    Each chunk's value is weighted by its size, so for batch-mean losses the result is the mean over all
    examples. Returns ``{"loss": ..., <metric>: ...}``; the model's train/eval mode is restored.
    """
    was_training = model.training
    model.eval()
    try:
        n = int(x.shape[0])
        sums = dict.fromkeys(["loss", *(metrics or {})], 0.0)
        for start in range(0, n, batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            out = model(xb)
            weight = int(xb.shape[0])
            sums["loss"] += float(_scalar(loss(out, yb), "loss")) * weight
            for name, metric in (metrics or {}).items():
                sums[name] += float(_scalar(metric(out, yb), f"metric {name!r}")) * weight
        return {k: v / n for k, v in sums.items()}
    finally:
        model.train(was_training)


def _scalar(value: Any, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"Invalid {what} value: {shape}; expected a scalar tensor (reduce over the batch)")
    return value.reshape(())


# -------------------------------------------------------------------------------------------- validation


def _choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"Invalid {name}: {value!r}; expected one of {list(options)}")
    return value


def _as_dataset(data: Any) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple | list) and len(data) in (2, 4):
        x, y, *test = data
        tx, ty = test if test else (None, None)
        is_float = isinstance(y, torch.Tensor) and y.is_floating_point()
        return Dataset(x, y, tx, ty, name="data", task="regression" if is_float else "classification")
    raise TypeError(
        f"Invalid data: {type(data).__name__}; expected a descend.data.Dataset, (train_x, train_y) or "
        "(train_x, train_y, test_x, test_y)"
    )


# ------------------------------------------------------------------------------------------------ the run


@dataclass
class _Position:
    """Where a run is; everything needed, with the RNG states, to take the next step exactly."""

    epoch: int = 0  # completed epochs
    batch: int = 0  # batches taken in the current epoch
    step: int = 0
    examples: int = 0
    seconds: float = 0.0
    perm: torch.Tensor | None = None  # the current epoch's order (sampling without replacement)
    running: dict[str, float] = field(default_factory=dict)  # sums since the last evaluation point
    running_n: int = 0


class _Run:
    """One call of :func:`fit`: the settings, the state, and the small steps the loop is made of."""

    def __init__(self, model, loss, optimizer, dataset, settings: dict[str, Any]) -> None:
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.s = settings
        self.scheduler = settings["scheduler"]
        self.device = settings["device"]
        self.x = dataset.train_x.to(self.device)
        self.y = dataset.train_y.to(self.device)
        has_test = dataset.test_x is not None
        self.tx = dataset.test_x.to(self.device) if has_test else None
        self.ty = dataset.test_y.to(self.device) if has_test else None
        self.n = dataset.n_train
        bs = min(settings["batch_size"], self.n)
        self.batch_size = bs
        self.steps_per_epoch = self.n // bs if settings["drop_last"] else -(-self.n // bs)
        self.generator = torch.Generator().manual_seed(settings["seed"])
        self.pos = _Position()
        self.history = History(config=settings["config"])

    # -- sampling ---------------------------------------------------------------------------------------

    def batch_indices(self) -> torch.Tensor:
        start = self.pos.batch * self.batch_size
        size = min(self.batch_size, self.n - start)
        if self.s["replacement"]:
            idx = torch.randint(self.n, (size,), generator=self.generator)
        else:
            if self.pos.perm is None:
                self.pos.perm = torch.randperm(self.n, generator=self.generator)
            idx = self.pos.perm[start : start + size]
        return idx.to(self.device)

    # -- one update ------------------------------------------------------------------------------------

    def train_step(self, idx: torch.Tensor) -> float:
        """Forward, backward and update on one minibatch; returns its loss (the update is skipped when
        the loss is not finite)."""
        self.optimizer.zero_grad(set_to_none=True)
        xb, yb = self.x[idx], self.y[idx]
        out = self.model(xb)
        batch_loss = _scalar(self.loss(out, yb), "loss")
        value = float(batch_loss.detach())
        if not math.isfinite(value):
            return value
        batch_loss.backward()
        self.optimizer.step()
        if self.scheduler is not None and self.s["scheduler_interval"] == "step":
            self.scheduler.step()
        if self.s["train_eval"] == "running":
            self.accumulate(out.detach(), yb, value)
        return value

    def accumulate(self, out: torch.Tensor, yb: torch.Tensor, value: float) -> None:
        weight = int(yb.shape[0])
        sums = self.pos.running
        sums["loss"] = sums.get("loss", 0.0) + value * weight
        with torch.no_grad():
            for name, metric in self.s["metrics"].items():
                sums[name] = sums.get(name, 0.0) + float(metric(out, yb)) * weight
        self.pos.running_n += weight

    # -- evaluation --------------------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        """Measure the model now and append the record to the history."""
        pos, metrics = self.pos, self.s["metrics"]
        rec: dict[str, Any] = {
            "epoch": pos.examples / self.n,
            "step": pos.step,
            "examples": pos.examples,
            "seconds": pos.seconds,
            "lr": float(self.optimizer.param_groups[0]["lr"]),
        }
        if self.s["train_eval"] == "full" or pos.running_n == 0:
            train = evaluate(self.model, self.loss, self.x, self.y, metrics, self.s["eval_batch_size"])
        else:
            train = {k: v / pos.running_n for k, v in pos.running.items()}
        pos.running, pos.running_n = {}, 0
        rec.update({f"train_{k}": v for k, v in train.items()})
        if self.tx is not None:
            test = evaluate(self.model, self.loss, self.tx, self.ty, metrics, self.s["eval_batch_size"])
            rec.update({f"test_{k}": v for k, v in test.items()})
        self.history.records.append(rec)
        if self.s["callback"] is not None:
            self.s["callback"](rec)
        return rec

    # -- checkpoints --------------------------------------------------------------------------------------

    def save(self) -> None:
        path = self.s["checkpoint"]
        if path is None:
            return
        pos = self.pos
        state = {
            "format": _CHECKPOINT_FORMAT,
            "version": _CHECKPOINT_VERSION,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": _scheduler_state(self.scheduler),
            "position": {k: getattr(pos, k) for k in ("epoch", "batch", "step", "examples", "seconds")},
            "running": dict(pos.running),
            "running_n": pos.running_n,
            "perm": pos.perm,
            "rng": _rng_state(self.generator),
            "history": self.history.to_dict(),
        }
        with replacing(path) as f:
            torch.save(state, f)

    def load(self) -> bool:
        """Restore the run from the checkpoint file; False when there is none yet."""
        path = self.s["checkpoint"]
        if not path.is_file():
            return False
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise ValueError(f"Invalid checkpoint: {path} could not be read ({e})") from e
        if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
            raise ValueError(f"Invalid checkpoint: {path} is not a descend training checkpoint")
        old = state["history"]["config"]
        for key in _RESUME_KEYS:
            if old.get(key) != self.s["config"].get(key):
                raise ValueError(
                    f"Invalid resume: checkpoint {path} was written with {key}={old.get(key)!r}, "
                    f"this call has {key}={self.s['config'].get(key)!r}"
                )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            if state["scheduler"] is None:
                raise ValueError(
                    f"Invalid resume: checkpoint {path} has no scheduler state, but a scheduler was given"
                )
            self.scheduler.load_state_dict(state["scheduler"])
        for k, v in state["position"].items():
            setattr(self.pos, k, v)
        self.pos.perm = state["perm"]
        self.pos.running, self.pos.running_n = dict(state["running"]), state["running_n"]
        _set_rng_state(self.generator, state["rng"])
        saved = History.from_dict(state["history"])
        self.history.records = saved.records
        return True


def _scheduler_state(scheduler: Any) -> dict[str, Any] | None:
    if scheduler is None:
        return None
    # Callables (a schedule function, a lambda) are code, not state: the caller rebuilds them, and
    # dropping them keeps checkpoints loadable with ``weights_only=True`` (LambdaLR does the same).
    return {k: v for k, v in scheduler.state_dict().items() if not callable(v)}


def _rng_state(generator: torch.Generator) -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "sampler": generator.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
    }


def _set_rng_state(generator: torch.Generator, state: Mapping[str, Any]) -> None:
    generator.set_state(state["sampler"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(_tuples(state["python"]))
    npst = state["numpy"]
    keys = npst["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, npst["pos"], npst["has_gauss"], npst["cached_gaussian"]))


def _tuples(v: Any) -> Any:
    """Python's ``random.setstate`` wants tuples where serialization may have left lists."""
    return tuple(_tuples(x) for x in v) if isinstance(v, list | tuple) else v


# --------------------------------------------------------------------------------------------------- fit


def fit(
    model: nn.Module,
    loss: Loss,
    optimizer: torch.optim.Optimizer,
    data: Dataset | tuple[torch.Tensor, ...],
    *,
    epochs: int,
    batch_size: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scheduler_interval: Literal["step", "epoch"] = "step",
    eval_every: int | None = None,
    eval_at_start: bool = True,
    train_eval: Literal["full", "running"] = "full",
    eval_batch_size: int = 4096,
    metrics: Mapping[str, Metric] | None = None,
    replacement: bool = False,
    drop_last: bool = False,
    seed: int = 0,
    max_steps: int | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    device: str | torch.device | None = None,
    on_nonfinite: Literal["stop", "raise"] = "stop",
    callback: Callable[[dict[str, Any]], None] | None = None,
) -> History:
    """Train ``model`` on ``data`` with minibatch updates and return the :class:`History`.

    Args:
        model: any module; moved to ``device`` when one is given.
        loss: ``loss(output, target) -> scalar tensor`` (a batch mean, e.g. :func:`squared_loss`,
            ``torch.nn.functional.cross_entropy``).
        optimizer: a ``torch.optim.Optimizer`` over the model's parameters (``descend.optim`` or torch).
        data: a :class:`descend.data.Dataset`, ``(train_x, train_y)`` or ``(train_x, train_y, test_x,
            test_y)``; integer targets mean classification.
        epochs: passes over the training set (a resumed run counts the epochs already done).
        batch_size: examples per update (capped at the training-set size, so ``batch_size=n`` is
            full-batch gradient descent).
        scheduler: an LR scheduler on ``optimizer``, stepped after every update
            (``scheduler_interval="step"``, as ``descend.schedules`` counts) or every epoch (``"epoch"``).
        eval_every: evaluate every this many training examples; ``None``: at the end of each epoch.
        eval_at_start: also evaluate the untrained model (the first record, at 0 examples).
        train_eval: ``"full"``: training loss over the whole training set at each point; ``"running"``:
            the mean minibatch loss since the previous point.
        eval_batch_size: chunk size for evaluation.
        metrics: ``{name: metric(output, target) -> scalar}``; default ``{"acc": accuracy}`` for
            classification, none for regression.
        replacement: draw each minibatch with replacement instead of walking a permutation.
        drop_last: skip an epoch's last, smaller batch.
        seed: seeds the sampler's generator (seed the model's initialization yourself).
        max_steps: stop after this many updates in all (counting those before a resume).
        progress: show a tqdm progress bar (on a terminal; never when output is redirected).
        checkpoint: file for checkpoints (written at the end of each epoch, every ``checkpoint_every``
            updates, and when ``max_steps`` stops the run).
        checkpoint_every: also checkpoint every this many updates.
        resume: continue from ``checkpoint`` if the file exists (it must come from a run with the same
            data size, batch size, sampling, seed and evaluation settings; ``epochs`` may grow).
        device: where to train; default the model's device.
        on_nonfinite: ``"stop"`` returns the history with ``status="non-finite"``; ``"raise"`` raises
            :class:`NonFiniteLossError` carrying it.
        callback: called with each new record.

    Returns:
        The :class:`History`; ``status`` is ``"finished"``, ``"max_steps"`` or ``"non-finite"``.
    """
    settings = _settings(model, loss, optimizer, data, locals())
    dataset = settings.pop("dataset")
    if device is not None:
        model.to(settings["device"])
    run = _Run(model, loss, optimizer, dataset, settings)
    resumed = resume and run.load()
    if not resumed and eval_at_start and not _finite(run.record()):
        return _stop(run, "non-finite", "non-finite loss of the initial model, before any update")
    return _loop(run)


def _finite(record: Mapping[str, Any]) -> bool:
    return all(math.isfinite(record[k]) for k in ("train_loss", "test_loss") if k in record)


def _nonfinite_eval_message(record: Mapping[str, Any]) -> str:
    losses = ", ".join(f"{k}={record[k]}" for k in ("train_loss", "test_loss") if k in record)
    return (
        f"non-finite loss at the evaluation after update {record['step']} (epoch {record['epoch']:.4g}, "
        f"{record['examples']} examples): {losses}; the history keeps that record"
    )


def _settings(model, loss, optimizer, data, given: dict[str, Any]) -> dict[str, Any]:
    """Check every argument (naming it and its value on error) and gather the run's settings."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"Invalid model: {type(model).__name__}; expected a torch.nn.Module")
    if not callable(loss):
        raise TypeError(f"Invalid loss: {loss!r}; expected a callable loss(output, target)")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"Invalid optimizer: {type(optimizer).__name__}; expected a torch.optim.Optimizer")
    scheduler = given["scheduler"]
    if scheduler is not None and getattr(scheduler, "optimizer", None) is not optimizer:
        raise ValueError("Invalid scheduler: it does not drive the optimizer given to fit")
    dataset = _as_dataset(data)
    s = {k: given[k] for k in ("scheduler", "replacement", "drop_last", "progress", "callback")}
    for name in ("epochs", "batch_size", "eval_batch_size"):
        s[name] = positive_int(name, given[name])
    for name in ("eval_every", "max_steps", "checkpoint_every"):
        s[name] = None if given[name] is None else positive_int(name, given[name])
    seed = given["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"Invalid seed: {seed!r}; expected an integer >= 0")
    s["seed"] = seed
    s["scheduler_interval"] = _choice("scheduler_interval", given["scheduler_interval"], ("step", "epoch"))
    s["train_eval"] = _choice("train_eval", given["train_eval"], ("full", "running"))
    s["on_nonfinite"] = _choice("on_nonfinite", given["on_nonfinite"], ("stop", "raise"))
    if s["drop_last"] and s["batch_size"] > dataset.n_train:
        raise ValueError(
            f"Invalid batch_size: {s['batch_size']} with drop_last=True and {dataset.n_train} training "
            "examples; no full batch fits"
        )
    checkpoint = given["checkpoint"]
    s["checkpoint"] = Path(checkpoint) if checkpoint is not None else None
    if given["resume"] and checkpoint is None:
        raise ValueError("Invalid resume: True without a checkpoint path to resume from")
    if s["checkpoint_every"] is not None and checkpoint is None:
        raise ValueError(f"Invalid checkpoint_every: {s['checkpoint_every']} without a checkpoint path")
    metrics = given["metrics"]
    if metrics is None:
        metrics = {"acc": accuracy} if dataset.task == "classification" else {}
    s["metrics"] = dict(metrics)
    s["device"] = _device(model, given["device"])
    s["dataset"] = dataset
    s["config"] = _config(model, optimizer, dataset, s)
    return s


def _device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def _config(model: nn.Module, optimizer: torch.optim.Optimizer, dataset: Dataset, s: dict) -> dict:
    """The settings as plain JSON values, stored in the history and checked on resume."""
    group = optimizer.param_groups[0]
    hyper = {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in group.items()
        if k != "params" and (v is None or isinstance(v, bool | int | float | str | tuple))
    }
    return {
        "dataset": dataset.name,
        "task": dataset.task,
        "n_train": dataset.n_train,
        "n_test": dataset.n_test,
        "model": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "optimizer": type(optimizer).__name__,
        "hyperparameters": hyper,
        "scheduler": type(s["scheduler"]).__name__ if s["scheduler"] is not None else None,
        "scheduler_interval": s["scheduler_interval"],
        "epochs": s["epochs"],
        "batch_size": s["batch_size"],
        "replacement": s["replacement"],
        "drop_last": s["drop_last"],
        "seed": s["seed"],
        "eval_every": s["eval_every"],
        "train_eval": s["train_eval"],
        "metrics": list(s["metrics"]),
        "device": str(s["device"]),
    }


def _loop(run: _Run) -> History:
    s, pos = run.s, run.pos
    total = run.steps_per_epoch * s["epochs"]
    if s["max_steps"] is not None:
        total = min(total, s["max_steps"])
    bar = _progress_bar(s["progress"], total, pos.step, run.history.config)
    # Training mode once: evaluate() switches to eval mode and restores this on the way out.
    run.model.train()
    try:
        while pos.epoch < s["epochs"]:
            while pos.batch < run.steps_per_epoch:
                if s["max_steps"] is not None and pos.step >= s["max_steps"]:
                    run.save()
                    return _stop(run, "max_steps", f"stopped after max_steps={s['max_steps']} updates")
                stopped = _one_step(run, bar)
                if stopped is not None:
                    return stopped
            stopped = _end_epoch(run, bar)
            if stopped is not None:
                return stopped
        return _stop(run, "finished", f"finished {s['epochs']} epochs ({pos.step} updates)")
    finally:
        if bar is not None:
            bar.close()


def _one_step(run: _Run, bar: Any) -> History | None:
    s, pos = run.s, run.pos
    before = pos.examples
    tic = time.perf_counter()
    idx = run.batch_indices()
    value = run.train_step(idx)
    _sync(run.device)
    elapsed = time.perf_counter() - tic
    if not math.isfinite(value):
        return _stop(
            run,
            "non-finite",
            f"non-finite training loss ({value}) at update {pos.step + 1} (epoch {pos.epoch + 1}, batch "
            f"{pos.batch + 1}, after {pos.examples} examples); the parameters are those before that update",
        )
    pos.seconds += elapsed
    pos.step += 1
    pos.batch += 1
    pos.examples += int(idx.shape[0])
    k = s["eval_every"]
    if k is not None and before // k < pos.examples // k:
        rec = run.record()
        if not _finite(rec):
            return _stop(run, "non-finite", _nonfinite_eval_message(rec))
    if s["checkpoint_every"] is not None and pos.step % s["checkpoint_every"] == 0:
        run.save()
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4g}", lr=f"{run.optimizer.param_groups[0]['lr']:.3g}", refresh=False)
    return None


def _end_epoch(run: _Run, bar: Any) -> History | None:
    pos = run.pos
    pos.epoch += 1
    pos.batch = 0
    pos.perm = None
    if run.scheduler is not None and run.s["scheduler_interval"] == "epoch":
        run.scheduler.step()
    if run.s["eval_every"] is None:
        rec = run.record()
        if not _finite(rec):
            return _stop(run, "non-finite", _nonfinite_eval_message(rec))
        if bar is not None:
            bar.set_postfix({k: f"{v:.4g}" for k, v in rec.items() if k.startswith(("train_", "test_"))})
    run.save()
    return None


def _stop(run: _Run, status: str, message: str) -> History:
    """End the run: a final evaluation where the last record is older than the model, then the status."""
    history, pos = run.history, run.pos
    if status != "non-finite" and (not history.records or history.records[-1]["examples"] != pos.examples):
        run.record()
    history.status, history.message = status, message
    if status == "non-finite" and run.s["on_nonfinite"] == "raise":
        raise NonFiniteLossError(message, history)
    return history


def _sync(device: torch.device) -> None:
    # CUDA runs asynchronously: without a sync the clock would stop before the work is done.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _progress_bar(enabled: bool, total: int, initial: int, config: Mapping[str, Any]) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    # disable=None: tqdm shows the bar on a terminal and stays silent when output is redirected.
    return tqdm(
        total=total, initial=initial, desc=config["optimizer"], unit="step", disable=None, leave=False
    )
