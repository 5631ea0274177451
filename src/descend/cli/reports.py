"""``descend compare`` and ``descend experiment``: trained runs, written as a report folder."""

from __future__ import annotations

from typing import Any

import click

from descend.cli import main, mistakes, no_progress_option, report_folder_option, threads_option


def _assignment(text: str, what: str) -> tuple[str, str, Any]:
    """``NAME=VALUE`` (``--lr adam=0.001``) or ``NAME.KEY=VALUE`` (``--set adam.betas=(0.9,0.99)``) as
    ``(name, key, value)``, the value a Python literal as in an optimizer spec."""
    from descend.lab import spec

    left, sep, right = text.partition("=")
    name, _, key = left.strip().partition(".")
    if not sep or not name.strip() or not right.strip():
        raise ValueError(f"Invalid {what}: {text!r}; expected NAME=VALUE")
    value = spec.parse_value(right, f"{what} {text!r}")
    if what == "--lr" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"Invalid --lr: {text!r}; expected a number after '='")
    return name.strip().lower(), key.strip() or "lr", value


def _per_task(texts: tuple[str, ...], what: str, convert: Any) -> Any:
    """``--data PATH`` / ``--target VALUE`` for one task, or ``TASK=VALUE`` (repeatable) per task."""
    from descend.lab.tasks import TASKS

    if not texts:
        return None
    out = {}
    for text in texts:
        name, sep, value = text.partition("=")
        if sep and name.strip() in TASKS:
            out[name.strip()] = convert(value.strip(), text)
        elif len(texts) == 1:
            return convert(text, text)
        else:
            raise ValueError(f"Invalid {what}: {text!r}; with several, write each as TASK=VALUE")
    return out


def _number(value: str, text: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"Invalid --target: {text!r}; expected a number (or TASK=NUMBER)") from None


@main.command("compare")
@click.option(
    "--task",
    "tasks",
    multiple=True,
    help="digits-cnn (default), digits-mlp, diabetes, fashion-mnist-mlp, fashion-mnist-cnn, text-chars "
    "(embedded or local data), airfoil (with --data); repeat for several tasks (a performance profile).",
)
@click.option(
    "--optimizer",
    "-o",
    "optimizers",
    multiple=True,
    metavar="NAME[:KEY=VALUE,...]",
    help="An optimizer to compare (repeatable), e.g. -o adam:lr=0.003 -o momentum; default: sgd "
    "momentum nesterov adagrad rmsprop adadelta adam adamw yogi. With --budget, settings given are fixed.",
)
@click.option(
    "--lr", "lrs", multiple=True, metavar="NAME=LR", help="Learning rate of one optimizer (repeatable)."
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME.KEY=VALUE",
    help="Any other hyperparameter, e.g. adam.betas=(0.9,0.99) (repeatable).",
)
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    help="Tune: N trials of quasi-random search per optimizer, scored on the validation split.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Run the jobs on a local Ray with W worker processes (default with --budget: the number of cores).",
)
@click.option("--address", metavar="HOST:PORT", help="Run the jobs on the Ray cluster at this address.")
@click.option(
    "--validation",
    type=float,
    default=0.2,
    show_default=True,
    help="Fraction of the training examples held out for validation.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="[TASK=]VALUE",
    help="The validation target (loss or accuracy, as the task declares), overriding the task's.",
)
@click.option(
    "--rank-by",
    type=click.Choice(["seconds", "steps"]),
    default="seconds",
    show_default=True,
    help="Time to target in training seconds or in steps.",
)
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs (default: the task's).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Minibatch size (default: the task's).")
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Number of seeds of the final runs (0..N-1); the table shows medians and ranges.",
)
@click.option("--seed-list", metavar="S1,S2,...", help="Explicit seeds, instead of --seeds.")
@click.option(
    "--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda, cuda:N."
)
@threads_option
@click.option(
    "--data",
    "data",
    multiple=True,
    metavar="[TASK=]PATH",
    help="The data of a task that reads a file or folder (airfoil's table, Fashion-MNIST's IDX folder).",
)
@report_folder_option("descend-report")
@no_progress_option
def compare_command(
    tasks: tuple[str, ...],
    optimizers: tuple[str, ...],
    lrs: tuple[str, ...],
    sets: tuple[str, ...],
    budget: int | None,
    workers: int | None,
    address: str | None,
    validation: float,
    targets: tuple[str, ...],
    rank_by: str,
    epochs: int | None,
    batch_size: int | None,
    seeds: int,
    seed_list: str | None,
    device: str,
    threads: int,
    data: tuple[str, ...],
    out: str | None,
    no_progress: bool,
) -> None:
    """Compare optimizers on one or several tasks and write a report (HTML, CSV, configuration).

    With --budget N every optimizer is tuned with N trials on a validation split, on Ray; each finished
    trial is a line of OUT/trials.jsonl, and the same command with the same --out resumes.
    """
    from descend.files import claim_folder
    from descend.lab import compare

    with mistakes():
        lr_map = {}
        for text in lrs:
            name, _, value = _assignment(text, "--lr")
            lr_map[name] = value
        options: dict[str, dict] = {}
        for text in sets:
            name, key, value = _assignment(text, "--set")
            options.setdefault(name, {})[key] = value
        seed_values = list(range(seeds))
        if seed_list is not None:
            try:
                seed_values = [int(s) for s in seed_list.split(",")]
            except ValueError:
                raise ValueError(
                    f"Invalid --seed-list: {seed_list!r}; expected integers like 0,1,2"
                ) from None
        if not 0.0 < validation < 1.0:
            raise ValueError(f"Invalid --validation: {validation}; expected a fraction 0 < validation < 1")
        plan = compare.prepare(
            list(tasks) or "digits-cnn",
            list(optimizers) or None,
            lrs=lr_map,
            options=options,
            epochs=epochs,
            batch_size=batch_size,
            seeds=seed_values,
            device=device,
            data=_per_task(data, "--data", lambda value, text: value),
            threads=threads or None,
            budget=budget,
            validation=validation,
            targets=_per_task(targets, "--target", _number),
            workers=workers,
            address=address,
            rank_by=rank_by,
        )
        keep = (compare.TRIALS_FILE, compare.RUNS_FILE)
        folder = claim_folder(out, "descend-report", keep=keep)
        plan.out = folder
    # listed before any job runs, so that a run killed half way leaves a folder its rerun may resume in
    _list_with_jobs(folder, [folder / name for name in keep])
    try:
        study = compare.run(plan, progress=not no_progress, log=lambda line: click.echo(line, err=True))
    except RuntimeError as e:
        kept = f"The finished jobs are kept in {folder}; the same command resumes."
        raise click.ClickException(f"{e}\n{kept}") from None
    written = study.write(folder)
    _list_with_jobs(folder, written.values())
    click.echo(text_ranking(study))
    click.echo(study.table())
    if plan.budget is None:
        note = "The hyperparameters were not tuned (given or default); --budget N tunes them."
        click.echo("\n" + note, err=True)
    click.echo(f"\nReport: {written['html']}")
    click.echo(f"Folder: {folder}")


