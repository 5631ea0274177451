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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from descend import _checkpoint
from descend._run import NonFiniteLossError, Run, evaluate, finite, loop, stop
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


# ------------------------------------------------------------------------------------------- evaluation


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
    run = Run(model, loss, optimizer, dataset, cfg, scheduler, dict(metrics), callback, device)
    if cfg.checkpoint is not None:
        _checkpoint.clean(cfg.checkpoint)
    resumed = cfg.resume and run.load()
    if cfg.device is not None:
        model.to(device)
    if not resumed and cfg.eval_at_start and not finite(run.record()):
        return stop(run, Status.DIVERGED, "non-finite loss of the initial model, before any update")
    return loop(run)


def _model_device(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")
