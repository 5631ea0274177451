"""Large tensors of a per-tensor rule updated side by side on the CPU, one tensor per thread.

A rule that is not element-wise (Muon's matrix products, Adafactor's row and column means) runs tensor by
tensor. On a large tensor each of its operations splits over torch's intra-op threads and joins them again
before the next one: Muon's update of a 250 x 400 matrix is fifteen matrix products and a dozen element-wise
passes, each a fork and a join. Given a tensor each, on workers of one intra-op thread, the cores stay busy
through the whole update instead: 100 such Muon updates take a fifth less time on two cores.

The workers are a pool of as many threads as torch uses (``torch.get_num_threads()`` where the step is
taken), each set to one intra-op thread, made once per process and thread count. :func:`side_by_side` says
whether the calling thread's state lets work move to them: autograd off (the workers run without it, as
the step does), and nothing the calling thread would see that a worker would not (inference mode,
autocast, a torch function or dispatch mode, the profiler, a compiler tracing the step). Only torch's
OpenMP builds set threads per thread; elsewhere the tensors are updated in turn.

The same operations run on the same tensor wherever it is updated. Where torch splits a reduction's sum
between threads (a mean over 32,768 numbers or more), one thread can round it differently than several,
as it can whenever torch's thread count changes; Muon's and Adafactor's updates of the matrices in the tests
come out the same bit for bit.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

_pools: dict[int, tuple[ThreadPoolExecutor, int] | None] = {}
_lock = threading.Lock()
#: Whether torch sets its intra-op threads per thread (OpenMP), which this needs.
PER_THREAD = "ATen parallel backend: OpenMP" in torch.__config__.parallel_info()


def _one_thread(ready: threading.Barrier) -> None:
    torch.get_num_threads()  # a thread's first call sets its threads from the process's count; done first
    torch.set_num_threads(1)  # then this thread's own count (and, for a moment, the process's)
    ready.wait()


def _start(n: int) -> tuple[ThreadPoolExecutor, int] | None:
    pool = ThreadPoolExecutor(n, thread_name_prefix="descend-tensor")
    ready = threading.Barrier(n + 1, timeout=60)  # n tasks blocked at once: one on each worker
    try:
        for _ in range(n):
            pool.submit(_one_thread, ready)
        ready.wait()
    except (RuntimeError, threading.BrokenBarrierError):  # a thread that could not start: update in turn
        ready.abort()
        pool.shutdown(wait=False)
        return None
    finally:
        torch.set_num_threads(n)  # the process's count, which new threads start from, as it was
    return pool, n


def workers() -> tuple[ThreadPoolExecutor, int] | None:
    """The single-threaded workers for the calling thread's thread count, and their number; None for one."""
    n = torch.get_num_threads()
    if n < 2 or not PER_THREAD:
        return None
    if n not in _pools:
        with _lock:
            if n not in _pools:
                _pools[n] = _start(n)
    return _pools[n]


def side_by_side() -> bool:
    """Whether work of the calling thread may run on :func:`workers` and come out the same."""
    return not (
        torch.is_grad_enabled()
        or torch.is_inference_mode_enabled()
        or torch.is_autocast_enabled("cpu")
        or torch._C._is_torch_function_mode_enabled()
        or _get_current_dispatch_mode() is not None
        or torch._C._functorch.maybe_current_level() is not None  # inside vmap or grad
        or torch._C._autograd._profiler_enabled()
        or torch.compiler.is_compiling()
    )


def spread(work: Callable[[int], None], indices: Sequence[int]) -> bool:
    """``work(i)`` for every ``i`` of ``indices`` on the workers, each taking the next one left; False
    (nothing done) where the calling thread cannot hand work over (:func:`side_by_side`, :func:`workers`)
    or there are fewer indices than workers (some cores would idle where each tensor could have them all).

    After an error, or an interrupt of the waiting caller, no index is started; the error of the first
    index that failed (or the interrupt) is raised once every started one has finished, so nothing is
    written after this returns.
    """
    found = workers() if len(indices) > 1 and side_by_side() else None
    if found is None or len(indices) < found[1]:
        return False
    pool, n = found
    left = iter(indices)
    failed: dict[int, BaseException] = {}
    lock = threading.Lock()

    def drain() -> None:
        with torch.no_grad():
            while True:
                with lock:
                    i = None if failed else next(left, None)
                if i is None:
                    return
                try:
                    work(i)
                except BaseException as e:  # handed to the caller below
                    with lock:
                        failed[i] = e

    tasks = [pool.submit(drain) for _ in range(n)]
    try:
        wait(tasks)
    except BaseException as e:  # KeyboardInterrupt: let the started updates finish, start no other
        with lock:
            failed[-1] = e
        wait(tasks)
        raise
    if failed:
        raise failed[min(failed)]
    return True


def _forked() -> None:
    """A forked child has none of the parent's threads: its pools start afresh, and so does the lock
    (which a fork in the middle of :func:`workers` would leave held)."""
    global _lock
    _pools.clear()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forked)
