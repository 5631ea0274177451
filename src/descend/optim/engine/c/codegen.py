"""C source of one traced update rule: a loop that loads each element once and stores each result once
(after a pass for each level of per-tensor norms, where the rule takes any).

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


def _stages(order: list[Node]) -> dict[tuple, int]:
    """For each value, after how many passes over the elements it can be computed: 0 for what needs no
    norm, ``k + 1`` for a norm of a value of stage ``k`` and for what is computed from it."""
    stage: dict[tuple, int] = {}
    for n in order:
        below = max((stage[a.key] for a in n.args if isinstance(a, Node)), default=0)
        stage[n.key] = below + 1 if n.op == "norm" else below
    return stage


def _needed(roots: list[Node]) -> set[tuple]:
    """The keys of ``roots`` and of every value they are computed from."""
    seen: set[tuple] = set()
    todo = list(roots)
    while todo:
        n = todo.pop()
        if n.key not in seen:
            seen.add(n.key)
            todo.extend(a for a in n.args if isinstance(a, Node))
    return seen


def generate(traced: Traced, dtype: torch.dtype, counter: torch.dtype) -> str:
    """C source of ``int step(...)`` computing the rule's outputs from its inputs element by element.

    The address table holds, tensor after tensor, the address of each of its arrays: array ``k`` is read as
    input ``k`` and written with output ``k`` (``None``: not written); outputs beyond the inputs go to
    write-only arrays that follow. Before the loop, the step checks that each of the ``n_counters`` step
    counters holds ``expected`` (else it returns 1 and writes nothing) and adds one to each.

    Per-tensor values (:data:`~descend.optim.engine.graph.REDUCTIONS`) are computed in double, tensor by
    tensor, between passes over the elements: a norm's pass sums the squares of each chunk (in double, on
    all threads), then adds each tensor's chunks in order, so that the result does not depend on the number
    of threads. The step returns 2, having written nothing, if it cannot allocate the room they need.
    """
    ct = TYPES[dtype]
    compute = ct.compute
    order = traced.graph.order
    stage = _stages(order)
    inputs = {n.key: i for i, n in enumerate(traced.inputs)}
    per_tensor = [n for n in order if n.per_tensor]
    slot = {n.key: i for i, n in enumerate(per_tensor)}
    norms = [n for n in per_tensor if n.op == "norm"]
    column = {n.key: i for i, n in enumerate(norms)}  # of each norm's partial sums
    numbers: dict[tuple, str] = {}  # each number the same for all tensors, in double
    before: list[str] = []
    cast: dict[tuple, str] = {}  # such a number rounded to the compute type

    def number(n: Node) -> str:
        return f"pt[t * {len(per_tensor)} + {slot[n.key]}]" if n.per_tensor else numbers[n.key]

    for n in order:
        if not n.scalar or n.per_tensor:
            continue
        if n.op == "scalar":
            numbers[n.key] = f"s[{n.args[0]}]"
        elif n.op == "const":
            numbers[n.key] = _c_float(n.args[0])
        else:
            numbers[n.key] = var = f"g{len(numbers)}"
            before.append(f"const double {var} = {_expression(n, [number(a) for a in n.args], 'double')};")

    def loop(sums: list[Node], stores: dict[int, Node]) -> str:
        """One pass over every chunk: the squares of ``sums``' operands added up per chunk (into ``part``),
        and output ``k`` stored into array ``k`` for each of ``stores``."""
        needed = _needed([a for n in sums for a in n.args] + list(stores.values()))
        names: dict[tuple, str] = {}
        per_chunk, body = [], []

        def ref(n: Node) -> str:
            if not n.scalar:
                return names[n.key]
            if n.per_tensor:  # rounded to the compute type where it meets a tensor, as a scalar is
                if n.key not in names:
                    names[n.key] = f"u{slot[n.key]}"
                    per_chunk.append(f"const {compute} u{slot[n.key]} = ({compute}){number(n)};")
                return names[n.key]
            if n.key not in cast:
                cast[n.key] = f"c{len(cast)}"
                before.append(f"const {compute} {cast[n.key]} = ({compute}){numbers[n.key]};")
            return cast[n.key]

        for n in order:
            if n.key not in needed or n.scalar:
                continue
            if n.key in inputs:
                names[n.key] = f"x{inputs[n.key]}"
                body.append(f"const {compute} x{inputs[n.key]} = {ct.load.format(f'a{inputs[n.key]}[j]')};")
            else:
                names[n.key] = var = f"v{len(names)}"
                body.append(f"const {compute} {var} = {_expression(n, [ref(a) for a in n.args], compute)};")
        for k, n in enumerate(sums):
            x = ref(n.args[0])
            body.append(f"r{k} += (double){x} * (double){x};")
        body += [f"a{k}[j] = {ct.store.format(ref(out))};" for k, out in stores.items()]
        n_arrays = max(len(traced.inputs), len(traced.outputs))
        used = {inputs[key] for key in needed if key in inputs} | set(stores)
        arrays = [f"{ct.storage}* a{i} = ({ct.storage}*)ptr[t * {n_arrays} + {i}] + lo;"
                  for i in sorted(used)]  # fmt: skip
        accumulate = [f"double {', '.join(f'r{k} = 0' for k in range(len(sums)))};"] if sums else []
        reduction = f" reduction(+:{', '.join(f'r{k}' for k in range(len(sums)))})" if sums else ""
        partials = [f"part[q * {len(norms)} + {column[n.key]}] = r{k};" for k, n in enumerate(sums)]
        lines = "\n            ".join(body)
        head = "\n        ".join(["const int64_t t = seg_tensor[q], lo = seg_start[q], n = seg_len[q];",
                                  "(void)t; (void)lo;", *arrays, *per_chunk, *accumulate])  # fmt: skip
        return f"""
    #pragma omp parallel for schedule(static) num_threads(n_threads) if(n_threads > 1)
    for (int64_t q = 0; q < n_segments; ++q) {{
        {head}
        #pragma omp simd{reduction}
        for (int64_t j = 0; j < n; ++j) {{
            {lines}
        }}
        {" ".join(partials)}
    }}"""

    def per_tensor_values(k: int) -> list[str]:
        """Each tensor's values of stage ``k`` (after its norms), in the order the rule computes them."""
        code = []
        sums = [n for n in norms if stage[n.key] == k]
        if sums:
            code.append(loop(sums, {}))
            added = " ".join(f"{number(n)} += part[q * {len(norms)} + {column[n.key]}];" for n in sums)
            code.append(f"    for (int64_t q = 0; q < n_segments; ++q) {{ const int64_t t = seg_tensor[q]; "
                        f"{added} }}")
        values = [n for n in per_tensor if stage[n.key] == k and n.op != "numel"]
        if values:
            computed = " ".join(
                f"{number(n)} = sqrt({number(n)});" if n.op == "norm"
                else f"{number(n)} = {_expression(n, [number(a) for a in n.args], 'double')};"
                for n in values
            )  # fmt: skip
            code.append(f"    for (int64_t t = 0; t < n_tensors; ++t) {{ {computed} }}")
        return code

    numel = [n for n in per_tensor if n.op == "numel"]
    code = [f"    for (int64_t q = 0; q < n_segments; ++q) {{ const int64_t t = seg_tensor[q]; "
            f"{number(numel[0])} += (double)seg_len[q]; }}"] if numel else []  # fmt: skip
    for k in range(max((stage[n.key] for n in per_tensor), default=-1) + 1):
        code += per_tensor_values(k)
    code.append(loop([], {k: out for k, out in enumerate(traced.outputs) if out is not None}))
    room = free = ""
    if per_tensor:
        room = f"""
    const int64_t n_tensors = n_segments > 0 ? seg_tensor[n_segments - 1] + 1 : 0;
    double* pt = (double*)calloc((size_t)n_tensors * {len(per_tensor)} + 1, sizeof(double));
    double* part = (double*)calloc((size_t)n_segments * {len(norms)} + 1, sizeof(double));
    if (pt == NULL || part == NULL) {{ free(pt); free(part); return 2; }}"""
        free = "free(pt); free(part);"
    c = COUNTER_TYPES[counter]
    indent = "\n    "
    return f"""#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
{_HALF if ct.storage == "uint16_t" else ""}
int step(int64_t n_segments, const int64_t* seg_tensor, const int64_t* seg_start, const int64_t* seg_len,
         void** ptr, const double* s, int64_t n_threads,
         int64_t n_counters, {c}** counters, double expected) {{
    (void)s;
    for (int64_t i = 0; i < n_counters; ++i)
        if ((double)*counters[i] != expected) return 1;{room}
    for (int64_t i = 0; i < n_counters; ++i) *counters[i] += ({c})1;
    {indent.join(before)}
{chr(10).join(code)}
    {free}
    return 0;
}}
"""
