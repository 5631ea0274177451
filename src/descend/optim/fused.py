"""The fused path: an optimizer's update rule traced into one C loop over every tensor, one pass over memory.

An optimizer step is bound by memory traffic: Adam reads a parameter, its gradient and two moments and writes
three of them back, 28 bytes per float32 parameter. Eager tensor code makes a temporary per operation and
reads it back; this path instead takes the algorithm's own :meth:`~descend.optim.base.Optimizer.rule`,
traced into an expression graph (:mod:`descend.optim.graph`), and turns that graph into a C function that
loads each element once, computes in registers and stores the results once. No parameter
moves: the kernel walks the tensors where they are, given a table of their addresses, so autograd, modules
and state dicts see nothing different.

* Scalars (learning rate, bias corrections, ...) are kernel arguments, so a schedule changing the learning
  rate every step reuses the same kernel. The kernel is specialised as the graph is (on which scalars are
  zero and on the boolean options) and on the dtype.
* Arithmetic follows torch's element by element: the same operations in the same order and precision
  (scalars rounded to the tensor's dtype where they meet a tensor, ``lerp`` by torch's formula), compiled
  with ``-ffp-contract=off`` so no multiply-add is fused behind our back.
* Kernels are compiled by the system C compiler (``$CC``, else ``cc``) in about a second and cached on disk
  under ``$DESCEND_CACHE/kernels`` (default ``~/.cache/descend/kernels``), keyed by their source, so a
  configuration compiles once per machine. Without a compiler, ``fused=True`` raises and the default path
  does not choose this one.
* The elements are cut into chunks that an ``omp parallel for`` shares among threads. The kernel binds to
  the OpenMP runtime already in the process, torch's own (its ``libgomp.so.1``), so the step runs on
  torch's threads: a second pool would fight torch's threads, which spin for a while after every
  parallel operation, for the same cores.
"""

from __future__ import annotations

import array
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace as Scalars

import torch
from torch import Tensor

from descend.optim.graph import Graph, Node, Traced, specialization, trace

C_TYPES = {torch.float32: "float", torch.float64: "double"}
#: The real dtype a complex parameter is updated in (through its real view: same address, twice the elements).
REAL = {torch.complex64: torch.float32, torch.complex128: torch.float64, **{t: t for t in C_TYPES}}
#: Steps over fewer elements than this run on one thread (waking another costs more than it saves).
PARALLEL_MIN_NUMEL = 1 << 18
#: Tensor types the kernel may walk: plain ones, not subclasses such as DTensor (no single address).
PLAIN = (Tensor, torch.nn.Parameter)

# ---- code generation ----------------------------------------------------------------------------------

_BINARY = {"add": "{} + {}", "sub": "{} - {}", "mul": "{} * {}", "div": "{} / {}"}


def _c_float(v: float) -> str:
    if v != v or v in (float("inf"), float("-inf")):
        return {"nan": "NAN", "inf": "INFINITY", "-inf": "(-INFINITY)"}[repr(v)]
    return repr(float(v))


