r"""Learning-rate schedules as pure functions of the step, and the adapter that drives a torch optimizer.

A schedule is a small immutable object: ``schedule(t)`` is the learning rate of update ``t``, where
``t = 0`` is the **first** update. It holds no state, so calling it never changes it: evaluate it at any
step, in any order, as often as you like, and two runs with the same schedule agree at every step.

- ``schedule(t)`` for a Python ``int`` returns a ``float``;
- ``schedule(steps)`` for a tensor of steps (any integer or floating dtype) returns a ``float64`` tensor of
  the same shape, computed with tensor operations in one call (a plot or a sweep needs no loop);
- a negative step raises ``ValueError``.

Every schedule pickles, compares by value and has a ``repr`` that reads like the call that made it, e.g.
``cosine(base_lr=0.3, max_steps=20, final_lr=0.01, warmup_steps=5, warmup_begin_lr=0.0)``.

The schedules (η₀ is ``base_lr``, t the step):

==========================  ==============================================================================
``constant(lr)``            η(t) = lr
``factor``                  η(t) = max(stop_factor_lr, η₀·factor^⌊t/every⌋)
``multi_factor``            η(t) = η₀·factor^(number of milestones ≤ t)
``piecewise_constant``      η(t) = values[i] for boundaries[i−1] ≤ t < boundaries[i]
``exponential``             η(t) = η₀·e^(−rate·t)
``polynomial``              η(t) = η₀·(β·t + 1)^(−α)  (α = 0.5, β = 1 is the chapter's square root)
``polynomial_decay``        η(t) = η_T + (η₀ − η_T)·(1 − min(t, T)/T)^power
``linear``                  η(t) = η_a + (η_b − η_a)·min(t, n)/n
``linear_warmup``           η(t) = η_w + (η₀ − η_w)·min(t, w)/w
``cosine``                  linear warmup over w steps, then η_T + (η₀ − η_T)(1 + cos(π(t − w)/(T − w)))/2,
                            then η_T after T steps
``cosine_warm_restarts``    SGDR: cosine from η₀ to η_min over periods T₀, T₀·m, T₀·m², ...
``one_cycle``               the 1cycle policy: warm up to max_lr, then anneal far below the start
``join``                    schedules in sequence, each counting its steps from its own start
==========================  ==============================================================================

How these relate to the chapter's definitions (d2l, "Learning Rate Scheduling" and "Stochastic Gradient
Descent"):

- ``cosine`` is d2l's ``CosineScheduler(max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr)``
  with ``max_steps = max_update``, and equals it at every step from 0 to ``max_update``. Past
  ``max_update`` d2l's object returns the last value it computed, and fails (``AttributeError``) when its
  first call is past ``max_update``, since it has computed none; ours is ``final_lr`` at every step ≥
  ``max_steps``, whatever was asked before. The book's training loop sets ``scheduler(epoch)`` after
  epoch ``epoch``, so its epoch k trains with the value of k − 1; :class:`LRScheduler` gives update k
  the value of step k.
- ``factor`` is d2l's ``FactorScheduler(factor, stop_factor_lr, base_lr)`` without its state and its
  off-by-one: d2l multiplies on every call (ignoring the step it is given), so its first call already
  returns ``base_lr·factor``; ours returns ``base_lr`` at step 0 and ``base_lr·factor^t`` at step t.
- ``multi_factor`` is the chapter's ``MultiStepLR(milestones, gamma)`` (torch): the decay takes effect at
  the milestone step itself. MXNet's ``MultiFactorScheduler`` (the book's MXNet tab) decays once the
  update count exceeds a milestone, one update later; pass each milestone + 1 to reproduce it. The
  book's plotting helper steps the torch scheduler (and the optimizer) to read each value, so plotting
  before training advances the schedule the run then uses; evaluating ``schedule(torch.arange(n))`` has
  no effect on anything.
- ``polynomial`` and ``exponential`` are the SGD section's η₀(βt + 1)^(−α) and η₀e^(−λt) (``rate`` is λ).
  The book's code increments its global ``t`` before computing the rate, so its first update uses
  η(1); ours uses η(0) = η₀. d2l's ``SquareRootScheduler(lr)`` is ``polynomial(lr)`` exactly.

Torch's schedulers are stateful and recursive; these closed forms equal them where the definitions agree:
``multi_factor`` is ``MultiStepLR``, ``exponential(η₀, −ln γ)`` is ``ExponentialLR(γ)``, ``cosine`` with no
warmup is ``CosineAnnealingLR`` up to ``T_max`` (torch's keeps oscillating after it, ours stays at
``final_lr``), ``linear`` is ``LinearLR``, ``polynomial_decay`` with ``final_lr=0`` is ``PolynomialLR``,
``cosine_warm_restarts`` is ``CosineAnnealingWarmRestarts`` and ``one_cycle`` is ``OneCycleLR``'s learning
rate (torch's ``cycle_momentum`` changes the momentum, not the learning rate, and is not reproduced).

:class:`LRScheduler` drives any ``torch.optim.Optimizer`` with a schedule:

>>> import torch
>>> from descend import schedules
>>> w = torch.zeros(3, requires_grad=True)
>>> opt = torch.optim.SGD([w], lr=0.3)
>>> sched = schedules.LRScheduler(opt, schedules.cosine(0.3, max_steps=20, final_lr=0.01, warmup_steps=5))
>>> opt.param_groups[0]["lr"]  # step 0: the warmup starts at warmup_begin_lr
0.0
>>> for _ in range(5):
...     opt.step()
...     sched.step()
>>> sched.get_last_lr()  # step 5: warmup done
[0.3]
>>> hold_then_decay = schedules.join([schedules.constant(0.1), schedules.exponential(0.1, 0.5)], [10])
>>> hold_then_decay(torch.tensor([9, 10, 12]))
tensor([0.1000, 0.1000, 0.0368], dtype=torch.float64)
"""

