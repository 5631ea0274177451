"""C source of one traced update rule: a loop that loads each element once and stores each result once.

Arithmetic follows torch's element by element: the same operations in the same order and precision
(scalars rounded to the compute type where they meet a tensor, ``lerp`` by torch's formula), compiled with
``-ffp-contract=off`` so that no multiply-add is fused behind our back. Half-precision parameters
(bfloat16, float16) are loaded into float32, computed there and rounded back to nearest-even on the store,
as torch's fused CPU kernels do; their state stays in the parameter's dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from descend.optim.engine.graph import Node, Traced


@dataclass(frozen=True)
class CType:
    """How a dtype is stored in memory and computed in C."""

    storage: str
    compute: str
    load: str  # a format with one slot: the stored value
    store: str  # a format with one slot: the computed value


TYPES = {
    torch.float32: CType("float", "float", "{}", "{}"),
    torch.float64: CType("double", "double", "{}", "{}"),
    torch.bfloat16: CType("uint16_t", "float", "bf16_load({})", "bf16_store({})"),
    torch.float16: CType("uint16_t", "float", "f16_load({})", "f16_store({})"),
}
#: The C type of a step counter of each dtype.
COUNTER_TYPES = {torch.float32: "float", torch.float64: "double"}

# Conversions by bit manipulation, portable to any C99 compiler; they round as c10::BFloat16 and c10::Half
# do (to nearest, ties to even; NaN to the canonical quiet NaN).
_HALF = r"""
static inline float f32_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static inline uint32_t bits_f32(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static inline float bf16_load(uint16_t h) { return f32_bits((uint32_t)h << 16); }
static inline uint16_t bf16_store(float f) {
    uint32_t u = bits_f32(f);
    if (f != f) return 0x7FC0;
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
static inline float f16_load(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    if (exp == 0x1Fu) return f32_bits(sign | 0x7F800000u | (man << 13));
    if (exp != 0) return f32_bits(sign | ((exp + 112u) << 23) | (man << 13));
    return f32_bits(sign | bits_f32((float)man * 5.9604644775390625e-08f));  /* man * 2^-24, exact */
}
static inline uint16_t f16_store(float f) {
    uint32_t x = bits_f32(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    x &= 0x7FFFFFFFu;
    if (x >= 0x47800000u) return (uint16_t)(sign | (x > 0x7F800000u ? 0x7E00u : 0x7C00u));
    if (x < 0x38800000u)  /* subnormal or zero: let float addition round at the right place */
        return (uint16_t)(sign | (bits_f32(f32_bits(x) + f32_bits(126u << 23)) - (126u << 23)));
    x += 0xC8000FFFu + ((x >> 13) & 1u);  /* rebias the exponent, round to nearest even */
    return (uint16_t)(sign | (x >> 13));
}
"""

#: C for each operation of :data:`~descend.optim.engine.graph.OPS`, operands ``{0}``, ``{1}``, ``{2}``, in a
#: type ``{t}`` (the compute type for tensor operations, double for numbers) whose math functions end in
#: ``{f}`` (``f`` for float). Each computes what torch's operator does, NaN included.
C_OPS: dict[str, str] = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}", "neg": "-{0}",
    "abs": "fabs{f}({0})", "sqrt": "sqrt{f}({0})",
    "sign": "({t})(({0} > 0) - ({0} < 0))",  # 0 for NaN, as torch.sign
    # NaN propagates, as torch.maximum; selects of values only, so that the loop still vectorises
    "maximum": "({0} != {0}) ? {0} : (({1} != {1}) ? {1} : ({0} > {1} ? {0} : {1}))",
    "minimum": "({0} != {0}) ? {0} : (({1} != {1}) ? {1} : ({0} < {1} ? {0} : {1}))",
    # torch's formula, exact at both ends
    "lerp": "(fabs{f}({2}) < 0.5{f}) ? {0} + {2} * ({1} - {0}) : {1} - ({1} - {0}) * (1 - {2})",
    "where": "{0} ? {1} : {2}",
    "gt": "({t})({0} > {1})", "lt": "({t})({0} < {1})", "ge": "({t})({0} >= {1})",
    "le": "({t})({0} <= {1})", "eq": "({t})({0} == {1})", "ne": "({t})({0} != {1})",
    "pow": "pow({0}, {1})",  # of numbers only (graph.NUMBERS_ONLY): in double
}  # fmt: skip


def _c_float(v: float) -> str:
    if v != v or v in (float("inf"), float("-inf")):
        return {"nan": "NAN", "inf": "INFINITY", "-inf": "(-INFINITY)"}[repr(v)]
    return repr(float(v))


def _expression(n: Node, a: list[str], t: str) -> str:
    """C for ``n`` of type ``t`` with operands ``a``."""
    if n.op not in C_OPS:  # pragma: no cover - every op a Node offers is in the table (a test checks)
        raise ValueError(f"unknown operation {n.op!r}")
    return C_OPS[n.op].format(*a, t=t, f="f" if t == "float" else "")


def generate(traced: Traced, dtype: torch.dtype, counter: torch.dtype) -> str:
    """C source of ``int step(...)`` computing the rule's outputs from its inputs element by element.

    The address table holds, tensor after tensor, the address of each of its arrays: array ``k`` is read as
    input ``k`` and written with output ``k`` (``None``: not written); outputs beyond the inputs go to
    write-only arrays that follow. Before the loop, the step checks that each of the ``n_counters`` step
    counters holds ``expected`` (else it returns 1 and writes nothing) and adds one to each.
    """
    ct = TYPES[dtype]
    compute = ct.compute
    names: dict[tuple, str] = {}
    before: list[str] = []
    body: list[str] = []
    cast: dict[tuple, str] = {}

    def ref(n: Node, in_tensor_op: bool) -> str:
        if not (in_tensor_op and n.scalar):
            return names[n.key]
        if n.key not in cast:  # a double scalar meeting a tensor is rounded to the compute type, as torch
            cast[n.key] = f"c{len(cast)}"
            before.append(f"const {compute} {cast[n.key]} = ({compute}){names[n.key]};")
        return cast[n.key]

    for i, n in enumerate(traced.inputs):
        names[n.key] = f"x{i}"
        body.append(f"const {compute} x{i} = {ct.load.format(f'a{i}[j]')};")
    for n in traced.graph.order:
        if n.key in names:
            continue
        if n.op == "scalar":
            names[n.key] = f"s[{n.args[0]}]"
            continue
        if n.op == "const":
            names[n.key] = _c_float(n.args[0])
            continue
        var = f"v{len(names)}"
        names[n.key] = var
        tensor_op = not n.scalar
        t = compute if tensor_op else "double"
        expr = _expression(n, [ref(x, tensor_op) for x in n.args], t)
        (body if tensor_op else before).append(f"const {t} {var} = {expr};")
    stores = [
        f"a{k}[j] = {ct.store.format(ref(out, True) if out.scalar else names[out.key])};"
        for k, out in enumerate(traced.outputs)
        if out is not None
    ]
    n_arrays = max(len(traced.inputs), len(traced.outputs))
    storage = ct.storage
    arrays = "\n".join(
        f"        {storage}* a{i} = ({storage}*)ptr[t * {n_arrays} + {i}] + lo;" for i in range(n_arrays)
    )
    indent = "\n            "
    c = COUNTER_TYPES[counter]
    return f"""#include <math.h>
#include <stdint.h>
#include <string.h>
{_HALF if storage == "uint16_t" else ""}
int step(int64_t n_segments, const int64_t* seg_tensor, const int64_t* seg_start, const int64_t* seg_len,
         void** ptr, const double* s, int64_t n_threads,
         int64_t n_counters, {c}** counters, double expected) {{
    (void)s;
    for (int64_t i = 0; i < n_counters; ++i)
        if ((double)*counters[i] != expected) return 1;
    for (int64_t i = 0; i < n_counters; ++i) *counters[i] += ({c})1;
    {indent[:5].join(before)}
    #pragma omp parallel for schedule(static) num_threads(n_threads) if(n_threads > 1)
    for (int64_t q = 0; q < n_segments; ++q) {{
        const int64_t t = seg_tensor[q], lo = seg_start[q], n = seg_len[q];
{arrays}
        #pragma omp simd
        for (int64_t j = 0; j < n; ++j) {{
            {indent.join(body)}
            {indent.join(stores)}
        }}
    }}
    return 0;
}}
"""
