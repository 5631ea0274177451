"""descend.optim.LBFGS against torch.optim.LBFGS with ``line_search_fn="strong_wolfe"``: the same iterates.

Each problem runs under each setting from the same start, in float64 (complex128 for the complex one), for
``STEPS`` calls of ``step()`` with both classes. Reported per run: the largest |difference| between the two
classes' parameters after any step, and whether ``state["func_evals"]`` and ``state["n_iter"]`` agree after
every step. The settings make the memory wrap (``history_size=3``), hit ``max_iter`` and ``max_eval`` (a
small ``max_eval`` cuts the line search short), start with short and long first trials (``lr``), and stop
on ``tolerance_grad`` and on ``tolerance_change``.

Command: ``.venv/bin/python benchmarks/lbfgs_parity.py [--dtype float32]`` (``tests/test_optim_modern.py``
asserts most of the float64 runs).
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable
from dataclasses import dataclass

import torch

from descend import optim

STEPS = 3
SETTINGS: dict[str, dict] = {
    "defaults": {},
    "history_size=3": {"history_size": 3},
    "max_iter=5, max_eval=7": {"max_iter": 5, "max_eval": 7},
    "max_eval=1": {"max_eval": 1},
    "lr=0.01": {"lr": 0.01},
    "lr=100": {"lr": 100.0},
    "tolerance_grad=1e-2": {"tolerance_grad": 1e-2},
    "tolerance_change=1e-4": {"tolerance_change": 1e-4},
}


COMPLEX = {torch.float64: torch.complex128, torch.float32: torch.complex64}


@dataclass
class Problem:
    """A model's parameters and its loss, built afresh (same seed) for each run."""

    name: str
    build: Callable[[torch.Generator, torch.dtype], tuple[list[torch.Tensor], Callable[[], torch.Tensor]]]


def _rosenbrock(n: int) -> Problem:
    def build(gen: torch.Generator, real: torch.dtype):
        x = torch.tensor([-1.2, 1.0] * (n // 2), dtype=real, requires_grad=True)

        def loss() -> torch.Tensor:
            return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()

        return [x], loss

    return Problem(f"rosenbrock {n}-D from (-1.2, 1, ...)", build)


def _quadratic(n: int, condition: float) -> Problem:
    def build(gen: torch.Generator, real: torch.dtype):
        q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=real))
        a = q @ torch.diag(torch.logspace(0, torch.log10(torch.tensor(condition)).item(), n,
                                          dtype=real)) @ q.T  # fmt: skip
        b = torch.randn(n, generator=gen, dtype=real)
        x = torch.zeros(n, dtype=real, requires_grad=True)

        def loss() -> torch.Tensor:
            return 0.5 * x @ a @ x - b @ x

        return [x], loss

    return Problem(f"quadratic {n}-D, condition {condition:g}", build)


def _lasso() -> Problem:
    """Least squares with an L1 penalty: kinks where coordinates cross 0, where line searches shrink their
    bracket to ``xtol`` without meeting the curvature condition."""

    def build(gen: torch.Generator, real: torch.dtype):
        a = torch.randn(40, 8, generator=gen, dtype=real)
        b = torch.randn(40, generator=gen, dtype=real)
        x = torch.zeros(8, dtype=real, requires_grad=True)

        def loss() -> torch.Tensor:
            return ((a @ x - b) ** 2).mean() + 0.1 * x.abs().sum()

        return [x], loss

    return Problem("lasso 40 x 8, L1 0.1", build)


def _complex() -> Problem:
    """Complex parameters: L-BFGS works on their real and imaginary parts as one real vector."""

    def build(gen: torch.Generator, real: torch.dtype):
        target = torch.randn(6, generator=gen, dtype=COMPLEX[real])
        z = torch.zeros(6, dtype=COMPLEX[real], requires_grad=True)

        def loss() -> torch.Tensor:
            return ((z - target).abs() ** 2).sum() + (z.real**4).sum() + 0.5 * (z.imag**4).sum()

        return [z], loss

    return Problem("complex 6-D quartic", build)