from __future__ import annotations

import abc
import bisect
import itertools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import torch
from torch import Tensor
from torch.optim.lr_scheduler import LRScheduler as _TorchLRScheduler

from descend.checks import integer, interval, nonnegative, positive, real

__all__ = [
    "LRScheduler",
    "Schedule",
    "constant",
    "cosine",
    "cosine_warm_restarts",
    "exponential",
    "factor",
    "get",
    "join",
    "linear",
    "linear_warmup",
    "multi_factor",
    "names",
    "one_cycle",
    "piecewise_constant",
    "polynomial",
    "polynomial_decay",
]


# ----------------------------------------------------------------------------------------------------------
# validation


def _decay_factor(name: str, value: Any) -> float:
    return interval(name, value, 0, 1, low_open=True)


def _increasing_steps(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"Invalid {name}: {value!r}; expected a sequence of integers")
    steps = tuple(integer(f"{name}[{i}]", v, minimum=1) for i, v in enumerate(value))
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise ValueError(f"Invalid {name}: {list(steps)!r}; expected strictly increasing steps")
    return steps


# ----------------------------------------------------------------------------------------------------------
# the base class


def _tensor_steps(step: Tensor) -> Tensor:
    """A tensor of steps as float64, after checking its dtype and sign."""
    if step.dtype == torch.bool or step.is_complex():
        raise TypeError(f"Invalid step: tensor of dtype {step.dtype}; expected integer or real steps")
    t = step.detach().to(torch.float64)
    if t.numel() and bool((t < 0).any()):
        raise ValueError(f"Invalid step: {t.min().item()!r}; expected step >= 0")
    return t


def _scalar_step(step: Any) -> float:
    """An integer step as a float, after checking its type and sign."""
    if isinstance(step, bool):
        raise TypeError(f"Invalid step: {step!r}; expected an integer")
    try:
        index = operator.index(step)
    except TypeError:
        raise TypeError(f"Invalid step: {step!r}; expected an integer or a tensor of steps") from None
    if index < 0:
        raise ValueError(f"Invalid step: {index}; expected step >= 0")
    return float(index)


class _TensorMath:
    """The operations every schedule is written with, on float64 tensors of steps."""

    exp = staticmethod(torch.exp)
    cos = staticmethod(torch.cos)
    log = staticmethod(torch.log)
    floor = staticmethod(torch.floor)
    where = staticmethod(torch.where)

    @staticmethod
    def clamp(x: Tensor, low: float | None = None, high: float | None = None) -> Tensor:
        return torch.clamp(x, low, high)

    @staticmethod
    def full(t: Tensor, value: float) -> Tensor:
        return torch.full_like(t, value)

    @staticmethod
    def count_le(t: Tensor, edges: tuple[int, ...]) -> Tensor:
        """How many of the sorted ``edges`` are ≤ each step (as float64)."""
        bounds = torch.tensor(edges, dtype=torch.float64, device=t.device)
        return torch.bucketize(t, bounds, right=True).to(torch.float64)

    @staticmethod
    def take(table: tuple[float, ...], index: Tensor) -> Tensor:
        return torch.tensor(table, dtype=torch.float64, device=index.device)[index.long()]

    @staticmethod
    def power(base: float, exponent: Tensor) -> Tensor:
        """``base ** exponent`` for integer-valued exponents, by Python's pow on each distinct one: torch's
        vectorized pow can differ in the last bit between equal exponents, and this equals the scalar path."""
        values, inverse = torch.unique(exponent, return_inverse=True)
        table = torch.tensor([base ** float(v) for v in values.tolist()], dtype=torch.float64)
        return table.to(exponent.device)[inverse]


