"""Evaluation counts of descend.search against scipy.optimize on the same problems at the same accuracy.

Run: ``.venv/bin/python benchmarks/search_evals.py`` (prints a Markdown table; ``--markdown`` prints only it).

Same accuracy means the same *guaranteed* bound ε on |x − x*| from each method's own stopping rule:

* golden section: ours stops when (1 − 1/φ)·(b − a) ≤ ε (the better interior point is that close to x*);
  scipy's ``golden`` stops when b − a ≤ tol·(|x1| + |x2|), the same bound holds for tol = ε/(0.382·2|x*|).
  scipy is given the three-point bracket (a, a + 0.382(b − a), b), its cheapest start.
* Brent: ours stops when max(x − a, b − x) ≤ ε; scipy's ``brent`` when max(x − a, b − x) < 2(tol·|x| + 1e-11)
  (tol = (ε/2 − 1e-11)/|x*|, same three-point bracket); ``fminbound`` (bounded Brent on [a, b]) when it is
  ≤ 2(√ε_mach·|x| + xatol/3) (xatol = 3(ε/2 − √ε_mach·|x*|)).
* bisection: both stop when the bracket's half-width around the returned midpoint is ≤ ε (scipy: ``xtol``).
* line searches: both return a step satisfying the strong Wolfe conditions with the same c1, c2, from the same
  point, direction, f(x) and ∇f(x) (not counted); scipy's is ``scipy.optimize.line_search`` (wolfe2).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.optimize as so
import torch
from scipy.optimize import _linesearch

from descend import search

SQRT_EPS = math.sqrt(np.finfo(float).eps)
C = 0.15 * math.pi  # the chapter's x·cos(cx) uses c = 0.15π


@dataclass
class Problem1D:
    name: str
    f: Callable[[float], float]
    df: Callable[[float], float]
    a: float
    b: float
    xstar: float


def _root(df: Callable[[float], float], a: float, b: float) -> float:
    return so.brentq(df, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)


def problems_1d() -> list[Problem1D]:
    """Unimodal test functions on brackets, with their minimizers to full precision."""

    def lse(x: float) -> float:
        return math.log(math.exp(x) + math.exp(-2 * x - 3))

    def dlse(x: float) -> float:
        p = 1.0 / (1.0 + math.exp(-3 * x - 3))
        return 3 * p - 2

    def xcos(x: float) -> float:
        return x * math.cos(C * x)

    def dxcos(x: float) -> float:
        return math.cos(C * x) - C * x * math.sin(C * x)

    out = [
        Problem1D("log(e^x + e^(-2x-3)) on [-3, 2]", lse, dlse, -3.0, 2.0, (math.log(2) - 3) / 3),
        Problem1D(
            "(x - 1.3)^2 on [-2, 4]", lambda x: (x - 1.3) ** 2, lambda x: 2 * (x - 1.3), -2.0, 4.0, 1.3
        ),
        Problem1D(
            "cosh(x - 0.7) on [-2, 3]", lambda x: math.cosh(x - 0.7), lambda x: math.sinh(x - 0.7), -2, 3, 0.7
        ),
        Problem1D("x cos(0.15 pi x) on [5, 9]", xcos, dxcos, 5.0, 9.0, _root(dxcos, 5.0, 9.0)),
        Problem1D(
            "x^4 - 3x + 1 on [-1, 3]",
            lambda x: x**4 - 3 * x + 1,
            lambda x: 4 * x**3 - 3,
            -1.0,
            3.0,
            0.75 ** (1 / 3),
        ),
        Problem1D(
            "e^x - 2x on [-1, 3]",
            lambda x: math.exp(x) - 2 * x,
            lambda x: math.exp(x) - 2,
            -1,
            3,
            math.log(2),
        ),
    ]
    return out


class Counted:
    def __init__(self, fn: Callable[[float], float]) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, x: float) -> float:
        self.calls += 1
        return self.fn(float(np.asarray(x).reshape(())))


def _triple(p: Problem1D) -> tuple[float, float, float]:
    mid = p.a + (1 - 1 / ((1 + math.sqrt(5)) / 2)) * (p.b - p.a)
    if not (p.f(mid) < p.f(p.a) and p.f(mid) < p.f(p.b)):
        raise ValueError(f"{p.name}: the golden point does not bracket the minimum")
    return (p.a, mid, p.b)


def compare_1d(accuracies: tuple[float, ...] = (1e-3, 1e-6)) -> list[dict]:
    """golden_section vs scipy golden; brent vs scipy brent and fminbound."""
    rows = []
    for p in problems_1d():
        brack = _triple(p)
        for eps in accuracies:
            ours = search.golden_section(p.f, p.a, p.b, tol=eps)
            cf = Counted(p.f)
            xs = so.golden(cf, brack=brack, tol=eps / (2 * (1 - 1 / ((1 + math.sqrt(5)) / 2)) * abs(p.xstar)))
            rows.append(_row("golden", p, eps, ours, "golden", cf.calls, xs))
            ours = search.brent(p.f, p.a, p.b, tol=eps)
            cf = Counted(p.f)
            xs = so.brent(cf, brack=brack, tol=(eps / 2 - 1e-11) / abs(p.xstar))
            rows.append(_row("brent", p, eps, ours, "brent", cf.calls, xs))
            cf = Counted(p.f)
            xs = so.fminbound(cf, p.a, p.b, xtol=3 * (eps / 2 - SQRT_EPS * abs(p.xstar)))
            rows.append(_row("brent", p, eps, ours, "fminbound", cf.calls, xs))
    return rows


def compare_bisection(accuracies: tuple[float, ...] = (1e-4, 1e-8, 1e-12)) -> list[dict]:
    """bisection on f' vs scipy bisect."""
    rows = []
    for p in problems_1d():
        for eps in accuracies:
            ours = search.bisection(p.df, p.a, p.b, tol=eps)
            x, info = so.bisect(p.df, p.a, p.b, xtol=eps, full_output=True)
            rows.append(_row("bisection", p, eps, ours, "bisect", info.function_calls, x))
    return rows


