"""The per-tensor backend: the rule on each parameter in turn, in eager tensor arithmetic.

This is the ground truth every other backend is tested against, and the one path that serves
``differentiable=True`` (run under autograd, the in-place copies back into the parameter and the state are
recorded, so gradients flow through the step) and sparse gradients.

A sparse gradient updates only the entries it holds: the rule runs on those entries of the parameter and
its state, gathered, and the results are written back to the same places (torch's sparse Adagrad and
SparseAdam do the same; where the gradient is zero nothing moves, even where the rule would divide zero by
zero).
"""

from __future__ import annotations

import torch
from torch import Tensor

from descend.optim.engine.backend import Batch


def real(t: Tensor) -> Tensor:
    """A complex tensor's real view (same memory, a trailing dimension of 2); a real tensor as it is."""
    return torch.view_as_real(t) if t.is_complex() else t


class Loop:
    name = "loop"

    def unavailable(self, device: torch.device, dtype: torch.dtype) -> str | None:
        return None

    def run(self, batch: Batch) -> None:
        for i, (param, grad, state) in enumerate(zip(batch.params, batch.grads, batch.states, strict=True)):
            if grad.is_sparse:
                _on_support(batch, i, param, grad, state)
            else:
                _one(batch, i, real(param), real(grad), {k: real(state[k]) for k in batch.keys})


def _one(batch: Batch, i: int, p: Tensor, g: Tensor, old: dict[str, Tensor]) -> None:
    inputs = p, old
    if torch.is_grad_enabled():  # differentiable: autograd may keep the inputs, which are then overwritten
        inputs = p.clone(), {k: v.clone() for k, v in old.items()}
    new_p, new = batch.rule(inputs[0], -g if batch.maximize else g, inputs[1], batch.h)
    p.copy_(new_p)
    for k, v in new.items():
        if k in old:
            old[k].copy_(v)
        else:
            batch.keep(i, k, v)


def _on_support(batch: Batch, i: int, param: Tensor, grad: Tensor, state: dict) -> None:
    grad = grad.coalesce()
    where = tuple(grad.indices())
    values = real(grad.values())
    p = real(param[where])
    old = {k: real(state[k][where]) for k in batch.keys}
    new_p, new = batch.rule(p, -values if batch.maximize else values, old, batch.h)
    if param.is_complex():
        new_p, new = torch.view_as_complex(new_p), {k: torch.view_as_complex(v) for k, v in new.items()}
    param.index_put_(where, new_p)
    for k, v in new.items():
        if k not in state:  # state the rule creates is zero where the gradient never reached
            batch.keep(i, k, real(torch.zeros_like(param, memory_format=torch.contiguous_format)))
        state[k].index_put_(where, v)


LOOP = Loop()
