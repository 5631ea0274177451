"""What must hold before a step writes anything: every gradient and state tensor fits its parameter.

A state dict loaded from another model, or a parameter reshaped through ``p.data = ...``, leaves state
whose shape is not its parameter's. Eager torch then fails half-way through a step, or broadcasts without a
word; a compiled kernel would read and write past the end of memory. The engine checks every tensor of a
group before it updates any of them, so a mismatch is a ``RuntimeError`` naming the sizes (a sparse
gradient's index out of its bounds an ``IndexError``) and the step leaves the parameters, the state and the
step counters as they were.

Most state is element-wise: shaped like its parameter. An algorithm declares the rest
(:meth:`descend.optim.Optimizer.state_shape`: Adafactor's row and column factors) and its per-parameter
numbers (:attr:`descend.optim.Optimizer.scalar_state`, one-element tensors), and each is checked against
what was declared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


def _where(group: dict[str, Any], p: Tensor, index: int) -> str:
    position = next((i for i, q in enumerate(group["params"]) if q is p), None)
    return f"parameter {position} of parameter group {index}"


def _in_bounds(g: Tensor, what: Callable[[], str]) -> None:
    """A sparse tensor's indices within its shape: torch checks them only when asked (its invariant checks),
    and the update writes where they point."""
    low, high = (bound.tolist() for bound in torch.aminmax(g._indices(), dim=1))
    for d, (lo, hi) in enumerate(zip(low, high, strict=True)):
        if lo < 0 or hi >= g.shape[d]:
            raise IndexError(
                f"{what()} holds index {lo if lo < 0 else hi} in dimension {d}, of size {g.shape[d]}; "
                "nothing was updated"
            )


def _same_place(t: Tensor, p: Tensor, what: Callable[[], str], shape: tuple, hint: str = "") -> None:
    if t.shape != shape:
        whose = "the parameter has shape" if shape == p.shape else "it should have shape"
        raise RuntimeError(
            f"{what()} has shape {tuple(t.shape)} but {whose} {tuple(shape)}{hint}; nothing was updated"
        )
    if t.device != p.device:
        raise RuntimeError(
            f"{what()} is on {t.device} but the parameter is on {p.device}; nothing was updated"
        )


def fits(
    owner: str, group: dict[str, Any], index: int, p: Tensor, g: Tensor, state: dict[str, Any],
    keys: tuple[str, ...], shape: Callable[[str, Tensor], tuple] | None = None, numbers: tuple[str, ...] = (),
) -> None:  # fmt: skip
    """Raise ``RuntimeError`` unless ``g`` and the state tensors ``keys`` fit ``p``.

    ``shape(key, p)`` is the shape state ``key`` must have (default: ``p``'s); the state ``numbers`` must be
    one-element tensors. ``owner`` is the optimizer's name and ``index`` the group's, for the message.
    """
    _same_place(g, p, lambda: f"{owner}: the gradient of {_where(group, p, index)}", p.shape)
    if g.is_sparse and g._nnz():
        _in_bounds(g, lambda: f"{owner}: the sparse gradient of {_where(group, p, index)}")
    for k in keys:
        t = state[k]
        what = lambda k=k: f"{owner}: state {k!r} of {_where(group, p, index)}"  # noqa: E731
        if not isinstance(t, Tensor):
            raise RuntimeError(f"{what()} is a {type(t).__name__}, not a tensor; nothing was updated")
        expected = p.shape if shape is None else torch.Size(shape(k, p))
        _same_place(t, p, what, expected, " (was the state dict saved from another model?)")
    for k in numbers:
        t = state.get(k)
        if not isinstance(t, Tensor) or t.numel() != 1:
            shown = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise RuntimeError(
                f"{owner}: state {k!r} of {_where(group, p, index)} is {shown}, not a one-element tensor "
                "(was the state dict saved from another model?); nothing was updated"
            )
