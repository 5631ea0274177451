"""The Triton backend: an optimizer's update rule as one generated GPU kernel over every tensor of a batch.

The GPU twin of the C backend (:mod:`descend.optim.engine.c`): the rule traced into an expression graph
(:mod:`descend.optim.engine.graph`) becomes Triton source (:mod:`~descend.optim.engine.triton.codegen`)
that loads each element once and stores each result once; one launch walks all of a batch's tensors
through a table of their addresses (:mod:`~descend.optim.engine.triton.kernel`). Triton compiles each
kernel on first use and keeps it in its own cache. It takes float32, float64, bfloat16 and float16
parameters (complex ones through their real view); half precision is computed in float32. Tensors laid out
differently from their parameter (a non-contiguous gradient, a sliced parameter) are walked through a dense
copy, written back after the step.

Two ways of getting the step's scalars:

* the step counted on the host (the default path, counters on the CPU as torch keeps them): the scalars
  (learning rate, bias corrections, ...) are computed as for every backend and passed as float64 arguments;
* the step counted on the device (``capturable=True``, ``fused=True``, or counters that live on the
  device): the kernel is traced from the hyperparameters themselves
  (:func:`~descend.optim.engine.graph.trace_from_hyperparameters`) and reads each tensor's step counter,
  so it computes the bias corrections itself. A hyperparameter that is a tensor on the device (a tensor
  ``lr``) is read by the kernel, and GradScaler's ``grad_scale`` and ``found_inf`` too: a step never waits
  for the device, and it can be captured in a CUDA graph.

Triton is an optional dependency (``pip install "descend[gpu]"``). Without a GPU, Triton's interpreter
(``TRITON_INTERPRET=1``) runs the same kernels on CPU tensors, which is how the test suite checks them.
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any

import torch
from torch import Tensor

from descend.optim.engine.backend import PLAIN, Batch
from descend.optim.engine.c.build import CompileError
from descend.optim.engine.graph import specialization, trace, trace_from_hyperparameters
from descend.optim.engine.loop import LOOP, real
from descend.optim.engine.triton.codegen import COUNTERS, TYPES
from descend.optim.engine.triton.kernel import Kernel, kernel_for


@functools.cache
def installed() -> str | None:
    """Why Triton cannot be used in this process, or None if it imports."""
    try:
        import triton  # noqa: F401
    except ImportError as e:
        return f'it needs Triton, which does not import here ({e}): pip install "descend[gpu]"'
    return None


def interpreted() -> bool:
    """Whether Triton runs kernels in its interpreter, on CPU tensors (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


class Triton:
    name = "triton"
    #: It can count the step on the device and compute the step's scalars in the kernel.
    counts_on_device = True

    def __init__(self) -> None:
        self.disabled: str | None = None

    def unavailable(self, device: torch.device, dtype: torch.dtype) -> str | None:
        if dtype not in TYPES:
            return f"the Triton backend does not handle {dtype}"
        if device.type == "cpu" and not interpreted():
            return ("the Triton backend runs on CUDA tensors, and on CPU tensors only under Triton's "
                    "interpreter (TRITON_INTERPRET=1)")  # fmt: skip
        if device.type not in ("cpu", "cuda"):
            return f"the Triton backend runs on CUDA tensors, not on {device.type} tensors"
        if self.disabled is not None:
            return self.disabled
        return installed()

    def disable(self, reason: str) -> None:
        """Stop the default path from choosing this backend for the rest of the process, saying why once."""
        if self.disabled is None:
            self.disabled = reason
            warnings.warn(f"descend: the Triton optimizer kernels are unavailable: {reason}", RuntimeWarning,
                          stacklevel=5)  # fmt: skip

    def run(self, batch: Batch) -> Batch | None:
        if batch.on_device is not None:
            return self._run_on_device(batch)
        key = (*specialization(batch.rule, batch.h, batch.keys, batch.maximize), batch.dtype, interpreted())
        k = _built(key, lambda: Kernel(trace(batch.rule, batch.h, batch.keys, batch.maximize), batch.dtype))
        walk = _Walk(batch, k)
        k(walk.rows, walk.sizes, batch.device, [float(getattr(batch.h, n)) for n in k.scalar_names])
        walk.finish()
        return batch.part(walk.rest) if walk.rest else None

    def _run_on_device(self, batch: Batch) -> None:
        on = batch.on_device
        steps, device = on.steps, batch.device
        counter = steps[0].dtype if steps else None
        if counter is not None and counter not in COUNTERS:  # an integer counter, say: read on the host
            if on.found_inf is None or float(on.found_inf) == 0:
                torch._foreach_add_(steps, 1)
            _on_host(batch)
            return
        pattern = tuple((k, _pattern(v, device)) for k, v in on.hyper.items())
        key = ("hyperparameters", batch.rule, on.scalars, pattern, batch.keys, batch.maximize, batch.dtype,
               counter, on.grad_scale is not None, on.found_inf is not None, interpreted())  # fmt: skip

        def make() -> Kernel:
            traced, paths = trace_from_hyperparameters(
                batch.rule, on.scalars, on.hyper, batch.keys, batch.maximize, steps is not None,
                on.grad_scale is not None,
            )  # fmt: skip
            pointers = tuple(_on(_fetch(on, path), device) for path in paths)
            return Kernel(traced, batch.dtype, pointers, counter, on.found_inf is not None, paths)

        k = _built(key, make)
        scalars = [v if _on(v, device) else float(v) for v in (_fetch(on, path) for path in k.paths)]
        walk = _Walk(batch, k, counters=steps)
        k(walk.rows, walk.sizes, device, scalars, on.found_inf)  # it counts this step: counter + 1
        walk.finish()
        if steps:  # then the counters advance, in the same stream; not on a step GradScaler skips
            torch._foreach_add_(steps, 1.0)
            if on.found_inf is not None:
                torch._foreach_sub_(steps, on.found_inf)
        if walk.rest:
            _on_host(batch.part(walk.rest))


def _built(key: tuple, make: Any) -> Kernel:
    try:
        return kernel_for(key, make)
    except ImportError as e:
        raise CompileError(f"Triton does not import: {e}") from e


def _pattern(v: Any, device: torch.device) -> Any:
    """What a kernel computing its own scalars depends on in a hyperparameter's value."""
    if isinstance(v, Tensor):
        return ("tensor", v.dtype, v.device == device)
    if isinstance(v, tuple | list):
        return tuple(_pattern(x, device) for x in v)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return v != 0
    return v if isinstance(v, bool | str | type(None)) else repr(v)


def _fetch(on: Any, path: tuple[str, int | None]) -> Any:
    key, index = path
    v = on.grad_scale if key == "grad_scale" else on.hyper[key]
    return v if index is None else v[index]


def _on(v: Any, device: torch.device) -> bool:
    """Whether the kernel reads ``v`` from memory: a one-element tensor on its device."""
    return isinstance(v, Tensor) and v.device == device


def _on_host(batch: Batch) -> None:
    """The per-tensor loop for tensors the kernel cannot walk, with scalars from their counters (a wait)."""
    on = batch.on_device
    if on.found_inf is not None and float(on.found_inf) != 0:
        return
    from descend.optim.engine.dispatch import unscaling  # here: the dispatch imports this module
    from descend.optim.rule import Scalars, value

    hyper = {k: value(v) for k, v in on.hyper.items()}
    counts = [float(s) for s in on.steps] if on.steps else [0.0] * len(batch)
    for count in dict.fromkeys(counts):
        part = batch.part([i for i, c in enumerate(counts) if c == count])
        part.on_device = None
        part.h = on.scalars(hyper, count)
        if on.grad_scale is not None:
            part.rule = unscaling(part.rule)
            part.h = Scalars(**vars(part.h), grad_scale=float(on.grad_scale))
        LOOP.run(part)


def _order(t: Tensor) -> tuple[int, ...]:
    """The strides of the dimensions that have more than one element: equal for two tensors of one shape
    whose elements lie in the same order in memory."""
    return tuple(st for n, st in zip(t.shape, t.stride(), strict=True) if n != 1)


def _dense(t: Tensor) -> bool:
    """Whether ``t``'s elements fill one block of memory without gaps or overlaps (in any order)."""
    expected = 1
    for n, st in sorted(((n, st) for n, st in zip(t.shape, t.stride(), strict=True) if n != 1),
                        key=lambda d: d[1]):  # fmt: skip
        if st != expected:
            return t.numel() == 0
        expected *= n
    return True


class _Walk:
    """The address table of a batch: for each tensor its arrays, or dense copies of those laid out otherwise.

    Created state is made (zeros, laid out as the parameter) and kept after the kernel has run; copies are
    written back after it; ``rest`` lists the tensors the kernel cannot walk (tensor subclasses, state of
    another dtype).
    """

    def __init__(self, batch: Batch, k: Kernel, counters: list[Tensor] | None = None) -> None:
        self.batch, self.k = batch, k
        self.rows: list[list[int]] = []
        self.sizes: list[int] = []
        self.rest: list[int] = []
        self.written: list[Tensor] = []
        self.copies: list[tuple[Tensor, Tensor]] = []  # (tensor, its dense copy) to write back
        self.created: list[tuple[int, str, Tensor]] = []
        self.alive: list[Tensor] = []
        written_keys = set(k.written)
        for i, (p, g, state) in enumerate(zip(batch.params, batch.grads, batch.states, strict=True)):
            arrays = [p, g, *(state[key] for key in batch.keys)]
            counter = counters[i] if counters else None
            if not self._walkable(arrays, counter):
                self.rest.append(i)
                continue
            reals = [real(t) for t in arrays]
            layout = reals[0] if _dense(reals[0]) else reals[0].contiguous()
            order = _order(layout)
            row = []
            for j, t in enumerate(reals):
                if _order(t) != order or not _dense(t):
                    copy = torch.empty_like(layout).copy_(t)
                    self.alive.append(copy)  # until the kernel has run
                    if j == 0 or (j >= 2 and batch.keys[j - 2] in written_keys):
                        self.copies.append((t, copy))
                    t = copy
                row.append(t.data_ptr())
            for key in k.new_keys:
                fresh = torch.zeros_like(layout)
                self.created.append((i, key, fresh))
                row.append(fresh.data_ptr())
            if counter is not None:
                row.append(counter.data_ptr())
            self.rows.append(row)
            self.sizes.append(layout.numel())
            self.written.append(p)
            self.written.extend(state[key] for key in k.written)

    def _walkable(self, arrays: list[Tensor], counter: Tensor | None) -> bool:
        batch = self.batch
        real_dtype = real(arrays[0]).dtype
        for t in arrays:
            if type(t) not in PLAIN or t.layout is not torch.strided or t.device != batch.device:
                return False
            if real(t).dtype is not real_dtype or real_dtype is not batch.dtype:
                return False
        if counter is None:
            return True
        first = batch.on_device.steps[0]
        return (type(counter) in PLAIN and counter.device == batch.device and counter.numel() == 1
                and counter.dtype is first.dtype)  # fmt: skip

    def finish(self) -> None:
        """After the kernel: write copies back, keep created state, tell autograd what changed."""
        for t, copy in self.copies:
            t.copy_(copy)
        for i, key, fresh in self.created:
            self.batch.keep(i, key, fresh)
        if self.written:
            # the kernel wrote through addresses: tell autograd, as an in-place op would
            torch.autograd.graph.increment_version(self.written)


TRITON = Triton()

__all__ = ["TRITON", "Triton", "installed", "interpreted"]
