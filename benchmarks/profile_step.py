"""Where one remembered optimizer step spends its time, phase by phase, next to torch's fastest mode.

A step that a group's plan runs (descend.optim.engine.c.plan) has five phases:

* ``gather``: which parameters have a gradient (Python only where the native checks are not built yet);
* ``checks``: every tensor the kernel walks, and each gradient, verified (one native call, or Python);
* ``scalars``: the backend still chosen, the group's hyperparameters and step's scalars, the kernel found;
* ``packing``: the gradients' addresses into the kernel's table, the scalars into an array;
* ``kernel``: the compiled loop over all elements, on torch's threads;
* ``versions``: each written tensor's version counter bumped, as in-place operations do.

Each phase is timed alone, best of ``--reps``; the sum is set against the whole step and torch's. An optimizer
whose step is never remembered (NAdam's and ASGD's per-parameter numbers, Muon's matrix products) has only
its whole step timed.

    python benchmarks/profile_step.py                       # the three shapes of benchmarks/race.py
    python benchmarks/profile_step.py --shapes 100x300 --optimizers sgd adam
"""

from __future__ import annotations

import argparse
import array
import time
from collections.abc import Callable

import torch
from race import ALGORITHMS, MATRICES, MODES, ONE_MODE, SHAPES, WARM_UP, contender, matrix, shape

from descend.optim.engine.c import native, plan
from descend.optim.rule import scalar_dtype


def best(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def phases(opt: torch.optim.Optimizer, reps: int) -> dict[str, float]:
    remembered = opt._plans.get(0)
    if remembered is None:  # no remembered step (per-parameter numbers, or a rule no kernel fuses)
        return {"whole step": best(opt.step, reps)}
    group = opt.param_groups[0]
    cpu = torch.device("cpu")
    segment = remembered.segments[0]
    _, table, walk, _, count = segment
    hyper = opt._hyperparameters(group)
    h = opt.scalars(hyper, count + 1)
    kernel = plan.kernel_for(opt.rule, h, remembered.keys, remembered.dtype, False, scalar_dtype())
    grads = remembered._unchanged(opt)
    scalars = array.array("d", [float(getattr(h, k)) for k in kernel.scalar_names] or [0.0])
    nat = remembered.native

    def gather() -> None:
        [p.grad for p in group["params"]]

    def scalars_phase() -> None:
        opt._backend(group, cpu, remembered.dtype)
        hyper = opt._hyperparameters(group)
        h = opt.scalars(hyper, count + 1)
        plan.kernel_for(opt.rule, h, remembered.keys, remembered.dtype, False, scalar_dtype())

    def packing() -> None:
        table[1 :: remembered.width] = grads if isinstance(grads, array.array) else array.array("q", grads)
        array.array("d", [float(getattr(h, k)) for k in kernel.scalar_names] or [0.0])

    def run_kernel() -> None:
        threads = torch.get_num_threads() if walk.parallel else 1
        kernel.fn(*walk.chunks, table.buffer_info()[0], scalars.buffer_info()[0], threads, 0, 0, 0.0)

    def versions() -> None:
        (nat[0].bump if nat is not None else torch.autograd.graph.increment_version)(remembered.walked)

    return {
        "gather": 0.0 if nat is not None else best(gather, reps),
        "checks": best(lambda: remembered._unchanged(opt), reps),
        "scalars": best(scalars_phase, reps),
        "packing": best(packing, reps),
        "kernel": best(run_kernel, reps),
        "versions": best(versions, reps),
        "whole step": best(opt.step, reps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shapes", nargs="+", type=shape, default=[shape(s) for s in SHAPES])
    parser.add_argument("--optimizers", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    native.module(wait=True)
    columns = ["gather", "checks", "scalars", "packing", "kernel", "versions", "whole step"]
    print(
        f"# best of {args.reps}, microseconds; checks natively after {plan.NATIVE_AFTER} steps (warm-up "
        f"{WARM_UP})"
    )
    print("| shape | optimizer | " + " | ".join(columns) + " | torch's fastest mode |")
    print("|---|---|" + "---|" * (len(columns) + 1))
    for tensors, numel in args.shapes:
        reps = max(10, min(args.reps, int(args.reps * 3e5 // (tensors * numel))))
        for name in args.optimizers:
            cls, options, torch_cls = ALGORITHMS[name]
            dims = matrix(numel) if name in MATRICES else (numel,)
            step = contender(lambda ps, cls=cls, kw=options: cls(ps, **kw), tensors, dims)
            opt = step.__self__
            cells = phases(opt, reps)
            theirs = {}
            for mode, kw in ONE_MODE.get(name, MODES).items():
                other = contender(lambda ps, c=torch_cls, kw=kw | options: c(ps, **kw), tensors, dims)
                if other is not None:
                    theirs[mode] = best(other, reps)
            fastest = min(theirs, key=theirs.get)
            row = " | ".join(f"{cells[c] * 1e6:.0f}" if c in cells else "–" for c in columns)
            mode = f"{theirs[fastest] * 1e6:.0f} ({fastest})"
            print(f"| {tensors}x{numel} | {name} | {row} | {mode} |", flush=True)


if __name__ == "__main__":
    main()