def _row(method: str, p: Problem1D, eps: float, ours, peer: str, peer_nfev: int, peer_x: float) -> dict:
    return {
        "method": method,
        "problem": p.name,
        "accuracy": eps,
        "nfev": ours.nfev,
        "error": abs(ours.x - p.xstar),
        "peer": peer,
        "peer_nfev": peer_nfev,
        "peer_error": abs(float(peer_x) - p.xstar),
        "success": ours.success,
    }


# ----------------------------------------------------------------------------------------------------------
# Line searches
# ----------------------------------------------------------------------------------------------------------


@dataclass
class LineProblem:
    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    x: torch.Tensor


def _t(*v: float) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float64)


def rosenbrock(z: torch.Tensor) -> torch.Tensor:
    return 100 * (z[1] - z[0] ** 2) ** 2 + (1 - z[0]) ** 2


def line_problems() -> list[LineProblem]:
    """Functions and points; directions are built by :func:`directions`."""
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(5, 5, generator=gen, dtype=torch.float64)
    spd = m @ m.T + 0.1 * torch.eye(5, dtype=torch.float64)
    b5 = torch.randn(5, generator=gen, dtype=torch.float64)
    out = [
        LineProblem("x^2 from 10", lambda z: (z**2).sum(), _t(10.0)),
        LineProblem("cosh(0.5x) from 10", lambda z: torch.cosh(0.5 * z).sum(), _t(10.0)),
        LineProblem("x cos(0.15 pi x) from 10", lambda z: (z * torch.cos(C * z)).sum(), _t(10.0)),
        LineProblem("log(e^x + e^(-2x-3)) from 1", lambda z: torch.logaddexp(z, -2 * z - 3).sum(), _t(1.0)),
        LineProblem("x1^2 + 2 x2^2 from (-5, -2)", lambda z: z[0] ** 2 + 2 * z[1] ** 2, _t(-5.0, -2.0)),
        LineProblem(
            "0.1 x1^2 + 2 x2^2 from (-5, -2)", lambda z: 0.1 * z[0] ** 2 + 2 * z[1] ** 2, _t(-5.0, -2.0)
        ),
        LineProblem(
            "quadratic diag(1, 100) from (1, 1)", lambda z: 0.5 * (z[0] ** 2 + 100 * z[1] ** 2), _t(1, 1)
        ),
        LineProblem(
            "random SPD quadratic (5-D)",
            lambda z: 0.5 * z @ spd @ z - b5 @ z,
            torch.ones(5, dtype=torch.float64),
        ),
        LineProblem("rosenbrock from (-1.2, 1)", rosenbrock, _t(-1.2, 1.0)),
        LineProblem("rosenbrock from (0, 0)", rosenbrock, _t(0.0, 0.0)),
        LineProblem("rosenbrock from (2, 2)", rosenbrock, _t(2.0, 2.0)),
        LineProblem("rosenbrock from (-1, -1)", rosenbrock, _t(-1.0, -1.0)),
        LineProblem("rosenbrock from (0.5, 1.5)", rosenbrock, _t(0.5, 1.5)),
        LineProblem("log-sum-exp (3-D) from (1, -2, 0.5)", lambda z: torch.logsumexp(z, 0), _t(1, -2, 0.5)),
    ]
    return out


