"""Triton source of one traced update rule: a kernel whose programs each update one chunk of one tensor.

The kernel is the C loop's twin (:mod:`descend.optim.engine.c.codegen`): each element is loaded once, the
rule is computed in registers and each result is stored once; arithmetic follows torch's element by
element, with IEEE division and square roots (Triton's ``/`` and ``sqrt`` on float32 are approximate) and no
fused multiply-adds (the kernel is launched with ``enable_fp_fusion=False``). Half-precision parameters are
loaded into float32, computed there and rounded to nearest-even on the store; their state stays in the
parameter's dtype.

Numbers (the step's scalars) are computed in float64, once per program, and rounded to the compute type
where they meet a tensor, as torch rounds a Python number. A kernel traced from the hyperparameters
(:func:`~descend.optim.engine.graph.trace_from_hyperparameters`) also reads each tensor's step counter and
computes its bias corrections itself, so nothing about the step passes through the host.

Every operation of the rule vocabulary is one entry of :data:`TENSOR_OPS` (on tensors, in the compute
type) and, where numbers use it, of :data:`NUMBER_OPS` (in float64).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from descend.optim.engine.c.codegen import CType
from descend.optim.engine.graph import Node, Traced

#: How each dtype is stored (as the kernel's pointers see it), computed, loaded and stored.
TYPES = {
    torch.float32: CType("tl.float32", "tl.float32", "{}", "{}"),
    torch.float64: CType("tl.float64", "tl.float64", "{}", "{}"),
    torch.bfloat16: CType("tl.uint16", "tl.float32", "_bf16_load({})", "_bf16_store({})"),
    torch.float16: CType("tl.uint16", "tl.float32", "_f16_load({})", "_f16_store({})"),
}
#: Triton's name of each dtype a step counter may have.
COUNTERS = {torch.float32: "tl.float32", torch.float64: "tl.float64"}

Op = Callable[[list[str], str], str]


def _div(a: list[str], t: str) -> str:
    return f"tl.div_rn({a[0]}, {a[1]})" if t == "tl.float32" else f"{a[0]} / {a[1]}"


def _sqrt(a: list[str], t: str) -> str:
    return f"tl.sqrt_rn({a[0]})" if t == "tl.float32" else f"tl.sqrt({a[0]})"


def _lerp(a: list[str], t: str) -> str:  # torch's formula: exact at both ends
    start, end, w = a
    return (f"tl.where(tl.abs({w}) < 0.5, {start} + {w} * ({end} - {start}), "
            f"{end} - ({end} - {start}) * (1.0 - {w}))")  # fmt: skip


def _nan_or(a: list[str], value: str) -> str:
    """NaN where either operand is NaN (as torch.maximum and minimum), else ``value``; nested wheres, since
    an operand may be a number, whose truth value does not combine with a tensor's by ``|``."""
    return f"tl.where({a[0]} != {a[0]}, NAN, tl.where({a[1]} != {a[1]}, NAN, {value}))"


#: Each operation on tensors, as Triton source from its operands' names and the compute type.
TENSOR_OPS: dict[str, Op] = {
    "add": lambda a, t: f"{a[0]} + {a[1]}",
    "sub": lambda a, t: f"{a[0]} - {a[1]}",
    "mul": lambda a, t: f"{a[0]} * {a[1]}",
    "div": _div,
    "neg": lambda a, t: f"-{a[0]}",
    "sqrt": _sqrt,
    "sign": lambda a, t: f"tl.where({a[0]} > 0, 1.0, tl.where({a[0]} < 0, -1.0, 0.0)).to({t})",
    "maximum": lambda a, t: _nan_or(a, f"tl.where({a[0]} > {a[1]}, {a[0]}, {a[1]})"),
    "minimum": lambda a, t: _nan_or(a, f"tl.where({a[0]} < {a[1]}, {a[0]}, {a[1]})"),
    "abs": lambda a, t: f"tl.abs({a[0]})",
    "lerp": _lerp,
    # a comparison is a truth value that only a where takes, as its condition (graph.COMPARISONS)
    "where": lambda a, t: f"tl.where({a[0]}, {a[1]}, {a[2]})",
    "gt": lambda a, t: f"({a[0]} > {a[1]})",
    "lt": lambda a, t: f"({a[0]} < {a[1]})",
    "ge": lambda a, t: f"({a[0]} >= {a[1]})",
    "le": lambda a, t: f"({a[0]} <= {a[1]})",
    "eq": lambda a, t: f"({a[0]} == {a[1]})",
    "ne": lambda a, t: f"({a[0]} != {a[1]})",
}
#: Each operation on numbers (float64 scalars): the tensor form, and those only numbers take.
NUMBER_OPS: dict[str, Op] = {**TENSOR_OPS, "pow": lambda a, t: f"_pow({a[0]}, {a[1]})"}