def generate(
    graph: Graph, inputs: Sequence[Node], outputs: Sequence[Node | None], n_scalars: int, ctype: str
) -> str:
    """C source of ``void step(...)`` computing ``outputs`` from ``inputs`` element by element.

    The address table holds, tensor after tensor, the address of each of its arrays: array ``k`` is read as
    input ``k`` and written with output ``k`` (``None``: not written); outputs beyond the inputs go to
    write-only arrays that follow.
    """
    sqrt = "sqrtf" if ctype == "float" else "sqrt"
    fabs = "fabsf" if ctype == "float" else "fabs"
    names: dict[tuple, str] = {}
    before: list[str] = []
    body: list[str] = []
    cast: dict[tuple, str] = {}

    def scalar_as_t(n: Node) -> str:
        # a double scalar meeting a tensor is rounded to the tensor's type first, as torch does
        if n.key not in cast:
            cast[n.key] = f"c{len(cast)}"
            before.append(f"const {ctype} {cast[n.key]} = ({ctype}){names[n.key]};")
        return cast[n.key]

    def ref(n: Node, in_tensor_op: bool) -> str:
        return scalar_as_t(n) if (in_tensor_op and n.scalar) else names[n.key]

    for i, n in enumerate(inputs):
        names[n.key] = f"x{i}"
        body.append(f"const {ctype} x{i} = a{i}[j];")
    for n in graph.order:
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
        a = [ref(x, tensor_op) for x in n.args]
        t = ctype if tensor_op else "double"
        if n.op in _BINARY:
            expr = _BINARY[n.op].format(*a)
        elif n.op == "neg":
            expr = f"-{a[0]}"
        elif n.op == "sqrt":
            expr = f"{sqrt}({a[0]})" if tensor_op else f"sqrt({a[0]})"
        elif n.op == "sign":
            expr = f"({t})(({a[0]} > 0) - ({a[0]} < 0))"
        elif n.op == "maximum":  # torch.maximum propagates NaN
            expr = f"({a[0]} != {a[0]} || {a[1]} != {a[1]}) ? ({t})NAN : ({a[0]} > {a[1]} ? {a[0]} : {a[1]})"
        elif n.op == "lerp":  # torch's formula: exact at both ends
            start, end, w = a
            small, large = f"{start} + {w} * ({end} - {start})", f"{end} - ({end} - {start}) * (1 - {w})"
            expr = f"({fabs}({w}) < 0.5f) ? {small} : {large}"
        else:  # pragma: no cover - every op Node offers is handled above
            raise ValueError(f"unknown operation {n.op!r}")
        (body if tensor_op else before).append(f"const {t} {var} = {expr};")
    stores = [
        f"a{k}[j] = {ref(out, True) if out.scalar else names[out.key]};"
        for k, out in enumerate(outputs)
        if out is not None
    ]
    n_arrays = max(len(inputs), len(outputs))
    arrays = "\n".join(
        f"        {ctype}* a{i} = ({ctype}*)ptr[t * {n_arrays} + {i}] + lo;" for i in range(n_arrays)
    )
    return f"""#include <math.h>
#include <stdint.h>

void step(int64_t n_segments, const int64_t* seg_tensor, const int64_t* seg_start, const int64_t* seg_len,
          void** ptr, const double* s, int64_t n_threads) {{
    (void)s;
    {chr(10).join("    " + line for line in before).strip()}
    #pragma omp parallel for schedule(static) num_threads(n_threads) if(n_threads > 1)
    for (int64_t q = 0; q < n_segments; ++q) {{
        const int64_t t = seg_tensor[q], lo = seg_start[q], n = seg_len[q];
{arrays}
        #pragma omp simd
        for (int64_t j = 0; j < n; ++j) {{
            {chr(10).join("            " + line for line in body).strip()}
            {chr(10).join("            " + line for line in stores).strip()}
        }}
    }}
}}
/* scalars: {n_scalars} */
"""


# ---- compilation and caching --------------------------------------------------------------------------


