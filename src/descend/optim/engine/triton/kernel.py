"""Generated Triton source as a kernel, and its launch over all of a batch's tensors at once.

* The source (:mod:`~descend.optim.engine.triton.codegen`) becomes a function without a file: Triton's
  ``@jit`` reads a kernel's source through :mod:`inspect`, which finds it in :mod:`linecache` under a name
  of its own (``<descend-triton-HASH>``); nothing is written to disk by descend. Compiled binaries are kept
  by Triton's own cache, keyed by that source.
* A kernel is specialised as the C kernel is: on the rule's graph (which scalars are zero, the boolean
  options), on the dtype, and for a kernel that computes its own scalars on which arguments are tensors and
  on the step counters' dtype. Scalars are arguments, so a new learning rate compiles nothing.
* One launch covers every tensor: a program per chunk of :data:`BLOCK` elements reads its tensor, offset
  and length from a chunk table, and the addresses of that tensor's arrays from an address table. On a GPU
  both tables are copied to the device once per set of addresses and sizes and then reused, so a training
  loop whose tensors stay in place copies nothing per step.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import linecache
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from descend.optim.engine.c.build import CompileError
from descend.optim.engine.graph import NotElementwise, Traced
from descend.optim.engine.triton.codegen import generate

#: Elements per program (one chunk of one tensor).
BLOCK = 1024
#: Warps per program on a GPU: 8 elements per thread, loaded in 16-byte pieces for float32.
NUM_WARPS = 4


def jit(source: str) -> Any:
    """The ``step`` kernel of ``source``, made by Triton's ``@jit`` from a source that lives in memory."""
    name = f"<descend-triton-{hashlib.sha256(source.encode()).hexdigest()[:20]}>"
    _remember(name, source)
    namespace: dict[str, Any] = {"__name__": "descend.optim.engine.triton.generated", "__file__": name}
    exec(compile(source, name, "exec"), namespace)
    return namespace["step"]


def _remember(name: str, source: str) -> None:
    # an entry without a modification time is one linecache.checkcache() leaves alone
    linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)


class Kernel:
    """A generated kernel: its Triton function and what a launch must pass it."""

    def __init__(self, traced: Traced, dtype: torch.dtype, pointers: tuple[bool, ...] = (),
                 counter: torch.dtype | None = None, skippable: bool = False,
                 paths: tuple[tuple[str, int | None], ...] = ()) -> None:  # fmt: skip
        if traced.reduces:  # per-tensor values are the C kernel's only
            raise NotElementwise(traced.reduces)
        self.source = generate(traced, dtype, pointers, counter, skippable)
        self.name = f"<descend-triton-{hashlib.sha256(self.source.encode()).hexdigest()[:20]}>"
        self.fn = jit(self.source)
        self.scalar_names = traced.scalar_names
        #: Where each scalar argument comes from, for a kernel that computes its own scalars.
        self.paths = paths
        self.new_keys = traced.new_keys
        self.n_arrays = max(len(traced.inputs), len(traced.outputs))
        self.counted = counter is not None
        #: Which state keys the kernel writes (output not None), in the order of ``keys``.
        outputs = traced.outputs[2:]
        self.written = tuple(k for k, out in zip(traced.keys, outputs, strict=False) if out is not None)

    def __call__(self, rows: list[list[int]], sizes: list[int], device: torch.device, scalars: list[Any],
                 found_inf: Tensor | None = None) -> None:  # fmt: skip
        """Run over tensors of ``sizes[t]`` elements whose arrays' addresses are ``rows[t]``.

        ``scalars`` are the scalar arguments: floats, or one-element tensors on ``device``.
        """
        if not sum(sizes):
            return
        table, chunks = tables(tuple(a for row in rows for a in row), tuple(sizes), device)
        _remember(self.name, self.source)  # Triton's interpreter reads the source again on first call
        extra = [found_inf] if found_inf is not None else []
        from triton.compiler.errors import CompilationError

        # Triton launches on the current device's current stream: make it the tensors' device
        where = torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
        try:
            with where:
                self.fn[(chunks.shape[0] // 3,)](table, chunks, *scalars, *extra, BLOCK=BLOCK,
                                                 num_warps=NUM_WARPS, enable_fp_fusion=False)  # fmt: skip
        except CompilationError as e:  # Triton compiles on the first launch
            raise CompileError(f"Triton could not compile a kernel: {e}") from e


_KERNELS: dict[tuple, Kernel] = {}
_LOCK = threading.Lock()


def kernel_for(key: tuple, make: Callable[[], Kernel]) -> Kernel:
    """The kernel for ``key``, made by ``make()`` on first use (Triton compiles it on its first launch)."""
    with _LOCK:
        if key not in _KERNELS:
            _KERNELS[key] = make()
        return _KERNELS[key]


@functools.lru_cache(maxsize=64)
def chunks(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """(tensor index, start, length) of each chunk of at most ``BLOCK`` elements, flattened."""
    rows = ((t, lo, min(BLOCK, n - lo)) for t, n in enumerate(sizes) for lo in range(0, n, BLOCK))
    return tuple(x for row in rows for x in row)


#: Address and chunk tables on a GPU, by content; those made while a CUDA graph was being captured are kept
#: for good (the graph copies from their pinned host memory each time it is replayed).
_DEVICE_TABLES: OrderedDict[tuple, tuple[Tensor, Tensor, Tensor]] = OrderedDict()
_CAPTURED: list[tuple[Tensor, Tensor, Tensor]] = []
_MAX_TABLES = 32


def tables(addresses: tuple[int, ...], sizes: tuple[int, ...], device: torch.device) -> tuple[Tensor, Tensor]:
    """The address table and the chunk table as int64 tensors the kernel can read on ``device``."""
    chunk_table = chunks(sizes)
    if device.type == "cpu":  # Triton's interpreter: the kernel reads host memory
        host = torch.tensor(addresses + chunk_table, dtype=torch.int64)
        return host[: len(addresses)], host[len(addresses) :]
    key = (device, addresses, sizes)
    with _LOCK:
        entry = _DEVICE_TABLES.get(key)
        if entry is None:
            host = torch.tensor(addresses + chunk_table, dtype=torch.int64).pin_memory()
            # from pinned memory the copy is asynchronous: no wait for the device, and capturable
            both = host.to(device, non_blocking=True)
            entry = (host, both[: len(addresses)], both[len(addresses) :])
            if torch.cuda.is_available() and torch.cuda.is_current_stream_capturing():
                _CAPTURED.append(entry)
            else:
                _DEVICE_TABLES[key] = entry
                while len(_DEVICE_TABLES) > _MAX_TABLES:
                    _DEVICE_TABLES.popitem(last=False)
        else:
            _DEVICE_TABLES.move_to_end(key)
    return entry[1], entry[2]
