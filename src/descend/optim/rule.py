"""What an algorithm supplies: its update rule, the scalars it needs, its initial state and its checks.

An optimizer class (a subclass of :class:`descend.optim.Optimizer`) is four small static pieces and
nothing else:

``check(group)``
    raise ``ValueError``/``TypeError`` naming any invalid hyperparameter of a parameter group;
``init_state(param, group) -> dict``
    its state tensors for one parameter (besides ``step``, which the base class keeps as torch does);
``scalars(group, step) -> Scalars``
    the numbers the update needs at this step (learning rate, bias corrections, ...), plain arithmetic so
    that a hyperparameter may also be a tensor of per-row values (``descend.sweep`` relies on it);
``rule(param, grad, state, h) -> (param, state)``
    the update itself, written **once** with ordinary tensor arithmetic and returning the new values: no
    in-place operations, no branches on tensor values (``torch.where`` instead). The engine
    (:mod:`descend.optim.engine`) runs that one function per tensor, as multi-tensor operations, or traced
    into a compiled kernel. A rule that takes a norm or a matrix product (LAMB, Muon) is written the same
    way; per-tensor norms still compile for the C kernel, and otherwise the tracer reports that it is not
    element-wise and it runs per tensor. Such a per-tensor rule may write its results into its parameter
    and state in place and return them (Muon does, over large matrices): the per-tensor paths hand it the
    tensors to update, or copies they write back (stacks, sparse rows, the differentiable path).

Three optional pieces serve algorithms whose state is not all element-wise: ``scalar_state`` (numbers kept
per parameter as one-element tensors, read and advanced by ``scalars(group, step, numbers)``: NAdam's
``mu_product``), ``state_shape(key, param)`` (state of another shape: Adafactor's factors) and
``prepare()`` (work on whole groups before the update: Prodigy's distance estimate, Schedule-Free's
running weights).

This module also holds the small helpers rules and checks are written with.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor

#: The numbers one step of a rule needs (learning rate, bias corrections, ...), as attributes.
Scalars = SimpleNamespace
#: ``rule(param, grad, state, h) -> (new_param, new_state)``.
Rule = Callable[[Any, Any, dict[str, Any], Scalars], tuple[Any, dict[str, Any]]]


# ---- writing rules ------------------------------------------------------------------------------------


def on(x: Any) -> bool:
    """Whether a term with coefficient ``x`` takes part in the update.

    A tensor coefficient (per-row values in a sweep) or a traced one always takes part: rows where it is
    zero then compute exactly what the term's absence would.
    """
    return not isinstance(x, int | float) or x != 0


def plus(x: Any, c: Any) -> Any:
    """``x + c``, leaving out the addition when ``c`` is the number 0: the same result, one pass fewer."""
    return x + c if on(c) else x


def scaled(c: Any, x: Any) -> Any:
    """``c * x``, leaving out the product when ``c`` is the number 1: the same result, one pass fewer."""
    return x if isinstance(c, int | float) and c == 1 else c * x


def value(x: Any) -> Any:
    """A hyperparameter as a rule sees it: one-element tensors become floats (also inside tuples)."""
    if isinstance(x, Tensor) and x.numel() == 1:
        return x.item()
    if isinstance(x, tuple) and any(isinstance(v, Tensor) for v in x):
        return tuple(value(v) for v in x)
    return x


def accumulator(param: Tensor, start: float) -> Tensor:
    """A state tensor filled with ``start``; for a complex parameter both parts start there, as in torch."""
    fill = complex(start, start) if param.is_complex() else start
    return torch.full_like(param, fill, memory_format=torch.preserve_format)


def zeros(param: Tensor) -> Tensor:
    """A state tensor of zeros shaped, typed and laid out like ``param``."""
    return torch.zeros_like(param, memory_format=torch.preserve_format)


def ema_square(s: Any, g: Any, beta: Any) -> Any:
    r"""Adam's second moment :math:`\beta s + (1 - \beta) g^2`, in the order torch computes it."""
    return s * beta + (1 - beta) * g * g


def moments(param: Tensor, *names: str) -> dict[str, Tensor]:
    """State tensors of zeros, one per name (Adam's ``exp_avg`` and ``exp_avg_sq``, ...)."""
    return {name: zeros(param) for name in names}


def bias_corrections(beta1: Any, beta2: Any, step: float) -> tuple[Any, Any]:
    """Adam's bias corrections ``1 − β1^t`` and ``1 − β2^t``."""
    return 1 - beta1**step, 1 - beta2**step


