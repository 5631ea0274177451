"""``descend functions``, ``trace``, ``sweep``, ``schedule`` and ``tour``: figures of the catalogue's
functions, of runs on them, of schedules, and the chapter's tour."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from descend.checks import unknown
from descend.cli import command_line, echo_notes, figure_file, main, mistakes


@main.command("functions")
@click.argument("name", required=False)
@click.option("--wide", is_flag=True, help="Show whole formulas, not cut to the terminal's width.")
def functions_command(name: str | None, wide: bool) -> None:
    """List the catalogue of objective functions (name, dim, minimum, formula), or describe NAME."""
    import shutil
    import sys

    from descend import functions

    if name is not None:
        with mistakes():
            if name not in functions.names():
                raise unknown("function", name, functions.names())
        click.echo(functions.describe(name))
        return
    # cut long formulas only on an interactive terminal; piped output keeps whole lines
    cut = not wide and sys.stdout.isatty()
    click.echo(functions.table(width=shutil.get_terminal_size().columns if cut else None))


# ----------------------------------------------------------------------------------------------------------
# trace and sweep: figures of runs on catalogue functions


def _settings(pairs: Sequence[str], hint: str) -> dict[str, Any]:
    """``KEY=VALUE`` settings, the values Python literals as in an optimizer spec."""
    from descend.lab import spec

    return spec.parse_options(",".join(pairs), hint) if pairs else {}


@main.command("trace")
@click.argument("function")
@click.option(
    "--optimizer",
    "-o",
    "specs",
    multiple=True,
    required=True,
    metavar="NAME[:KEY=VALUE,...]",
    help="An optimizer (momentum, adam, ...) or a method (gd, newton, gd-armijo, ...) with its "
    "settings, e.g. -o adam:lr=0.1; repeatable, one path each.",
)
@click.option("--lr", type=float, help="Learning rate of every optimizer that takes one and sets none.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other setting, for every optimizer that takes it.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1, max=10_000_000),
    default=20,
    show_default=True,
    help="The most iterations; a run stops early once converged (--tol) or diverged.",
)
@click.option(
    "--tol",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-10,
    show_default=True,
    help="Stop a run once its gradient norm is below this.",
)
@click.option("--start", metavar="X1,X2", help="Starting point (default: the function's).")
@click.option("--noise", type=click.FloatRange(min=0), default=0.0, help="Gradient noise σ.")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the gradient noise."
)
@click.option(
    "--out",
    default="trace.png",
    show_default=True,
    help="Figure file (.png, .svg, .pdf, or any format matplotlib writes).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar on long runs.")
def trace_command(
    function: str,
    specs: tuple[str, ...],
    lr: float | None,
    sets: tuple[str, ...],
    steps: int,
    tol: float,
    start: str | None,
    noise: float,
    seed: int,
    out: str,
    no_progress: bool,
) -> None:
    """Draw the paths optimizers take on FUNCTION (contours in 2-D, the curve in 1-D).

    An optimizer given no learning rate gets the one that suits FUNCTION (the gentlest of 1e-8 … 1e2 that
    ends lowest), and the command says which.
    """
    from descend.lab import trace
    from descend.report import text_table

    with mistakes():
        shared = _settings(sets, "--set") | ({} if lr is None else {"lr": lr})
        plan = trace.prepare(
            function, specs, shared=shared, steps=steps, start=start, noise=noise, seed=seed, tol=tol
        )
        figure_file(out)
    from descend import plot

    traces = trace.run(plan, progress=not no_progress)
    fig = trace.figure(plan, traces)
    command = command_line("trace", function, *[["-o", s] for s in specs], ["--steps", steps])
    written = plot.save(fig, out, metadata={"Description": command})
    echo_notes([f"{t.label}: {note}" for t in traces for note in t.notes])
    click.echo(text_table(trace.table(traces)))
    click.echo(f"wrote {written}")


@main.command("sweep")
@click.argument("function")
@click.option(
    "--optimizer",
    "-o",
    "spec_text",
    default="momentum",
    show_default=True,
    metavar="NAME[:KEY=VALUE,...]",
    help="gd or an optimizer (sgd, momentum, nesterov, adagrad, rmsprop, adam, ...) with fixed settings.",
)
@click.option("--lr", metavar="A:B:N", help="Learning rates: a:b:n, a:b:n:log or v1,v2,...")
@click.option("--momentum", metavar="A:B:N", help="Momentum values, as --lr.")
@click.option("--grid", "grids", multiple=True, metavar="NAME=A:B:N", help="Another hyperparameter to sweep.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A fixed hyperparameter.")
@click.option(
    "--steps",
    type=click.IntRange(min=1, max=10_000_000),
    default=200,
    show_default=True,
    help="Iterations per run.",
)
@click.option("--start", metavar="X1,X2", help="Starting point (default: the function's).")
@click.option(
    "--color",
    type=click.Choice(["loss", "steps"]),
    default="loss",
    show_default=True,
    help="Colour cells by final loss (f − f* where f* is known) or by steps to reach --steps-tol.",
)
@click.option(
    "--steps-tol",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-6,
    show_default=True,
    help="Tolerance on f − f* (or on the gradient norm where f* is unknown).",
)
@click.option(
    "--out",
    default="sweep.png",
    show_default=True,
    help="Figure file (.png, .svg, .pdf, or any format matplotlib writes).",
)
def sweep_command(
    function: str,
    spec_text: str,
    lr: str | None,
    momentum: str | None,
    grids: tuple[str, ...],
    sets: tuple[str, ...],
    steps: int,
    start: str | None,
    color: str,
    steps_tol: float,
    out: str,
) -> None:
    """Run a grid of hyperparameters at once and draw the map, with theory's boundary on quadratics."""
    from descend.lab import sweeps
    from descend.report import text_table

    with mistakes():
        axes = {"lr": lr, "momentum": momentum}
        for g in grids:
            name, sep, text = g.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"Invalid --grid: {g!r}; expected NAME=A:B:N")
            axes[name.strip().replace("-", "_")] = text
        plan = sweeps.prepare(
            function,
            spec_text,
            axes,
            fixed=_settings(sets, "--set"),
            steps=steps,
            start=start,
            color=color,
            steps_tol=steps_tol,
        )
        figure_file(out)
    from descend import plot

    outcome = sweeps.run(plan)
    fig = sweeps.figure(plan, outcome)
    ranges = [
        [f"--{k}" if k in ("lr", "momentum") else "--grid", v if k in ("lr", "momentum") else f"{k}={v}"]
        for k, v in axes.items()
        if v
    ]
    command = command_line(
        "sweep", function, ["-o", spec_text], *ranges, ["--steps", steps, "--color", color]
    )
    written = plot.save(fig, out, metadata={"Description": command})
    echo_notes(outcome.notes)
    click.echo(text_table(sweeps.summary(plan, outcome)))
    click.echo(f"wrote {written}")


