"""Trials and final runs of ``descend compare``: what one is (:class:`Job`), how it runs (:func:`run_job`,
anywhere, deterministic given its seed), where it is kept (:class:`Store`, one JSON line per finished
job), and the engines that run many (:class:`Inline`, in this process; :class:`RayEngine`, tasks on Ray).

A job's result depends only on the job and its data: the seed fixes the initial model and the minibatch
order, and each job sets torch to ``threads`` CPU threads (1 by default, so that parallel jobs do not
oversubscribe the cores and a worker's numbers equal this process's).

The store appends each finished job as one line, written whole with a single ``write`` on a file opened
for appending and then flushed to disk, so a killed run leaves every earlier line as it was; a line cut
short by a crash in the middle of that write (not a finished job) is dropped when the file is next read.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from descend.data import Dataset

__all__ = ["Inline", "Job", "RayEngine", "Store", "build_optimizer", "execute", "jsonable", "run_job"]

Phase = Literal["tuning", "final"]


@dataclass(frozen=True)
class Job:
    """One training run: a tuning trial (number ``trial``, scored on the validation split) or a final run
    (on seed ``seed``, measured on the test split too), of optimizer ``name`` (labelled ``optimizer``) with
    ``hyperparameters`` (the constructor's keyword arguments, JSON values) on ``task``."""

    phase: Phase
    task: str
    optimizer: str
    name: str
    trial: int | None
    seed: int
    hyperparameters: dict[str, Any]
    epochs: int
    batch_size: int
    eval_every: int | None = None
    threads: int = 1  # torch's CPU threads in the job (0: torch's own setting)
    device: str = "cpu"
    validation: float = 0.2  # the fraction of the training examples its data holds out

    def key(self) -> tuple[Any, ...]:
        """What names the job in the store: task, optimizer, and trial number (tuning) or seed (final)."""
        return (self.phase, self.task, self.optimizer, self.trial if self.phase == "tuning" else self.seed)

    def settings(self) -> dict[str, Any]:
        """What must agree for a stored result to stand for this job."""
        return {
            "hyperparameters": jsonable(self.hyperparameters),
            "seed": self.seed,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "eval_every": self.eval_every,
            "validation_fraction": self.validation,
        }


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON: tuples as lists, non-finite floats as None (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _arguments(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """JSON hyperparameters as constructor arguments (lists back to tuples, as torch's ``betas``)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in hyperparameters.items()}


def build_optimizer(name: str, model: torch.nn.Module, hyperparameters: Mapping[str, Any]) -> Any:
    """Optimizer ``name`` of :mod:`descend.optim` over ``model``'s parameters. Muon takes the matrices
    only: a model's other parameters (biases, convolution kernels) are trained by AdamW beside it, at
    Muon's ``adamw_lr`` (default 1e-3), as its authors advise."""
    from descend import optim
    from descend.lab.hybrid import with_adamw

    cls, _ = optim.resolve(name)
    kwargs = _arguments(hyperparameters)
    if cls is optim.Muon:
        return with_adamw(cls, model, kwargs)
    return cls(model.parameters(), **kwargs)


def run_job(job: Job, dataset: Dataset) -> dict[str, Any]:
    """Run ``job`` on ``dataset`` (for a tuning trial: the training and validation splits only) and
    return its record: the job's fields, the final metrics (``validation``: the final validation loss,
    None when the run diverged), the training ``seconds``, and for a final run its history."""
    from descend.lab.tasks import TASKS
    from descend.train import fit

    previous = torch.get_num_threads()
    if job.threads:  # 0: torch's own setting
        torch.set_num_threads(job.threads)
    started = time.perf_counter()
    try:
        task = TASKS[job.task]
        device = torch.device(job.device)
        torch.manual_seed(job.seed)
        model = task.model(dataset).to(device)
        opt = build_optimizer(job.name, model, job.hyperparameters)
        hist = fit(model, task.loss, opt, dataset, epochs=job.epochs, batch_size=job.batch_size,
                   seed=job.seed, device=device, progress=False, eval_every=job.eval_every)  # fmt: skip
    finally:
        torch.set_num_threads(previous)
    last = hist.records[-1] if hist.records else {}
    metrics = {k: float(v) for k, v in last.items() if k.startswith(("train_", "val_", "test_"))}
    if not hist.ok:
        metrics = {k: math.nan for k in metrics}
    record: dict[str, Any] = {
        "phase": job.phase,
        "task": job.task,
        "optimizer": job.optimizer,
        "trial": job.trial,
        **job.settings(),
        "validation": metrics.get("val_loss", math.nan),
        "metrics": metrics,
        "status": "ok" if hist.ok else "diverged",
        "message": hist.message,
        "seconds": float(last.get("seconds", 0.0)),
        "steps": int(last.get("step", 0)),
        "wall_seconds": time.perf_counter() - started,
        "worker": f"{os.uname().nodename}:{os.getpid()}",
    }
    if job.phase == "final":
        record["history"] = hist.to_dict()
    return jsonable(record)


# ---------------------------------------------------------------------------------------------- the store


class Store:
    """A JSON-lines file of finished jobs (``trials.jsonl``, ``runs.jsonl``): read back, appended to.
    Without a path, the lines are kept in memory (a comparison that writes no folder)."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = None if path is None else Path(path)
        self.lines: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        """Every finished job in the file, in order (none when there is no file). A last line without
        its newline is what a killed write left: it is cut off the file, never taken as a result."""
        if self.path is None:
            return [json.loads(json.dumps(r)) for r in self.lines]
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        end = raw.rfind(b"\n") + 1
        if end < len(raw):
            with open(self.path, "r+b") as f:
                f.truncate(end)
        out = []
        for number, line in enumerate(raw[:end].splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(
                    f"Invalid {self.path}: line {number} is not JSON; it was not written by descend compare"
                ) from None
            if not isinstance(record, dict):
                raise ValueError(f"Invalid {self.path}: line {number} is not a JSON object")
            out.append(record)
        return out

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one line, whole: one ``write`` call in append mode, then ``fsync``."""
        data = (json.dumps(jsonable(record), allow_nan=False, separators=(",", ":")) + "\n").encode()
        if self.path is None:
            self.lines.append(json.loads(data))
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:  # a regular file takes it in one call; the loop only guards a short write
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)


def stored_key(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """The :meth:`Job.key` of a stored record."""
    phase = record.get("phase", "tuning")
    return (phase, record.get("task"), record.get("optimizer"),
            record.get("trial") if phase == "tuning" else record.get("seed"))  # fmt: skip


def execute(
    jobs: list[Job],
    store: Store,
    engine: Any,
    data: Callable[[Job], Dataset],
    *,
    unit: str = "trial",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The record of every job, by :meth:`Job.key`: read back from ``store`` where it holds the job
    finished with the same settings, run on ``engine`` otherwise (each appended to the store as soon as
    it finishes). A stored tuning trial with other settings means the store belongs to another
    comparison: a ``ValueError``. A stored final run with other hyperparameters (the best trial changed,
    e.g. with a larger budget) is left in the file and the run is done again."""
    stored: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for record in store.read():
        stored.setdefault(stored_key(record), []).append(record)
    results: dict[tuple[Any, ...], dict[str, Any]] = {}
    todo = []
    for job in jobs:
        wanted = job.settings()
        same = [r for r in stored.get(job.key(), []) if {k: r.get(k) for k in wanted} == wanted]
        if same:
            results[job.key()] = same[-1]
        elif job.phase == "tuning" and job.key() in stored:
            old = stored[job.key()][-1]
            differ = {k: (old.get(k), v) for k, v in wanted.items() if old.get(k) != v}
            raise ValueError(
                f"Invalid --out: {store.path} holds trial {job.trial} of {job.optimizer} on {job.task} with "
                f"other settings (stored, now: {differ}); rerun the same command or choose another --out"
            )
        else:
            todo.append(job)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit=unit, desc=f"{unit}s",
               disable=None if progress else True, leave=False)  # fmt: skip
    try:
        for job, record in engine.run(todo, data):
            store.append(record)
            results[job.key()] = record
            bar.update(1)
            if log is not None:
                log(_line(len(results), len(jobs), record))
    finally:
        bar.close()
    return results


def _line(done: int, total: int, r: Mapping[str, Any]) -> str:
    what = f"trial {r['trial']}" if r["phase"] == "tuning" else f"seed {r['seed']}"
    head = f"[{done}/{total}] {r['task']} {r['optimizer']} {what}"
    if r["status"] != "ok":
        return f"{head}: diverged ({r['message']})"
    m = r["metrics"]
    parts = [f"{k.replace('_', ' ')} {m[k]:.4g}" for k in ("val_loss", "val_acc", "test_loss", "test_acc")
             if m.get(k) is not None]  # fmt: skip
    return f"{head}: " + ", ".join([*parts, f"{r['seconds']:.2f} s"])


# -------------------------------------------------------------------------------------------- engines


def _warm() -> int:
    """A worker's first job pays for loading descend and for torch's first backward pass; this pays it."""
    from descend.lab.models import mlp
    from descend.train import fit

    tic = time.perf_counter()
    torch.manual_seed(0)
    model = mlp((4,), hidden=4, num_classes=2)
    x, y = torch.randn(8, 4), torch.arange(8) % 2
    fit(model, torch.nn.functional.cross_entropy, build_optimizer("sgd", model, {"lr": 0.1}), (x, y),
        epochs=1, batch_size=4, progress=False)  # fmt: skip
    # held a moment, so that each CPU's warm-up lands on a worker of its own
    time.sleep(max(0.0, 0.5 - (time.perf_counter() - tic)))
    return os.getpid()


def check_address(address: str, timeout: float = 5.0) -> str:
    """``address`` (``HOST:PORT``, or ``ray://HOST:PORT``, or ``auto``) if something listens there.

    Ray itself keeps retrying an address where no cluster runs for a minute or more, with its own log lines;
    a TCP connection tried first tells in a few seconds, before any work is done.
    """
    if address == "auto":
        return address
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"Invalid --address: {address!r}; expected HOST:PORT, e.g. 127.0.0.1:6379")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise ValueError(
            f"Invalid --address: {address!r}; nothing answers there ({e.strerror or e}): is a Ray head "
            "running (ray start --head)?"
        ) from None
    return address


def _authenticate_like_ray_start() -> None:
    """``ray start`` (Ray 2.59 and later) turns token authentication on when ``RAY_AUTH_MODE`` is unset and
    a token exists (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``), but a driver
    joining its cluster does not, and is then refused; so a driver turns it on by the same rule."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
        if "ray" in sys.modules:  # imported already: its configuration must read the mode again
            try:
                from ray._raylet import Config

                Config.initialize("")
            except (ImportError, AttributeError):
                pass


@dataclass
class Inline:
    """Runs the jobs here, one after another (the library's default without a budget)."""

    name: str = "this process"
    workers: int = 1
    start_seconds: float = 0.0

    def __enter__(self) -> Inline:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def run(self, jobs: Iterable[Job], data: Callable[[Job], Dataset]) -> Iterator[tuple[Job, dict]]:
        for job in jobs:
            yield job, run_job(job, data(job))


@dataclass
class RayEngine:
    """Runs each job as a Ray task, one CPU each: on a local Ray started with ``workers`` worker
    processes (default: the number of cores), or on the cluster at ``address`` (``HOST:PORT``). Results
    come back as they finish. A task whose worker dies is run again by Ray (``max_retries``)."""

    workers: int | None = None
    address: str | None = None
    max_retries: int = 3
    name: str = field(init=False, default="Ray (not started: every job was read back)")
    _data: dict[Any, Any] = field(init=False, default_factory=dict)
    _started: bool = field(init=False, default=False)  # this engine started Ray, and shuts it down
    _ready: bool = field(init=False, default=False)
    start_seconds: float = field(init=False, default=0.0)  # how long starting (or joining) Ray took

    def __enter__(self) -> RayEngine:
        return self

    def _start(self) -> None:
        """Join or start Ray, on the first job (a comparison whose jobs are all stored needs none)."""
        import logging

        if self.address is not None:
            _authenticate_like_ray_start()  # before Ray is imported: it reads the mode once
        import ray

        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                 "configure_logging": True}  # fmt: skip
        if not ray.is_initialized():
            if self.address is not None:
                try:
                    ray.init(address=self.address, **quiet)
                except (ConnectionError, RuntimeError, ValueError) as e:
                    raise ValueError(
                        f"Invalid --address: {self.address!r}; no Ray cluster there ({e})"
                    ) from None
            else:
                # Ray lowers its workers' priority (nice 15) to keep its own services responsive; here the
                # workers do the comparison's work, and at nice 15 any other program on the machine would
                # starve them (two workers would run no faster than one on a busy machine)
                os.environ.setdefault("RAY_worker_niceness", "0")
                ray.init(num_cpus=self.workers or os.cpu_count() or 1, **quiet)
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        # Ray starts its workers as tasks arrive; one task per CPU that loads torch and descend starts them
        # all now, so that the jobs' times do not include a worker's start
        ray.get([ray.remote(num_cpus=1)(_warm).remote() for _ in range(cpus)])
        self.name = f"the Ray cluster at {self.address} ({cpus} CPUs)" if self.address else (
            f"a local Ray with {cpus} worker processes")

    def __exit__(self, *exc: Any) -> None:
        self._data.clear()
        if self._started:
            import ray

            ray.shutdown()

    def run(self, jobs: Iterable[Job], data: Callable[[Job], Dataset]) -> Iterator[tuple[Job, dict]]:
        jobs = list(jobs)
        if not jobs:
            return
        import ray

        if not self._ready:
            tic = time.perf_counter()
            self._start()
            self._ready = True
            self.start_seconds = time.perf_counter() - tic
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(run_job)
        pending: dict[Any, Job] = {}
        for job in jobs:
            dataset = data(job)
            ref = self._data.get(id(dataset))
            if ref is None:  # each dataset goes to the object store once, not with every task
                ref = self._data[id(dataset)] = (ray.put(dataset), dataset)
            pending[remote.remote(job, ref[0])] = job
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except ray.exceptions.RayError as e:  # the job raised, or its worker died more than max_retries
                raise RuntimeError(
                    f"trial or run of {job.optimizer} on {job.task} failed on Ray: {type(e).__name__}: {e}"
                ) from None
            yield job, result
