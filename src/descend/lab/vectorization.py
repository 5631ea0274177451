"""Section 12.5.1's experiment: the same matrix product computed element by element, by columns, whole
and in blocks, in GFLOP/s."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from descend import plot
from descend.checks import positive_int
from descend.lab.study import Log, Panel, Study, quiet

__all__ = ["vectorization"]


def _best_time(fn: Callable[[], Any], repeats: int, min_total: float = 0.1) -> float:
    """The shortest of at least ``repeats`` calls, calling again until ``min_total`` seconds are spent (the
    best of many is the least disturbed by other work on the machine)."""
    best, total, calls = math.inf, 0.0, 0
    while calls < repeats or total < min_total:
        tic = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - tic
        best, total, calls = min(best, elapsed), total + elapsed, calls + 1
    return best


def vectorization(
    n: int = 256, block: int = 64, *, element_rows: int = 16, repeats: int = 3, threads: int | None = 1,
    seed: int = 0, log: Log = quiet,
) -> Study:  # fmt: skip
    """Section 12.5.1: the same product ``A = BC`` of n×n float32 matrices computed four ways.

    * element: ``A[i, j] = B[i, :]·C[:, j]``, one dot product per call. Timed on the first
      ``element_rows`` rows only (``element_rows·n`` dot products; 256² Python-level calls take seconds),
      and rated by the operations those rows take, ``2·element_rows·n²``;
    * column: ``A[:, j] = B C[:, j]``, one matrix-vector product per column;
    * full: ``A = BC`` in one call;
    * block: ``A[:, j:j+block] = B C[:, j:j+block]``, ``n/block`` calls.

    GFLOP/s = operations / best time of ``repeats`` runs / 1e9, with ``2n³`` operations for the whole
    product (the chapter rounds 2·256³ = 3.36e7 to 0.03 GFLOP). Every method's result is checked against
    the full product.

    ``threads`` (default 1) is torch's intra-op thread count during the timings, restored afterwards; one
    thread measures vectorization and caches alone, while on a busy machine several threads can wait on
    each other far longer than a 256×256 product takes. ``None`` keeps torch's setting.
    """
    if threads is not None:
        positive_int("threads", threads)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _vectorization(n, block, element_rows, repeats, seed, log)
    finally:
        torch.set_num_threads(previous)


def _vectorization(n: int, block: int, element_rows: int, repeats: int, seed: int, log: Log) -> Study:
    n, block, element_rows, repeats = (positive_int(k, v) for k, v in
                                       (("n", n), ("block", block), ("element_rows", element_rows),
                                        ("repeats", repeats)))  # fmt: skip
    if block > n:
        raise ValueError(f"Invalid block: {block}; expected block <= n = {n}")
    element_rows = min(element_rows, n)
    g = torch.Generator().manual_seed(seed)
    B, C = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    A = torch.zeros(n, n)
    reference = B @ C

    def element() -> None:
        for i in range(element_rows):
            for j in range(n):
                A[i, j] = torch.dot(B[i, :], C[:, j])

    def column() -> None:
        for j in range(n):
            A[:, j] = torch.mv(B, C[:, j])

    def full() -> None:
        A.copy_(torch.mm(B, C))

    def blocks() -> None:
        for j in range(0, n, block):
            A[:, j : j + block] = torch.mm(B, C[:, j : j + block])

    flops = 2.0 * n**3
    methods = [
        ("element", element, 2.0 * element_rows * n * n, f"first {element_rows} of {n} rows"),
        ("column", column, flops, f"{n} matrix-vector products"),
        ("full", full, flops, "one matrix product"),
        (f"block {block}", blocks, flops, f"{-(-n // block)} products of {block} columns"),
    ]
    rows = []
    for label, fn, ops, what in methods:
        A.zero_()
        seconds = _best_time(fn, repeats)
        done = A[:element_rows] if label == "element" else A
        if not torch.allclose(done, reference[: done.shape[0]], rtol=1e-4, atol=1e-3):
            raise RuntimeError(f"vectorization: the {label} product disagrees with torch.mm")
        rows.append({"method": label, "timed": what, "seconds": seconds, "GFLOP/s": ops / seconds / 1e9})
        log(f"vectorization: {label}: {ops / seconds / 1e9:.4g} GFLOP/s")
    fig = plot.bars(
        {r["method"]: r["GFLOP/s"] for r in rows},
        ylabel="GFLOP/s",
        log_y=True,
        title=f"A = BC, {n}×{n} float32: GFLOP/s by method",
    )
    config = {
        "experiment": "vectorization",
        "n": n,
        "block": block,
        "element_rows": element_rows,
        "repeats": repeats,
        "seed": seed,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    desc = (
        f"A {n}×{n} matrix product element by element (timed on {element_rows} rows), column by column, "
        f"whole, and in blocks of {block} columns; the best of {repeats} runs each."
    )
    caption = "GFLOP/s of each way of computing the product (log scale): the more work per call, the faster."
    return Study(
        "vectorization",
        "descend experiment vectorization",
        desc,
        rows,
        [Panel(fig, caption, name="gflops")],
        config=config,
    )