# Helpers the generated kernels call. ``_pow`` is Python's ``**`` on float64 numbers: exp2(b·log2|a|), with
# the sign of a negative base raised to a whole power and 1 for a zero power. Half-precision values are
# converted by bit manipulation, as the C kernel does (to nearest, ties to even; NaN to the canonical quiet
# NaN), so that a GPU and Triton's interpreter (whose own conversion truncates) round alike.
_HELPERS = '''
INF = tl.constexpr(float("inf"))
NAN = tl.constexpr(float("nan"))


@triton.jit
def _bf16_load(h):
    return (h.to(tl.uint32) << 16).to(tl.float32, bitcast=True)


@triton.jit
def _bf16_store(f):
    u = f.to(tl.uint32, bitcast=True)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return tl.where(f != f, 0x7FC0, r).to(tl.uint16)


@triton.jit
def _f16_load(h):
    h = h.to(tl.uint32)
    sign = (h & 0x8000) << 16
    exp = (h >> 10) & 0x1F
    man = h & 0x3FF
    special = sign | 0x7F800000 | (man << 13)
    normal = sign | ((exp + 112) << 23) | (man << 13)
    subnormal = sign | (man.to(tl.float32) * 5.9604644775390625e-08).to(tl.uint32, bitcast=True)
    return tl.where(exp == 0x1F, special, tl.where(exp != 0, normal, subnormal)).to(tl.float32, bitcast=True)


@triton.jit
def _f16_store(f):
    x = f.to(tl.uint32, bitcast=True)
    sign = (x >> 16) & 0x8000
    x = x & 0x7FFFFFFF
    large = tl.where(x > 0x7F800000, 0x7E00, 0x7C00)
    # subnormal or zero: let float addition round at the right place
    small = (x.to(tl.float32, bitcast=True) + 0.5).to(tl.uint32, bitcast=True) - 0x3F000000
    normal = (x + 0xC8000FFF + ((x >> 13) & 1)) >> 13  # rebias the exponent, round to nearest even
    return (sign | tl.where(x >= 0x47800000, large, tl.where(x < 0x38800000, small, normal))).to(tl.uint16)


@triton.jit
def _pow(a, b):
    m = tl.exp2(b * tl.log2(tl.abs(a)))
    whole = b == tl.floor(b)
    odd = whole & (tl.floor(b * 0.5) * 2.0 != b)
    m = tl.where(a < 0, tl.where(whole, tl.where(odd, -m, m), NAN), m)
    return tl.where(b == 0, 1.0, m)
'''


#: What every generated module starts with: its imports and the helpers.
PRELUDE = "import triton\nimport triton.language as tl\n" + _HELPERS


def _literal(v: float) -> str:
    if v != v:
        return "NAN"
    if v in (float("inf"), float("-inf")):
        return "INF" if v > 0 else "-INF"
    return repr(float(v))


