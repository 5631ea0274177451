"""The `descend` command."""

from __future__ import annotations

import click

from descend import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="descend")
def main() -> None:
    """descend: optimization algorithms of deep learning, compared and drawn."""


@main.command("functions")
@click.argument("name", required=False)
@click.option("--wide", is_flag=True, help="Show whole formulas, not cut to the terminal's width.")
def functions_command(name: str | None, wide: bool) -> None:
    """List the catalogue of objective functions (name, dim, minimum, formula), or describe NAME."""
    import shutil
    import sys

    from descend import functions

    if name is not None:
        if name not in functions.names():
            choices = ", ".join(functions.names())
            raise click.BadParameter(f"{name!r}; expected one of {choices}", param_hint="NAME")
        click.echo(functions.describe(name))
        return
    # cut long formulas only on an interactive terminal; piped output keeps whole lines
    cut = not wide and sys.stdout.isatty()
    click.echo(functions.table(width=shutil.get_terminal_size().columns if cut else None))


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
    metavar="NAME",
    help="An optimizer to compare (repeatable); default: sgd momentum nesterov adagrad rmsprop "
    "adadelta adam adamw yogi.",
)
@click.option(
    "--lr", "lrs", multiple=True, metavar="NAME=LR", help="Learning rate of one optimizer (repeatable)."
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME.KEY=VALUE",
    help="Any other hyperparameter, e.g. adam.betas=0.9,0.99 or momentum.momentum=0.95 (repeatable).",
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
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="CPU threads for torch (0: torch's default).",
)
@click.option("--data", type=click.Path(dir_okay=False), help="The airfoil table, for --task airfoil.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Report folder (default: descend-report-YYYYmmdd-HHMMSS in the current directory).",
)
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def compare_command(task: str, optimizers: tuple[str, ...], lrs: tuple[str, ...], sets: tuple[str, ...],
                    epochs: int | None, batch_size: int | None, seeds: int, seed_list: str | None,
                    device: str, threads: int, data: str | None, out: str | None,
                    no_progress: bool) -> None:  # fmt: skip
    """Compare the chapter's optimizers on one task and write a report (HTML, CSV, configuration)."""
    from descend.compare import compare, default_out, parse_assignment

    try:
        lr_map = {}
        for text in lrs:
            name, _, value = parse_assignment(text, what="--lr")
            lr_map[name] = value
        options: dict[str, dict] = {}
        for text in sets:
            name, key, value = parse_assignment(text, what="--set")
            options.setdefault(name, {})[key] = value
        seed_values = list(range(seeds))
        if seed_list is not None:
            try:
                seed_values = [int(s) for s in seed_list.split(",")]
            except ValueError:
                msg = f"Invalid --seed-list: {seed_list!r}; expected integers like 0,1,2"
                raise ValueError(msg) from None
        echo = lambda line: click.echo(line, err=True)  # noqa: E731
        result = compare(task, list(optimizers) or None, lrs=lr_map, options=options, epochs=epochs,
                         batch_size=batch_size, seeds=seed_values, device=device, data=data,
                         threads=threads or None, progress=not no_progress, log=echo)  # fmt: skip
    except (ValueError, TypeError) as e:
        raise click.UsageError(str(e)) from e
    folder = default_out() if out is None else click.format_filename(out)
    written = result.write(folder)
    click.echo(result.table())
    click.echo(f"\nReport: {written['html']}")
    click.echo(f"Folder: {folder}")


@main.command("experiment")
@click.argument("name")
@click.option(
    "--data", type=click.Path(), help="The airfoil table (or a Fashion-MNIST folder for lr-scheduling)."
)
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Number of seeds.")
@click.option("--epochs", type=click.IntRange(min=1), help="Override the experiment's epochs.")
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="CPU threads for torch (0: torch's default).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Report folder (default: descend-experiment-NAME-YYYYmmdd-HHMMSS).",
)
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def experiment_command(name: str, data: str | None, seeds: int, epochs: int | None, threads: int,
                       out: str | None, no_progress: bool) -> None:  # fmt: skip
    """Run one of the chapter's experiments: minibatch-sgd, momentum, adagrad, rmsprop, adadelta, adam,
    yogi, linear-regression, vectorization, lr-scheduling."""
    from datetime import datetime

    import torch

    from descend import experiments

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        echo = lambda line: click.echo(line, err=True)  # noqa: E731
        report = experiments.from_options(name, data=data, seeds=seeds, epochs=epochs,
                                          progress=not no_progress, log=echo)  # fmt: skip
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise click.UsageError(str(e)) from e
    finally:
        torch.set_num_threads(previous)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = out if out is not None else f"descend-experiment-{name}-{stamp}"
    written = report.write(folder)
    click.echo(report.table())
    click.echo(f"\nReport: {written['html']}")
    click.echo(f"Folder: {folder}")


def _number_list(text: str, name: str, dim: int) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != dim:
        raise click.BadParameter(f"{text!r}; expected {dim} comma-separated numbers", param_hint=name)
    return values


