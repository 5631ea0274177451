"""The lab: what a person runs to see and compare the algorithms.

==================================  ======================================================================
module                              what it holds
==================================  ======================================================================
:mod:`descend.lab.spec`             how an optimizer is written: ``NAME[:KEY=VALUE,...]``, one parser
:mod:`descend.lab.study`            the one study/report type every part of the lab returns and writes
:mod:`descend.lab.experiments`      the chapter's experiments (:mod:`~descend.lab.airfoil`'s runs,
                                    linear regression, :mod:`~descend.lab.vectorization`, schedules)
:mod:`descend.lab.compare`          optimizers side by side on tasks (:mod:`~descend.lab.tasks`):
                                    equal tuning budgets (:mod:`~descend.lab.tuning`), trials on Ray
                                    (:mod:`~descend.lab.trials`), ranking (:mod:`~descend.lab.ranking`),
                                    a report (:mod:`~descend.lab.compare_report`)
:mod:`descend.lab.tour`             every figure of the chapter, captioned, on one page
                                    (:mod:`~descend.lab.tour_basics`, :mod:`~descend.lab.tour_methods`)
:mod:`descend.lab.trace`            paths of optimizers on a catalogue function
:mod:`descend.lab.sweeps`           maps of a hyperparameter sweep, held against theory
:mod:`descend.lab.playground`       ``descend serve``: the page in the browser and the server it asks
:mod:`descend.lab.models`           the models the lab trains (:mod:`~descend.lab.hybrid`: Muon
                                    beside AdamW)
==================================  ======================================================================

Every submodule is loaded on first use: ``import descend.lab`` imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

SUBMODULES = (
    "airfoil",
    "compare",
    "compare_report",
    "experiments",
    "hybrid",
    "models",
    "playground",
    "ranking",
    "spec",
    "study",
    "sweeps",
    "tasks",
    "tour",
    "tour_basics",
    "tour_methods",
    "trace",
    "trials",
    "tuning",
    "vectorization",
)
__all__ = list(SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in SUBMODULES:
        return importlib.import_module(f"descend.lab.{name}")
    raise AttributeError(f"module 'descend.lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
