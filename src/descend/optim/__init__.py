"""Drop-in ``torch.optim.Optimizer`` subclasses, each rule written once.

The chapter's algorithms, every optimizer of torch.optim, and the modern ones (Lion, LAMB, LARS, the
Schedule-Free pair, Prodigy, Adan). Besides the classes, every method has a short lower-case name
(``"momentum"`` is SGD with momentum 0.9, ``"nesterov"`` its Nesterov form, ``"schedule-free-adamw"``...)
for the command line and the lab::

    >>> import torch
    >>> from descend import optim
    >>> w = torch.zeros(3, requires_grad=True)
    >>> opt = optim.create("momentum", [w], lr=0.1)
    >>> type(opt).__name__, opt.defaults["momentum"]
    ('SGD', 0.9)
"""

from __future__ import annotations

from typing import Any

import torch

from descend.optim.adadelta import Adadelta
from descend.optim.adafactor import Adafactor
from descend.optim.adagrad import Adagrad
from descend.optim.adam import Adam, AdamW
from descend.optim.adamax import Adamax
from descend.optim.adan import Adan
from descend.optim.asgd import ASGD
from descend.optim.lamb import LAMB, LARS
from descend.optim.lbfgs import LBFGS
from descend.optim.lion import Lion
from descend.optim.muon import Muon
from descend.optim.nadam import NAdam
from descend.optim.optimizer import Optimizer
from descend.optim.prodigy import Prodigy
from descend.optim.radam import RAdam
from descend.optim.rmsprop import RMSprop
from descend.optim.rprop import Rprop
from descend.optim.schedule_free import ScheduleFreeAdamW, ScheduleFreeSGD
from descend.optim.sgd import SGD
from descend.optim.sparse_adam import SparseAdam
from descend.optim.yogi import Yogi

#: Short name -> (class, the options the name implies).
METHODS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (Adagrad, {}),
    "rmsprop": (RMSprop, {}),
    "adadelta": (Adadelta, {}),
    "adam": (Adam, {}),
    "amsgrad": (Adam, {"amsgrad": True}),
    "adamw": (AdamW, {}),
    "yogi": (Yogi, {}),
    "nadam": (NAdam, {}),
    "nadamw": (NAdam, {"decoupled_weight_decay": True}),
    "radam": (RAdam, {}),
    "adamax": (Adamax, {}),
    "rprop": (Rprop, {}),
    "asgd": (ASGD, {}),
    "lbfgs": (LBFGS, {}),
    "sparse-adam": (SparseAdam, {}),
    "adafactor": (Adafactor, {}),
    "muon": (Muon, {}),
    "lion": (Lion, {}),
    "lamb": (LAMB, {}),
    "lars": (LARS, {}),
    "schedule-free-sgd": (ScheduleFreeSGD, {}),
    "schedule-free-adamw": (ScheduleFreeAdamW, {}),
    "prodigy": (Prodigy, {}),
    "adan": (Adan, {}),
}


def names() -> list[str]:
    """The short names :func:`create` and :func:`resolve` accept."""
    return list(METHODS)


def resolve(name: str, **options: Any) -> tuple[type[torch.optim.Optimizer], dict[str, Any]]:
    """The class and options a short name stands for, with ``options`` overriding the name's own."""
    key = name.lower()
    if key not in METHODS:
        raise ValueError(f"Invalid optimizer: {name!r}; expected one of {', '.join(METHODS)}")
    cls, implied = METHODS[key]
    return cls, {**implied, **options}


def create(name: str, params: Any, **options: Any) -> torch.optim.Optimizer:
    """An optimizer by short name, e.g. ``create("nesterov", model.parameters(), lr=0.1)``."""
    cls, kwargs = resolve(name, **options)
    return cls(params, **kwargs)


__all__ = [
    "ASGD",
    "LAMB",
    "LARS",
    "LBFGS",
    "METHODS",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Adan",
    "Lion",
    "Muon",
    "NAdam",
    "Optimizer",
    "Prodigy",
    "RAdam",
    "RMSprop",
    "Rprop",
    "ScheduleFreeAdamW",
    "ScheduleFreeSGD",
    "SparseAdam",
    "Yogi",
    "create",
    "names",
    "resolve",
]
