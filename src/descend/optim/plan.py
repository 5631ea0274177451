"""A group's fused step, remembered: between two steps, check only what can change.

Before the fused kernel may walk a tensor, the general step (:meth:`Optimizer._step_group
<descend.optim.base.Optimizer._step_group>`) sorts the group's parameters into buckets and checks each
parameter, gradient and state tensor: its type, dtype, device, layout and contiguity. That is tens of Python
operations per parameter, and for a hundred parameters it costs as much as the kernel itself over a million
elements. Between two steps of a training loop none of it changes but the gradients.

A :class:`FusedPlan` keeps the outcome of those checks for a group whose parameters all took the fused path
in one bucket. Each step it verifies, by identity and address, what could have changed: which parameters
have a gradient, each parameter's state dict and state tensors (a loaded state dict, a replaced tensor), the
addresses of parameters and state (``p.data = ...``), the kernel the scalars ask for, and each new gradient
(type, dtype, layout, contiguity and size). If anything differs it does nothing and the general step runs,
which makes a new plan on its next call (not at once: where the parameters with a gradient change every
step, a plan would be made and dropped each time). A group whose step counters differ (a parameter skipped
a step) needs one kernel call per count and always takes the general step. A plan holds references to the
tensors it walks, so their memory cannot be reused while it exists.
"""

from __future__ import annotations

import array
import operator
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from descend.optim import fused

if TYPE_CHECKING:
    from descend.optim.base import Item, Optimizer

_PLAIN = (Tensor, torch.nn.Parameter)
_STRIDED = torch.strided


class FusedPlan:
    """What the fused kernel walks for one parameter group, as of the step that made the plan."""

    def __init__(
        self, group: dict[str, Any], items: list[Item], keys: tuple[str, ...], dtype: torch.dtype,
        counters: fused.Counters | None, table: list[int],
    ) -> None:  # fmt: skip
        self.group, self.keys, self.dtype, self.counters = group, keys, dtype, counters
        self.params = [p for p, _, _ in items]
        # an algorithm without state (plain SGD) keeps no entry for the parameter: None stands for that
        self.states = [state or None for _, _, state in items]
        self.names = [tuple(state) for _, _, state in items]
        self.values = [tuple(state.values()) for _, _, state in items]
        self.addresses = [p.data_ptr() for p in self.params] + [t.data_ptr() for v in self.values for t in v]
        self.grads = [(p.dtype, p.numel()) for p in self.params]  # what each gradient must be
        self.sizes = [n * (2 if d.is_complex else 1) for d, n in self.grads]
        self.table = array.array("q", table)  # the gradients' places are filled in each step
        self.width = 2 + len(keys)

    @classmethod
    def make(
        cls,
        opt: Optimizer,
        group: dict[str, Any],
        items: list[Item],
        keys: tuple[str, ...],
        dtype: torch.dtype,
    ) -> FusedPlan | None:
        """A plan for ``items`` (one bucket just updated on the fused path), or None if none can hold."""
        table: list[int] = []
        names = tuple(items[0][2])
        for p, g, state in items:
            if tuple(state) != names:
                return None
            ptrs = fused.addresses([p, g, *[state[k] for k in keys]], p.dtype)
            if ptrs is None:
                return None
            table += ptrs
        counters = None
        if opt.counts_steps:
            counters = fused.counters([state["step"] for _, _, state in items])
            if counters is None or len(set(counters.next())) != 1:
                return None
        return cls(group, items, keys, dtype, counters, table)

    def step(self, opt: Optimizer) -> bool:
        """Run the group's step if nothing it depends on has changed; whether it ran."""
        group = self.group
        params, grads = [], []
        for p in group["params"]:
            g = p.grad
            if g is not None:
                params.append(p)
                grads.append(g)
        if len(params) != len(self.params) or not all(map(operator.is_, params, self.params)):
            return False
        if self.keys or self.counters is not None:  # a kernel that walks no state cannot be misled by it
            state_of = opt.state.get
            for p, state, names, values in zip(params, self.states, self.names, self.values, strict=True):
                if state_of(p) is not state or tuple(state) != names:
                    return False
                if not all(map(operator.is_, state.values(), values)):
                    return False
        addresses = [p.data_ptr() for p in params] + [t.data_ptr() for v in self.values for t in v]
        if addresses != self.addresses:
            return False
        grad_addresses = []
        for g, (dtype, numel) in zip(grads, self.grads, strict=True):
            plain = type(g) in _PLAIN and g.dtype is dtype and g.layout is _STRIDED and g.is_contiguous()
            if not (plain and g.numel() == numel):
                return False
            grad_addresses.append(g.data_ptr())
        if opt._path(group, torch.device("cpu"), self.dtype) != "fused":
            return False
        steps = self.counters.next() if self.counters is not None else [0.0]
        if len(set(steps)) != 1:
            return False
        maximize = bool(group.get("maximize"))
        h = opt.scalars(opt._hyperparameters(group), steps[0])
        try:
            kernel = fused.kernel(opt.rule, h, self.keys, self.dtype, maximize)
        except fused.CompileError:
            return False  # the general step falls back to the loop, or raises if fused=True was asked for
        if kernel.new_keys:
            return False
        if self.counters is not None:
            self.counters.advance()
        self.table[1 :: self.width] = array.array("q", grad_addresses)
        kernel(self.table, self.sizes, h)
        torch.autograd.graph.increment_version(params)
        return True