# ----------------------------------------------------------------------------------------------------------
# schedule and tour


# Schedule arguments with a flag of their own in `descend schedule` (--base-lr, ...); others go through --set.
_SCHEDULE_FLAGS = ("lr", "base_lr", "final_lr", "max_steps", "warmup_steps", "warmup_begin_lr", "factor",
                   "stop_factor_lr", "every", "milestones", "rate", "alpha", "beta")  # fmt: skip


def _schedule_value(text: object, kind: str, key: str, hint: str) -> object:
    """A schedule argument from command-line text, converted by its annotation (int, float, tuples, ...)."""
    if not isinstance(text, str):
        return text
    try:
        if kind == "int":
            number = float(text)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if kind == "float":
            return float(text)
        if kind == "bool":
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if kind.startswith("tuple[int"):
            return tuple(int(v) for v in text.split(",") if v.strip())
        if kind.startswith("tuple[float"):
            return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        wants = {"int": "an integer", "float": "a number", "bool": "true or false"}
        want = wants.get(kind, "comma-separated numbers")
        raise click.BadParameter(f"{key}={text!r}; expected {want}", param_hint=hint) from None
    return text


def _schedule_pairs(text: str, hint: str) -> dict[str, str]:
    """KEY=VALUE pairs separated by commas; a piece without '=' continues the previous list value."""
    out: dict[str, str] = {}
    last = None
    for piece in (p for p in text.split(",") if p):
        key, sep, value = piece.partition("=")
        if sep and key:
            last = key.strip().replace("-", "_")
            out[last] = value.strip()
        elif last is not None:
            out[last] += "," + piece.strip()
        else:
            raise click.BadParameter(f"{text!r}; expected KEY=VALUE pairs", param_hint=hint)
    return out