def _logistic() -> Problem:
    def build(gen: torch.Generator, real: torch.dtype):
        features = torch.randn(200, 10, generator=gen, dtype=real)
        labels = (features @ torch.randn(10, generator=gen, dtype=real) > 0).to(real)
        torch.manual_seed(0)
        model = torch.nn.Linear(10, 1).to(real)

        def loss() -> torch.Tensor:
            logits = model(features).squeeze(1)
            fit = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            return fit + 1e-3 * model.weight.pow(2).sum()

        return list(model.parameters()), loss

    return Problem("logistic regression, 200 x 10, L2 1e-3", build)


def _mlp() -> Problem:
    def build(gen: torch.Generator, real: torch.dtype):
        inputs = torch.randn(32, 4, generator=gen, dtype=real)
        targets = torch.sin(inputs.sum(1, keepdim=True))
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        model = model.to(real)

        def loss() -> torch.Tensor:
            return torch.nn.functional.mse_loss(model(inputs), targets)

        return list(model.parameters()), loss

    return Problem("MLP 4-8-1 tanh, 32 points, MSE", build)


PROBLEMS = [_rosenbrock(2), _rosenbrock(10), _quadratic(20, 1e3), _lasso(), _complex(), _logistic(), _mlp()]


def trajectory(
    cls: type, problem: Problem, settings: dict, steps: int = STEPS, dtype: torch.dtype = torch.float64
) -> list[tuple]:
    """(parameters, func_evals, n_iter, returned loss) after each of ``steps`` calls of step()."""
    params, loss = problem.build(torch.Generator().manual_seed(0), dtype)
    opt = cls(params, line_search_fn="strong_wolfe", **settings)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = loss()
        value.backward()
        return value

    out = []
    for _ in range(steps):
        returned = float(opt.step(closure).detach())
        flat = torch.cat([p.detach().reshape(-1) for p in params])
        state = opt.state[params[0]]
        out.append((flat, state["func_evals"], state["n_iter"], returned))
    return out


def compare(
    problems: list[Problem] = PROBLEMS,
    settings: dict[str, dict] = SETTINGS,
    dtype: torch.dtype = torch.float64,
) -> list[dict]:
    """One row per problem and setting: the largest parameter difference and whether the counts agree."""
    rows = []
    for problem in problems:
        for label, kwargs in settings.items():
            ours = trajectory(optim.LBFGS, problem, kwargs, dtype=dtype)
            theirs = trajectory(torch.optim.LBFGS, problem, kwargs, dtype=dtype)
            pairs = list(zip(ours, theirs, strict=True))
            rows.append({
                "problem": problem.name,
                "setting": label,
                "max_abs_diff": max(float((a[0] - b[0]).abs().max()) for a, b in pairs),
                "loss_diff": max(abs(a[3] - b[3]) for a, b in pairs),
                "counts_equal": all(a[1:3] == b[1:3] for a, b in pairs),
                "func_evals": (ours[-1][1], theirs[-1][1]),
                "n_iter": (ours[-1][2], theirs[-1][2]),
            })  # fmt: skip
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| problem | setting | max abs diff of parameters | func_evals ours / torch | n_iter ours / torch |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['problem']} | {r['setting']} | {r['max_abs_diff']:.1e} | {r['func_evals'][0]} / "
            f"{r['func_evals'][1]} | {r['n_iter'][0]} / {r['n_iter'][1]} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                        help="the parameters' and data's precision (default float64)")  # fmt: skip
    dtype = getattr(torch, parser.parse_args().dtype)
    rows = compare(dtype=dtype)
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()}; "
          f"{STEPS} step() calls per run, {dtype}")  # fmt: skip
    print(markdown(rows))
    unequal = [r for r in rows if not r["counts_equal"]]
    worst: dict[str, float] = {}
    for r in rows:
        worst[r["problem"]] = max(worst.get(r["problem"], 0.0), r["max_abs_diff"])
    print("\nper problem, over every setting: max abs diff of parameters")
    for name, diff in worst.items():
        print(f"  {name}: {diff:.1e}")
    print(f"func_evals and n_iter equal after every step: {len(rows) - len(unequal)} of {len(rows)} runs")


if __name__ == "__main__":
    main()
