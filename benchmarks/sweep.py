"""Batched sweep against one run at a time: heavy-ball momentum on a 2-D quadratic.

2,400 configurations (60 learning rates × 40 momentum values) × 400 steps on 0.1·x1² + 2·x2² from (−5, −2):

- batched: ``descend.sweep`` (every configuration a row of one (2400, 2) tensor), after one warm-up call,
  median of ``--repeats`` runs;
- one by one: the same configurations through ``descend.minimize`` (an optimizer per run), and through the
  plain torch loop people write (``torch.optim.SGD``, ``zero_grad``/``backward``/``step``). Running all 2,400
  would take minutes, so a subset of ``--subset`` configurations spread evenly over the grid is timed and
  the total extrapolated linearly (time per run × 2,400; every run does the same 400 steps, except runs that
  stop early on divergence, which the subset includes in proportion). The subset's results are checked
  against the batched rows.

Run: ``.venv/bin/python benchmarks/sweep.py`` (``--threads N`` sets torch's threads, default 1).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from descend import functions, minimize, sweep


def one_by_one_torch(f, x0: torch.Tensor, lr: float, momentum: float, steps: int) -> torch.Tensor:
    p = x0.clone().requires_grad_(True)
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum)
    for _ in range(steps):
        opt.zero_grad()
        f(p).backward()
        opt.step()
    return p.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--subset", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    f = functions.get("ill_conditioned")
    x0 = torch.tensor([-5.0, -2.0], dtype=torch.float64)
    lrs = torch.linspace(0.01, 1.2, 60, dtype=torch.float64)
    betas = torch.linspace(0.0, 0.95, 40, dtype=torch.float64)

    began = time.perf_counter()
    sweep(f, x0, "momentum", steps=args.steps, lr=lrs, momentum=betas)  # warm-up
    cold = time.perf_counter() - began
    times = []
    for _ in range(args.repeats):
        began = time.perf_counter()
        result = sweep(f, x0, "momentum", steps=args.steps, lr=lrs, momentum=betas)
        times.append(time.perf_counter() - began)
    batched = statistics.median(times)
    k = len(result)

    rows = torch.linspace(0, k - 1, args.subset).round().long().tolist()
    minimize(f, x0, "momentum", steps=2, lr=0.1)  # warm-up (torch.optim's first construction)
    began = time.perf_counter()
    worst = 0.0
    for i in rows:
        single = minimize(f, x0, "momentum", steps=args.steps, **result.row(i))
        if single.success:
            worst = max(worst, float((single.x - result.x[i]).abs().max()))
        elif not bool(result.diverged[i]):
            raise AssertionError(f"row {i}: the single run diverged, the batched row did not")
    per_minimize = (time.perf_counter() - began) / len(rows)

    began = time.perf_counter()
    for i in rows:
        row = result.row(i)
        one_by_one_torch(f, x0, row["lr"], row["momentum"], args.steps)
    per_torch = (time.perf_counter() - began) / len(rows)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{k} configurations x {args.steps} steps, float64, heavy ball on 0.1*x1^2 + 2*x2^2")
    print(f"batched descend.sweep: {batched:.3f} s (median of {args.repeats}; all runs: "
          f"{', '.join(f'{t:.3f}' for t in times)})")  # fmt: skip
    print(f"  first call in this process: {cold:.3f} s (includes torch.optim's one-off import on first use)")
    print(f"  diverged rows: {int(result.diverged.sum())}, reached f <= 1e-6: "
          f"{int(torch.isfinite(result.steps_to_tol).sum())}")  # fmt: skip
    print(
        f"one by one, descend.minimize: {per_minimize * 1e3:.1f} ms/run on {len(rows)} runs -> "
        f"{per_minimize * k:.1f} s for {k} (extrapolated); speedup {per_minimize * k / batched:.0f}x"
    )
    print(
        f"one by one, torch.optim.SGD loop: {per_torch * 1e3:.1f} ms/run -> {per_torch * k:.1f} s for {k} "
        f"(extrapolated); speedup {per_torch * k / batched:.0f}x"
    )
    print(f"largest |batched row - single run| on the subset: {worst:.1e}")


if __name__ == "__main__":
    main()
