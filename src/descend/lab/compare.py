"""``descend compare``: optimizers side by side on one or several tasks, tuned with equal budgets, ranked.

The protocol (after MLCommons AlgoPerf):

1. **Validation split.** A fixed, seeded fraction of each task's training examples (``validation``, 0.2
   by default) is held out. Every run trains on the rest and is evaluated on it as it goes.
2. **Tuning** (with a ``budget`` N). Every optimizer gets N trials, quasi-random points of its declared
   search space (:mod:`descend.lab.tuning`), each scored by its final validation loss. The test split is
   not part of a trial's data. Without a budget, the hyperparameters are the given or default ones
   (:mod:`descend.lab.tasks`), and the report says they were not tuned.
3. **Final runs.** Each optimizer's best configuration (or its given one) runs on every seed; seed s
   fixes the initial model and the minibatch order, the same for every optimizer. Only these runs are
   measured on the test split.
4. **Ranking** (:mod:`descend.lab.ranking`): time to each task's validation target, performance profiles
   over the tasks and their normalized area.

Trials and final runs are jobs (:mod:`descend.lab.trials`): on Ray (a local Ray with ``workers``
processes, or the cluster at ``address``) when there is a budget, a worker count or an address; in this
process, one after another, otherwise. With an ``out`` folder every finished job is a line of
``trials.jsonl`` (tuning) or ``runs.jsonl`` (final runs) as soon as it finishes, and the same comparison
into the same folder reads them back instead of running them again.

The report (:func:`descend.lab.compare_report.study`) is a folder: ``report.html`` (interactive charts,
offline), ``report.md`` with ``figures/*.png``, ``ranking.csv``, ``summary.csv``, ``runs.csv``,
``trials.csv``, ``history.csv``, ``config.json`` and ``command.txt``.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from descend import optim
from descend._loop import optimizer_arguments
from descend.checks import positive_int, unknown
from descend.checks import seeds as check_seeds
from descend.data import Dataset
from descend.lab import spec, tuning
from descend.lab.ranking import Target
from descend.lab.study import Log, Study, quiet
from descend.lab.tasks import DEFAULT_LR, DEFAULT_OPTIMIZERS, DEFAULT_OPTIONS, TASKS, Task
from descend.lab.trials import Inline, Job, RayEngine, Store, check_address, execute

__all__ = [
    "DEFAULT_LR",
    "DEFAULT_OPTIMIZERS",
    "DEFAULT_OPTIONS",
    "TASKS",
    "Entry",
    "Plan",
    "Task",
    "Workload",
    "compare",
    "prepare",
    "run",
]

#: Files of finished jobs in a comparison's folder, carried over when the same comparison resumes.
TRIALS_FILE, RUNS_FILE = "trials.jsonl", "runs.jsonl"
_EXTRAS = {"muon": {"adamw_lr"}}


@dataclass(frozen=True)
class Entry:
    """One optimizer of a comparison on one task: its label (the spec as written), short name, class,
    the keyword arguments of its runs (untuned) or the base its search changes (tuned), the settings its
    spec gave (``own``), those held fixed, and its search space (None: not tuned)."""

    label: str
    name: str
    cls: type[torch.optim.Optimizer]
    kwargs: dict[str, Any]
    own: dict[str, Any] = field(default_factory=dict)
    fixed: tuple[str, ...] = ()
    space: tuning.Space | None = None


@dataclass
class Workload:
    """A task of a comparison: its data, optimizers, target and training length."""

    task: Task
    dataset: Dataset
    data: str | None
    entries: list[Entry]
    target: Target
    epochs: int
    batch_size: int


@dataclass
class Plan:
    """A checked comparison, its data loaded, ready to run (:func:`run`)."""

    workloads: list[Workload]
    seeds: list[int]
    device: torch.device
    threads: int | None
    budget: int | None = None
    validation: float = tuning.DEFAULT_VALIDATION
    engine: str = "inline"
    workers: int | None = None
    address: str | None = None
    out: Path | None = None
    rank_by: str = "seconds"
    given: dict[str, Any] = field(default_factory=dict)

    # the first (often only) task's settings, by their short names
    @property
    def task(self) -> Task:
        return self.workloads[0].task

    @property
    def entries(self) -> list[Entry]:
        return self.workloads[0].entries

    @property
    def dataset(self) -> Dataset:
        return self.workloads[0].dataset


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
    task: str,
    specs: Sequence[str],
    lrs: Mapping[str, float],
    options: Mapping[str, Mapping[str, Any]],
    tuned: bool,
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
        cls = optim.resolve(key)[0]
        if getattr(cls, "sparse_gradients", None) == "only":
            raise ValueError(
                f"Invalid optimizer: {name!r} takes sparse gradients only (an embedding's); the models of "
                "descend compare have dense gradients"
            )
        label = text.strip() if own else key
        if label in labels:
            raise ValueError(f"Invalid optimizers: {label!r} is given twice; each may appear once")
        labels.add(label)
        given = {**({"lr": lrs[key]} if key in lrs else {}), **options.get(key, {}), **own}
        defaults = optimizer_arguments(cls)
        default_lr = float(defaults.get("lr", 0.01))
        hyper = {"lr": DEFAULT_LR.get(task, {}).get(key, default_lr)}
        hyper.update(DEFAULT_OPTIONS.get(task, {}).get(key, {}))
        hyper.update(given)
        extras = _EXTRAS.get(key, set())
        choice = spec.resolve_optimizer(key, hyper, text=text, extras=extras)
        kwargs = {**choice.kwargs, **{k: v for k, v in hyper.items() if k in extras}}
        space = None
        if tuned:
            space = tuning.space_for(key, default_lr, fixed=list(given))
            if not space.dimensions:
                raise ValueError(
                    f"Invalid optimizer: {text!r} with a budget; every setting of its search space is fixed "
                    f"({tuning.space_for(key, default_lr).describe()}), so there is nothing to tune"
                )
            kwargs.update({d.key: defaults[d.key] for d in space.dimensions if d.key not in kwargs})
            # every corner of the space must make a valid optimizer: found here, not in a trial
            for u in (0.0, 0.999999):
                corner = space.configuration([u] * len(space.dimensions), kwargs)
                spec.resolve_optimizer(key, corner, text=text, extras=extras)
        entries.append(Entry(label, key, choice.cls, kwargs, dict(own), tuple(given), space))
    return entries


def _per_task(value: Any, tasks: Sequence[str], what: str) -> dict[str, Any]:
    """A setting given once for a single task, or per task as a mapping."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        for name in value:
            if name not in tasks:
                raise ValueError(f"Invalid {what}: {name!r} is not among the tasks compared {list(tasks)}")
        return dict(value)
    if len(tasks) > 1:
        raise ValueError(f"Invalid {what}: {value!r} for {len(tasks)} tasks; give it per task, TASK=VALUE")
    return {tasks[0]: value}


