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
step, a plan would be made and dropped each time). Parameters whose step counts differ (one skipped a step)
form separate segments, one kernel call each, as in the general step. A plan holds references to the
tensors it walks, so their memory cannot be reused while it exists.
"""

from __future__ import annotations

import array
import operator
from typing import TYPE_CHECKING, Any

import torch

from descend.optim import fused
from descend.optim.fused import PLAIN

if TYPE_CHECKING:
    from descend.optim.base import Item, Optimizer


class FusedPlan:
    """What the fused kernel walks for one parameter group, as of the step that made the plan.

    The parameters are cut into segments of equal step count, in the order they first appear; each segment
    has its own address table, in which each step fills in the gradients' addresses.
    """

    def __init__(
        self, group: dict[str, Any], items: list[Item], keys: tuple[str, ...], dtype: torch.dtype,
        counters: fused.Counters | None, table: list[int], steps: list[float],
    ) -> None:  # fmt: skip
        self.group, self.keys, self.dtype, self.counters = group, keys, dtype, counters
        self.params = [p for p, _, _ in items]
        # an algorithm without state (plain SGD) keeps no entry for the parameter: None stands for that
        self.states = [state or None for _, _, state in items]
        self.names = [tuple(state) for _, _, state in items]
        self.values = [tuple(state.values()) for _, _, state in items]
        self.addresses = [p.data_ptr() for p in self.params] + [t.data_ptr() for v in self.values for t in v]
        self.grads = [(p.dtype, p.numel()) for p in self.params]  # what each gradient must be
        self.width = width = 2 + len(keys)
        by_step: dict[float, list[int]] = {}
        for i, step in enumerate(steps):
            by_step.setdefault(step, []).append(i)
        self.segments = [
            (
                indices,
                array.array("q", [a for i in indices for a in table[i * width : (i + 1) * width]]),
                [n * (2 if d.is_complex else 1) for d, n in (self.grads[i] for i in indices)],
            )
            for indices in by_step.values()
        ]

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
        counters, steps = None, [0.0] * len(items)
        if opt.counts_steps:
            counters = fused.counters([state["step"] for _, _, state in items])
            if counters is None:
                return None
            steps = counters.next()
        return cls(group, items, keys, dtype, counters, table, steps)

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
            plain = type(g) in PLAIN and g.dtype is dtype and g.layout is torch.strided and g.is_contiguous()
            if not (plain and g.numel() == numel):
                return False
            grad_addresses.append(g.data_ptr())
        if opt._path(group, torch.device("cpu"), self.dtype) != "fused":
            return False
        steps = self.counters.next() if self.counters is not None else [0.0] * len(params)
        maximize = bool(group.get("maximize"))
        hyper = opt._hyperparameters(group)
        calls = []
        for indices, table, sizes in self.segments:
            step = steps[indices[0]]
            if any(steps[i] != step for i in indices):
                return False
            h = opt.scalars(hyper, step)
            try:
                kernel = fused.kernel(opt.rule, h, self.keys, self.dtype, maximize)
            except fused.CompileError:
                return False  # the general step falls back to the loop, or raises if fused=True was asked for
            if kernel.new_keys:
                return False
            calls.append((kernel, indices, table, sizes, h))
        if self.counters is not None:
            self.counters.advance()
        for kernel, indices, table, sizes, h in calls:
            table[1 :: self.width] = array.array("q", [grad_addresses[i] for i in indices])
            kernel(table, sizes, h)
        torch.autograd.graph.increment_version(params)
        return True
