"""Tuning with an equal budget: each optimizer's declared search space, and its quasi-random points.

Every optimizer gets the same number of trials (the budget ``N``), each a configuration drawn from its
search space by a scrambled Sobol sequence (``scipy.stats.qmc.Sobol``): the first ``N`` points of a
low-discrepancy sequence in the unit cube, mapped to the hyperparameters one dimension at a time. A
dimension is one of

* ``log``: log-uniform on ``[low, high]``, ``x = low · (high / low)^u`` (learning rates, weight decay);
* ``linear``: uniform on ``[low, high]``, ``x = low + (high − low) · u``;
* ``log1m``: ``1 − x`` log-uniform on ``[1 − high, 1 − low]`` (momentum, β₁, ρ: what matters is how close
  to 1 they are, ``1 − x`` is the averaging window's inverse length).

The sequence's seed is fixed (``seed``), so a rerun draws the same points, and the first ``N`` points do
not depend on the budget: a larger budget extends a smaller one. Settings given on the command line
(``-o adam:betas=(0.9,0.99)``, ``--set``, ``--lr``) are held fixed and leave the search.

Trials are scored on a validation split carved from the training data (:func:`validation_fraction`,
``descend.data.Dataset.split_validation``); the test split is never part of a tuning trial's data.

The spaces (:data:`SPACES`; an optimizer without an entry searches its learning rate log-uniformly over
``[lr₀ / 30, 30 · lr₀]`` around its default ``lr₀``):

=====================================  ================================================================
optimizer                              search space
=====================================  ================================================================
sgd                                    lr ∈ [1e-3, 3] log
momentum, nesterov                     lr ∈ [1e-3, 1] log, momentum ∈ [0.8, 0.99] log1m
adagrad                                lr ∈ [1e-3, 1] log
rmsprop                                lr ∈ [1e-4, 0.1] log, alpha ∈ [0.9, 0.999] log1m
adadelta                               lr ∈ [0.1, 10] log, rho ∈ [0.8, 0.99] log1m
adam, amsgrad, nadam, radam, adamax,   lr ∈ [1e-4, 0.1] log, β₁ ∈ [0.8, 0.99] log1m
yogi, adan, lamb, schedule-free-adamw
adamw, nadamw                          the same, and weight_decay ∈ [1e-4, 0.1] log
lion                                   lr ∈ [1e-5, 1e-2] log, β₁ ∈ [0.8, 0.99] log1m
lbfgs                                  lr ∈ [0.01, 1] log
prodigy, lars, schedule-free-sgd       lr ∈ [0.1, 10] log (Prodigy's lr scales its own estimate)
muon                                   lr ∈ [1e-3, 0.3] log, momentum ∈ [0.8, 0.99] log1m
=====================================  ================================================================
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from descend.checks import positive_int

__all__ = [
    "DEFAULT_VALIDATION",
    "SPACES",
    "Dimension",
    "Space",
    "points",
    "space_for",
    "validation_fraction",
]

#: The fraction of the training examples held out for validation, by default.
DEFAULT_VALIDATION = 0.2

Scale = Literal["log", "linear", "log1m"]


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: the constructor argument ``key`` (its element ``index`` for a tuple
    argument such as ``betas``), its range and scale (see the module docstring)."""

    key: str
    low: float
    high: float
    scale: Scale = "log"
    index: int | None = None

    def __post_init__(self) -> None:
        if self.scale not in ("log", "linear", "log1m"):
            raise ValueError(f"Invalid scale: {self.scale!r}; expected 'log', 'linear' or 'log1m'")
        if not self.low < self.high:
            raise ValueError(f"Invalid range of {self.name}: [{self.low}, {self.high}]; expected low < high")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"Invalid range of {self.name}: [{self.low}, {self.high}]; log needs low > 0")
        if self.scale == "log1m" and self.high >= 1:
            raise ValueError(f"Invalid range of {self.name}: [{self.low}, {self.high}]; log1m needs high < 1")

    @property
    def name(self) -> str:
        """``lr``, ``momentum``, ``betas[0]``."""
        return self.key if self.index is None else f"{self.key}[{self.index}]"

    def value(self, u: float) -> float:
        """The hyperparameter at ``u`` in [0, 1)."""
        if self.scale == "linear":
            return self.low + (self.high - self.low) * u
        if self.scale == "log":
            return self.low * (self.high / self.low) ** u
        a, b = 1.0 - self.high, 1.0 - self.low  # 1 − x is log-uniform on [a, b]
        return 1.0 - a * (b / a) ** (1.0 - u)

    def describe(self) -> str:
        how = {"log": "log-uniform", "linear": "uniform", "log1m": "1 − x log-uniform"}[self.scale]
        return f"{self.name} ∈ [{self.low:g}, {self.high:g}] ({how})"