def _build_schedule(spec: str, shared: dict[str, tuple[object, str]]):  # -> descend.schedules.Schedule
    """The schedule NAME[:KEY=VALUE,...] with the shared options it takes; click errors name the option."""
    import dataclasses
    import re

    from descend import schedules

    name, _, own = spec.partition(":")
    name = name.replace("-", "_")
    if name not in schedules.names() or name == "join":
        choices = [n for n in schedules.names() if n != "join"]
        why = " (join combines other schedules: build it in Python)" if name == "join" else ""
        raise click.BadParameter(
            f"{spec!r}{why}; {str(unknown('x', name, choices)).split('; ', 1)[1]}", param_hint="NAME"
        )
    fields = {f.name: f for f in dataclasses.fields(schedules.get(name))}
    given = {k: v for k, v in shared.items() if k in fields}
    pairs = _schedule_pairs(own, "NAME")
    for key in pairs:
        if key not in fields:
            raise click.BadParameter(f"{spec!r}: {name} takes no {key!r}; it takes {', '.join(fields)}",
                                     param_hint="NAME")  # fmt: skip
    given |= {k: (v, "NAME") for k, v in pairs.items()}
    missing = [k for k, f in fields.items() if k not in given and f.default is dataclasses.MISSING]
    if missing:
        flags = " and ".join(f"--{k.replace('_', '-')}" if k in _SCHEDULE_FLAGS else f"--set {k}=..."
                             for k in missing)  # fmt: skip
        raise click.UsageError(f"{name} needs {', '.join(missing)}: give {flags} (or {name}:{missing[0]}=...)"
                               .replace("...)", "... after the name)"))  # fmt: skip
    kwargs = {k: _schedule_value(v, str(fields[k].type), k, hint) for k, (v, hint) in given.items()}
    try:
        return schedules.get(name)(**kwargs)
    except (ValueError, TypeError) as e:
        found = re.match(r"Invalid (\w+)", str(e))
        hint = given[found.group(1)][1] if found and found.group(1) in given else "NAME"
        raise click.BadParameter(f"{spec}: {e}", param_hint=hint) from None


def _schedule_horizon(built: list) -> int:
    """A plotting range that shows every schedule's shape: past its last milestone, warmup or horizon."""
    ends = []
    for s in built:
        for key in ("max_steps", "total_steps", "steps", "warmup_steps", "period"):
            if isinstance(getattr(s, key, None), int):
                ends.append(getattr(s, key))
        for key in ("milestones", "boundaries"):
            ends += list(getattr(s, key, ()))[-1:]
    return max(10, int(1.5 * max(ends)) + 1) if ends else 100


