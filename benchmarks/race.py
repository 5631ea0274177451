"""Race descend's default step against torch's fastest mode, shape by shape, over repeated races.

For each optimizer and shape (``TENSORSxELEMENTS``), the contenders are descend's default step (every safety
check on) and torch's for-loop, foreach and fused modes (those it has; Muon, SparseAdam and L-BFGS have
one). Muon's and SparseAdam's tensors are matrices of the shape's number of elements, as nearly square as it
divides (300: 15 x 20). SparseAdam's gradients are an embedding's: a quarter of the rows looked up, some
twice (uncoalesced). L-BFGS's step re-evaluates a closure, a quadratic whose linear term alternates between
two random vectors from one step (minibatch) to the next, so it never converges. In one race every
contender takes turns, one step each per round, for ``--rounds`` rounds; a contender's time is its best step.
The ratio of a race is torch's fastest mode over descend; the table gives its min, median and max over
``--races`` races, so one lucky run cannot make the figure. Every race builds its contenders afresh (new
tensors, warmed up again), so no contender keeps a lucky or unlucky place in memory for all of them.

    python benchmarks/race.py                                   # the three shapes, every optimizer
    python benchmarks/race.py --shapes 100x300 --optimizers sgd adam --races 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from descend import optim
from descend.optim.engine.c import native, plan

# name -> (descend class, options, torch class)
ALGORITHMS: dict[str, tuple[type, dict, type]] = {
    "sgd": (optim.SGD, {"lr": 1e-3}, torch.optim.SGD),
    "momentum": (optim.SGD, {"lr": 1e-3, "momentum": 0.9}, torch.optim.SGD),
    "nesterov": (optim.SGD, {"lr": 1e-3, "momentum": 0.9, "nesterov": True}, torch.optim.SGD),
    "adagrad": (optim.Adagrad, {"lr": 1e-2}, torch.optim.Adagrad),
    "rmsprop": (optim.RMSprop, {"lr": 1e-2}, torch.optim.RMSprop),
    "adadelta": (optim.Adadelta, {}, torch.optim.Adadelta),
    "adam": (optim.Adam, {"lr": 1e-3}, torch.optim.Adam),
    "adamw": (optim.AdamW, {"lr": 1e-3}, torch.optim.AdamW),
    "nadam": (optim.NAdam, {"lr": 1e-3}, torch.optim.NAdam),
    "radam": (optim.RAdam, {"lr": 1e-3}, torch.optim.RAdam),
    "adamax": (optim.Adamax, {"lr": 1e-3}, torch.optim.Adamax),
    "rprop": (optim.Rprop, {"lr": 1e-3}, torch.optim.Rprop),
    "asgd": (optim.ASGD, {"lr": 1e-3}, torch.optim.ASGD),
    "adafactor": (optim.Adafactor, {"lr": 1e-2}, torch.optim.Adafactor),
    "muon": (optim.Muon, {"lr": 1e-3}, torch.optim.Muon),
    "sparseadam": (optim.SparseAdam, {"lr": 1e-3}, torch.optim.SparseAdam),
    # ten pairs, as a 10M-parameter model can keep (torch's default, 100, is 8 GB there)
    "lbfgs": (optim.LBFGS, {"lr": 0.1, "max_iter": 5, "history_size": 10}, torch.optim.LBFGS),
}
#: Optimizers of matrices: each tensor of a shape's N elements is a matrix of about sqrt(N) by sqrt(N).
MATRICES = {"muon", "sparseadam"}
#: 100 tensors of 300 elements, 1,000 of 1,000, and 10M parameters in 100 tensors of 100,000
SHAPES = ["100x300", "1000x1000", "100x100000"]
MODES = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
#: torch's optimizers with one implementation and no switch for it.
ONE_MODE = {"muon": {"default": {}}, "sparseadam": {"default": {}}, "lbfgs": {"default": {}}}
#: Steps before timing: a long training run's steady state, where descend's plans check natively.
WARM_UP = plan.NATIVE_AFTER + 5


def shape(text: str) -> tuple[int, int]:
    """``TENSORSxELEMENTS`` as two positive numbers (an argparse type)."""
    parts = text.split("x")
    if len(parts) != 2 or not all(x.isdigit() and int(x) > 0 for x in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: expected TENSORSxELEMENTS, e.g. 100x300")
    return int(parts[0]), int(parts[1])


def matrix(numel: int) -> tuple[int, int]:
    """The most nearly square matrix of ``numel`` elements."""
    rows = max(r for r in range(1, int(numel**0.5) + 1) if numel % r == 0)
    return rows, numel // rows


def embedding_grad(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """An embedding table's sparse gradient: a quarter of its rows looked up, some more than once."""
    rows, cols = shape
    looked_up = torch.randint(rows, (max(1, rows // 4),), generator=gen)
    values = torch.randn(len(looked_up), cols, generator=gen)
    return torch.sparse_coo_tensor(looked_up[None], values, shape, check_invariants=True)


class Minibatches:
    """A closure of the loss sum(a/2 x^2 + n x) that sets the gradients. ``next()`` moves to the next
    minibatch, whose linear term n is the other of two random vectors: the minimum moves, L-BFGS never
    converges."""

    def __init__(self, params: list[torch.Tensor], gen: torch.Generator) -> None:
        self.params = params
        self.curvature = [torch.rand(p.shape, generator=gen) + 0.5 for p in params]
        self.linear = [[torch.randn(p.shape, generator=gen) for p in params] for _ in range(2)]
        self.batch = 0

    def next(self) -> None:
        self.batch += 1

    def __call__(self) -> torch.Tensor:
        loss = torch.zeros(())
        for p, a, n in zip(self.params, self.curvature, self.linear[self.batch % 2], strict=True):
            x = p.detach()
            p.grad = torch.addcmul(n, a, x)
            loss += 0.5 * (torch.dot(p.grad.view(-1), x.view(-1)) + torch.dot(n.view(-1), x.view(-1)))
        return loss


def contender(make: Callable[[list[torch.Tensor]], torch.optim.Optimizer], tensors: int,
              shape: tuple[int, ...], name: str) -> Callable[[], object] | None:  # fmt: skip
    """A warmed-up step on its own parameters, or None where the optimizer has no such mode."""
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=gen).requires_grad_() for _ in range(tensors)]
    closure = Minibatches(params, gen) if name == "lbfgs" else None
    for p in params:
        p.grad = embedding_grad(shape, gen) if name == "sparseadam" else torch.randn(shape, generator=gen)
    try:
        opt = make(params)
    except (RuntimeError, ValueError, TypeError):
        return None

    def step() -> object:
        closure.next()
        return opt.step(closure)

    step = opt.step if closure is None else step
    # state created, kernels compiled, plans made and checking natively (L-BFGS has no plan: a few steps)
    for _ in range(5 if closure is not None else WARM_UP):
        step()
    return step


def race(steps: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for label, step in steps.items():
            start = time.perf_counter()
            step()
            best[label] = min(best[label], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shapes", nargs="+", type=shape, default=[shape(s) for s in SHAPES])
    parser.add_argument("--optimizers", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument("--races", type=int, default=5)
    parser.add_argument(
        "--rounds", type=int, default=0, help="steps per contender per race (default: by size)"
    )
    args = parser.parse_args()
    native.module(wait=True)  # built once per machine; a training run gets it in the background
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}; ratio = torch's fastest mode / descend's default, over {args.races} races"
    )
    print("| shape | optimizer | descend ms | torch best ms (mode) | ratio min | median | max |")
    print("|---|---|---|---|---|---|---|")
    for tensors, numel in args.shapes:
        rounds = args.rounds or max(30, min(200, int(2e8 // (tensors * numel))))
        for name in args.optimizers:
            cls, options, torch_cls = ALGORITHMS[name]
            modes = ONE_MODE.get(name, MODES)
            makers = {"descend": (cls, {})} | {mode: (torch_cls, kw) for mode, kw in modes.items()}
            dims = matrix(numel) if name in MATRICES else (numel,)
            ratios, ours, theirs = [], [], []
            for _ in range(args.races):
                # fresh tensors for every race: where a contender's memory happens to lie moves its
                # time by up to a fifth on large tensors, and must not stay with it from race to race
                steps = {
                    label: contender(lambda ps, c=c, kw=kw | options: c(ps, **kw), tensors, dims, name)
                    for label, (c, kw) in makers.items()
                }
                best = race({k: v for k, v in steps.items() if v is not None}, rounds)
                del steps
                fastest = min((m for m in best if m != "descend"), key=best.get)
                ratios.append(best[fastest] / best["descend"])
                ours.append(best["descend"])
                theirs.append((best[fastest], fastest))
            t_ms, mode = min(theirs)
            print(
                f"| {tensors}x{numel} | {name} | {min(ours) * 1e3:.3f} | {t_ms * 1e3:.3f} ({mode}) | "
                f"{min(ratios):.2f}x | {statistics.median(ratios):.2f}x | {max(ratios):.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
