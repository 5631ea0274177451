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

from collections.abc import Sequence
from dataclasses import dataclass

from descend._lrscheduler import LRScheduler
from descend._schedule_base import (
    Math,
    Schedule,
    Steps,
    _decay_factor,
    _increasing_steps,
)
from descend._schedule_shapes import cosine, cosine_warm_restarts, join, linear, linear_warmup, one_cycle
from descend.checks import integer, nonnegative, positive

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