@functools.cache
def compiler() -> str | None:
    """The C compiler the fused path uses, or None when there is none (looked up once per process)."""
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def cache_dir() -> Path:
    root = os.environ.get("DESCEND_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "descend")
    return Path(root) / "kernels"


def _cpu_signature() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return platform.machine() + flags


FLAGS = ["-O3", "-march=native", "-fopenmp", "-ffp-contract=off", "-fno-math-errno", "-shared", "-fPIC"]


class CompileError(RuntimeError):
    """A fused kernel could not be built here: no C compiler, a failed compilation, an unwritable cache."""


_DISABLED: str | None = None


def usable() -> bool:
    """Whether the default path may choose the fused one: a compiler exists and no build has failed."""
    return _DISABLED is None and compiler() is not None


def disable(reason: str) -> None:
    """Stop the default path from choosing the fused one for the rest of the process, saying why once."""
    global _DISABLED
    if _DISABLED is None:
        _DISABLED = reason
        warnings.warn(f"descend: the fused optimizer step is unavailable, using the loop instead: {reason}",
                      RuntimeWarning, stacklevel=4)  # fmt: skip


def compile_source(source: str) -> ctypes.CDLL:
    """Compile ``source`` once per machine (cached on disk by a hash of source, flags and CPU) and load it."""
    cc = compiler()
    if cc is None:
        raise CompileError("fused=True needs a C compiler (set CC, or install gcc); none was found")
    digest = hashlib.sha256("\0".join([source, *FLAGS, _cpu_signature()]).encode()).hexdigest()[:24]
    folder = cache_dir()
    target = folder / f"step_{digest}.so"
    try:
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=folder) as tmp:
                src = Path(tmp) / "step.c"
                src.write_text(source)
                built = Path(tmp) / "step.so"
                command = [cc, *FLAGS, str(src), "-o", str(built), "-lm"]
                result = subprocess.run(command, capture_output=True, text=True)
                if result.returncode != 0:
                    raise CompileError(f"compiling a fused kernel with {cc} failed:\n{result.stderr}")
                os.replace(built, target)  # whole or not at all, even with several processes compiling
    except OSError as e:
        raise CompileError(f"cannot write the kernel cache {folder}: {e} (set DESCEND_CACHE)") from e
    return ctypes.CDLL(str(target))


# ---- a traced rule as a kernel ------------------------------------------------------------------------


class Kernel:
    """A compiled update for one rule, dtype, set of state keys and pattern of zero scalars."""

    def __init__(self, traced: Traced, dtype: torch.dtype):
        n_scalars = len(traced.scalar_names)
        source = generate(traced.graph, traced.inputs, traced.outputs, n_scalars, C_TYPES[dtype])
        self.lib = compile_source(source)
        self.lib.step.restype = None
        self.lib.step.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                  ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]  # fmt: skip
        self.scalar_names = traced.scalar_names
        self.new_keys = traced.new_keys
        #: The state arrays after the parameter and the gradient, in the order the address table lists them.
        self.slots = traced.keys + traced.new_keys

    def __call__(self, table: array.array, sizes: list[int], h: Scalars) -> None:
        """Run over tensors of ``sizes[t]`` real numbers whose array addresses ``table`` lists.

        ``table`` holds, for each tensor in turn, the address of its parameter, its gradient and its state
        arrays in the order of :attr:`slots`.
        """
        scalars = array.array("d", [float(getattr(h, k)) for k in self.scalar_names] or [0.0])
        run(self.lib.step, sizes, table, scalars)


_KERNELS: dict[tuple, Kernel] = {}
_LOCK = threading.Lock()


def kernel(rule: Callable, h: Scalars, keys: tuple[str, ...], dtype: torch.dtype, maximize: bool) -> Kernel:
    """The compiled kernel for this configuration (traced and compiled on first use, then cached)."""
    key = (*specialization(rule, h, keys, maximize), dtype)
    with _LOCK:
        if key not in _KERNELS:
            _KERNELS[key] = Kernel(trace(rule, h, keys, maximize), dtype)
        return _KERNELS[key]


# ---- running it on all cores --------------------------------------------------------------------------


#: Elements per chunk: the unit OpenMP's static schedule hands to a thread.
CHUNK = 1 << 16


