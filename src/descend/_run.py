"""How :func:`descend.train.fit` runs: the run's state, one update, the evaluation points, the checkpoints
and how a run ends. Private: :mod:`descend.train` is the way in."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from descend import _checkpoint
from descend.data import Dataset
from descend.history import History
from descend.result import Status

if TYPE_CHECKING:
    from descend.train import FitConfig

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

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


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite under ``fit(..., on_nonfinite="raise")``.

    ``history`` holds the run so far.
    """

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def _evaluates(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the optimizer's step evaluates the loss itself, through a closure (L-BFGS)."""
    return isinstance(optimizer, torch.optim.LBFGS) or getattr(optimizer, "needs_closure", False)


@contextlib.contextmanager
def _evaluation_weights(optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """The weights a model is evaluated with: Schedule-Free's average x (its ``eval()``), not the point y
    its gradients are taken at; then back to training."""
    switch = callable(getattr(optimizer, "eval", None)) and callable(getattr(optimizer, "train", None))
    if switch:
        optimizer.eval()
    try:
        yield
    finally:
        if switch:
            optimizer.train()


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


class Run:
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
        has_val = dataset.val_x is not None
        self.vx = dataset.val_x.to(device) if has_val else None
        self.vy = dataset.val_y.to(device) if has_val else None
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
        if _evaluates(self.optimizer):  # L-BFGS: the minibatch's loss, as often as its line search asks
            return self._closure_step(xb, yb)
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

    def _closure_step(self, xb: torch.Tensor, yb: torch.Tensor) -> float:
        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            batch_loss = _scalar(self.loss(self.model(xb), yb), "loss")
            if math.isfinite(float(batch_loss.detach())):
                batch_loss.backward()
            return batch_loss.detach()

        value = float(self.optimizer.step(closure))
        if self.scheduler is not None and self.cfg.scheduler_interval == "step":
            self.scheduler.step()
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
        with _evaluation_weights(self.optimizer):
            if self.cfg.train_eval == "full" or pos.running_n == 0:
                train = evaluate(self.model, self.loss, self.x, self.y, metrics, self.cfg.eval_batch_size)
            else:
                train = {k: v / pos.running_n for k, v in pos.running.items()}
            pos.running, pos.running_n = {}, 0
            rec.update({f"train_{k}": v for k, v in train.items()})
            for split, x, y in (("val", self.vx, self.vy), ("test", self.tx, self.ty)):
                if x is not None:
                    values = evaluate(self.model, self.loss, x, y, metrics, self.cfg.eval_batch_size)
                    rec.update({f"{split}_{k}": v for k, v in values.items()})
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


def finite(record: Mapping[str, Any]) -> bool:
    return all(math.isfinite(record[k]) for k in ("train_loss", "val_loss", "test_loss") if k in record)


def _nonfinite_eval_message(record: Mapping[str, Any]) -> str:
    losses = ", ".join(f"{k}={record[k]}" for k in ("train_loss", "val_loss", "test_loss") if k in record)
    return (
        f"non-finite loss at the evaluation after update {record['step']} (epoch {record['epoch']:.4g}, "
        f"{record['examples']} examples): {losses}; the history keeps that record"
    )


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
        "n_val": dataset.n_val,
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


def loop(run: Run) -> History:
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
                    return stop(run, Status.MAX_STEPS, f"stopped after max_steps={cfg.max_steps} updates")
                stopped = _one_step(run, bar)
                if stopped is not None:
                    return stopped
            stopped = _end_epoch(run, bar)
            if stopped is not None:
                return stopped
        return stop(run, Status.FINISHED, f"finished {cfg.epochs} epochs ({pos.step} updates)")
    finally:
        if bar is not None:
            bar.close()


def _one_step(run: Run, bar: Any) -> History | None:
    cfg, pos = run.cfg, run.pos
    before = pos.examples
    tic = time.perf_counter()
    idx = run.batch_indices()
    value = run.train_step(idx)
    _sync(run.device)
    elapsed = time.perf_counter() - tic
    if not math.isfinite(value):
        return stop(
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
        if not finite(rec):
            return stop(run, Status.DIVERGED, _nonfinite_eval_message(rec))
    if cfg.checkpoint_every is not None and pos.step % cfg.checkpoint_every == 0:
        run.save()
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4g}", lr=f"{run.optimizer.param_groups[0]['lr']:.3g}", refresh=False)
    return None


def _end_epoch(run: Run, bar: Any) -> History | None:
    pos = run.pos
    pos.epoch += 1
    pos.batch = 0
    pos.perm = None
    if run.scheduler is not None and run.cfg.scheduler_interval == "epoch":
        run.scheduler.step()
    if run.cfg.eval_every is None:
        rec = run.record()
        if not finite(rec):
            return stop(run, Status.DIVERGED, _nonfinite_eval_message(rec))
        if bar is not None:
            bar.set_postfix({k: f"{v:.4g}" for k, v in rec.items() if k.startswith(("train_", "test_"))})
    run.save()
    return None


def stop(run: Run, status: Status, message: str) -> History:
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
