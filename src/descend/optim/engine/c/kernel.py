"""A traced rule as a compiled kernel, and how it is called over many tensors on all cores.

* Scalars (learning rate, bias corrections, ...) are kernel arguments, so a schedule changing the learning
  rate every step reuses the same kernel. A kernel is specialised as the graph is (on which scalars are
  zero and on the boolean options), on the dtype and on the step counters' dtype.
* The elements of all tensors are cut into chunks that an ``omp parallel for`` shares among threads. The
  kernel binds to the OpenMP runtime already in the process, torch's own (its ``libgomp.so.1``), so the
  step runs on torch's threads: a second pool would fight torch's threads, which spin for a while after
  every parallel operation, for the same cores.
"""

from __future__ import annotations

import array
import ctypes
import functools
import threading
from collections.abc import Callable

import torch
from torch import Tensor

from descend.optim.engine.backend import PLAIN
from descend.optim.engine.c import build
from descend.optim.engine.c.codegen import generate
from descend.optim.engine.graph import specialization, traced
from descend.optim.rule import Rule, Scalars

#: The real dtype a complex parameter is updated in (through its real view: same address, twice the elements).
REAL = {torch.complex64: torch.float32, torch.complex128: torch.float64, torch.complex32: torch.float16}
#: Steps over fewer elements than this run on one thread (waking another costs more than it saves).
PARALLEL_MIN_NUMEL = 1 << 18
#: Elements per chunk: the unit OpenMP's static schedule hands to a thread.
CHUNK = 1 << 16

_ARGTYPES = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
             ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_double]  # fmt: skip
_NO_COUNTERS = array.array("q", [0])


class Kernel:
    """A compiled update for one rule, dtype, set of state keys and pattern of zero scalars."""

    def __init__(self, rule: Rule, h: Scalars, keys: tuple[str, ...], dtype: torch.dtype, maximize: bool,
                 counter: torch.dtype) -> None:  # fmt: skip
        graph = traced(rule, h, keys, maximize, dtype)  # NotElementwise for a rule that is not element-wise
        self.lib = build.load(generate(graph, dtype, counter))
        self.fn = self.lib.step
        self.fn.restype = ctypes.c_int
        self.fn.argtypes = _ARGTYPES
        self.scalar_names = graph.scalar_names
        self.new_keys = graph.new_keys
        #: Which state keys the kernel writes (output not None), in the order of ``keys``.
        self.written = tuple(k for k, out in zip(keys, graph.outputs[2:], strict=False) if out is not None)

    def __call__(
        self, table: array.array, sizes: list[int], h: Scalars,
        counters: array.array | None = None, expected: float = 0.0,
    ) -> bool:  # fmt: skip
        """Run over tensors of ``sizes[t]`` elements whose array addresses ``table`` lists; whether it ran.

        ``table`` holds, for each tensor in turn, the address of its parameter, its gradient, the state
        arrays in the order of ``keys``, then those of ``new_keys``. With ``counters`` (addresses of step
        counters), the kernel first checks that each holds ``expected`` and adds one; if one does not, it
        returns False having written nothing.
        """
        return self.run(walk(tuple(sizes)), table, h, counters, expected)

    def run(self, walk: Walk, table: array.array | Tensor, h: Scalars, counters: array.array | None = None,
            expected: float = 0.0) -> bool:  # fmt: skip
        """:meth:`__call__` over the chunks of a prepared :class:`Walk` (a remembered step keeps one);
        ``table`` may be an int64 tensor."""
        scalars = array.array("d", [float(getattr(h, k)) for k in self.scalar_names] or [0.0])
        threads = torch.get_num_threads() if walk.parallel else 1
        n_counters = len(counters) if counters is not None else 0
        status = self.fn(
            *walk.chunks, table.data_ptr() if isinstance(table, Tensor) else table.buffer_info()[0],
            scalars.buffer_info()[0], threads, n_counters,
            (counters or _NO_COUNTERS).buffer_info()[0], expected,
        )  # fmt: skip
        if status == 2:
            raise MemoryError("the optimizer kernel could not allocate room for its per-tensor values")
        return status == 0


class Walk:
    """The chunks of tensors of given sizes, as the kernel's first four arguments, and whether they are
    enough elements to share among threads."""

    def __init__(self, sizes: tuple[int, ...], columns: tuple[Tensor, Tensor, Tensor] | None = None) -> None:
        self._columns = tensors, starts, lengths = columns or chunks(sizes)  # kept: the kernel reads them
        self.chunks = (len(tensors), tensors.data_ptr(), starts.data_ptr(), lengths.data_ptr())
        self.parallel = sum(sizes) >= PARALLEL_MIN_NUMEL

    @classmethod
    def of_rows(cls, widths: Tensor) -> Walk:
        """Entries of ``widths[t] <= CHUNK`` elements each (rows of tables), each one chunk."""
        n = len(widths)
        return cls((int(widths.sum()),), (torch.arange(n), torch.zeros(n, dtype=torch.int64), widths))


@functools.lru_cache(maxsize=64)
def walk(sizes: tuple[int, ...]) -> Walk:
    """The :class:`Walk` of tensors of ``sizes`` (made once for each list of sizes)."""
    return Walk(sizes)


_KERNELS: dict[tuple, Kernel] = {}
_LOCK = threading.Lock()


def kernel_for(rule: Callable, h: Scalars, keys: tuple[str, ...], dtype: torch.dtype, maximize: bool,
           counter: torch.dtype = torch.float32) -> Kernel:  # fmt: skip
    """The compiled kernel for this configuration (traced and compiled on first use, then cached)."""
    key = (*specialization(rule, h, keys, maximize), dtype, counter)
    found = _KERNELS.get(key)
    if found is not None:
        return found
    with _LOCK:
        if key not in _KERNELS:
            _KERNELS[key] = Kernel(rule, h, keys, dtype, maximize, counter)
        return _KERNELS[key]


def chunks(sizes: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
    """(tensor index, start, length) of each chunk of at most ``CHUNK`` elements, over all the tensors."""
    rows = [(t, lo, min(CHUNK, n - lo)) for t, n in enumerate(sizes) for lo in range(0, n, CHUNK)]
    columns = list(zip(*rows, strict=True)) if rows else [(), (), ()]
    return tuple(torch.tensor(c, dtype=torch.int64) for c in columns)


def addresses(tensors: list[Tensor], dtype: torch.dtype) -> list[int] | None:
    """The data addresses of ``tensors``, or None if the kernel cannot walk them all.

    It walks plain dense contiguous CPU tensors of ``dtype`` (their shapes were checked equal before). A
    tensor subclass (a DTensor shard under FSDP2, say) has no single address to write through: such
    parameters take the per-tensor path in the same step.
    """
    ptrs = []
    for t in tensors:
        plain = type(t) in PLAIN and t.dtype is dtype and t.is_cpu and t.layout is torch.strided
        if not (plain and t.is_contiguous()):
            return None
        ptrs.append(t.data_ptr())
    return ptrs
