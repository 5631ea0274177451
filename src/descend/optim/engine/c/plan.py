"""A group's kernel step, remembered: between two steps, verify only what can change, then run the kernel.

Before the kernel may walk a tensor, the general step (:func:`descend.optim.engine.dispatch.step_group`)
collects the group's parameters, checks each gradient and state tensor against its parameter, sorts them
into batches and builds an address table: tens of Python operations per parameter, as much time for a
hundred parameters as the kernel takes over a million elements. Between two steps of a training loop none
of it changes but the gradients.

A :class:`FusedPlan` keeps the outcome for a group whose parameters all went to the C kernel in one batch.
Each step it verifies everything the kernel relies on that could have changed:

* which parameters have a gradient, and each new gradient: a plain dense contiguous CPU tensor of the
  parameter's dtype and shape;
* each parameter's state dict and state tensors, by identity (a loaded state dict, a replaced tensor);
* the address, shape, dtype and contiguity of every parameter and state tensor the kernel walks
  (``p.data = p.data.t()`` keeps the address but not the shape);
* the backend the group would choose now, and the kernel the scalars ask for;
* the step counters: the kernel itself checks, before writing anything, that each holds the step the plan
  expects, and advances them.

After a plan has run :data:`NATIVE_AFTER` steps, the same checks run in one native call (:mod:`.native`),
a few microseconds for the whole group, once the extension is built (in the background, once per machine).

If anything differs it does nothing and the general step runs, which makes a new plan on its next call (not
at once: where the parameters with a gradient change every step, a plan would be made and dropped each
time). Parameters whose step counts differ (one skipped a step) form separate segments, one kernel call
each. A plan holds references to the tensors it walks, so their memory cannot be reused while it exists.
"""

from __future__ import annotations

import array
import dataclasses
import operator
import os
from typing import Any

import torch
from torch import Tensor

from descend.optim.engine import counters as steps
from descend.optim.engine.backend import PLAIN, Batch, CompileError
from descend.optim.engine.c import native
from descend.optim.engine.c.kernel import addresses, kernel_for, walk
from descend.optim.rule import scalar_dtype

_shape = operator.attrgetter("shape")
_dtype = operator.attrgetter("dtype")
_CPU = torch.device("cpu")
#: After how many steps a plan asks for the native checks (built in the background on first request), or
#: None for never: a short run is not worth the seconds of compiling.
NATIVE_AFTER: int | None = 100