@dataclass(frozen=True)
class Space:
    """An optimizer's search space: its dimensions, in order (the Sobol sequence's coordinates)."""

    dimensions: tuple[Dimension, ...]

    def describe(self) -> str:
        return ", ".join(d.describe() for d in self.dimensions) or "nothing (every setting fixed)"

    def without(self, fixed: Sequence[str]) -> Space:
        """The space less the dimensions whose argument is fixed."""
        return Space(tuple(d for d in self.dimensions if d.key not in set(fixed)))

    def configuration(self, u: Sequence[float], base: Mapping[str, Any]) -> dict[str, Any]:
        """The settings at the point ``u`` of the unit cube: ``base`` with each dimension's value put in
        (a tuple argument's other elements come from ``base``)."""
        out = dict(base)
        for dim, x in zip(self.dimensions, u, strict=True):
            value = float(f"{dim.value(float(x)):.6g}")  # six digits: readable, and exact in JSON
            if dim.index is None:
                out[dim.key] = value
            else:
                parts = list(out[dim.key])
                parts[dim.index] = value
                out[dim.key] = tuple(parts)
        return out


def _lr(low: float, high: float) -> Dimension:
    return Dimension("lr", low, high)


_BETA1 = Dimension("betas", 0.8, 0.99, "log1m", index=0)
_MOMENTUM = Dimension("momentum", 0.8, 0.99, "log1m")
_ADAM = Space((_lr(1e-4, 0.1), _BETA1))
_ADAMW = Space((_lr(1e-4, 0.1), _BETA1, Dimension("weight_decay", 1e-4, 0.1)))
_SCALE_FREE = Space((_lr(0.1, 10.0),))

#: The declared search space of each optimizer (short names of :mod:`descend.optim`).
SPACES: dict[str, Space] = {
    "sgd": Space((_lr(1e-3, 3.0),)),
    "momentum": Space((_lr(1e-3, 1.0), _MOMENTUM)),
    "nesterov": Space((_lr(1e-3, 1.0), _MOMENTUM)),
    "adagrad": Space((_lr(1e-3, 1.0),)),
    "rmsprop": Space((_lr(1e-4, 0.1), Dimension("alpha", 0.9, 0.999, "log1m"))),
    "adadelta": Space((_lr(0.1, 10.0), Dimension("rho", 0.8, 0.99, "log1m"))),
    **{name: _ADAM for name in ("adam", "amsgrad", "nadam", "radam", "adamax", "yogi", "adan", "lamb")},
    "schedule-free-adamw": _ADAM,
    "adamw": _ADAMW,
    "nadamw": _ADAMW,
    "lion": Space((_lr(1e-5, 1e-2), _BETA1)),
    "lbfgs": Space((_lr(0.01, 1.0),)),
    "prodigy": _SCALE_FREE,
    "lars": _SCALE_FREE,
    "schedule-free-sgd": _SCALE_FREE,
    "muon": Space((_lr(1e-3, 0.3), _MOMENTUM)),
}


def space_for(name: str, default_lr: float, fixed: Sequence[str] = ()) -> Space:
    """The search space of optimizer ``name`` (:data:`SPACES`, or its learning rate around
    ``default_lr``), less the ``fixed`` arguments."""
    space = SPACES.get(name.lower())
    if space is None:
        space = Space((_lr(default_lr / 30, default_lr * 30),))
    return space.without(fixed)


def points(dimensions: int, n: int, seed: int = 0) -> np.ndarray:
    """The first ``n`` points of a scrambled Sobol sequence in ``[0, 1)^dimensions`` (an ``(n, d)`` array;
    ``(n, 0)`` for no dimension). The same seed gives the same points, and the first ``n`` points of a
    longer run are these."""
    from scipy.stats import qmc

    n = positive_int("budget", n)
    if dimensions == 0:
        return np.zeros((n, 0))
    sampler = qmc.Sobol(dimensions, scramble=True, rng=np.random.default_rng(seed))
    m = max(0, math.ceil(math.log2(n)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns of balance for a count that is not 2^m; we cut 2^m
        return sampler.random_base2(m)[:n]


def validation_fraction(value: float) -> float:
    """A validation fraction, checked: ``0 < value < 1``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise ValueError(f"Invalid validation: {value!r}; expected a fraction 0 < validation < 1")
    return float(value)
