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


@main.command("compare")
@click.option(
    "--task",
    default="digits-cnn",
    show_default=True,
    help="digits-cnn, digits-mlp, diabetes (embedded), or airfoil (with --data).",
)
@click.option(
    "--optimizer",
    "-o",
    "optimizers",
    multiple=True,
    metavar="NAME[:KEY=VALUE,...]",
    help="An optimizer to compare (repeatable), e.g. -o adam:lr=0.003 -o momentum; default: sgd "
    "momentum nesterov adagrad rmsprop adadelta adam adamw yogi.",
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
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs (default: the task's).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Minibatch size (default: the task's).")
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Number of seeds (0..N-1); the table shows medians and ranges.",
)
@click.option("--seed-list", metavar="S1,S2,...", help="Explicit seeds, instead of --seeds.")
@click.option(
    "--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda, cuda:N."
)
@threads_option
@click.option("--data", type=click.Path(dir_okay=False), help="The airfoil table, for --task airfoil.")
@report_folder_option("descend-report")
@no_progress_option
def compare_command(
    task: str,
    optimizers: tuple[str, ...],
    lrs: tuple[str, ...],
    sets: tuple[str, ...],
    epochs: int | None,
    batch_size: int | None,
    seeds: int,
    seed_list: str | None,
    device: str,
    threads: int,
    data: str | None,
    out: str | None,
    no_progress: bool,
) -> None:
    """Compare the chapter's optimizers on one task and write a report (HTML, CSV, configuration)."""
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
        plan = compare.prepare(
            task,
            list(optimizers) or None,
            lrs=lr_map,
            options=options,
            epochs=epochs,
            batch_size=batch_size,
            seeds=seed_values,
            device=device,
            data=data,
            threads=threads or None,
        )
        folder = claim_folder(out, "descend-report")
    study = compare.run(plan, progress=not no_progress, log=lambda line: click.echo(line, err=True))
    written = study.write(folder)
    click.echo(study.table())
    click.echo(f"\nReport: {written['html']}")
    click.echo(f"Folder: {folder}")


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
