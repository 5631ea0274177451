"""Argument checks shared by the modules: each error names the argument, the value and what was expected."""

from __future__ import annotations

import math
from typing import Any

import torch


def real(name: str, value: Any) -> float:
    """``value`` as a float: a number, or anything with ``__float__`` (a one-element tensor, numpy scalar)."""
    if isinstance(value, bool) or not (isinstance(value, torch.Tensor) or hasattr(value, "__float__")):
        raise TypeError(f"Invalid {name}: {value!r}; expected a real number")
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        raise TypeError(f"Invalid {name}: tensor of shape {tuple(value.shape)}; expected a real number")
    return float(value)


def positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (or >= 0 with ``allow_zero``)."""
    v = real(name, value)
    ok = v >= 0.0 if allow_zero else v > 0.0
    if not (ok and math.isfinite(v)):
        raise ValueError(f"Invalid {name}: {value!r}; expected {name} {'>=' if allow_zero else '>'} 0")
    return v


def count(name: str, value: Any, *, minimum: int = 0) -> int:
    """An int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Invalid {name}: {value!r}; expected an int")
    if value < minimum:
        raise ValueError(f"Invalid {name}: {value}; expected {name} >= {minimum}")
    return value


def positive_int(name: str, value: Any) -> int:
    """An int (not a bool) > 0: a count of epochs, steps, examples or threads."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Invalid {name}: {value!r}; expected a positive integer")
    if value <= 0:
        raise ValueError(f"Invalid {name}: {value}; expected {name} > 0")
    return value