def generate(traced: Traced, dtype: torch.dtype, pointers: tuple[bool, ...] = (),
             counter: torch.dtype | None = None, skippable: bool = False) -> str:  # fmt: skip
    """Triton source of ``step(table, chunks, s0, s1, ..., [found_inf,] BLOCK)`` computing ``traced``.

    ``chunks`` holds (tensor, start, length) for each program; ``table`` holds, for each tensor, the
    address of array ``k`` at column ``k``: input ``k`` is read from it and output ``k`` written to it
    (``None``: not written), outputs beyond the inputs go to arrays that follow, and with ``counter`` (the
    counters' dtype, for a trace with a ``step`` node) the last column is the tensor's step counter, which
    holds the number of steps before this one.
    Scalar argument ``i`` is a float64 value, or the address of a one-element tensor where
    ``pointers[i]``. With ``skippable``, nothing is written where ``found_inf`` holds a nonzero value
    (GradScaler's flag).
    """
    tt = TYPES[dtype]
    compute, storage = tt.compute, tt.storage
    n_arrays = max(len(traced.inputs), len(traced.outputs))
    width = n_arrays + (counter is not None)
    names: dict[tuple, str] = {}
    numbers: list[str] = []  # float64 scalars, once per program
    body: list[str] = []  # the element-wise update
    cast: dict[tuple, str] = {}
    args = [f"s{i}" if i < len(pointers) and pointers[i] else f"s{i}: tl.float64"
            for i in range(len(traced.scalar_names))]  # fmt: skip
    for i in range(len(traced.scalar_names)):
        pointer = i < len(pointers) and pointers[i]
        value = f"tl.load(s{i}).to(tl.float64)" if pointer else f"tl.full((), s{i}, tl.float64)"
        numbers.append(f"s{i} = {value}")
    if counter is not None:
        step_type = COUNTERS[counter]
        cell = f"tl.load(row + {n_arrays}).to(tl.pointer_type({step_type}))"
        # this step's count, the counter plus one in its own precision (as the counter will hold it)
        numbers.append(f"step = (tl.load({cell}) + 1.0).to(tl.float64)")

    def number(n: Node) -> str:
        """``n`` as a float64 value in a computation on numbers."""
        if n.op != "const":
            return names[n.key]
        if n.key not in cast:
            cast[n.key] = f"k{len(cast)}"
            numbers.append(f"{cast[n.key]} = tl.full((), {_literal(n.args[0])}, tl.float64)")
        return cast[n.key]

    def element(n: Node) -> str:
        """``n`` in the compute type, in an element-wise computation."""
        if not n.scalar:
            return names[n.key]
        if n.op == "const":
            return _literal(n.args[0])  # Python's number rounds to the tensor's type, as in torch
        if compute == "tl.float64":
            return names[n.key]
        key = ("cast", n.key)
        if key not in cast:
            cast[key] = f"c{len(cast)}"
            numbers.append(f"{cast[key]} = {names[n.key]}.to({compute})")
        return cast[key]

    for i, n in enumerate(traced.inputs):
        names[n.key] = f"x{i}"
        body.append(f"a{i} = tl.load(row + {i}).to(tl.pointer_type({storage}))")
        body.append(f"x{i} = {tt.load.format(f'tl.load(a{i} + offs, mask=mask)')}")
    for n in traced.graph.order:
        if n.key in names or n.op == "const":
            continue
        if n.op == "scalar":
            names[n.key] = f"s{n.args[0]}"
            continue
        if n.op == "step":
            names[n.key] = "step"
            continue
        var = names[n.key] = f"v{len(names)}"
        if n.scalar:
            numbers.append(f"{var} = {NUMBER_OPS[n.op]([number(a) for a in n.args], 'tl.float64')}")
        else:
            body.append(f"{var} = {TENSOR_OPS[n.op]([element(a) for a in n.args], compute)}")
    stores = []
    for k, out in enumerate(traced.outputs):
        if out is None:
            continue
        if k >= len(traced.inputs):
            stores.append(f"a{k} = tl.load(row + {k}).to(tl.pointer_type({storage}))")
        value = element(out)
        if out.scalar:  # a state that is a number everywhere: as wide as the chunk
            value = f"tl.full([BLOCK], {value}, {compute})"
        stores.append(f"tl.store(a{k} + offs, {tt.store.format(value)}, mask=mask)")
    skip = "    mask = tl.where(tl.load(found_inf) == 0, mask, False)\n" if skippable else ""
    extra = "found_inf, " if skippable else ""
    indent = "\n    "
    return f"""{PRELUDE}

@triton.jit
def step(table, chunks, {"".join(a + ", " for a in args)}{extra}BLOCK: tl.constexpr):
    q = tl.program_id(0).to(tl.int64)
    t = tl.load(chunks + 3 * q)
    lo = tl.load(chunks + 3 * q + 1)
    n = tl.load(chunks + 3 * q + 2)
    row = table + t * {width}
    r = tl.arange(0, BLOCK)
    offs = lo + r
    mask = r < n
{skip}    {indent.join(numbers) or "pass"}
    {indent.join(body)}
    {indent.join(stores)}
"""