def prepare(
    task: str | Sequence[str] = "digits-cnn",
    optimizers: Sequence[str] | None = None,
    *,
    lrs: Mapping[str, float] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seeds: Sequence[int] = (0,),
    device: str | None = None,
    data: str | os.PathLike[str] | Mapping[str, str] | None = None,
    threads: int | None = 1,
    budget: int | None = None,
    validation: float = tuning.DEFAULT_VALIDATION,
    targets: float | Mapping[str, float] | None = None,
    workers: int | None = None,
    address: str | None = None,
    engine: str | None = None,
    out: str | os.PathLike[str] | None = None,
    rank_by: str = "seconds",
) -> Plan:
    """Check every setting of a comparison and load its data (see :func:`compare` for the arguments).
    Every mistake raises here (a ``ValueError`` naming the setting), before any training."""
    names = [task] if isinstance(task, str) else list(task)
    if not names:
        raise ValueError("Invalid task: none given; expected at least one of " + ", ".join(TASKS))
    for name in names:
        if name not in TASKS:
            raise unknown("task", name, list(TASKS))
    if len(set(names)) != len(names):
        raise ValueError(f"Invalid task: {names}; each task may appear once")
    specs = list(optimizers) if optimizers else list(DEFAULT_OPTIMIZERS)
    lrs = {k.lower(): v for k, v in (lrs or {}).items()}
    options = {k.lower(): dict(v) for k, v in (options or {}).items()}
    budget = None if budget is None else positive_int("budget", budget)
    validation = tuning.validation_fraction(validation)
    seeds = check_seeds("seeds", seeds)
    threads = None if threads is None else positive_int("threads", threads)
    workers = None if workers is None else positive_int("workers", workers)
    if workers is not None and address is not None:
        raise ValueError(f"Invalid workers: {workers} with address {address!r}; the cluster has its own")
    if address is not None:
        address = check_address(address)
    if engine is None:
        engine = "ray" if budget is not None or workers is not None or address is not None else "inline"
    if engine not in ("ray", "inline"):
        raise ValueError(f"Invalid engine: {engine!r}; expected 'ray' or 'inline'")
    if rank_by not in ("seconds", "steps"):
        raise ValueError(f"Invalid rank_by: {rank_by!r}; expected 'seconds' or 'steps'")
    dev = _device(device)
    paths = _per_task(None if data is None else (data if isinstance(data, Mapping) else str(data)), names,
                      "data")  # fmt: skip
    goals = _per_task(targets, names, "target")
    workloads = []
    for name in names:
        spec_task = TASKS[name]
        path = paths.get(name)
        if path is not None and not spec_task.takes_data:
            raise ValueError(f"Invalid data: {str(path)!r}; the {name} task uses its embedded data set")
        entries = _entries(name, specs, lrs, options, budget is not None)
        target = spec_task.target
        if name in goals:
            target = Target(target.metric, float(goals[name]))
        workloads.append(Workload(
            spec_task, spec_task.load(None if path is None else str(path)),
            None if path is None else str(path), entries, target,
            spec_task.epochs if epochs is None else positive_int("epochs", epochs),
            spec_task.batch_size if batch_size is None else positive_int("batch_size", batch_size),
        ))  # fmt: skip
    given = {"optimizers": specs, "lr": lrs, "options": options}
    return Plan(workloads, seeds, dev, threads, budget, validation, engine, workers, address,
                None if out is None else Path(out), rank_by, given)  # fmt: skip