class FusedPlan:
    """What the kernel walks for one parameter group, as of the step that made the plan.

    The parameters are cut into segments of equal step count, in the order they first appear; each segment
    has its own address table, in which each step fills in the gradients' addresses.
    """

    def __init__(self, group: dict[str, Any], batch: Batch, table: list[int], counts: list[float],
                 counters: list[Tensor] | None) -> None:  # fmt: skip
        self.group, self.keys, self.dtype = group, batch.keys, batch.dtype
        self.params = batch.params
        self.steps = 0
        self.native: tuple | None = None  # the arguments of the native checks, once they are built
        # an algorithm without state (plain SGD) keeps no entry for the parameter: None stands for that
        self.states = [state or None for state in batch.states]
        self.names = [tuple(state) for state in batch.states]
        self.values = [tuple(state.values()) for state in batch.states]
        self.counters = counters or []
        self.checks_state = bool(batch.keys) or counters is not None
        self.chosen: tuple | None = None  # what the C backend was last chosen from (see _chooses_c)
        self.backend: Any = None
        self.walked = self.params + [state[k] for state in batch.states for k in batch.keys]
        self.addresses = list(map(Tensor.data_ptr, self.walked))
        self.shapes = list(map(_shape, self.walked))
        self.dtypes = list(map(_dtype, self.walked))
        self.grads = [(p.dtype, p.shape) for p in self.params]  # what each gradient must be
        self.width = width = 2 + len(batch.keys)
        self.segments = []
        for count, indices in steps.by_step(counts):
            segment_table = array.array("q", [a for i in indices for a in table[i * width : (i + 1) * width]])
            sizes = [p.numel() * (2 if p.is_complex() else 1) for p in (self.params[i] for i in indices)]
            cells = array.array("q", [counters[i].data_ptr() for i in indices]) if counters else None
            self.segments.append([indices, segment_table, walk(tuple(sizes)), cells, count])

    @classmethod
    def make(cls, opt: Any, group: dict[str, Any], batch: Batch) -> FusedPlan | None:
        """A plan for ``batch`` (a whole group, just updated by the C kernel), or None if none can hold."""
        table: list[int] = []
        names = tuple(batch.states[0])
        # the state as it is now: the step may have created some (SGD's momentum buffers)
        batch = dataclasses.replace(batch, keys=tuple(k for k in names if k != "step"))
        for p, g, state in zip(batch.params, batch.grads, batch.states, strict=True):
            if tuple(state) != names:
                return None
            ptrs = addresses([p, g, *[state[k] for k in batch.keys]], p.dtype)
            if ptrs is None:
                return None
            table += ptrs
        counters, counts = None, [0.0] * len(batch)
        if opt.counts_steps:
            counters = [state["step"] for state in batch.states]
            dtype = scalar_dtype()
            if not all(type(c) in PLAIN and c.dtype is dtype and c.is_cpu and c.dim() == 0 for c in counters):
                return None
            counts = [float(c) for c in counters]
        return cls(group, batch, table, counts, counters)

    def _natively_unchanged(self, opt: Any) -> array.array | None:
        """:meth:`_unchanged`, in one native call (:mod:`.native`), once it is built; else None."""
        if self.native is None:
            module = native.module() if NATIVE_AFTER is not None and self.steps >= NATIVE_AFTER else None
            records = module.record(self.walked) if module is not None else None
            if records is None:
                return None
            state = opt.state if self.checks_state else None
            self.native = (module, records, array.array("q", bytes(8 * len(self.params))), state)
        module, records, grads, state = self.native
        if not module.verify(self.group["params"], self.params, state, self.states, self.names, self.values,
                             self.walked, records, grads):  # fmt: skip
            return False
        return grads

    def _unchanged(self, opt: Any) -> list[int] | array.array | None:
        """The gradients' addresses if nothing the kernel relies on has changed, else None."""
        verified = self._natively_unchanged(opt)
        if verified is not None:
            return verified or None
        params, grads = [], []
        for p in self.group["params"]:
            g = p.grad
            if g is not None:
                params.append(p)
                grads.append(g)
        if len(params) != len(self.params) or not all(map(operator.is_, params, self.params)):
            return None
        if self.checks_state:  # a kernel that walks no state cannot be misled by it
            state_of = opt.state.get
            for p, state, names, values in zip(params, self.states, self.names, self.values, strict=True):
                if state_of(p) is not state or tuple(state) != names:
                    return None
                if not all(map(operator.is_, state.values(), values)):
                    return None
        walked = self.walked
        if list(map(Tensor.data_ptr, walked)) != self.addresses or list(map(_shape, walked)) != self.shapes:
            return None
        if list(map(_dtype, walked)) != self.dtypes or not all(map(Tensor.is_contiguous, walked)):
            return None
        grad_addresses = []
        strided = torch.strided
        for g, (dtype, shape) in zip(grads, self.grads, strict=True):
            if not (type(g) in PLAIN and g.dtype is dtype and g.layout is strided and g.is_cpu
                    and g.shape == shape and g.is_contiguous()):  # fmt: skip
                return None
            grad_addresses.append(g.data_ptr())
        return grad_addresses

    def _chooses_c(self, opt: Any) -> bool:
        """Whether the group's backend is still the C kernel.

        The choice (:func:`descend.optim.engine.dispatch.choose`) reads only the group's path options,
        ``DESCEND_BACKEND`` and whether the backend was disabled: while they are as they were when it last
        chose C, it is not made again (a few microseconds a step).
        """
        group = self.group
        chosen = (group.get("fused"), group.get("foreach"), group.get("differentiable"),
                  os.environ.get("DESCEND_BACKEND"))  # fmt: skip
        if chosen != self.chosen or self.backend.disabled is not None:
            backend = opt._backend(group, _CPU, self.dtype)
            if backend.name != "c":
                return False
            self.chosen, self.backend = chosen, backend
        return True

    def step(self, opt: Any) -> bool:
        """Run the group's step if nothing it depends on has changed; whether it ran."""
        group = self.group
        grad_addresses = self._unchanged(opt)
        if grad_addresses is None or not self._chooses_c(opt):
            return False
        maximize = bool(group.get("maximize"))
        hyper = opt._hyperparameters(group)
        calls = []
        for segment in self.segments:
            h = opt.scalars(hyper, segment[4] + 1)
            try:
                k = kernel_for(opt.rule, h, self.keys, self.dtype, maximize, scalar_dtype())
            except CompileError:
                return False  # the general step falls back, or raises if fused=True was asked for
            if k.new_keys:
                return False
            calls.append((k, h))
        if len(self.segments) > 1 and any(  # every counter checked before any segment runs
            float(self.counters[i]) != segment[4] for segment in self.segments for i in segment[0]
        ):
            return False
        whole = len(self.segments) == 1
        for segment, (k, h) in zip(self.segments, calls, strict=True):
            indices, table, walked, cells, count = segment
            if whole and isinstance(grad_addresses, array.array):
                table[1 :: self.width] = grad_addresses
            else:
                table[1 :: self.width] = array.array("q", [grad_addresses[i] for i in indices])
            if not k.run(walked, table, h, cells, count):
                return False  # a counter was changed from outside: nothing was written
            segment[4] = count + 1
        # the kernel wrote through pointers: tell autograd, as in-place operations would
        bump = self.native[0].bump if self.native is not None else torch.autograd.graph.increment_version
        bump(self.walked)
        if self.counters:
            bump(self.counters)
        self.steps += 1
        return True