@main.command("schedule")
@click.argument("names", nargs=-1, required=True, metavar="NAME[:KEY=VALUE,...]...")
@click.option("--lr", type=float, help="constant's learning rate.")
@click.option("--base-lr", type=float, help="η0, the starting (peak) learning rate.")
@click.option("--final-lr", type=float, help="The rate at the end (cosine, polynomial_decay).")
@click.option("--max-steps", type=click.IntRange(min=1), help="cosine's horizon T.")
@click.option("--warmup-steps", type=click.IntRange(min=0), help="Linear warmup steps.")
@click.option("--warmup-begin-lr", type=float, help="The rate warmup starts from.")
@click.option("--factor", type=float, help="The decay factor (factor, multi_factor).")
@click.option("--stop-factor-lr", type=float, help="factor's floor.")
@click.option("--every", type=click.IntRange(min=1), help="factor: decay once every N steps.")
@click.option("--milestones", metavar="T1,T2,...", help="multi_factor's steps where the rate is multiplied.")
@click.option("--rate", type=float, help="exponential's λ in η0·e^(−λt).")
@click.option("--alpha", type=float, help="polynomial's α in η0·(βt + 1)^(−α).")
@click.option("--beta", type=float, help="polynomial's β.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other argument, for every schedule that takes it (e.g. period=10).",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    help="Steps to plot (default: 1.5 × the longest horizon or last milestone, else 100).",
)
@click.option(
    "--show",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many first values to print.",
)
@click.option("--log-y", is_flag=True, help="Log scale for the learning rate.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="schedule.png",
    show_default=True,
    help="Figure file (.png, .svg, .pdf, or any format matplotlib writes).",
)
def schedule_command(names: tuple[str, ...], sets: tuple[str, ...], steps: int | None, show: int, log_y: bool,
                     out: str, **flags: object) -> None:  # fmt: skip
    """Plot learning-rate schedules and print their first values.

    NAME is one of: constant, factor, multi_factor, piecewise_constant, exponential, polynomial,
    polynomial_decay, linear, linear_warmup, cosine, cosine_warm_restarts, one_cycle. Give several NAMEs to
    compare them; the options apply to every schedule that takes them, and KEY=VALUE pairs after a colon to
    one only, e.g.

    \b
      descend schedule cosine --base-lr 0.3 --final-lr 0.01 --max-steps 20 --warmup-steps 5 --out s.png
      descend schedule factor:factor=0.9,stop_factor_lr=0.01 multi_factor:milestones=15,30,factor=0.5 \\
          --base-lr 0.5 --steps 50
    """
    import torch

    from descend import plot
    from descend.report import text_table

    with mistakes():
        figure_file(out)
    shared: dict[str, tuple[object, str]] = {
        k: (v, f"--{k.replace('_', '-')}") for k, v in flags.items() if v is not None
    }
    shared |= {k: (v, f"--set {k}") for k, v in _schedule_pairs(",".join(sets), "--set").items()}
    built = {spec: _build_schedule(spec, shared) for spec in names}
    import dataclasses

    taken = {f.name for s in built.values() for f in dataclasses.fields(s)}
    unused = sorted(hint for k, (_, hint) in shared.items() if k not in taken)
    if unused:
        raise click.UsageError(f"Invalid option {unused[0]}: none of {', '.join(names)} takes it")
    steps = steps or _schedule_horizon(list(built.values()))
    t = torch.arange(max(steps, show))
    values = {spec: s(t) for spec, s in built.items()}
    for spec, s in built.items():
        click.echo(f"{spec}: {s!r}")
    if show:
        rows = [{"step": i} | {spec: float(v[i]) for spec, v in values.items()} for i in range(show)]
        click.echo(text_table(rows, digits=6))
    try:
        fig = plot.schedules(dict(built), steps=steps, log_y=log_y, stairs=True)
    except ValueError as e:  # a schedule that reaches 0 cannot be drawn on a log axis
        raise click.BadParameter(str(e), param_hint="--log-y") from e
    written = plot.save(fig, out)
    click.echo(f"{len(built)} schedule{'s' if len(built) > 1 else ''} over {steps} steps; wrote {written}")


@main.command("tour")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="descend-tour",
    show_default=True,
    help="Folder for tour.html and figures/ (a rerun replaces an earlier tour's files there).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["png", "svg"]),
    default="png",
    show_default=True,
    help="Image format of the figures (embedded in the page and written beside it).",
)
@click.option(
    "--dpi",
    type=click.IntRange(min=30, max=600),
    default=110,
    show_default=True,
    help="Resolution of PNG figures.",
)
@click.option(
    "--section",
    "only",
    multiple=True,
    metavar="NAME",
    help="Build only this section (repeatable), e.g. gd-1d or sweep-map; default: all of them.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def tour_command(out: str, fmt: str, dpi: int, only: tuple[str, ...], no_progress: bool) -> None:
    """Regenerate the chapter's figures, each with a caption, into one self-contained HTML page.

    Local and global minima, saddle points, vanishing gradients, convexity, gradient descent in 1-D and 2-D,
    Newton's method, noisy SGD with decaying rates, momentum with its stability map against theory,
    AdaGrad, RMSProp, Adadelta, Adam, Yogi, and learning-rate schedules.
    """
    from descend.files import claim_folder
    from descend.lab import tour

    with mistakes():
        for name in only:
            tour.get(name)
        folder = claim_folder(out, "descend-tour")
    result = tour.run(folder, format=fmt, dpi=dpi, progress=not no_progress, only=only or None)
    click.echo(result.summary())
