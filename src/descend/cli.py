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
@click.option("--task", default="digits-cnn", show_default=True,
              help="digits-cnn, digits-mlp, diabetes (embedded), or airfoil (with --data).")
@click.option("--optimizer", "-o", "optimizers", multiple=True, metavar="NAME",
              help="An optimizer to compare (repeatable); default: sgd momentum nesterov adagrad rmsprop "
              "adadelta adam adamw yogi.")
@click.option("--lr", "lrs", multiple=True, metavar="NAME=LR",
              help="Learning rate of one optimizer (repeatable).")
@click.option("--set", "sets", multiple=True, metavar="NAME.KEY=VALUE",
              help="Any other hyperparameter, e.g. adam.betas=0.9,0.99 or momentum.momentum=0.95 "
              "(repeatable).")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs (default: the task's).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Minibatch size (default: the task's).")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Number of seeds (0..N-1); the table shows medians and ranges.")
@click.option("--seed-list", metavar="S1,S2,...", help="Explicit seeds, instead of --seeds.")
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when present), cpu, cuda, cuda:N.")
@click.option("--threads", type=click.IntRange(min=0), default=1, show_default=True,
              help="CPU threads for torch (0: torch's default).")
@click.option("--data", type=click.Path(dir_okay=False), help="The airfoil table, for --task airfoil.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Report folder (default: descend-report-YYYYmmdd-HHMMSS in the current directory).")
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
@click.option("--data", type=click.Path(),
              help="The airfoil table (or a Fashion-MNIST folder for lr-scheduling).")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Number of seeds.")
@click.option("--epochs", type=click.IntRange(min=1), help="Override the experiment's epochs.")
@click.option("--threads", type=click.IntRange(min=0), default=1, show_default=True,
              help="CPU threads for torch (0: torch's default).")
@click.option("--out", type=click.Path(file_okay=False),
              help="Report folder (default: descend-experiment-NAME-YYYYmmdd-HHMMSS).")
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
@click.option("--optimizer", "-o", "specs", multiple=True, required=True, metavar="NAME[:KEY=VALUE,...]",
              help="An optimizer short name (momentum, adam, ...) or a method (gd, newton, gd-armijo, ...); "
              "repeatable, one path each. KEY=VALUE pairs after a colon apply to this one only.")
@click.option("--lr", type=float, help="Learning rate (first trial step for a line search).")
@click.option("--momentum", type=float, help="Momentum β.")
@click.option("--alpha", "--gamma", "alpha", type=float, help="RMSProp's leak rate (the chapter's γ).")
@click.option("--rho", type=float, help="Adadelta's ρ.")
@click.option("--beta1", type=float, help="Adam/Yogi β1.")
@click.option("--beta2", type=float, help="Adam/Yogi β2.")
@click.option("--eps", type=float, help="ε added outside the root.")
@click.option("--eps-root", type=float, help="ε added inside the root.")
@click.option("--weight-decay", type=float, help="L2 penalty.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Any other option, for every optimizer that takes it.")
@click.option("--steps", type=click.IntRange(min=0), default=20, show_default=True, help="Iterations.")
@click.option("--start", metavar="X1,X2", help="Starting point (default: the function's).")
@click.option("--noise", type=click.FloatRange(min=0), default=0.0, help="Gradient noise σ.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the gradient noise.")
@click.option("--out", type=click.Path(dir_okay=False), default="trace.png", show_default=True,
              help="Figure file (.png, .svg or .pdf).")
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
@click.option("--optimizer", "-o", "method", default="momentum", show_default=True,
              help="gd or an optimizer short name (sgd, momentum, nesterov, adagrad, rmsprop, adam, ...).")
@click.option("--lr", metavar="A:B:N", help="Learning rates: a:b:n, a:b:n:log or v1,v2,...")
@click.option("--momentum", metavar="A:B:N", help="Momentum values, as --lr.")
@click.option("--grid", "grids", multiple=True, metavar="NAME=A:B:N", help="Another hyperparameter to sweep.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A fixed hyperparameter.")
@click.option("--steps", type=click.IntRange(min=1), default=200, show_default=True,
              help="Iterations per run.")
@click.option("--start", metavar="X1,X2", help="Starting point (default: the function's).")
@click.option("--color", type=click.Choice(["loss", "steps"]), default="loss", show_default=True,
              help="Colour cells by final loss or by steps to reach --steps-tol.")
@click.option("--steps-tol", type=click.FloatRange(min=0, min_open=True), default=1e-6, show_default=True,
              help="Tolerance on f − f* (or on the gradient norm where f* is unknown).")
@click.option("--out", type=click.Path(dir_okay=False), default="sweep.png", show_default=True,
              help="Figure file (.png, .svg or .pdf).")
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