def text_ranking(study: Any) -> str:
    from descend.report import text_table

    return "Ranking\n" + text_table(study.tables["ranking"]) + "\n"


def _list_with_jobs(folder: Any, written: Any) -> None:
    """The folder's manifest: the report's files and the files of finished jobs."""
    from pathlib import Path

    from descend.files import record_outputs
    from descend.lab import compare

    jobs = [Path(folder) / name for name in (compare.TRIALS_FILE, compare.RUNS_FILE)]
    record_outputs(folder, [*written, *jobs])


@main.command("experiment")
@click.argument("name")
@click.option(
    "--data", type=click.Path(), help="The airfoil table (or a Fashion-MNIST folder for lr-scheduling)."
)
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Number of seeds.")
@click.option("--epochs", type=click.IntRange(min=1), help="Override the experiment's epochs.")
@threads_option
@report_folder_option("descend-experiment-NAME")
@no_progress_option
def experiment_command(
    name: str,
    data: str | None,
    seeds: int,
    epochs: int | None,
    threads: int,
    out: str | None,
    no_progress: bool,
) -> None:
    """Run one of the chapter's experiments: minibatch-sgd, momentum, adagrad, rmsprop, adadelta, adam,
    yogi, linear-regression, vectorization, lr-scheduling."""
    import torch

    from descend.files import claim_folder
    from descend.lab import experiments

    def echo(line: str) -> None:
        click.echo(line, err=True)

    with mistakes():
        job = experiments.prepare(
            name, data=data, seeds=seeds, epochs=epochs, progress=not no_progress, log=echo
        )
        folder = claim_folder(out, f"descend-experiment-{name}")
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        study = job()
    finally:
        torch.set_num_threads(previous)
    written = study.write(folder)
    click.echo(study.table())
    click.echo(f"\nReport: {written['html']}")
    click.echo(f"Folder: {folder}")
