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
