"""The per-tensor backend: the rule on each parameter in turn, in eager tensor arithmetic.

This is the ground truth every other backend is tested against, and the one path that serves
``differentiable=True`` (run under autograd, the in-place copies back into the parameter and the state are
recorded, so gradients flow through the step).

A sparse gradient updates only the entries it holds: the rule runs on those entries of the parameter and
its state, gathered, and the results are written back to the same places (torch's sparse Adagrad and
SparseAdam do the same; where the gradient is zero nothing moves, even where the rule would divide zero by
zero). The default path does this for all tensors at once through an element-wise backend
(:class:`Gathered`); its kernel computes in float32 for bfloat16 and float16, as on dense tensors.

:data:`STACKED` is the same rule over many small tensors at once, for rules that are not element-wise
(norms, matrix products: Adafactor, LAMB, Muon), which no kernel fuses: tensors of one shape are stacked and
the rule is mapped over the stack with :func:`torch.func.vmap`, so each of its operations runs once for all
of them instead of once per tensor (a norm under ``vmap`` is still each tensor's own norm). A rule that
cannot be mapped (one that reads a number out of a tensor, say) runs per tensor, as in :data:`LOOP`.
Tensors too large to stack are updated side by side on the CPU, one per thread
(:mod:`~descend.optim.engine.threads`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from descend.optim.engine import threads
from descend.optim.engine.backend import PLAIN, Backend, Batch, CompileError
from descend.optim.rule import Rule


def real(t: Tensor) -> Tensor:
    """A complex tensor's real view (same memory, a trailing dimension of 2); a real tensor as it is."""
    return torch.view_as_real(t) if t.is_complex() else t


class Loop:
    name = "loop"

    def unavailable(self, device: torch.device, dtype: torch.dtype) -> str | None:
        return None

    def run(self, batch: Batch) -> None:
        for i in range(len(batch)):
            self.one(batch, i)

    @staticmethod
    def one(batch: Batch, i: int) -> None:
        """Update ``batch.params[i]``."""
        param, grad, state = batch.params[i], batch.grads[i], batch.states[i]
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
    _write_back(batch, i, where, new_p, new)


def _write_back(batch: Batch, i: int, where: tuple[Tensor, ...], p: Tensor, new: dict[str, Tensor]) -> None:
    """The entries ``where`` of ``params[i]`` and of its state from ``p`` and ``new`` (of the parameter's own
    dtype, complex or real)."""
    param, state = batch.params[i], batch.states[i]
    param.index_put_(where, p)
    for k, v in new.items():
        if k not in state:  # state the rule creates is zero where the gradient never reached
            batch.keep(i, k, real(torch.zeros_like(param, memory_format=torch.contiguous_format)))
        state[k].index_put_(where, v)


LOOP = Loop()


def _gather(t: Tensor, where: tuple[Tensor, ...]) -> Tensor:
    """``t[where]``; rows by ``index_select`` where the gradient is sparse in the first dimension only (an
    embedding's), which is faster."""
    return t.index_select(0, where[0]) if len(where) == 1 else t[where]


class Gathered:
    """Sparse gradients through an element-wise backend: the entries where each gradient has values are
    updated by ``inner`` for all tensors in one call, what :data:`LOOP` does one tensor and one operation at a
    time. A backend with ``run_rows`` (the C kernel) updates the rows of an embedding's gradient where they
    lie; otherwise they are gathered (parameter, gradient values, state) into dense tensors, updated as one
    batch and written back."""

    name = "gathered"

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def run(self, batch: Batch) -> None:
        grads = [g.coalesce() for g in batch.grads]
        empty = [i for i, g in enumerate(grads) if g._nnz() == 0]  # the loop creates the rule's state, if any
        todo = [i for i, g in enumerate(grads) if g._nnz() != 0]
        inner: Backend | None = self.inner
        in_place = getattr(inner, "run_rows", None)
        try:
            if in_place is not None and todo:  # the backend updates the rows where they are
                part = batch.part(todo)
                part.grads = [grads[i] for i in todo]
                todo = [todo[j] for j in in_place(part)]
        except CompileError as e:
            self.inner.disable(str(e))  # type: ignore[attr-defined]  # a backend that compiles has one
            inner = None
        rows = []
        for i in todo:
            param, grad, state = batch.params[i], grads[i], batch.states[i]
            where = tuple(grad.indices())
            old = {k: _gather(state[k], where) for k in batch.keys}
            rows.append((i, where, _gather(param, where), grad.values().contiguous(), old))
        states = [{k: real(v) for k, v in old.items()} for *_, old in rows]
        created: dict[int, dict[str, Tensor]] = {}

        def keep(j: int, key: str, t: Tensor) -> None:  # state the rule creates: for the rows, then whole
            states[j][key] = created.setdefault(j, {})[key] = t

        gathered = Batch(
            batch.rule, batch.h, batch.keys, batch.maximize, batch.device, batch.dtype,
            [real(p) for _, _, p, _, _ in rows], [real(g) for _, _, _, g, _ in rows], states, keep,
        )  # fmt: skip
        try:
            left = inner.run(gathered) if rows and inner is not None else gathered
        except CompileError as e:
            self.inner.disable(str(e))  # type: ignore[attr-defined]
            left = gathered
        if left is not None and rows:
            LOOP.run(left)
        for j, (i, where, p, _, old) in enumerate(rows):
            made = created.get(j, {})
            if p.is_complex():
                made = {k: torch.view_as_complex(v) for k, v in made.items()}
            _write_back(batch, i, where, p, old | made)
        if empty:
            LOOP.run(batch.part(empty))


