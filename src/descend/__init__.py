"""descend: the optimization algorithms of deep learning, as real software.

Every public submodule is reachable after a plain ``import descend`` and loaded on first use (as scipy
does), so ``import descend`` and the command line start without importing torch::

    >>> import descend
    >>> descend.optim.Adam.__name__
    'Adam'

The functions :func:`minimize` and :func:`sweep` and the types :class:`Result`, :class:`SweepResult` and
:class:`Status` are also at the top level.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: The public submodules, each imported on first access.
SUBMODULES = (
    "analysis",
    "checks",
    "cli",
    "data",
    "datafiles",
    "files",
    "functions",
    "history",
    "lab",
    "methods",
    "optim",
    "plot",
    "report",
    "result",
    "schedules",
    "search",
    "train",
)
# Names defined in a (private) module and offered here.
_NAMES = {
    "minimize": "descend._minimize",
    "sweep": "descend._sweep",
    "SweepResult": "descend._sweep",
    "Result": "descend.result",
    "Status": "descend.result",
}

__all__ = [*SUBMODULES, *_NAMES]

if TYPE_CHECKING:  # what the names are, for type checkers; at run time __getattr__ loads them
    from descend import analysis as analysis
    from descend import checks as checks
    from descend import cli as cli
    from descend import data as data
    from descend import files as files
    from descend import functions as functions
    from descend import history as history
    from descend import lab as lab
    from descend import methods as methods
    from descend import optim as optim
    from descend import plot as plot
    from descend import report as report
    from descend import result as result
    from descend import schedules as schedules
    from descend import search as search
    from descend import train as train
    from descend._minimize import minimize as minimize
    from descend._sweep import SweepResult as SweepResult
    from descend._sweep import sweep as sweep
    from descend.result import Result as Result
    from descend.result import Status as Status


def __getattr__(name: str) -> Any:
    if name in SUBMODULES:
        return importlib.import_module(f"descend.{name}")
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'descend' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