def _catalogue_function(name: str):  # -> descend.functions.Function, imported lazily
    from descend import functions

    if name not in functions.names():
        choices = ", ".join(functions.names())
        raise click.BadParameter(f"{name!r}; expected one of {choices}", param_hint="FUNCTION")
    return functions.get(name)


def _assignments(pairs: tuple[str, ...] | list[str], hint: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}; expected KEY=VALUE", param_hint=hint)
        lowered = text.lower()
        if lowered in ("true", "false"):
            out[key.replace("-", "_")] = lowered == "true"
            continue
        try:
            out[key.replace("-", "_")] = float(text)
        except ValueError:
            out[key.replace("-", "_")] = text
    return out


_HYPER = ("lr", "momentum", "alpha", "rho", "beta1", "beta2", "eps", "eps_root", "weight_decay")


@main.command("trace")
@click.argument("function")
@click.option(
    "--optimizer",
    "-o",
    "specs",
    multiple=True,
    required=True,
    metavar="NAME[:KEY=VALUE,...]",
    help="An optimizer short name (momentum, adam, ...) or a method (gd, newton, gd-armijo, ...); "
    "repeatable, one path each. KEY=VALUE pairs after a colon apply to this one only.",
)
@click.option("--lr", type=float, help="Learning rate (first trial step for a line search).")
@click.option("--momentum", type=float, help="Momentum β.")
@click.option("--alpha", "--gamma", "alpha", type=float, help="RMSProp's leak rate (the chapter's γ).")
@click.option("--rho", type=float, help="Adadelta's ρ.")
@click.option("--beta1", type=float, help="Adam/Yogi β1.")
@click.option("--beta2", type=float, help="Adam/Yogi β2.")
@click.option("--eps", type=float, help="ε added outside the root.")
@click.option("--eps-root", type=float, help="ε added inside the root.")
@click.option("--weight-decay", type=float, help="L2 penalty.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other option, for every optimizer that takes it.",
)
@click.option("--steps", type=click.IntRange(min=0), default=20, show_default=True, help="Iterations.")
@click.option("--start", metavar="X1,X2", help="Starting point (default: the function's).")
@click.option("--noise", type=click.FloatRange(min=0), default=0.0, help="Gradient noise σ.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the gradient noise.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="trace.png",
    show_default=True,
    help="Figure file (.png, .svg or .pdf).",
)
def trace_command(function: str, specs: tuple[str, ...], sets: tuple[str, ...], steps: int, start: str | None,
                  noise: float, seed: int, out: str, **flags: float | None) -> None:  # fmt: skip
    """Draw the paths optimizers take on FUNCTION (contours in 2-D, the curve in 1-D)."""
    from descend import plot
    from descend.minimize import accepted_options, minimize

    f = _catalogue_function(function)
    if f.dim > 2:
        raise click.BadParameter(f"{function!r} has dim {f.dim}; trace draws 1-D and 2-D functions")
    x0 = f.start if start is None else _number_list(start, "--start", f.dim)
    shared = {k: v for k, v in flags.items() if v is not None} | _assignments(sets, "--set")
    runs = []
    for spec in specs:
        name, _, own = spec.partition(":")
        try:
            allowed = accepted_options(name)
        except (ValueError, TypeError) as e:
            raise click.BadParameter(str(e), param_hint="--optimizer") from None
        options = {k: v for k, v in shared.items() if k in allowed}
        options |= _assignments([p for p in own.split(",") if p], "--optimizer")
        runs.append((spec, name, options))
    unused = sorted(k for k in shared if not any(k in accepted_options(n) for _, n, _ in runs))
    if unused:
        raise click.UsageError(f"Invalid option {unused[0]!r}: no optimizer given takes it")
    paths = {}
    for spec, name, options in runs:
        try:
            r = minimize(f, x0, name, steps=steps, noise=noise, seed=seed if noise else None, **options)
        except (ValueError, TypeError) as e:
            raise click.UsageError(f"{spec}: {e}") from e
        paths[spec] = r.path
        point = ", ".join(f"{v:.4g}" for v in r.x.reshape(-1).tolist())
        status = "" if r.success else f"  [{r.message}]"
        click.echo(f"{spec}: x = ({point}), f = {float(r.fun):.4g}, {r.nit} steps{status}")
    fig = plot.curve(f, paths) if f.dim == 1 else plot.contour(f, paths)
    click.echo(f"wrote {plot.save(fig, out)}")