#: Tensors up to this many elements are stacked: above it the per-tensor overhead is small next to the
#: arithmetic, and a stack would copy a large tensor twice more.
STACK_NUMEL = 1 << 16
#: At most this many elements in one stack, so a stack's copies cost little memory.
STACK_TOTAL = 1 << 22


class Stacked(Loop):
    """The loop, with tensors of one shape and at most :data:`STACK_NUMEL` elements stacked and the rule
    mapped over the stack, larger ones side by side (the module's text); the rules that cannot be mapped
    are remembered."""

    name = "stacked"

    def __init__(self) -> None:
        self.unmappable: set[Rule] = set()

    def run(self, batch: Batch) -> None:
        if torch.is_grad_enabled():
            return super().run(batch)
        stacks: dict[tuple, list[int]] = {}
        alone, large = [], []
        for i, (p, g) in enumerate(zip(batch.params, batch.grads, strict=True)):
            if (p.numel() > STACK_NUMEL and p.device.type == "cpu" and not g.is_sparse and type(p) in PLAIN
                    and type(g) in PLAIN):  # fmt: skip
                large.append(i)
            elif g.is_sparse or p.numel() > STACK_NUMEL or p.numel() == 0 or batch.rule in self.unmappable:
                alone.append(i)
            else:
                stacks.setdefault((p.shape, p.is_complex()), []).append(i)
        if not threads.spread(lambda i: self.one(batch, i), large):
            alone.extend(large)
        for indices in stacks.values():
            size = max(1, STACK_TOTAL // batch.params[indices[0]].numel())
            for start in range(0, len(indices), size):
                part = indices[start : start + size]
                if len(part) == 1 or not self._stacked(batch, part):
                    alone.extend(part)
        if alone:
            super().run(batch.part(sorted(alone)) if len(alone) < len(batch) else batch)

    def _stacked(self, batch: Batch, indices: list[int]) -> bool:
        """Update ``params[i]`` for ``i`` in ``indices`` (one shape) in one mapped call; False if the rule
        cannot be mapped (then nothing was written)."""
        params = [real(batch.params[i]) for i in indices]
        grads = [real(batch.grads[i]) for i in indices]
        olds = [{k: real(batch.states[i][k]) for k in batch.keys} for i in indices]
        p = torch.stack(params)
        g = torch.stack(grads)
        if batch.maximize:
            g = g.neg_()
        old = {k: torch.stack([o[k] for o in olds]) for k in batch.keys}

        def one(p: Tensor, g: Tensor, old: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
            return batch.rule(p, g, old, batch.h)

        try:
            new_p, new = torch.func.vmap(one)(p, g, old)
        except RuntimeError:  # e.g. .item() under vmap: this rule runs per tensor from now on
            self.unmappable.add(batch.rule)
            return False
        torch._foreach_copy_(params, list(new_p.unbind(0)))
        for k, v in new.items():
            if k in batch.keys:
                torch._foreach_copy_([o[k] for o in olds], list(v.unbind(0)))
            else:
                for j, i in enumerate(indices):
                    batch.keep(i, k, v[j].clone())
        return True


STACKED = Stacked()
