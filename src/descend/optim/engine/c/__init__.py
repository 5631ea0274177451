"""The C backend: an optimizer's update rule as one generated C loop over every tensor, one pass over memory.

An optimizer step is bound by memory traffic: Adam reads a parameter, its gradient and two moments and writes
three of them back, 28 bytes per float32 parameter. Eager tensor code makes a temporary per operation and
reads it back; this backend instead takes the algorithm's rule traced into an expression graph
(:mod:`descend.optim.engine.graph`), generates C that loads each element once, computes in registers and
stores the results once (:mod:`~descend.optim.engine.c.codegen`), compiles it once per machine into a
private, verified cache (:mod:`~descend.optim.engine.c.build`) and calls it over a table of the tensors'
addresses (:mod:`~descend.optim.engine.c.kernel`). No parameter moves, so autograd, modules and state
dicts see nothing different. A group it took whole is remembered (:mod:`~descend.optim.engine.c.plan`).

It takes float32, float64, bfloat16 and float16 parameters (and complex ones through their real view) that
are plain, dense and contiguous on CPU, with state of the same dtype; it hands back anything else.
"""

from __future__ import annotations

import array
import warnings

import torch

from descend.optim.engine.backend import Batch, CompileError
from descend.optim.engine.c import build
from descend.optim.engine.c.codegen import TYPES
from descend.optim.engine.c.kernel import CHUNK, Walk, addresses, kernel_for
from descend.optim.engine.c.plan import FusedPlan
from descend.optim.engine.loop import real
from descend.optim.rule import scalar_dtype


class C:
    name = "c"
    #: It computes per-tensor values (norms) itself (:mod:`descend.optim.engine.graph`).
    reductions = True

    def __init__(self) -> None:
        self.disabled: str | None = None

    def unavailable(self, device: torch.device, dtype: torch.dtype) -> str | None:
        if device.type != "cpu":
            return f"the C backend runs on CPU tensors, not on {device.type} tensors"
        if dtype not in TYPES:
            return f"the C backend does not handle {dtype}"
        if self.disabled is not None:
            return self.disabled
        if not build.working():
            return "it needs a C compiler that builds OpenMP code (set CC, or install gcc); none was found"
        return None

    def disable(self, reason: str) -> None:
        """Stop the default path from choosing this backend for the rest of the process, saying why once."""
        if self.disabled is None:
            self.disabled = reason
            warnings.warn(f"descend: the C optimizer kernels are unavailable: {reason}", RuntimeWarning,
                          stacklevel=5)  # fmt: skip

    def run(self, batch: Batch) -> Batch | None:
        k = kernel_for(batch.rule, batch.h, batch.keys, batch.dtype, batch.maximize, scalar_dtype())
        table: list[int] = []
        sizes, written, rest = [], [], []
        for i, (p, g, state) in enumerate(zip(batch.params, batch.grads, batch.states, strict=True)):
            ptrs = addresses([p, g, *[state[key] for key in batch.keys]], p.dtype)
            if ptrs is None:
                rest.append(i)
                continue
            for key in k.new_keys:
                batch.keep(i, key, torch.zeros_like(real(p), memory_format=torch.contiguous_format))
                ptrs.append(state[key].data_ptr())
            table += ptrs
            sizes.append(p.numel() * (2 if p.is_complex() else 1))
            written.append(p)
            written.extend(state[key] for key in k.written + k.new_keys)
        if sizes:
            k(array.array("q", table), sizes, batch.h)
            # the kernel wrote through pointers: tell autograd, as an in-place op would
            torch.autograd.graph.increment_version(written)
        return batch.part(rest) if rest else None

    def run_rows(self, batch: Batch) -> list[int]:
        """Update, in place, the rows that coalesced sparse gradients hold (sparse in the first dimension,
        an embedding's): each row of the parameter and its state is one entry of the address table, next
        to its row of the gradient's values, so nothing is gathered or copied back. The indices of the
        tensors it cannot take (other layouts, rows out of range or held twice, state the rule creates) are
        returned."""
        k = kernel_for(batch.rule, batch.h, batch.keys, batch.dtype, batch.maximize, scalar_dtype())
        if k.new_keys:
            return list(range(len(batch)))
        taken, rest = [], []
        for i, (p, g, state) in enumerate(zip(batch.params, batch.grads, batch.states, strict=True)):
            values = g.values()
            walked = [real(p), real(values), *[real(state[key]) for key in batch.keys]]
            ptrs = addresses(walked, batch.dtype) if g.sparse_dim() == 1 and p.dim() else None
            width = walked[0][0].numel() if ptrs is not None else 0
            if ptrs is None or values.shape[1:] != p.shape[1:] or not 0 < width <= CHUNK:
                rest.append(i)
            else:
                taken.append((i, g.indices()[0], ptrs, width, width * walked[0].element_size()))
        table, widths, bad = _row_table(taken, [batch.params[i].shape[0] for i, *_ in taken])
        if bad:  # rows out of range or held twice: those tensors go back, the others are walked
            rest = sorted(rest + [taken[j][0] for j in bad])
            taken = [t for j, t in enumerate(taken) if j not in bad]
            table, widths, _ = _row_table(taken, [batch.params[i].shape[0] for i, *_ in taken])
        if taken:
            k.run(Walk.of_rows(widths), table, batch.h)
            written = [batch.params[i] for i, *_ in taken]
            written += [batch.states[i][key] for i, *_ in taken for key in k.written]
            torch.autograd.graph.increment_version(written)
        return rest

    def plan(self, opt: object, group: dict, batch: Batch) -> FusedPlan | None:
        return FusedPlan.make(opt, group, batch)


def _row_table(taken: list[tuple], lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor, set[int]]:
    """The address table and entry widths of the rows of ``taken`` (index, rows, addresses, width, bytes per
    row) over parameters of ``lengths`` rows, and which of them have a row outside their parameter or twice
    (a tensor marked coalesced may hold one twice, and two threads would then race on it)."""
    if not taken:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), set()
    rows = torch.cat([t[1] for t in taken])
    counts = torch.tensor([len(t[1]) for t in taken])
    whose = torch.repeat_interleave(torch.arange(len(taken)), counts)
    starts = counts.cumsum(0) - counts
    fits = (rows >= 0) & (rows < torch.tensor(lengths)[whose])
    fits[1:] &= (rows[1:] > rows[:-1]) | (whose[1:] != whose[:-1])  # increasing within each tensor
    bad = set(whose[~fits].tolist()) if not bool(fits.all()) else set()
    bases = torch.tensor([t[2] for t in taken], dtype=torch.int64)[whose]
    step = torch.tensor([t[4] for t in taken], dtype=torch.int64)[whose, None]
    position = torch.arange(len(rows)) - starts[whose]  # the row's place among the gradient's values
    offsets = torch.stack([rows, position, *[rows] * (bases.shape[1] - 2)], dim=1) * step
    widths = torch.tensor([t[3] for t in taken], dtype=torch.int64)[whose]
    return (bases + offsets).reshape(-1), widths, bad


C_BACKEND = C()

__all__ = ["C_BACKEND", "C", "CompileError"]
