"""The `descend` command."""

from __future__ import annotations

import click

from descend import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="descend")
def main() -> None:
    """descend: optimization algorithms of deep learning, compared and drawn."""