class _ScalarMath:
    """The same operations on one float step: a training loop asks for one step per update, and
    Python floats answer in microseconds where tensor operations take a hundred times longer."""

    exp = staticmethod(math.exp)
    cos = staticmethod(math.cos)
    log = staticmethod(math.log)
    floor = staticmethod(math.floor)

    @staticmethod
    def where(condition: bool, a: float, b: float) -> float:
        return a if condition else b

    @staticmethod
    def clamp(x: float, low: float | None = None, high: float | None = None) -> float:
        if low is not None:
            x = max(x, low)
        return x if high is None else min(x, high)

    @staticmethod
    def full(t: float, value: float) -> float:
        return value

    @staticmethod
    def count_le(t: float, edges: tuple[int, ...]) -> int:
        return bisect.bisect_right(edges, t)

    @staticmethod
    def take(table: tuple[float, ...], index: int) -> float:
        return table[index]

    @staticmethod
    def power(base: float, exponent: float) -> float:
        return base ** float(exponent)


# what a schedule's formula receives: one float step or a float64 tensor of steps, and the matching math
Steps = Any
Math = type[_TensorMath] | type[_ScalarMath]


class Schedule(abc.ABC):
    """A learning rate as a pure function of the step (step 0 is the first update).

    Subclasses are frozen dataclasses that implement :attr:`peak_lr` and :meth:`_eval`, the formula,
    written once with arithmetic operators and the functions of its ``xp`` argument (``exp``, ``cos``,
    ``where``, ...), so that the same code evaluates a float64 tensor of steps with tensor operations
    and one integer step with Python floats. Calling the schedule checks the step and returns a
    ``float`` for an integer step, a ``float64`` tensor of the same shape for a tensor of steps.
    """

    @overload
    def __call__(self, step: int) -> float: ...

    @overload
    def __call__(self, step: Tensor) -> Tensor: ...

    def __call__(self, step: int | Tensor) -> float | Tensor:
        if isinstance(step, Tensor):
            return self._eval(_tensor_steps(step), _TensorMath)
        return float(self._eval(_scalar_step(step), _ScalarMath))

    @abc.abstractmethod
    def _eval(self, t: Steps, xp: Math) -> Steps:
        """The learning rate at step(s) ``t`` (all ≥ 0), computed with ``xp``'s functions."""

    @property
    @abc.abstractmethod
    def peak_lr(self) -> float:
        """The largest learning rate the schedule takes (for :class:`join`, an upper bound)."""


# ----------------------------------------------------------------------------------------------------------
# the schedules


@dataclass(frozen=True)
class constant(Schedule):
    """η(t) = lr."""

    lr: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", nonnegative("lr", self.lr))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        return xp.full(t, self.lr)

    @property
    def peak_lr(self) -> float:
        return self.lr


@dataclass(frozen=True)
class factor(Schedule):
    """η(t) = max(stop_factor_lr, base_lr · factor^⌊t / every⌋).

    d2l's ``FactorScheduler`` (η ← max(η_stop, η·factor) on each call) as a function of the step, without
    its off-by-one: step 0 is ``base_lr``. ``every`` > 1 decays once every ``every`` steps (torch's
    ``StepLR(step_size=every, gamma=factor)`` with a floor).

    Args:
        base_lr: η₀ ≥ 0.
        factor: the decay per period, 0 < factor ≤ 1.
        stop_factor_lr: the floor, 0 ≤ stop_factor_lr ≤ base_lr (default 1e-7).
        every: steps per period, ≥ 1 (default 1).
    """

    base_lr: float
    factor: float
    stop_factor_lr: float = 1e-7
    every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "factor", _decay_factor("factor", self.factor))
        stop = nonnegative("stop_factor_lr", self.stop_factor_lr)
        if stop > self.base_lr:
            raise ValueError(
                f"Invalid stop_factor_lr: {stop!r}; expected stop_factor_lr <= base_lr ({self.base_lr!r})"
            )
        object.__setattr__(self, "stop_factor_lr", stop)
        object.__setattr__(self, "every", integer("every", self.every, minimum=1))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        periods = xp.floor(t / self.every)
        return xp.clamp(self.base_lr * xp.power(self.factor, periods), low=self.stop_factor_lr)

    @property
    def peak_lr(self) -> float:
        return self.base_lr