def value_and_grad(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> tuple[float, torch.Tensor]:
    z = x.clone().requires_grad_(True)
    out = f(z)
    (g,) = torch.autograd.grad(out, z)
    return float(out.detach()), g


def directions(p: LineProblem) -> list[tuple[str, torch.Tensor]]:
    """Steepest descent, and the Newton direction where the Hessian is positive definite."""
    _, g = value_and_grad(p.f, p.x)
    out = [("-grad", -g)]
    h = torch.autograd.functional.hessian(p.f, p.x).reshape(p.x.numel(), p.x.numel())
    if bool((torch.linalg.eigvalsh(h) > 0).all()):
        newton = -torch.linalg.solve(h, g.reshape(-1)).reshape(p.x.shape)
        if float(torch.sum(newton * g)) < 0 and not torch.allclose(newton, -g):
            out.append(("newton", newton))
    return out


def compare_wolfe(c2_values: tuple[float, ...] = (0.9, 0.1), c1: float = 1e-4) -> list[dict]:
    """wolfe vs scipy.optimize.line_search, given f(x) and ∇f(x), same c1 and c2."""
    rows = []
    for p in line_problems():
        fx, g = value_and_grad(p.f, p.x)
        for dname, d in directions(p):
            for c2 in c2_values:
                ours = search.wolfe(p.f, p.x, d, c1=c1, c2=c2, grad=g, fx=fx)
                counts = {"f": 0, "g": 0}

                def fn(v: np.ndarray, counts: dict = counts, f=p.f) -> float:
                    counts["f"] += 1
                    return float(f(torch.as_tensor(v)))

                def gn(v: np.ndarray, counts: dict = counts, f=p.f) -> np.ndarray:
                    counts["g"] += 1
                    return value_and_grad(f, torch.as_tensor(v))[1].numpy()

                alpha, fc, gc, *_ = so.line_search(
                    fn, gn, p.x.numpy(), d.numpy(), gfk=g.numpy(), old_fval=fx, c1=c1, c2=c2
                )
                rows.append(
                    {
                        "problem": f"{p.name}, d = {dname}",
                        "c2": c2,
                        "alpha": ours.x,
                        "nfev": ours.nfev,
                        "njev": ours.njev,
                        "success": ours.success,
                        "wolfe_ok": strong_wolfe_holds(p.f, p.x, d, ours.x, c1, c2),
                        "peer_alpha": alpha,
                        "peer_nfev": fc,
                        "peer_njev": gc,
                        "peer_ok": alpha is not None and strong_wolfe_holds(p.f, p.x, d, alpha, c1, c2),
                    }
                )
    return rows


def strong_wolfe_holds(f, x: torch.Tensor, d: torch.Tensor, alpha: float, c1: float, c2: float) -> bool:
    """Both strong Wolfe conditions at step alpha, checked from scratch."""
    f0, g0 = value_and_grad(f, x)
    fa, ga = value_and_grad(f, x + alpha * d)
    s0, sa = float(torch.sum(g0 * d)), float(torch.sum(ga * d))
    return alpha > 0 and fa <= f0 + c1 * alpha * s0 and abs(sa) <= c2 * abs(s0)


# ----------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------


def markdown() -> str:
    lines = ["| method | problem | accuracy ε | ours nfev | scipy | scipy nfev | ours error | scipy error |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in compare_1d() + compare_bisection():
        lines.append(
            f"| {r['method']} | {r['problem']} | {r['accuracy']:.0e} | {r['nfev']} | {r['peer']} | "
            f"{r['peer_nfev']} | {r['error']:.1e} | {r['peer_error']:.1e} |"
        )
    lines += [
        "",
        "| line search problem | c2 | ours nfev / njev | scipy line_search nfev / njev | ours α | scipy α |",
        "|---|---|---|---|---|---|",
    ]
    for r in compare_wolfe():
        peer_alpha = "failed" if r["peer_alpha"] is None else f"{r['peer_alpha']:.4g}"
        lines.append(
            f"| {r['problem']} | {r['c2']} | {r['nfev']} / {r['njev']} | "
            f"{r['peer_nfev']} / {r['peer_njev']} | {r['alpha']:.4g} | {peer_alpha} |"
        )
    return "\n".join(lines)


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print only the tables")
    args = parser.parse_args()
    warnings.simplefilter(
        "ignore", _linesearch.LineSearchWarning
    )  # scipy's failures show as "failed" in the table
    if not args.markdown:
        print(f"machine: {_cpu()}, {os.cpu_count()} cores, {platform.platform()}")
        print(
            f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
            f"scipy {__import__('scipy').__version__}"
        )
    print(markdown())


if __name__ == "__main__":
    main()
