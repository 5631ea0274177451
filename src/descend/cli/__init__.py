"""The `descend` command: parsing and messages only; the work is done by :mod:`descend.lab` and the library.

The commands are in :mod:`descend.cli.reports` (``compare``, ``experiment``: report folders),
:mod:`descend.cli.figures` (``functions``, ``trace``, ``sweep``, ``schedule``, ``tour``: figures) and
:mod:`descend.cli.serve` (``serve``: the playground in the browser).

Every command checks what it was given (names, settings, data files, where it writes) before it does any
work; a mistake ends the command with one short message and exit status 2, never a traceback.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from descend import __version__


class Mistake(click.ClickException):
    """A mistake in what the command was given: one line on stderr, exit status 2."""

    exit_code = 2


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as e:  # a file that cannot be written mid-run: a message, not a traceback
            raise click.ClickException(f"{e.strerror or e}: {e.filename or ''}".rstrip(": ")) from None


@contextmanager
def mistakes() -> Iterator[None]:
    """Turn the library's checks (ValueError, TypeError naming the argument) into a :class:`Mistake`."""
    try:
        yield
    except (ValueError, TypeError) as e:
        raise Mistake(str(e)) from None


def figure_file(out: str) -> None:
    """Check, before any work, that the figure ``out`` can be written: a format matplotlib writes, in a
    folder that can be created and written."""
    from descend import plot
    from descend.files import check_output_file

    plot.check_format(out, what="--out")
    check_output_file(out, [out[out.rfind(".") :]])


def command_line(name: str, *parts: Any) -> str:
    """A command line, for the metadata of the figures it writes."""
    words = ["descend", name]
    for part in parts:
        words += [str(p) for p in part] if isinstance(part, list | tuple) else [str(part)]
    return shlex.join(words)


def echo_notes(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(line, err=True)


#: Options several commands share.
threads_option = click.option(
    "--threads", type=click.IntRange(min=0), default=1, show_default=True,
    help="CPU threads for torch (0: torch's default).",
)  # fmt: skip
no_progress_option = click.option("--no-progress", is_flag=True, help="No progress bars.")


def report_folder_option(default_name: str) -> Any:
    """``--out``: the folder a report is written into."""
    text = (
        f"Report folder (default: a new {default_name}-YYYYmmdd-HHMMSS in the current directory; a folder an "
        "earlier run wrote is reused, its files replaced)."
    )
    return click.option("--out", type=click.Path(file_okay=False), help=text)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="descend")
def main() -> None:
    """descend: optimization algorithms of deep learning, compared and drawn.

    An optimizer is written the same way everywhere: -o NAME[:KEY=VALUE,...], values as Python literals,
    e.g. -o "adam:lr=0.1,betas=(0.8,0.99)".
    """


# The commands register themselves on `main`.
from descend.cli import figures, reports, serve  # noqa: E402, F401