@dataclass(frozen=True)
class multi_factor(Schedule):
    """η(t) = base_lr · factor^k, k = the number of milestones ≤ t (torch's ``MultiStepLR``).

    Args:
        base_lr: η₀ ≥ 0.
        milestones: strictly increasing steps ≥ 1 at which the rate is multiplied by ``factor``.
        factor: 0 < factor ≤ 1.
    """

    base_lr: float
    milestones: tuple[int, ...]
    factor: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "milestones", _increasing_steps("milestones", self.milestones))
        object.__setattr__(self, "factor", _decay_factor("factor", self.factor))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        return self.base_lr * xp.power(self.factor, xp.count_le(t, self.milestones))

    @property
    def peak_lr(self) -> float:
        return self.base_lr


@dataclass(frozen=True)
class piecewise_constant(Schedule):
    """η(t) = values[i] for boundaries[i−1] ≤ t < boundaries[i] (values[0] before the first boundary).

    Args:
        boundaries: strictly increasing steps ≥ 1.
        values: ``len(boundaries) + 1`` learning rates ≥ 0.
    """

    boundaries: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        boundaries = _increasing_steps("boundaries", self.boundaries)
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Sequence):
            raise TypeError(f"Invalid values: {self.values!r}; expected a sequence of learning rates")
        values = tuple(nonnegative(f"values[{i}]", v) for i, v in enumerate(self.values))
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"Invalid values: {list(values)!r}; expected len(values) == len(boundaries) + 1 "
                f"= {len(boundaries) + 1}, got {len(values)}"
            )
        object.__setattr__(self, "boundaries", boundaries)
        object.__setattr__(self, "values", values)

    def _eval(self, t: Steps, xp: Math) -> Steps:
        return xp.take(self.values, xp.count_le(t, self.boundaries))

    @property
    def peak_lr(self) -> float:
        return max(self.values)


@dataclass(frozen=True)
class exponential(Schedule):
    """η(t) = base_lr · e^(−rate·t) (the chapter's η₀e^(−λt); torch's ``ExponentialLR(γ)`` is rate = −ln γ).

    Args:
        base_lr: η₀ ≥ 0.
        rate: λ ≥ 0.
    """

    base_lr: float
    rate: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "rate", nonnegative("rate", self.rate))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        return self.base_lr * xp.exp(-self.rate * t)

    @property
    def peak_lr(self) -> float:
        return self.base_lr


@dataclass(frozen=True)
class polynomial(Schedule):
    """η(t) = base_lr · (β·t + 1)^(−α): the chapter's polynomial decay; α = 0.5, β = 1 is the square root.

    Args:
        base_lr: η₀ ≥ 0.
        alpha: α ≥ 0 (default 0.5).
        beta: β ≥ 0 (default 1.0).
    """

    base_lr: float
    alpha: float = 0.5
    beta: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "alpha", nonnegative("alpha", self.alpha))
        object.__setattr__(self, "beta", nonnegative("beta", self.beta))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        return self.base_lr * (self.beta * t + 1.0) ** (-self.alpha)

    @property
    def peak_lr(self) -> float:
        return self.base_lr


@dataclass(frozen=True)
class polynomial_decay(Schedule):
    """η(t) = final_lr + (base_lr − final_lr)·(1 − min(t, T)/T)^power, T = ``total_steps``.

    A decay that reaches ``final_lr`` at step T and stays there (MXNet's ``PolyScheduler``; torch's
    ``PolynomialLR(total_iters=T, power=power)`` is ``final_lr = 0``).

    Args:
        base_lr: η₀ ≥ 0.
        total_steps: T ≥ 1.
        final_lr: ≥ 0 (default 0).
        power: > 0 (default 1, a straight line).
    """

    base_lr: float
    total_steps: int
    final_lr: float = 0.0
    power: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "total_steps", integer("total_steps", self.total_steps, minimum=1))
        object.__setattr__(self, "final_lr", nonnegative("final_lr", self.final_lr))
        object.__setattr__(self, "power", positive("power", self.power))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        remaining = 1.0 - xp.clamp(t, high=self.total_steps) / self.total_steps
        return self.final_lr + (self.base_lr - self.final_lr) * remaining**self.power

    @property
    def peak_lr(self) -> float:
        return max(self.base_lr, self.final_lr)


def _ramp(t: Steps, xp: Math, start: float, end: float, steps: int) -> Steps:
    """start + (end − start)·min(t, steps)/steps, and ``end`` throughout when steps = 0."""
    if steps == 0:
        return xp.full(t, end)
    return start + (end - start) * xp.clamp(t, high=steps) / steps