@main.command("sweep")
@click.argument("function")
@click.option(
    "--optimizer",
    "-o",
    "method",
    default="momentum",
    show_default=True,
    help="gd or an optimizer short name (sgd, momentum, nesterov, adagrad, rmsprop, adam, ...).",
)
@click.option("--lr", metavar="A:B:N", help="Learning rates: a:b:n, a:b:n:log or v1,v2,...")
@click.option("--momentum", metavar="A:B:N", help="Momentum values, as --lr.")
@click.option("--grid", "grids", multiple=True, metavar="NAME=A:B:N", help="Another hyperparameter to sweep.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A fixed hyperparameter.")
@click.option(
    "--steps", type=click.IntRange(min=1), default=200, show_default=True, help="Iterations per run."
)
@click.option("--start", metavar="X1,X2", help="Starting point (default: the function's).")
@click.option(
    "--color",
    type=click.Choice(["loss", "steps"]),
    default="loss",
    show_default=True,
    help="Colour cells by final loss or by steps to reach --steps-tol.",
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
    type=click.Path(dir_okay=False),
    default="sweep.png",
    show_default=True,
    help="Figure file (.png, .svg or .pdf).",
)
def sweep_command(function: str, method: str, lr: str | None, momentum: str | None, grids: tuple[str, ...],
                  sets: tuple[str, ...], steps: int, start: str | None, color: str, steps_tol: float,
                  out: str) -> None:  # fmt: skip
    """Run a grid of hyperparameters at once and draw the map, with theory's boundary on quadratics."""
    import time

    import torch

    from descend import plot
    from descend.sweep import heavy_ball_theory, parse_range, quadratic_eigenvalues, sweep

    f = _catalogue_function(function)
    x0 = f.start if start is None else _number_list(start, "--start", f.dim)
    try:
        axes = {}
        for name, text in [("lr", lr), ("momentum", momentum)] + [g.partition("=")[::2] for g in grids]:
            if text:
                axes[name] = parse_range(text, f"--{name}" if name in ("lr", "momentum") else "--grid")
        if not 1 <= len(axes) <= 2:
            raise ValueError(f"Invalid grid: {len(axes)} axes; expected 1 or 2 (--lr, --momentum, --grid)")
        fixed = _assignments(sets, "--set")
        k = 1
        for values in axes.values():
            k *= len(values)
        began = time.perf_counter()
        r = sweep(f, x0, method, steps=steps, steps_tol=steps_tol, progress=k * steps >= 2_000_000,
                  **axes, **fixed)  # fmt: skip
        seconds = time.perf_counter() - began
    except (ValueError, TypeError) as e:
        raise click.UsageError(str(e)) from e
    names = list(axes)
    x_name = "lr" if "lr" in axes else names[0]
    y_name = next((n for n in names if n != x_name), None)
    xs = r.grid[x_name]
    ys = r.grid[y_name] if y_name else torch.zeros_like(xs)
    lam = quadratic_eigenvalues(f, x0, f.box)
    predicted = heavy_ball_theory(r, lam) if lam is not None and bool((lam > 0).all()) else None
    boundary = None
    if predicted is not None and y_name in (None, "momentum"):
        lmax = float(lam.max())
        if y_name == "momentum":
            boundary = {"theory: ηλmax = 2 + 2β": lambda eta: eta * lmax / 2 - 1}
        else:
            beta = float(r.options.get("momentum", 0.0))
            edge = 2 * (1 + beta) / lmax
            boundary = {f"theory: η = 2(1 + β)/λmax = {edge:.3g}": [[edge, -1.0], [edge, 1.0]]}
    values = r.fun if color == "loss" else r.steps_to_tol
    what = "final loss" if color == "loss" else "steps to tolerance"
    fig = plot.sweep_map(xs, ys, values, x_name=x_name, y_name=y_name or "", kind=color,
                         diverged=r.diverged, boundary=boundary,
                         title=f"{method} on {function}: {what} after {steps} steps")  # fmt: skip
    if y_name is None:  # one swept hyperparameter: the vertical axis carries nothing
        fig.axes[0].yaxis.set_visible(False)
    written = plot.save(fig, out)
    reached = int(torch.isfinite(r.steps_to_tol).sum())
    line = (f"{method} on {function}: {len(r)} runs × {steps} steps in {seconds:.2f} s; {reached} reached "
            f"tolerance, {int(r.diverged.sum())} diverged")  # fmt: skip
    best = r.best()
    if best >= 0:
        setting = ", ".join(f"{n}={v:.4g}" for n, v in r.row(best).items() if n != "x0")
        line += f"; best {setting} (f = {float(r.fun[best]):.4g})"
    if predicted is not None:
        measured = ~r.diverged & (r.fun < float(f(torch.tensor(x0, dtype=torch.float64))))
        line += f"; theory agrees on {100 * float((measured == predicted).double().mean()):.1f}% of cells"
    click.echo(f"{line}; wrote {written}")


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
        choices = ", ".join(n for n in schedules.names() if n != "join")
        why = " (join combines other schedules: build it in Python)" if name == "join" else ""
        raise click.BadParameter(f"{spec!r}{why}; expected one of {choices}", param_hint="NAME")
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
    help="Figure file (.png, .svg or .pdf).",
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
    from descend.tour import schedule_figure

    if not out.lower().endswith((".png", ".svg", ".pdf")):
        raise click.BadParameter(f"{out!r}; expected a name ending in .png, .svg or .pdf", param_hint="--out")
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
        fig = schedule_figure(dict(built), steps, log_y=log_y, title=None)
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
    help="Folder for tour.html and figures/.",
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
    from descend import tour

    try:
        result = tour.run(out, format=fmt, dpi=dpi, progress=not no_progress, only=only or None)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--section") from e
    click.echo(result.summary())
