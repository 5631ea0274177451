"""The argument checks every module shares (the optimizers keep torch's own wording).

Each check returns the value in its plain form (a float, an int, a list) and raises with one message
format, naming the argument, the value and what was expected::

    ValueError: Invalid lr: -0.1; expected lr > 0
    TypeError: Invalid steps: 2.5; expected an integer

A wrong *kind* of value (a string for a number, a float for a count) is a ``TypeError``; a value of the
right kind outside its range is a ``ValueError``. Real numbers must be finite unless a check says otherwise.
This module does not import torch: a one-element tensor is recognised by its ``numel``.

>>> from descend import checks
>>> checks.positive("lr", 0.1), checks.integer("steps", 20, minimum=1)
(0.1, 20)
>>> checks.interval("beta", 1.0, 0, 1, high_open=True)
Traceback (most recent call last):
ValueError: Invalid beta: 1.0; expected 0 <= beta < 1
"""

from __future__ import annotations

import difflib
import math
import numbers
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "choice",
    "count",
    "flag",
    "integer",
    "interval",
    "nonnegative",
    "optional_seed",
    "plain",
    "positive",
    "positive_int",
    "real",
    "seeds",
    "unknown",
]


def _bad(name: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"Invalid {name}: {value!r}; expected {expected}")


def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def plain(value: Any) -> Any:
    """A one-element tensor as a Python number (as torch.optim reads hyperparameters); else as is."""
    return value.item() if _is_tensor(value) and value.numel() == 1 else value


def real(name: str, value: Any, *, finite: bool = True) -> float:
    """``value`` as a float: a real number or a one-element tensor; finite unless ``finite=False``."""
    if _is_tensor(value):
        if value.numel() != 1:
            raise TypeError(f"Invalid {name}: tensor of shape {tuple(value.shape)}; expected a real number")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Invalid {name}: {value!r}; expected a real number")
    v = float(value)
    if finite and not math.isfinite(v):
        raise _bad(name, value, "a finite number")
    return v


def positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (>= 0 with ``allow_zero``)."""
    v = real(name, value)
    if not (v >= 0.0 if allow_zero else v > 0.0):
        raise _bad(name, value, f"{name} {'>=' if allow_zero else '>'} 0")
    return v


def nonnegative(name: str, value: Any) -> float:
    """A finite real number >= 0."""
    return positive(name, value, allow_zero=True)


def interval(
    name: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """A real number in the interval from ``low`` to ``high``, each end closed unless said open."""
    v = real(name, value, finite=False)
    above = v > low if low_open else v >= low
    below = v < high if high_open else v <= high
    if not (above and below):
        left, right = ("<" if low_open else "<="), ("<" if high_open else "<=")
        raise _bad(name, value, f"{low:g} {left} {name} {right} {high:g}")
    return v


def integer(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (not a bool) between ``minimum`` and ``maximum`` (each optional, inclusive)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"Invalid {name}: {value!r}; expected an integer")
    v = int(value)
    if minimum is not None and maximum is not None and not minimum <= v <= maximum:
        raise _bad(name, value, f"{minimum} <= {name} <= {maximum}")
    if minimum is not None and v < minimum:
        raise _bad(name, value, f"{name} >= {minimum}")
    if maximum is not None and v > maximum:
        raise _bad(name, value, f"{name} <= {maximum}")
    return v


def count(name: str, value: Any, *, minimum: int = 0) -> int:
    """An integer >= ``minimum`` (0 by default): a number of steps or trials."""
    return integer(name, value, minimum=minimum)


def positive_int(name: str, value: Any) -> int:
    """An integer > 0: a count of epochs, examples or threads."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"Invalid {name}: {value!r}; expected a positive integer")
    if value <= 0:
        raise _bad(name, value, f"{name} > 0")
    return int(value)


def flag(name: str, value: Any, *, optional: bool = False) -> bool | None:
    """True or False (or None with ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise TypeError(f"Invalid {name}: {value!r}; expected {'None, ' if optional else ''}True or False")
    return value


def unknown(name: str, value: Any, options: Sequence[str]) -> ValueError:
    """The error for a name that is not among ``options``, offering the close ones::

    Invalid optimizer: 'adamm'; did you mean adam or adamw? expected one of sgd, momentum, ...
    """
    close = difflib.get_close_matches(str(value).lower(), [str(o).lower() for o in options], n=3, cutoff=0.6)
    if close:
        return ValueError(f"Invalid {name}: {value!r}; did you mean {' or '.join(close)}?")
    return ValueError(f"Invalid {name}: {value!r}; expected one of {', '.join(map(str, options))}")


def choice(name: str, value: Any, options: Sequence[str]) -> str:
    """One of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise unknown(name, value, options)
    return value


def optional_seed(name: str, value: Any) -> int | None:
    """A seed: an integer >= 0, or None."""
    return None if value is None else integer(name, value, minimum=0)


def seeds(name: str, value: Any) -> list[int]:
    """A non-empty sequence of distinct integer seeds >= 0."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise _bad(name, value, "a non-empty sequence of integers >= 0")
    out = [integer(f"{name}[{i}]", s, minimum=0) for i, s in enumerate(value)]
    if len(set(out)) != len(out):
        raise _bad(name, value, "distinct seeds")
    return out