@dataclass(frozen=True)
class linear(Schedule):
    """η(t) = start_lr + (end_lr − start_lr)·min(t, n)/n, n = ``steps`` (optax's ``linear_schedule``).

    Torch's ``LinearLR(start_factor, end_factor, total_iters)`` on a group with lr η₀ is
    ``linear(η₀·start_factor, η₀·end_factor, total_iters)``.

    Args:
        start_lr: the rate at step 0, ≥ 0.
        end_lr: the rate from step n on, ≥ 0.
        steps: n ≥ 1.
    """

    start_lr: float
    end_lr: float
    steps: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_lr", nonnegative("start_lr", self.start_lr))
        object.__setattr__(self, "end_lr", nonnegative("end_lr", self.end_lr))
        object.__setattr__(self, "steps", integer("steps", self.steps, minimum=1))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        return _ramp(t, xp, self.start_lr, self.end_lr, self.steps)

    @property
    def peak_lr(self) -> float:
        return max(self.start_lr, self.end_lr)


@dataclass(frozen=True)
class linear_warmup(Schedule):
    """η(t) = warmup_begin_lr + (base_lr − warmup_begin_lr)·min(t, w)/w, w = ``warmup_steps``.

    The chapter's linear warmup, then constant at ``base_lr``; put another schedule after it with
    :func:`join`, e.g. ``join([linear_warmup(0.1, 5), exponential(0.1, 0.01)], [5])``.

    Args:
        base_lr: the rate reached at step w, ≥ 0.
        warmup_steps: w ≥ 0 (0: constant ``base_lr``).
        warmup_begin_lr: the rate at step 0, ≥ 0 (default 0).
    """

    base_lr: float
    warmup_steps: int
    warmup_begin_lr: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "warmup_steps", integer("warmup_steps", self.warmup_steps, minimum=0))
        object.__setattr__(self, "warmup_begin_lr", nonnegative("warmup_begin_lr", self.warmup_begin_lr))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        return _ramp(t, xp, self.warmup_begin_lr, self.base_lr, self.warmup_steps)

    @property
    def peak_lr(self) -> float:
        return max(self.base_lr, self.warmup_begin_lr)


def _half_cosine(progress: Steps, xp: Math, start: float, end: float) -> Steps:
    """end + (start − end)(1 + cos(π·progress))/2: from ``start`` at 0 to ``end`` at 1."""
    return end + (start - end) * (1.0 + xp.cos(math.pi * progress)) / 2.0


@dataclass(frozen=True)
class cosine(Schedule):
    r"""Cosine decay with linear warmup, as the chapter's ``CosineScheduler`` defines it.

    With η₀ = ``base_lr``, η_T = ``final_lr``, η_w = ``warmup_begin_lr``, w = ``warmup_steps`` and
    T = ``max_steps`` (d2l's ``max_update``)::

        η(t) = η_w + (η₀ − η_w)·t/w                              for t < w
        η(t) = η_T + (η₀ − η_T)(1 + cos(π(t − w)/(T − w)))/2     for w ≤ t ≤ T
        η(t) = η_T                                               for t > T

    With no warmup this is torch's ``CosineAnnealingLR(T_max=T, eta_min=η_T)`` for t ≤ T.

    Args:
        base_lr: η₀ ≥ 0.
        max_steps: T ≥ 1, the step at which ``final_lr`` is reached.
        final_lr: η_T ≥ 0 (default 0).
        warmup_steps: 0 ≤ w ≤ T (default 0).
        warmup_begin_lr: η_w ≥ 0 (default 0).
    """

    base_lr: float
    max_steps: int
    final_lr: float = 0.0
    warmup_steps: int = 0
    warmup_begin_lr: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "max_steps", integer("max_steps", self.max_steps, minimum=1))
        object.__setattr__(self, "final_lr", nonnegative("final_lr", self.final_lr))
        warmup = integer("warmup_steps", self.warmup_steps, minimum=0)
        if warmup > self.max_steps:
            raise ValueError(
                f"Invalid warmup_steps: {warmup!r}; expected warmup_steps <= max_steps ({self.max_steps})"
            )
        object.__setattr__(self, "warmup_steps", warmup)
        object.__setattr__(self, "warmup_begin_lr", nonnegative("warmup_begin_lr", self.warmup_begin_lr))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        w, total = self.warmup_steps, self.max_steps
        warm = _ramp(t, xp, self.warmup_begin_lr, self.base_lr, w)
        # when w == T the cosine part has no steps: guard the 0/0, t >= T gives final_lr anyway
        progress = xp.clamp((t - w) / max(total - w, 1), 0.0, 1.0)
        decay = _half_cosine(progress, xp, self.base_lr, self.final_lr)
        decay = xp.where(t >= total, xp.full(t, self.final_lr), decay)
        return xp.where(t < w, warm, decay)

    @property
    def peak_lr(self) -> float:
        return max(self.base_lr, self.final_lr, self.warmup_begin_lr)


