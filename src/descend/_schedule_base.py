"""What every schedule of :mod:`descend.schedules` shares: the :class:`Schedule` base, the checks of its
arguments and steps, and the two kinds of arithmetic a formula is evaluated with (Python floats for one
step, float64 tensors for many). Private: :mod:`descend.schedules` is the way in."""

from __future__ import annotations

import abc
import bisect
import itertools
import math
import operator
from collections.abc import Sequence
from typing import Any, overload

import torch
from torch import Tensor

from descend.checks import integer, interval

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
