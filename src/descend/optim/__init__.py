"""Drop-in ``torch.optim.Optimizer`` subclasses for the chapter's algorithms, each rule written once.

Besides the classes, the chapter's methods have short names (``"momentum"`` is SGD with momentum 0.9,
``"nesterov"`` its Nesterov form) for the command line and the lab::

    >>> import torch
    >>> from descend import optim
    >>> w = torch.zeros(3, requires_grad=True)
    >>> opt = optim.create("momentum", [w], lr=0.1)
    >>> type(opt).__name__, opt.defaults["momentum"]
    ('SGD', 0.9)
"""

from __future__ import annotations

from typing import Any

from descend.optim.adadelta import Adadelta
from descend.optim.adagrad import Adagrad
from descend.optim.adam import Adam, AdamW
from descend.optim.optimizer import Optimizer
from descend.optim.rmsprop import RMSprop
from descend.optim.sgd import SGD
from descend.optim.yogi import Yogi

#: Short name -> (class, the options the name implies).
METHODS: dict[str, tuple[type[Optimizer], dict[str, Any]]] = {
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
}


def names() -> list[str]:
    """The short names :func:`create` and :func:`resolve` accept."""
    return list(METHODS)


def resolve(name: str, **options: Any) -> tuple[type[Optimizer], dict[str, Any]]:
    """The class and options a short name stands for, with ``options`` overriding the name's own."""
    key = name.lower()
    if key not in METHODS:
        raise ValueError(f"Invalid optimizer: {name!r}; expected one of {', '.join(METHODS)}")
    cls, implied = METHODS[key]
    return cls, {**implied, **options}


def create(name: str, params: Any, **options: Any) -> Optimizer:
    """An optimizer by short name, e.g. ``create("nesterov", model.parameters(), lr=0.1)``."""
    cls, kwargs = resolve(name, **options)
    return cls(params, **kwargs)


__all__ = [
    "METHODS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "Yogi",
    "create",
    "names",
    "resolve",
]