@dataclass(frozen=True)
class cosine_warm_restarts(Schedule):
    r"""Cosine annealing with warm restarts (SGDR; torch's ``CosineAnnealingWarmRestarts``).

    Cycle i lasts T_i = T₀·m^i steps (T₀ = ``period``, m = ``period_mult``); with t_cur the steps since
    the cycle began, η(t) = η_min + (η₀ − η_min)(1 + cos(π·t_cur/T_i))/2. Each cycle starts at η₀ and
    restarts just before reaching η_min.

    Args:
        base_lr: η₀ ≥ 0 (torch's initial lr).
        period: T₀ ≥ 1 (torch's ``T_0``).
        period_mult: m ≥ 1, an integer (torch's ``T_mult``; default 1).
        min_lr: η_min ≥ 0 (torch's ``eta_min``; default 0).
    """

    base_lr: float
    period: int
    period_mult: int = 1
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "period", integer("period", self.period, minimum=1))
        object.__setattr__(self, "period_mult", integer("period_mult", self.period_mult, minimum=1))
        object.__setattr__(self, "min_lr", nonnegative("min_lr", self.min_lr))

    def _cycle(self, t: Steps, xp: Math) -> tuple[Steps, Steps]:
        """(steps since the current cycle began, length of the current cycle)."""
        t0, m = float(self.period), float(self.period_mult)
        if self.period_mult == 1:
            return t % t0, xp.full(t, t0)

        def start(n: Steps) -> Steps:  # first step of cycle n: T₀(mⁿ − 1)/(m − 1)
            return t0 * (m**n - 1.0) / (m - 1.0)

        n = xp.floor(xp.log(t / t0 * (m - 1.0) + 1.0) / math.log(m))
        # the logarithm can land a hair on the wrong side of a restart: settle it with exact sums
        n = xp.where(t < start(n), n - 1.0, n)
        n = xp.where(t >= start(n + 1.0), n + 1.0, n)
        return t - start(n), t0 * m**n

    def _eval(self, t: Steps, xp: Math) -> Steps:
        since, length = self._cycle(t, xp)
        return _half_cosine(since / length, xp, self.base_lr, self.min_lr)

    @property
    def peak_lr(self) -> float:
        return max(self.base_lr, self.min_lr)


@dataclass(frozen=True)
class one_cycle(Schedule):
    r"""The 1cycle policy, as torch's ``OneCycleLR`` sets the learning rate.

    It starts at η_s = max_lr/div_factor, anneals up to ``max_lr`` until step pct_start·N − 1, then down to
    η_min = η_s/final_div_factor at step N − 1 (N = ``total_steps``) and stays there. With
    ``three_phase`` it comes back to η_s at step 2·pct_start·N − 2 and then anneals to η_min. Between
    phase ends s and e the annealing is, with p = (t − s)/(e − s), ``"cos"``:
    end + (start − end)(1 + cos(πp))/2 or ``"linear"``: start + (end − start)·p.

    Momentum cycling (torch's ``cycle_momentum``) is not part of a learning-rate schedule.

    Args:
        max_lr: the peak, ≥ 0.
        total_steps: N ≥ 1.
        pct_start: the fraction of the steps spent rising, 0 ≤ pct_start ≤ 1 (≤ 0.5 with three phases).
        anneal_strategy: ``"cos"`` or ``"linear"``.
        div_factor: η_s = max_lr/div_factor, > 0 (default 25).
        final_div_factor: η_min = η_s/final_div_factor, > 0 (default 1e4).
        three_phase: the paper's three phases instead of fastai's two (default False).
    """

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: Literal["cos", "linear"] = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_lr", nonnegative("max_lr", self.max_lr))
        object.__setattr__(self, "total_steps", integer("total_steps", self.total_steps, minimum=1))
        if not isinstance(self.three_phase, bool):
            raise TypeError(f"Invalid three_phase: {self.three_phase!r}; expected a bool")
        pct = real("pct_start", self.pct_start)
        highest = 0.5 if self.three_phase else 1.0
        if not 0 <= pct <= highest:
            raise ValueError(
                f"Invalid pct_start: {pct!r}; expected 0 <= pct_start <= {highest}"
                + (" with three_phase=True" if self.three_phase else "")
            )
        object.__setattr__(self, "pct_start", pct)
        if self.anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"Invalid anneal_strategy: {self.anneal_strategy!r}; expected 'cos' or 'linear'")
        object.__setattr__(self, "div_factor", positive("div_factor", self.div_factor))
        object.__setattr__(self, "final_div_factor", positive("final_div_factor", self.final_div_factor))

    def _phases(self) -> list[tuple[float, float, float]]:
        """(last step, start value, end value) of each phase, as torch's ``OneCycleLR`` lays them out."""
        n, pct = self.total_steps, self.pct_start
        initial = self.max_lr / self.div_factor
        lowest = initial / self.final_div_factor
        if self.three_phase:
            return [
                (pct * n - 1.0, initial, self.max_lr),
                (2.0 * pct * n - 2.0, self.max_lr, initial),
                (n - 1.0, initial, lowest),
            ]
        return [(pct * n - 1.0, initial, self.max_lr), (n - 1.0, self.max_lr, lowest)]

    def _anneal(self, xp: Math, start: float, end: float, progress: Steps) -> Steps:
        if self.anneal_strategy == "cos":
            return _half_cosine(progress, xp, start, end)
        return start + (end - start) * progress

    def _eval(self, t: Steps, xp: Math) -> Steps:
        # each step is in the first phase whose last step it has not passed (the last phase takes the rest)
        phases = self._phases()
        begins = [0.0] + [end for end, _, _ in phases[:-1]]
        out = None
        for begin, (end_step, start_lr, end_lr) in reversed(list(zip(begins, phases, strict=True))):
            span = end_step - begin
            # a phase of no length (e.g. pct_start·N = 1) is at its end value; past the last step the
            # progress stops at 1, so the rate stays at its final value
            progress = xp.clamp((t - begin) / span, 0.0, 1.0) if span > 0 else xp.full(t, 1.0)
            value = self._anneal(xp, start_lr, end_lr, progress)
            out = value if out is None else xp.where(t <= end_step, value, out)
        return out

    @property
    def peak_lr(self) -> float:
        initial = self.max_lr / self.div_factor
        return max(self.max_lr, initial, initial / self.final_div_factor)