def scalar_dtype() -> torch.dtype:
    """The dtype of step counters: float32, or float64 where that is the default dtype (as torch)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


# ---- checking hyperparameters ---------------------------------------------------------------------------
# Each message starts with torch.optim's own words for the same mistake ("Invalid learning rate: -0.1"), so
# code and tests written against torch keep matching, and goes on to say what was expected.

#: torch.optim's name for a hyperparameter in its messages, where it is not the argument's name.
_TORCH_WORDS = {
    "lr": "learning rate", "eps": "epsilon value", "weight_decay": "weight_decay value",
    "momentum": "momentum value", "alpha": "alpha value", "rho": "rho value", "lr_decay": "lr_decay value",
    "initial_accumulator_value": "initial_accumulator_value value", "momentum_decay": "momentum_decay value",
}  # fmt: skip


def _bad(name: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"Invalid {_TORCH_WORDS.get(name, name)}: {value}; expected {expected}")


def number(name: str, value: Any) -> float:
    """``value`` as a float; a one-element tensor is accepted (torch allows a tensor ``lr``)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"Tensor {name} must be 1-element; got a tensor with {value.numel()} elements")
        return float(value.item())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"Invalid {_TORCH_WORDS.get(name, name)}: {value!r}; expected a real number")
    return float(value)


def nonnegative(name: str, value: Any) -> None:
    """``value >= 0`` (infinity included, as torch.optim accepts it; NaN refused)."""
    v = number(name, value)
    if not v >= 0.0:
        raise _bad(name, value, f"{name} >= 0")


def in_unit_interval(name: str, value: Any) -> None:
    if not 0.0 <= number(name, value) <= 1.0:
        raise _bad(name, value, f"0 <= {name} <= 1")


def betas_pair(value: Any, n: int = 2) -> None:
    """A pair (or ``n``-tuple) of numbers in [0, 1); all floats or all tensors, as torch requires."""
    if not isinstance(value, tuple | list) or len(value) != n:
        names = ", ".join(f"beta{i + 1}" for i in range(n))
        what = f"a pair ({names})" if n == 2 else f"{n} values ({names})"
        raise ValueError(f"Invalid betas: {value!r}; expected {what}")
    for i, beta in enumerate(value):
        v = number(f"betas[{i}]", beta)
        if not 0.0 <= v < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}; expected 0 <= beta < 1")
    if len({isinstance(beta, Tensor) for beta in value}) > 1:
        raise ValueError(f"betas must be either both floats or both Tensors; got {value!r}")


def require(ok: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``ok`` (for checks whose torch wording has its own form)."""
    if not ok:
        raise ValueError(message)


def stored(x: Any) -> Any:
    """``x`` as a per-parameter number of the state holds it: rounded to the precision of step counters."""
    if isinstance(x, Tensor):  # per-row values of a sweep
        return x.to(scalar_dtype()).to(x.dtype)
    if scalar_dtype() == torch.float64:
        return float(x)
    return struct.unpack("f", struct.pack("f", x))[0]


def no_tensor_with_foreach(group: dict[str, Any], *names: str) -> None:
    """Refuse tensor hyperparameters with ``foreach=True``, as torch's Adam family does.

    descend would read them as their values; torch refuses them there, and a drop-in refuses what torch
    refuses, so that code written for one behaves the same with the other.
    """
    if not group.get("foreach") or group.get("capturable"):
        return
    for name in names:
        values = group[name] if isinstance(group[name], tuple) else (group[name],)
        for i, v in enumerate(values):
            if isinstance(v, Tensor):
                label = f"{name}[{i}]" if isinstance(group[name], tuple) else name
                raise ValueError(
                    f"{label} as a Tensor is not supported for capturable=False and foreach=True"
                )


def flag(name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, bool):
        expected = "True, False or None" if optional else "True or False"
        raise TypeError(f"Invalid {name}: {value!r}; expected {expected}")


__all__ = [
    "Rule",
    "Scalars",
    "accumulator",
    "betas_pair",
    "bias_corrections",
    "ema_square",
    "flag",
    "in_unit_interval",
    "moments",
    "no_tensor_with_foreach",
    "nonnegative",
    "number",
    "on",
    "plus",
    "require",
    "scalar_dtype",
    "scaled",
    "stored",
    "value",
    "zeros",
]