def compare(
    task: str | Sequence[str] = "digits-cnn",
    optimizers: Sequence[str] | None = None,
    *,
    progress: bool = True,
    log: Log | None = None,
    **settings: Any,
) -> Study:
    """Compare the optimizers on the task(s) and return the :class:`Study` (see the module docstring).

    Args:
        task: a key of :data:`TASKS`, or several.
        optimizers: specs (``"adam"``, ``"adam:lr=0.003"``, see :mod:`descend.lab.spec`); default
            :data:`DEFAULT_OPTIMIZERS`.
        lrs: learning rate per optimizer name, overriding :data:`DEFAULT_LR` (a spec's own lr wins);
            with a budget, held fixed (not searched).
        options: other hyperparameters per optimizer name, e.g. ``{"adam": {"betas": (0.9, 0.99)}}``;
            with a budget, held fixed.
        epochs, batch_size: override the tasks' defaults.
        seeds: the final runs' seeds; seed s fixes the initial model and the minibatch order.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        data: the data's path for a task that needs one (``airfoil``), or per task ``{task: path}``.
        threads: torch's CPU threads in each run (1 by default: small models run fastest on one thread,
            parallel runs do not oversubscribe the cores, and timings stay steady). None: torch's setting.
        budget: trials of quasi-random search per optimizer (None: no tuning).
        validation: the fraction of the training examples held out for validation.
        targets: the validation target's value (one task), or per task ``{task: value}``.
        workers: a local Ray with this many worker processes (default: the number of cores).
        address: the ``HOST:PORT`` of a Ray cluster to run on.
        engine: ``"ray"`` or ``"inline"`` (this process); default Ray when there is a budget, workers or
            an address.
        out: the folder whose ``trials.jsonl`` and ``runs.jsonl`` keep finished jobs (and resume them).
        rank_by: time to target in ``"seconds"`` (AlgoPerf's) or ``"steps"``.
        progress: a progress bar over the jobs (on a terminal).
        log: called with one line per finished job.
    """
    return run(prepare(task, optimizers, **settings), progress=progress, log=log)


def jobs(
    plan: Plan, phase: str, best: Mapping[tuple[str, str], dict[str, Any] | None] | None = None
) -> list[Job]:
    """The plan's jobs of one phase: every optimizer's ``budget`` trials on every task (trial k on seed k,
    so that trial k of every optimizer starts from the same model), or its final runs on every seed with
    its ``best`` configuration (its given one untuned; none where every trial diverged)."""
    threads = plan.threads or 0
    out = []
    for w in plan.workloads:
        common = {"task": w.task.name, "epochs": w.epochs, "batch_size": w.batch_size,
                  "eval_every": w.task.eval_every, "threads": threads,
                  "device": str(plan.device), "validation": plan.validation}  # fmt: skip
        for e in w.entries:
            if phase == "tuning":
                assert e.space is not None and plan.budget is not None
                grid = tuning.points(len(e.space.dimensions), plan.budget)
                for k, u in enumerate(grid):
                    hyper = e.space.configuration(u, e.kwargs)
                    out.append(Job("tuning", optimizer=e.label, name=e.name, trial=k, seed=k,
                                   hyperparameters=hyper, **common))  # fmt: skip
            else:
                hyper = e.kwargs if best is None else best.get((w.task.name, e.label))
                if hyper is None:
                    continue
                out += [Job("final", optimizer=e.label, name=e.name, trial=None, seed=s,
                            hyperparameters=dict(hyper), **common) for s in plan.seeds]  # fmt: skip
    return out


def best_configurations(
    plan: Plan, trials: Mapping[tuple, Mapping[str, Any]]
) -> dict[tuple[str, str], Any]:
    """Each optimizer's trial with the lowest final validation loss on each task (the first of equals;
    None where every trial diverged): ``(task, label) -> hyperparameters``."""
    best: dict[tuple[str, str], Any] = {}
    for w in plan.workloads:
        for e in w.entries:
            mine = [r for (phase, t, o, _), r in sorted(trials.items(), key=lambda kv: kv[0][3])
                    if t == w.task.name and o == e.label and r.get("validation") is not None]  # fmt: skip
            top = min(mine, key=lambda r: r["validation"], default=None)
            best[(w.task.name, e.label)] = None if top is None else top["hyperparameters"]
    return best


