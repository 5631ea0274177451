"""The multi-tensor backend: the traced rule run as a short program of in-place ``torch._foreach_*`` calls.

Running an update rule on lists with out-of-place operations makes a new list of tensors for every
operation and copies the results back into the parameters and the state at the end. This path compiles the
rule's graph (:mod:`descend.optim.engine.graph`) once per configuration into a :class:`Program` that

* updates the parameter and the state in place, where their old values are no longer needed;
* computes in place on a temporary as soon as the value it holds has no other use, so a step allocates
  only the few temporaries the rule keeps alive at the same time;
* never writes the gradient, nor state the rule only reads.

Every operation is the one eager code performs, on the same operands in the same order, so the program's
result equals the per-tensor path bit for bit (``s - t`` is computed as ``(-t) + s`` and ``s / t`` as
``t.reciprocal() * s``, which is what torch's eager operators compute). Only the commutative ``+`` and ``*``
are ever applied with their operands swapped, which changes no bit.

On CPU, torch's multi-tensor operations are a loop over tensors, and a temporary list as large as the
parameters costs fresh memory that the operating system must zero (for 10M parameters that is most of the
step). There the program runs block by block: tensors longer than :data:`BLOCK` elements are cut into flat
pieces, small ones gathered, so that each block's temporaries stay small and in cache, and the allocator
hands the same memory to the next block. The pieces start at multiples of :data:`BLOCK` elements, so the
vectorised inner loops see the same alignment as on whole tensors.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Callable
from types import SimpleNamespace as Scalars
from typing import Any

import torch
from torch import Tensor

from descend.optim.engine.backend import Batch
from descend.optim.engine.graph import COMPARISONS, Node, NotElementwise, Traced, specialization, traced
from descend.optim.engine.loop import real

Lists = list[list[Tensor]]
# An instruction reads the registers (tensor lists) and the step's scalar values.
Instruction = Callable[[Lists, list[Any]], None]


def _nan_max(a: float, b: float) -> float:
    return math.nan if a != a or b != b else (a if a > b else b)


def _nan_min(a: float, b: float) -> float:
    return math.nan if a != a or b != b else (a if a < b else b)


def _lerp(start: float, end: float, weight: float) -> float:
    return start + weight * (end - start) if abs(weight) < 0.5 else end - (end - start) * (1 - weight)


#: Each operation of :data:`~descend.optim.engine.graph.OPS` on numbers (subexpressions of scalars only).
_SCALAR: dict[str, Callable[..., Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "neg": operator.neg, "abs": abs, "sqrt": math.sqrt, "sign": lambda a: float((a > 0) - (a < 0)),
    "maximum": _nan_max, "minimum": _nan_min, "lerp": _lerp, "where": lambda c, a, b: a if c else b,
    "gt": operator.gt, "lt": operator.lt, "ge": operator.ge, "le": operator.le, "eq": operator.eq,
    "ne": operator.ne, "pow": operator.pow,
}  # fmt: skip
# Operations torch has as multi-tensor calls, in place and out of place (the rest run tensor by tensor).
_TENSOR_OPS = ("add", "sub", "mul", "div", "maximum", "minimum", "neg", "abs", "sqrt", "sign", "lerp",
               "reciprocal", "clamp_min", "clamp_max")  # fmt: skip
_IN_PLACE = {op: getattr(torch, f"_foreach_{op}_") for op in _TENSOR_OPS}
_OUT_OF_PLACE = {op: getattr(torch, f"_foreach_{op}") for op in _TENSOR_OPS}
# torch.maximum and torch.minimum with a number are torch.clamp's two halves
_WITH_A_NUMBER = {"maximum": "clamp_min", "minimum": "clamp_max"}
_PER_TENSOR = {"where": torch.where, **{op: getattr(torch, op) for op in COMPARISONS}}
_COMMUTATIVE = {"add", "mul"}


def _tensor_by_tensor(fn: Callable[..., Tensor]) -> Callable[..., list[Tensor]]:
    """``fn`` over the tensors of its list operands (numbers passed as they are), as a multi-tensor call."""

    def call(*operands: Any) -> list[Tensor]:
        n = next(len(o) for o in operands if isinstance(o, list | tuple))
        return [fn(*(o[i] if isinstance(o, list | tuple) else o for o in operands)) for i in range(n)]

    return call


class Program:
    """A traced rule as in-place multi-tensor operations.

    Registers hold tensor lists: register 0 the parameters, 1 the gradients, then the state of each key the
    rule reads, then temporaries. Calling the program updates registers 0 and 2.. in place and returns the
    lists of the state the rule creates.
    """

    def __init__(self, traced: Traced) -> None:
        self.new_keys = traced.new_keys
        self.scalars: list[tuple[int, Callable[[Scalars, list[Any]], Any]]] = []
        self.instructions: list[Instruction] = []
        self.n_registers = len(traced.inputs)
        order = [n for n in traced.graph.order if not n.scalar and n.op != "input"]
        # where each value lives: a register for tensors, a slot of the scalar values for numbers
        self.place: dict[tuple, int] = {n.key: i for i, n in enumerate(traced.inputs)}
        self._scalar_prelude(traced)
        last_use = self._last_uses(order, traced.outputs)
        for i, node in enumerate(order):
            self._emit(node, i, last_use, traced)
        self._finish(traced)

    # ---- building -------------------------------------------------------------------------------------

    def _scalar_prelude(self, traced: Traced) -> None:
        """Number-only subexpressions (``1 - β``, ``lr·λ``), computed once per step with Python floats."""
        for n in traced.graph.order:
            if not n.scalar or n.op == "const":
                continue
            slot = len(self.scalars)
            self.place[n.key] = slot
            if n.op == "scalar":
                name = traced.scalar_names[n.args[0]]
                self.scalars.append((slot, lambda h, s, name=name: getattr(h, name)))
            else:
                fn, args = _SCALAR[n.op], [self._scalar_operand(a) for a in n.args]
                self.scalars.append((slot, lambda h, s, fn=fn, args=args: fn(*(a(s) for a in args))))

    def _scalar_operand(self, n: Node) -> Callable[[list[Any]], Any]:
        if n.op == "const":
            return lambda s, v=n.args[0]: v
        return lambda s, i=self.place[n.key]: s[i]

    @staticmethod
    def _last_uses(order: list[Node], outputs: tuple[Node | None, ...]) -> dict[tuple, float]:
        last: dict[tuple, float] = {}
        for i, n in enumerate(order):
            for a in n.args:
                if isinstance(a, Node) and not a.scalar:
                    last[a.key] = i
        for out in outputs:
            if out is not None:
                last[out.key] = math.inf  # results are read after the last instruction
        return last

    def _emit(self, node: Node, i: int, last_use: dict[tuple, float], traced: Traced) -> None:
        # operands whose register may take the result: their value dies here and it is not read-only (the
        # gradient, state the rule does not write); the first operand, or either one of + and ·, or t in
        # s - t and s / t (computed as unary steps on t)
        n_inputs = len(traced.inputs)
        candidates = [
            a for a in node.args
            if not a.scalar and last_use.get(a.key) == i
            and not (self.place[a.key] < n_inputs and traced.outputs[self.place[a.key]] is None)
            and (a is node.args[0] or node.op in _COMMUTATIVE or node.args[0].scalar)
        ]  # fmt: skip
        if node.op in _PER_TENSOR:  # a new list, which may take a dying temporary's register, not an input's
            candidates = [a for a in candidates if self.place[a.key] >= n_inputs]
        slots = traced.outputs[: len(traced.inputs)]
        home = [k for k, out in enumerate(slots) if out is not None and out.key == node.key]
        candidates.sort(key=lambda a: self.place[a.key] not in home)  # prefer a result's own register
        if candidates:
            target = self.place[candidates[0].key]
        else:
            target = self.n_registers
            self.n_registers += 1
        self.place[node.key] = target
        self.instructions.extend(self._operation(node, target, bool(candidates)))
        # temporaries that die here are dropped at once, so the allocator can hand their memory to the next
        dead = {self.place[a.key] for a in node.args if not a.scalar and last_use.get(a.key) == i}
        for k in sorted(dead - {target} - set(range(len(traced.inputs)))):
            self.instructions.append(lambda r, s, k=k: r.__setitem__(k, None))

    def _operand(self, n: Node) -> Callable[[Lists, list[Any]], Any]:
        if n.op == "const":
            return lambda r, s, v=n.args[0]: v
        i = self.place[n.key]
        return (lambda r, s: s[i]) if n.scalar else (lambda r, s: r[i])

    def _operation(self, node: Node, target: int, in_place: bool) -> list[Instruction]:
        op, args = node.op, node.args
        get = [self._operand(a) for a in args]
        if op in _PER_TENSOR:
            fn = _tensor_by_tensor(_PER_TENSOR[op])
            return [lambda r, s: r.__setitem__(target, fn(*(g(r, s) for g in get)))]
        if op in _WITH_A_NUMBER and any(a.scalar for a in args):
            # max(x, c) is max(c, x): the tensor goes first, as torch's clamp takes it
            tensor_first = get if not args[0].scalar else get[::-1]
            return [self._call(_WITH_A_NUMBER[op], target, tensor_first, in_place)]
        if op in ("sub", "div") and args[0].scalar:
            # eager torch computes s - t as (-t) + s, and s / t as reciprocal(t)·s: do the same, in two steps
            first, then = ("neg", "add") if op == "sub" else ("reciprocal", "mul")
            scalar = get[0]
            t = self.place[args[1].key]
            return [self._call(first, target, [lambda r, s: r[t]], in_place),
                    self._call(then, target, [lambda r, s: r[target], scalar], True)]  # fmt: skip
        if op in _COMMUTATIVE and (args[0].scalar or (in_place and self.place[args[0].key] != target)):
            get = get[::-1]  # s + t is torch's t + s; in place, the operand that takes the result goes first
        return [self._call(op, target, get, in_place)]

    @staticmethod
    def _call(op: str, target: int, get: list[Callable], in_place: bool) -> Instruction:
        """``op`` on the operands ``get`` fetches, in place on the first one or into register ``target``."""
        if in_place:
            fn = _IN_PLACE[op]
            return lambda r, s: fn(*(g(r, s) for g in get))
        fn = _OUT_OF_PLACE[op]

        def run(r: Lists, s: list[Any]) -> None:
            r[target] = fn(*(g(r, s) for g in get))

        return run

    def _finish(self, traced: Traced) -> None:
        """Move every result where it belongs: created state first, then parameter and state in place."""
        n_slots = len(traced.inputs)
        if any(out is not None and out.scalar for out in traced.outputs):
            raise TypeError(
                "an update rule must return tensors, not numbers, for the parameter and its state"
            )
        moves = {k: self.place[out.key] for k, out in enumerate(traced.outputs[:n_slots]) if out is not None}
        moves = {k: src for k, src in moves.items() if src != k}
        taken: set[int] = set()
        self.created: list[tuple[int, bool]] = []  # (register, whether to copy it)
        for out in traced.outputs[n_slots:]:
            src = self.place[out.key]
            # a temporary that nothing else keeps becomes the new state as it is; anything else is copied
            shared = src < n_slots or src in taken or src in moves.values()
            self.created.append((src, shared))
            taken.add(src)
        self.moves: list[tuple[int, int]] = []  # (destination, source), in an order that reads before writing
        while moves:
            ready = [k for k in moves if k not in moves.values()]
            if not ready:  # a cycle of registers: park one value in a new register first
                k = next(iter(moves))
                parked = self.n_registers
                self.n_registers += 1
                self.moves.append((parked, k))
                moves = {d: (parked if src == k else src) for d, src in moves.items()}
                continue
            for k in ready:
                self.moves.append((k, moves.pop(k)))

    # ---- running --------------------------------------------------------------------------------------

    def __call__(self, registers: Lists, h: Scalars) -> Lists:
        """Update ``registers`` (parameters, gradients, state in key order) in place; return created state."""
        s: list[Any] = [None] * len(self.scalars)
        for slot, fn in self.scalars:
            s[slot] = fn(h, s)
        r = registers + [[] for _ in range(self.n_registers - len(registers))]
        for instruction in self.instructions:
            instruction(r, s)
        created = [[t.clone() for t in r[src]] if copy else r[src] for src, copy in self.created]
        for dst, src in self.moves:
            if dst < len(registers):
                torch._foreach_copy_(r[dst], r[src])
            else:  # a value parked to break a cycle
                r[dst] = [t.clone() for t in r[src]]
        return created


_PROGRAMS: dict[tuple, Program] = {}
_LOCK = threading.Lock()


def program(rule: Callable, h: Scalars, keys: tuple[str, ...], maximize: bool) -> Program:
    """The multi-tensor program for this configuration (built on first use, then cached)."""
    key = specialization(rule, h, keys, maximize)
    with _LOCK:
        if key not in _PROGRAMS:  # traced() raises NotElementwise for a rule that is not element-wise
            found = traced(rule, h, keys, maximize)
            if found.reduces:  # per-tensor values are the C kernel's only
                raise NotElementwise(found.reduces)
            _PROGRAMS[key] = Program(found)
        return _PROGRAMS[key]


#: Elements per block of the CPU program: temporaries stay in cache and are recycled by the allocator.
BLOCK = 1 << 15


def _pieces(columns: Lists) -> Lists:
    """The columns (one list per register, one entry per tensor) cut into pieces of at most BLOCK elements."""
    rows = list(zip(*columns, strict=True))
    out: list[tuple[Tensor, ...]] = []
    for row in rows:
        n = row[0].numel()
        if n <= BLOCK or not all(t.is_contiguous() for t in row):
            out.append(row)
            continue
        flat = [t.view(-1) for t in row]
        out.extend(tuple(t[lo : lo + BLOCK] for t in flat) for lo in range(0, n, BLOCK))
    return [list(c) for c in zip(*out, strict=True)] if out else [[] for _ in columns]


def blocks(columns: Lists) -> list[Lists]:
    """``columns`` as consecutive blocks of at most BLOCK elements each (a longer tensor is one block)."""
    pieces = _pieces(columns)
    result, start, size = [], 0, 0
    for i, t in enumerate(pieces[0]):
        n = t.numel()
        if size and size + n > BLOCK:
            result.append([c[start:i] for c in pieces])
            start, size = i, 0
        size += n
    if size or start < len(pieces[0]):
        result.append([c[start:] for c in pieces])
    return result


class Foreach:
    """The backend: the rule's program over a batch's tensor lists, block by block on CPU."""

    name = "foreach"

    def unavailable(self, device: torch.device, dtype: torch.dtype) -> str | None:
        return None

    def run(self, batch: Batch) -> None:
        registers = [
            [real(p) for p in batch.params],
            [real(g) for g in batch.grads],
            *([real(state[k]) for state in batch.states] for k in batch.keys),
        ]
        prog = program(batch.rule, batch.h, batch.keys, batch.maximize)
        if prog.new_keys or batch.device.type != "cpu":  # state is created whole, on its first step only
            for k, fresh in zip(prog.new_keys, prog(registers, batch.h), strict=True):
                for i, t in enumerate(fresh):
                    batch.keep(i, k, t)
            return
        for block in blocks(registers):
            prog(block, batch.h)


FOREACH = Foreach()