@functools.lru_cache(maxsize=64)
def plan(sizes: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
    """(tensor index, start, length) of each chunk of at most ``CHUNK`` elements, over all the tensors."""
    chunks = [(t, lo, min(CHUNK, n - lo)) for t, n in enumerate(sizes) for lo in range(0, n, CHUNK)]
    columns = list(zip(*chunks, strict=True)) if chunks else [(), (), ()]
    return tuple(torch.tensor(c, dtype=torch.int64) for c in columns)


def run(fn: Callable, sizes: list[int], table: array.array, scalars: array.array) -> None:
    """Call a compiled step over every chunk, on torch's own OpenMP threads where the step is large.

    ``table`` holds the addresses of each tensor's arrays (tensor-major), ``scalars`` the step's numbers.
    """
    tensors, starts, lengths = plan(tuple(sizes))
    threads = torch.get_num_threads() if sum(sizes) >= PARALLEL_MIN_NUMEL else 1
    fn(len(tensors), tensors.data_ptr(), starts.data_ptr(), lengths.data_ptr(), table.buffer_info()[0],
       scalars.buffer_info()[0], threads)  # fmt: skip


# ---- step counters ------------------------------------------------------------------------------------

_COUNT_SOURCE = """#include <stdint.h>
#define COUNTERS(T)                                                                  \\
void next_##T(int64_t n, T** c, double* out) {                                       \\
    for (int64_t i = 0; i < n; ++i) out[i] = (T)(*c[i] + (T)1);                      \\
}                                                                                    \\
void count_##T(int64_t n, T** c, double* out) {                                      \\
    for (int64_t i = 0; i < n; ++i) { *c[i] += (T)1; out[i] = *c[i]; }              \\
}
COUNTERS(float)
COUNTERS(double)
"""


@functools.cache
def _counter_lib() -> ctypes.CDLL | None:
    if compiler() is None:
        return None
    try:
        return compile_source(_COUNT_SOURCE)
    except CompileError:
        return None


class Counters:
    """Step counters, plain CPU tensors of one float dtype, read and advanced in one C call each."""

    def __init__(self, lib: ctypes.CDLL, tensors: list[Tensor]) -> None:
        self.tensors = tensors
        self.table = array.array("q", [c.data_ptr() for c in tensors])
        ctype = C_TYPES[tensors[0].dtype]
        self._next, self._count = getattr(lib, f"next_{ctype}"), getattr(lib, f"count_{ctype}")

    def _call(self, fn: Callable) -> list[float]:
        out = array.array("d", bytes(8 * len(self.table)))
        fn(ctypes.c_int64(len(self.table)), ctypes.c_void_p(self.table.buffer_info()[0]),
           ctypes.c_void_p(out.buffer_info()[0]))  # fmt: skip
        return out.tolist()

    def next(self) -> list[float]:
        """The counts one step on, computed in the counters' dtype, without changing them."""
        return self._call(self._next)

    def advance(self) -> list[float]:
        """Add one to every counter in place, bumping its version as an in-place op would; the new counts."""
        counts = self._call(self._count)
        torch.autograd.graph.increment_version(self.tensors)
        return counts


def counters(tensors: list[Tensor]) -> Counters | None:
    """The step counters ``tensors`` as :class:`Counters`, or None where C cannot advance them all."""
    dtype = tensors[0].dtype
    lib = _counter_lib() if dtype in C_TYPES else None
    if lib is None or not all(type(c) in PLAIN and c.dtype is dtype and c.is_cpu for c in tensors):
        return None
    return Counters(lib, tensors)


def count(tensors: list[Tensor]) -> list[float]:
    """Add one to every step counter in place and return the new counts.

    The same as ``torch._foreach_add_(tensors, 1.0)`` followed by reading each counter, in the counters' own
    dtype, but in one C call where it can: torch dispatches the addition tensor by tensor, which costs a
    few microseconds each, a noticeable part of a step over a hundred parameters.
    """
    fast = counters(tensors)
    if fast is None:
        torch._foreach_add_(tensors, 1.0)
        return [float(c) for c in tensors]
    return fast.advance()


def addresses(tensors: list[Tensor], dtype: torch.dtype) -> list[int] | None:
    """The data addresses of ``tensors``, or None if the kernel cannot walk them all.

    It walks plain dense contiguous CPU tensors of ``dtype``. Others take the per-tensor path in the same
    step: a tensor subclass (a DTensor shard under FSDP2, say) has no single address to write through, but
    its tensor arithmetic works.
    """
    ptrs = []
    for t in tensors:
        plain = type(t) in PLAIN and t.dtype is dtype and t.is_cpu and t.layout is torch.strided
        if not (plain and t.is_contiguous()):
            return None
        ptrs.append(t.data_ptr())
    return ptrs