@dataclass(frozen=True)
class join(Schedule):
    """Schedules in sequence (optax's ``join_schedules``).

    ``schedules[0]`` runs until ``boundaries[0]``; schedule i + 1 takes over at step ``boundaries[i]`` and
    counts its steps from there: η(t) = schedules[i + 1](t − boundaries[i]).

    Args:
        schedules: one or more :class:`Schedule` objects.
        boundaries: ``len(schedules) − 1`` strictly increasing steps ≥ 1.
    """

    schedules: tuple[Schedule, ...]
    boundaries: tuple[int, ...]

    def __post_init__(self) -> None:
        if isinstance(self.schedules, Schedule) or not isinstance(self.schedules, Sequence):
            raise TypeError(f"Invalid schedules: {self.schedules!r}; expected a sequence of schedules")
        for i, s in enumerate(self.schedules):
            if not isinstance(s, Schedule):
                raise TypeError(f"Invalid schedules[{i}]: {s!r}; expected a descend.schedules.Schedule")
        if not self.schedules:
            raise ValueError("Invalid schedules: []; expected at least one schedule")
        boundaries = _increasing_steps("boundaries", self.boundaries)
        if len(boundaries) != len(self.schedules) - 1:
            raise ValueError(
                f"Invalid boundaries: {list(boundaries)!r}; expected len(boundaries) == len(schedules) - 1 "
                f"= {len(self.schedules) - 1}, got {len(boundaries)}"
            )
        object.__setattr__(self, "schedules", tuple(self.schedules))
        object.__setattr__(self, "boundaries", boundaries)

    def _eval(self, t: Steps, xp: Math) -> Steps:
        out = self.schedules[0]._eval(t, xp)
        for boundary, schedule in zip(self.boundaries, self.schedules[1:], strict=True):
            # steps before the boundary are not this schedule's: clamp so it is never asked for t < 0
            later = schedule._eval(xp.clamp(t - boundary, low=0.0), xp)
            out = xp.where(t < boundary, out, later)
        return out

    @property
    def peak_lr(self) -> float:
        return max(s.peak_lr for s in self.schedules)


_REGISTRY: dict[str, type[Schedule]] = {
    cls.__name__: cls
    for cls in (
        constant,
        factor,
        multi_factor,
        piecewise_constant,
        exponential,
        polynomial,
        polynomial_decay,
        linear,
        linear_warmup,
        cosine,
        cosine_warm_restarts,
        one_cycle,
        join,
    )
}


def names() -> list[str]:
    """The names of the schedules, in the order of the module's table."""
    return list(_REGISTRY)


