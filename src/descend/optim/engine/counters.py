"""Step counters: ``state["step"]``, a 0-dim tensor per parameter (torch's layout), advanced every step.

``torch._foreach_add_(steps, 1)`` dispatches the addition counter by counter, a few microseconds each on
CPU, a noticeable part of a step over a hundred parameters. Plain CPU counters are instead advanced through
their address (``ctypes``, no compiled library), in the counter's own precision: a float32 counter stops at
2^24 exactly as torch's does. Any other counter (CUDA, a subclass, an integer) takes torch's addition.
The other numbers an algorithm keeps per parameter as 0-dim tensors (NAdam's ``mu_product``, ASGD's ``eta``
and ``mu``) are read and written the same way (:func:`read`, :func:`write`).
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch
from torch import Tensor

from descend.optim.engine.backend import PLAIN

_CTYPES = {torch.float32: ctypes.c_float, torch.float64: ctypes.c_double}


def _plain(c: Tensor) -> bool:
    return type(c) in PLAIN and c.is_cpu and c.dtype in _CTYPES and c.dim() == 0 and c.layout is torch.strided


def advance(counters: list[Tensor]) -> list[float]:
    """Add one to every counter in place, as an in-place op would (version bumped); return the new counts."""
    if not all(map(_plain, counters)):
        torch._foreach_add_(counters, 1.0)
        return [float(c) for c in counters]
    counts = []
    for c in counters:
        cell = _CTYPES[c.dtype].from_address(c.data_ptr())
        cell.value += 1.0  # exact in double, then rounded once to the counter's precision
        counts.append(cell.value)
    torch.autograd.graph.increment_version(counters)
    return counts


def by_step(counts: list[Any]) -> list[tuple[Any, list[int]]]:
    """The indices of ``counts`` grouped by value, groups in order of first appearance."""
    if all(c == counts[0] for c in counts):
        return [(counts[0], list(range(len(counts))))]
    groups: dict[float, list[int]] = {}
    for i, c in enumerate(counts):
        groups.setdefault(c, []).append(i)
    return list(groups.items())


def read(cells: list[Tensor]) -> list[float]:
    """The numbers that 0-dim state tensors hold (per-parameter numbers such as NAdam's ``mu_product``)."""
    return [_CTYPES[c.dtype].from_address(c.data_ptr()).value if _plain(c) else float(c) for c in cells]


def write(cells: list[Tensor], values: list[float]) -> None:
    """Store ``values`` in the 0-dim state tensors ``cells``, rounded to each one's precision."""
    plain = []
    for c, v in zip(cells, values, strict=True):
        if _plain(c):
            _CTYPES[c.dtype].from_address(c.data_ptr()).value = v
            plain.append(c)
        else:
            c.fill_(v)
    if plain:
        torch.autograd.graph.increment_version(plain)