def _engine(plan: Plan) -> Any:
    if plan.engine == "ray":
        return RayEngine(workers=plan.workers, address=plan.address)
    return Inline()


def run(plan: Plan, *, progress: bool = True, log: Log | None = None) -> Study:
    """Run a prepared comparison: tuning (with a budget), the final runs, then the study."""
    from descend.lab import compare_report

    log = log or quiet
    started = time.perf_counter()
    out = plan.out
    trial_store = Store(None if out is None else out / TRIALS_FILE)
    run_store = Store(None if out is None else out / RUNS_FILE)
    splits: dict[tuple[str, str], Dataset] = {}

    def data(job: Job) -> Dataset:
        # a tuning trial's data holds no test split: it is never read while tuning
        key = (job.task, job.phase)
        if key not in splits:
            full = next(w.dataset for w in plan.workloads if w.task.name == job.task)
            splits[key] = full.split_validation(plan.validation, seed=0, test=job.phase == "final")
        return splits[key]

    with _engine(plan) as engine:
        trials: dict[tuple, dict[str, Any]] = {}
        best = None
        timing = {}
        if plan.budget is not None:
            tic = time.perf_counter()
            trials = execute(jobs(plan, "tuning"), trial_store, engine, data, progress=progress, log=log)
            # the tuning's wall time, less the start of the engine
            timing["tuning_seconds"] = time.perf_counter() - tic - engine.start_seconds
            best = best_configurations(plan, trials)
        runs = execute(jobs(plan, "final", best), run_store, engine, data, unit="run", progress=progress,
                       log=log)  # fmt: skip
        where = engine.name
        timing["engine_start_seconds"] = engine.start_seconds
    seconds = time.perf_counter() - started
    result = compare_report.study(plan, trials, best, runs, seconds, where, command(plan))
    result.config.update(timing)
    return result


def command(plan: Plan) -> str:
    """The command line that reruns the comparison: each optimizer as it was written, and every setting
    it took that neither its name implies nor its spec says pinned with ``--lr`` and ``--set`` (so a rerun
    gives the same numbers even if the defaults change; with a budget, the settings held fixed)."""
    args = ["descend", "compare"]
    for w in plan.workloads:
        args += ["--task", w.task.name]
    for w in plan.workloads:
        if w.data is not None:
            args += ["--data", w.data if len(plan.workloads) == 1 else f"{w.task.name}={w.data}"]
    pinned: dict[str, dict[str, Any]] = {}
    single = len(plan.workloads) == 1
    for e in plan.entries:
        args += ["-o", e.label]
        implied = optim.resolve(e.name)[1]
        for k, v in e.kwargs.items():
            given = k in e.fixed and k not in e.own
            untuned = plan.budget is None and single and k not in e.own and implied.get(k, object()) != v
            if given or untuned:
                pinned.setdefault(e.name, {})[k] = v
    for name, settings in pinned.items():
        for k, v in settings.items():
            value = spec.format("x", {k: v}).split("=", 1)[1]
            args += ["--lr", f"{name}={value}"] if k == "lr" else ["--set", f"{name}.{k}={value}"]
    first = plan.workloads[0]
    if single or len({(w.epochs, w.batch_size) for w in plan.workloads}) == 1:
        args += ["--epochs", str(first.epochs), "--batch-size", str(first.batch_size)]
    if plan.seeds == list(range(len(plan.seeds))):
        args += ["--seeds", str(len(plan.seeds))]
    else:
        args += ["--seed-list", ",".join(str(s) for s in plan.seeds)]
    for w in plan.workloads:
        if w.target != w.task.target:
            args += ["--target", f"{w.task.name}={w.target.value:g}"]
    if plan.budget is not None:
        args += ["--budget", str(plan.budget)]
    if plan.validation != tuning.DEFAULT_VALIDATION:
        args += ["--validation", f"{plan.validation:g}"]
    if plan.address is not None:
        args += ["--address", plan.address]
    elif plan.workers is not None:
        args += ["--workers", str(plan.workers)]
    if plan.rank_by != "seconds":
        args += ["--rank-by", plan.rank_by]
    device = "auto" if plan.device.type == "cpu" and not torch.cuda.is_available() else str(plan.device)
    args += ["--device", device, "--threads", str(plan.threads) if plan.threads is not None else "0"]
    if plan.out is not None:
        args += ["--out", str(plan.out)]
    return shlex.join(args)
