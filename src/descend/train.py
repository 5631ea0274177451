"""The training loop: minibatches, evaluation points, history, checkpoints and exact resume.

:func:`fit` trains any ``torch.nn.Module`` with any ``torch.optim.Optimizer`` (``descend.optim``'s or
torch's) and any ``torch.optim.lr_scheduler.LRScheduler`` (``descend.schedules.LRScheduler`` or torch's),
as the chapter's ``train_ch11`` does, and returns a :class:`~descend.history.History`. Its settings are a
typed, frozen :class:`FitConfig` (given whole, or as keywords of :func:`fit`): a misspelt setting is an
error where it is written.

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
:func:`fit` returns the history so far with ``status == "diverged"`` and the reason in ``message`` (as
``scipy.optimize`` reports ``success=False`` rather than crashing, so that one diverging optimizer does
not end a comparison); ``on_nonfinite="raise"`` raises :class:`NonFiniteLossError` instead, which carries
the same history.

Checkpoints (``checkpoint=PATH``, :mod:`descend._checkpoint`) hold the model, optimizer and scheduler
states, every random state, the position (epoch, batch within it, the epoch's permutation, step, examples,
seconds) and the history. They are written whole or not at all at the end of each epoch, every
``checkpoint_every`` steps, and when ``max_steps`` stops the run; temporary files that a killed write left
are removed when the next run starts. ``resume=True`` continues from the file (or starts afresh when there
is none yet); a resumed run ends bit-identical, parameters and history (``seconds`` aside), to one never
stopped. A checkpoint from other settings, another optimizer class or another model is refused before
anything is loaded.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from descend import _checkpoint
from descend.checks import choice, flag, integer, positive_int, unknown
from descend.data import Dataset
from descend.history import History
from descend.result import Status

__all__ = [
    "FitConfig",
    "History",
    "NonFiniteLossError",
    "accuracy",
    "evaluate",
    "fit",
    "squared_loss",
]

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Settings that fix the sequence of updates: a checkpoint only resumes a call that agrees on all of them.
_RESUME_KEYS = (
    "optimizer_class",
    "n_train",
    "batch_size",
    "replacement",
    "drop_last",
    "seed",
    "eval_every",
    "train_eval",
    "scheduler_interval",
)


@dataclass(frozen=True)
class FitConfig:
    """The settings of :func:`fit`, checked when the configuration is made.

    Attributes:
        epochs: passes over the training set (a resumed run counts the epochs already done).
        batch_size: examples per update (capped at the training-set size, so ``batch_size=n`` is
            full-batch gradient descent).
        scheduler_interval: step the scheduler after every update (``"step"``, as ``descend.schedules``
            counts) or every epoch (``"epoch"``).
        eval_every: evaluate every this many training examples; ``None``: at the end of each epoch.
        eval_at_start: also evaluate the untrained model (the first record, at 0 examples).
        train_eval: ``"full"``: training loss over the whole training set at each point; ``"running"``:
            the mean minibatch loss since the previous point.
        eval_batch_size: chunk size for evaluation.
        replacement: draw each minibatch with replacement instead of walking a permutation.
        drop_last: skip an epoch's last, smaller batch.
        seed: seeds the sampler's generator (seed the model's initialization yourself).
        max_steps: stop after this many updates in all (counting those before a resume).
        progress: show a tqdm progress bar (on a terminal; never when output is redirected).
        checkpoint: file for checkpoints (written at the end of each epoch, every ``checkpoint_every``
            updates, and when ``max_steps`` stops the run).
        checkpoint_every: also checkpoint every this many updates.
        resume: continue from ``checkpoint`` if the file exists (it must come from a run with the same
            optimizer class, data size, batch size, sampling, seed and evaluation settings; ``epochs`` may
            grow).
        device: where to train; default the model's device.
        on_nonfinite: ``"stop"`` returns the history with ``status="diverged"``; ``"raise"`` raises
            :class:`NonFiniteLossError` carrying it.
    """

    epochs: int
    batch_size: int
    scheduler_interval: Literal["step", "epoch"] = "step"
    eval_every: int | None = None
    eval_at_start: bool = True
    train_eval: Literal["full", "running"] = "full"
    eval_batch_size: int = 4096
    replacement: bool = False
    drop_last: bool = False
    seed: int = 0
    max_steps: int | None = None
    progress: bool = True
    checkpoint: Path | None = None
    checkpoint_every: int | None = None
    resume: bool = False
    device: torch.device | None = None
    on_nonfinite: Literal["stop", "raise"] = "stop"

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name in ("epochs", "batch_size", "eval_batch_size"):
            put(name, positive_int(name, getattr(self, name)))
        for name in ("eval_every", "max_steps", "checkpoint_every"):
            if getattr(self, name) is not None:
                put(name, positive_int(name, getattr(self, name)))
        for name in ("eval_at_start", "replacement", "drop_last", "progress", "resume"):
            flag(name, getattr(self, name))
        put("seed", integer("seed", self.seed, minimum=0))
        choice("scheduler_interval", self.scheduler_interval, ("step", "epoch"))
        choice("train_eval", self.train_eval, ("full", "running"))
        choice("on_nonfinite", self.on_nonfinite, ("stop", "raise"))
        if self.checkpoint is not None:
            put("checkpoint", Path(self.checkpoint))
        elif self.resume:
            raise ValueError("Invalid resume: True without a checkpoint path to resume from")
        elif self.checkpoint_every is not None:
            raise ValueError(f"Invalid checkpoint_every: {self.checkpoint_every} without a checkpoint path")
        if self.device is not None:
            put("device", torch.device(self.device))

    @classmethod
    def of(cls, config: FitConfig | None = None, **settings: Any) -> FitConfig:
        """``config`` with ``settings`` replaced (or a new configuration from ``settings``); a name that is
        not a setting is a ``TypeError`` that offers the close ones."""
        names = [f.name for f in dataclasses.fields(cls)]
        for name in settings:
            if name not in names:
                raise TypeError(str(unknown("setting", name, names)))
        if config is None:
            return cls(**settings)
        if not isinstance(config, cls):
            raise TypeError(f"Invalid config: {type(config).__name__}; expected a FitConfig")
        return dataclasses.replace(config, **settings)


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

    def __init__(
        self, model: nn.Module, loss: Loss, optimizer: torch.optim.Optimizer, dataset: Dataset,
        cfg: FitConfig, scheduler: Any, metrics: dict[str, Metric],
        callback: Callable[[dict[str, Any]], None] | None, device: torch.device,
    ) -> None:  # fmt: skip
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.cfg, self.scheduler, self.metrics, self.callback = cfg, scheduler, metrics, callback
        self.device = device
        self.x = dataset.train_x.to(device)
        self.y = dataset.train_y.to(device)
        has_test = dataset.test_x is not None
        self.tx = dataset.test_x.to(device) if has_test else None
        self.ty = dataset.test_y.to(device) if has_test else None
        self.n = dataset.n_train
        bs = min(cfg.batch_size, self.n)
        self.batch_size = bs
        self.steps_per_epoch = self.n // bs if cfg.drop_last else -(-self.n // bs)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.pos = _Position()
        self.history = History(config=_config(model, optimizer, dataset, cfg, scheduler, metrics, device))

    # -- sampling ---------------------------------------------------------------------------------------

    def batch_indices(self) -> torch.Tensor:
        start = self.pos.batch * self.batch_size
        size = min(self.batch_size, self.n - start)
        if self.cfg.replacement:
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
        if self.scheduler is not None and self.cfg.scheduler_interval == "step":
            self.scheduler.step()
        if self.cfg.train_eval == "running":
            self.accumulate(out.detach(), yb, value)
        return value

    def accumulate(self, out: torch.Tensor, yb: torch.Tensor, value: float) -> None:
        weight = int(yb.shape[0])
        sums = self.pos.running
        sums["loss"] = sums.get("loss", 0.0) + value * weight
        with torch.no_grad():
            for name, metric in self.metrics.items():
                sums[name] = sums.get(name, 0.0) + float(metric(out, yb)) * weight
        self.pos.running_n += weight

    # -- evaluation --------------------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        """Measure the model now and append the record to the history."""
        pos, metrics = self.pos, self.metrics
        rec: dict[str, Any] = {
            "epoch": pos.examples / self.n,
            "step": pos.step,
            "examples": pos.examples,
            "seconds": pos.seconds,
            "lr": float(self.optimizer.param_groups[0]["lr"]),
        }
        if self.cfg.train_eval == "full" or pos.running_n == 0:
            train = evaluate(self.model, self.loss, self.x, self.y, metrics, self.cfg.eval_batch_size)
        else:
            train = {k: v / pos.running_n for k, v in pos.running.items()}
        pos.running, pos.running_n = {}, 0
        rec.update({f"train_{k}": v for k, v in train.items()})
        if self.tx is not None:
            test = evaluate(self.model, self.loss, self.tx, self.ty, metrics, self.cfg.eval_batch_size)
            rec.update({f"test_{k}": v for k, v in test.items()})
        self.history.records.append(rec)
        if self.callback is not None:
            self.callback(rec)
        return rec

    # -- checkpoints --------------------------------------------------------------------------------------

    def save(self) -> None:
        if self.cfg.checkpoint is None:
            return
        pos = self.pos
        _checkpoint.save(self.cfg.checkpoint, {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": _checkpoint.scheduler_state(self.scheduler),
            "position": {k: getattr(pos, k) for k in ("epoch", "batch", "step", "examples", "seconds")},
            "running": dict(pos.running),
            "running_n": pos.running_n,
            "perm": pos.perm,
            "rng": _checkpoint.rng_state(self.generator),
            "history": self.history.to_dict(),
        })  # fmt: skip

    def load(self) -> bool:
        """Restore the run from the checkpoint file; False when there is none yet. Everything is checked
        before anything is loaded, so a refused checkpoint leaves the model and the optimizer untouched."""
        path = self.cfg.checkpoint
        if path is None or not path.is_file():
            return False
        state = _checkpoint.load(path)
        old, new = state["history"]["config"], self.history.config
        key = "optimizer_class" if "optimizer_class" in old else "optimizer"  # older files: the name only
        if old.get(key) != new[key]:
            raise ValueError(
                f"Invalid resume: checkpoint {path} was written by the optimizer {old.get(key)}, this call "
                f"has {new[key]}; resume with the same optimizer class"
            )
        for key in _RESUME_KEYS:
            if key in old and old.get(key) != new.get(key):
                raise ValueError(
                    f"Invalid resume: checkpoint {path} was written with {key}={old.get(key)!r}, "
                    f"this call has {key}={new.get(key)!r}"
                )
        if self.scheduler is not None and state["scheduler"] is None:
            raise ValueError(
                f"Invalid resume: checkpoint {path} has no scheduler state, but a scheduler was given"
            )
        _checkpoint.check_model(path, self.model, state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.model.load_state_dict(state["model"])
        for k, v in state["position"].items():
            setattr(self.pos, k, v)
        self.pos.perm = state["perm"]
        self.pos.running, self.pos.running_n = dict(state["running"]), state["running_n"]
        _checkpoint.set_rng_state(self.generator, state["rng"])
        self.history.records = History.from_dict(state["history"]).records
        return True


# --------------------------------------------------------------------------------------------------- fit


def fit(
    model: nn.Module,
    loss: Loss,
    optimizer: torch.optim.Optimizer,
    data: Dataset | tuple[torch.Tensor, ...],
    config: FitConfig | None = None,
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    metrics: Mapping[str, Metric] | None = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
    **settings: Any,
) -> History:
    """Train ``model`` on ``data`` with minibatch updates and return the :class:`History`.

    Args:
        model: any module; moved to ``device`` when one is given.
        loss: ``loss(output, target) -> scalar tensor`` (a batch mean, e.g. :func:`squared_loss`,
            ``torch.nn.functional.cross_entropy``).
        optimizer: a ``torch.optim.Optimizer`` over the model's parameters (``descend.optim`` or torch).
        data: a :class:`descend.data.Dataset`, ``(train_x, train_y)`` or ``(train_x, train_y, test_x,
            test_y)``; integer targets mean classification.
        config: the settings as a :class:`FitConfig`.
        scheduler: an LR scheduler on ``optimizer``, stepped as ``scheduler_interval`` says.
        metrics: ``{name: metric(output, target) -> scalar}``; default ``{"acc": accuracy}`` for
            classification, none for regression.
        callback: called with each new record.
        **settings: any :class:`FitConfig` field (``epochs=``, ``batch_size=``, ``eval_every=``,
            ``checkpoint=``, ``resume=``, ...), replacing ``config``'s; without ``config``, ``epochs`` and
            ``batch_size`` are required.

    Returns:
        The :class:`History`; ``status`` is ``"finished"``, ``"max_steps"`` or ``"diverged"``.
    """
    cfg = FitConfig.of(config, **settings)
    if not isinstance(model, nn.Module):
        raise TypeError(f"Invalid model: {type(model).__name__}; expected a torch.nn.Module")
    if not callable(loss):
        raise TypeError(f"Invalid loss: {loss!r}; expected a callable loss(output, target)")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"Invalid optimizer: {type(optimizer).__name__}; expected a torch.optim.Optimizer")
    if scheduler is not None and getattr(scheduler, "optimizer", None) is not optimizer:
        raise ValueError("Invalid scheduler: it does not drive the optimizer given to fit")
    dataset = _as_dataset(data)
    if cfg.drop_last and cfg.batch_size > dataset.n_train:
        raise ValueError(
            f"Invalid batch_size: {cfg.batch_size} with drop_last=True and {dataset.n_train} training "
            "examples; no full batch fits"
        )
    if metrics is None:
        metrics = {"acc": accuracy} if dataset.task == "classification" else {}
    device = cfg.device if cfg.device is not None else _model_device(model)
    run = _Run(model, loss, optimizer, dataset, cfg, scheduler, dict(metrics), callback, device)
    if cfg.checkpoint is not None:
        _checkpoint.clean(cfg.checkpoint)
    resumed = cfg.resume and run.load()
    if cfg.device is not None:
        model.to(device)
    if not resumed and cfg.eval_at_start and not _finite(run.record()):
        return _stop(run, Status.DIVERGED, "non-finite loss of the initial model, before any update")
    return _loop(run)


def _finite(record: Mapping[str, Any]) -> bool:
    return all(math.isfinite(record[k]) for k in ("train_loss", "test_loss") if k in record)


def _nonfinite_eval_message(record: Mapping[str, Any]) -> str:
    losses = ", ".join(f"{k}={record[k]}" for k in ("train_loss", "test_loss") if k in record)
    return (
        f"non-finite loss at the evaluation after update {record['step']} (epoch {record['epoch']:.4g}, "
        f"{record['examples']} examples): {losses}; the history keeps that record"
    )


def _model_device(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def _config(
    model: nn.Module, optimizer: torch.optim.Optimizer, dataset: Dataset, cfg: FitConfig, scheduler: Any,
    metrics: Mapping[str, Metric], device: torch.device,
) -> dict[str, Any]:  # fmt: skip
    """The settings as plain JSON values, stored in the history and checked on resume."""
    group = optimizer.param_groups[0]
    hyper = {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in group.items()
        if k != "params" and (v is None or isinstance(v, bool | int | float | str | tuple))
    }
    cls = type(optimizer)
    return {
        "dataset": dataset.name,
        "task": dataset.task,
        "n_train": dataset.n_train,
        "n_test": dataset.n_test,
        "model": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "optimizer": cls.__name__,
        "optimizer_class": f"{cls.__module__}.{cls.__qualname__}",
        "hyperparameters": hyper,
        "scheduler": type(scheduler).__name__ if scheduler is not None else None,
        "scheduler_interval": cfg.scheduler_interval,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "replacement": cfg.replacement,
        "drop_last": cfg.drop_last,
        "seed": cfg.seed,
        "eval_every": cfg.eval_every,
        "train_eval": cfg.train_eval,
        "metrics": list(metrics),
        "device": str(device),
    }


def _loop(run: _Run) -> History:
    cfg, pos = run.cfg, run.pos
    total = run.steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    bar = _progress_bar(cfg.progress, total, pos.step, run.history.config)
    # Training mode once: evaluate() switches to eval mode and restores this on the way out.
    run.model.train()
    try:
        while pos.epoch < cfg.epochs:
            while pos.batch < run.steps_per_epoch:
                if cfg.max_steps is not None and pos.step >= cfg.max_steps:
                    run.save()
                    return _stop(run, Status.MAX_STEPS, f"stopped after max_steps={cfg.max_steps} updates")
                stopped = _one_step(run, bar)
                if stopped is not None:
                    return stopped
            stopped = _end_epoch(run, bar)
            if stopped is not None:
                return stopped
        return _stop(run, Status.FINISHED, f"finished {cfg.epochs} epochs ({pos.step} updates)")
    finally:
        if bar is not None:
            bar.close()


def _one_step(run: _Run, bar: Any) -> History | None:
    cfg, pos = run.cfg, run.pos
    before = pos.examples
    tic = time.perf_counter()
    idx = run.batch_indices()
    value = run.train_step(idx)
    _sync(run.device)
    elapsed = time.perf_counter() - tic
    if not math.isfinite(value):
        return _stop(
            run,
            Status.DIVERGED,
            f"non-finite training loss ({value}) at update {pos.step + 1} (epoch {pos.epoch + 1}, batch "
            f"{pos.batch + 1}, after {pos.examples} examples); the parameters are those before that update",
        )
    pos.seconds += elapsed
    pos.step += 1
    pos.batch += 1
    pos.examples += int(idx.shape[0])
    k = cfg.eval_every
    if k is not None and before // k < pos.examples // k:
        rec = run.record()
        if not _finite(rec):
            return _stop(run, Status.DIVERGED, _nonfinite_eval_message(rec))
    if cfg.checkpoint_every is not None and pos.step % cfg.checkpoint_every == 0:
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
    if run.scheduler is not None and run.cfg.scheduler_interval == "epoch":
        run.scheduler.step()
    if run.cfg.eval_every is None:
        rec = run.record()
        if not _finite(rec):
            return _stop(run, Status.DIVERGED, _nonfinite_eval_message(rec))
        if bar is not None:
            bar.set_postfix({k: f"{v:.4g}" for k, v in rec.items() if k.startswith(("train_", "test_"))})
    run.save()
    return None


def _stop(run: _Run, status: Status, message: str) -> History:
    """End the run: a final evaluation where the last record is older than the model, then the status."""
    history, pos = run.history, run.pos
    if status != Status.DIVERGED and (not history.records or history.records[-1]["examples"] != pos.examples):
        run.record()
    history.status, history.message = status, message
    if status == Status.DIVERGED and run.cfg.on_nonfinite == "raise":
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