def get(name: str) -> type[Schedule]:
    """The schedule called ``name`` (``get("cosine")(0.1, max_steps=100)``)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Invalid name: {name!r}; expected one of {', '.join(_REGISTRY)}") from None


# ----------------------------------------------------------------------------------------------------------
# the torch adapter


class LRScheduler(_TorchLRScheduler):
    r"""Drives any ``torch.optim.Optimizer`` with a :class:`Schedule`.

    After construction the optimizer's groups hold the rate of step 0; after k calls of :meth:`step`
    (one after each ``optimizer.step()``), that of step k.

    Group rates. When every group starts with the same lr, each group's lr is ``schedule(k)`` (the
    schedule is the learning rate). When the groups start with different lrs, each keeps its share:
    ``lr_g(k) = initial_lr_g · schedule(k) / schedule.peak_lr``, so a group's initial lr is its peak.
    For every schedule that starts at its peak (all the decays) this is ``initial_lr_g ·
    schedule(k)/schedule(0)``, and the groups start at their own lrs. Dividing by the peak instead of by
    ``schedule(0)`` keeps warmup sound: a warmup from 0 has ``schedule(0) = 0``, and each group then rises
    from ``initial_lr_g · warmup_begin_lr/base_lr`` to its own initial lr at the end of warmup (and in
    ``one_cycle``, each group's initial lr is its ``max_lr``, as with ``OneCycleLR(max_lr=[...])``).
    ``scale_groups=True`` or ``False`` forces one rule or the other.

    Resuming. :meth:`state_dict` holds plain numbers only (the step count and the groups' initial lrs;
    not the schedule, which the code that resumes constructs again), so it survives
    ``torch.save``/``torch.load(weights_only=True)``. :meth:`load_state_dict` restores the step and sets
    every group's lr for it, so a resumed run sets the same lr at every later step as a run never stopped,
    whether the optimizer's state is loaded before or after.

    Args:
        optimizer: any ``torch.optim.Optimizer`` (torch's or descend's).
        schedule: a :class:`Schedule`.
        scale_groups: ``None`` (default) to scale only when the groups' initial lrs differ; ``True`` to
            always scale them; ``False`` to set every group to ``schedule(k)``.
        last_epoch: the last step taken, to resume by hand as torch's schedulers do (default −1: start).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        *,
        scale_groups: bool | None = None,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"Invalid schedule: {schedule!r}; expected a descend.schedules.Schedule")
        if scale_groups is not None and not isinstance(scale_groups, bool):
            raise TypeError(f"Invalid scale_groups: {scale_groups!r}; expected None, True or False")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"Invalid last_epoch: {last_epoch!r}; expected an integer >= -1")
        self.schedule = schedule
        self.scale_groups = scale_groups
        super().__init__(optimizer, last_epoch)

    def _scaling(self) -> bool:
        if self.scale_groups is not None:
            return self.scale_groups
        return len({float(lr) for lr in self.base_lrs}) > 1

    def _lrs_at(self, step: int) -> list[float | Tensor]:
        value = self.schedule(step)
        if not self._scaling():
            return [value] * len(self.optimizer.param_groups)
        peak = self.schedule.peak_lr
        ratio = value / peak if peak > 0 else 0.0
        return [base * ratio for base in self.base_lrs]

    def get_lr(self) -> list[float | Tensor]:
        """The lrs of step ``last_epoch`` for each group (a closed form: no dependence on past lrs)."""
        return self._lrs_at(self.last_epoch)

    _get_closed_form_lr = get_lr

    def state_dict(self) -> dict[str, Any]:
        """The step count, the groups' initial lrs, the last lrs and the group rule: plain values only."""
        return {
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "base_lrs": list(self.base_lrs),
            "_last_lr": list(self._last_lr),
            "scale_groups": self.scale_groups,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the step (and initial lrs) from :meth:`state_dict` and set the groups' lrs for it."""
        if "last_epoch" not in state_dict:
            raise ValueError(
                f"Invalid state_dict: keys {sorted(state_dict)!r}; expected a 'last_epoch' entry"
            )
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict.get("_step_count", self.last_epoch + 1))
        if "base_lrs" in state_dict:
            base_lrs = list(state_dict["base_lrs"])
            if len(base_lrs) != len(self.optimizer.param_groups):
                raise ValueError(
                    f"Invalid state_dict: {len(base_lrs)} base_lrs for "
                    f"{len(self.optimizer.param_groups)} parameter groups"
                )
            self.base_lrs = base_lrs
        self.scale_groups = state_dict.get("scale_groups", self.scale_groups)
        for group, lr in zip(self.optimizer.param_groups, self._lrs_at(self.last_epoch), strict=True):
            if isinstance(group["lr"], Tensor):
                group["lr"].fill_(float(lr))
            else:
                group["lr"] = lr
        self._last_lr = [
            g["lr"].clone() if isinstance(g["lr"], Tensor) else g["lr"] for g in self.optimizer.param_groups
        ]
