"""``python -m descend``: the same as the ``descend`` command."""

from descend.cli import main

main(prog_name="descend")
