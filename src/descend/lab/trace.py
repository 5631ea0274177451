"""Paths of optimizers on a catalogue function, as ``descend trace`` draws them.

:func:`prepare` checks everything a trace needs (the function, each optimizer's spec and settings, the
start) before any work; :func:`run` runs each optimizer with :func:`descend.minimize`, stopping early once
the gradient norm is below ``tol`` or the run diverges, with a progress bar on long runs; :func:`figure`
draws the paths and :func:`table` sums them up.

Learning rates. An optimizer given no learning rate gets one that suits the function, not torch's default
(Adam's 1e-3 barely moves on most test functions): the learning rate from the grid 1e-8 … 1e2 (four per
decade) that ends lowest after the trace's steps (at most 200), or more exactly the smallest one that ends
within 0.1% of the lowest, so that the path is the gentlest that gets as far, among the runs that end
within a box width of the function's box (on a function unbounded below, running away is not progress);
the grid runs as one batch (:func:`descend.sweep`), or, for an optimizer that cannot run on a sweep's
rows, as one run per decade. The choice is reported. A run whose path stays within 1%
of the function's box says so, with the setting to raise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from descend import functions as catalogue
from descend import methods, optim
from descend._minimize import minimize
from descend._sweep import sweep
from descend.checks import integer, positive, unknown
from descend.functions import Function
from descend.lab import spec
from descend.result import Result

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Plan", "Trace", "choose_lr", "figure", "prepare", "run", "start_point", "table"]

#: The learning rates :func:`choose_lr` tries.
LR_GRID = tuple(10.0 ** (k / 4) for k in range(-32, 9))
_SEARCH_STEPS = 200
_PROGRESS_STEPS = 20_000


@dataclass
class Trace:
    """One optimizer's run: its spec as written, the method and options it ran with, the result, and
    what was said about its learning rate."""

    label: str
    name: str
    options: dict[str, Any]
    result: Result | None = None
    notes: list[str] = field(default_factory=list)
    chosen_lr: float | None = None


@dataclass
class Plan:
    """A checked trace, ready to run."""

    function: Function
    start: list[float]
    steps: int
    traces: list[Trace]
    noise: float = 0.0
    seed: int = 0
    tol: float | None = 1e-10


def start_point(f: Function, text: str | None) -> list[float]:
    """The start: the function's own, or ``X1,X2`` (as many numbers as the function's dimension)."""
    if text is None:
        return list(f.start)
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != f.dim or not all(math.isfinite(v) for v in values):
        raise ValueError(f"Invalid start: {text!r}; expected {f.dim} comma-separated numbers")
    return values


def function(name: str) -> Function:
    """The catalogue function ``name``, offering close names for a misspelt one."""
    if name not in catalogue.names():
        raise unknown("function", name, catalogue.names())
    return catalogue.get(name)


def prepare(
    name: str,
    specs: Sequence[str],
    *,
    shared: Mapping[str, Any] | None = None,
    steps: int = 20,
    start: str | None = None,
    noise: float = 0.0,
    seed: int = 0,
    tol: float | None = 1e-10,
) -> Plan:
    """Check a trace: the catalogue function (1-D or 2-D), each spec (``-o NAME[:KEY=VALUE,...]``), the
    ``shared`` settings (given to every optimizer that takes them; one no optimizer takes is an error),
    the steps and the start. Every mistake is a ``ValueError`` with a one-line message."""
    f = function(name)
    if f.dim > 2:
        raise ValueError(f"Invalid function: {name!r} has dim {f.dim}; trace draws 1-D and 2-D functions")
    if not specs:
        raise ValueError("Invalid optimizer: none given; expected at least one -o NAME[:KEY=VALUE,...]")
    steps = integer("steps", steps, minimum=1, maximum=10_000_000)
    positive("noise", noise, allow_zero=True)
    tol = None if tol is None else positive("tol", tol)
    shared = dict(shared or {})
    used: set[str] = set()
    traces = []
    for text in specs:
        name_, own = spec.parse(text)
        takes = spec.settings(name_)
        mine = {k: v for k, v in shared.items() if k in takes and k not in own}
        used |= set(mine)
        choice = spec.method(spec.format(name_, {**mine, **own}))
        traces.append(Trace(text, choice.name, {**mine, **own}))
    unused = sorted(set(shared) - used)
    if unused:
        raise ValueError(f"Invalid option {unused[0]!r}: no optimizer given takes it")
    return Plan(f, start_point(f, start), steps, traces, noise, seed, tol)


def _uses_lr(name: str, options: Mapping[str, Any]) -> bool:
    """Whether a run's step size is a learning rate it was not given (line searches and Newton's method
    choose their own steps)."""
    if "lr" in options:
        return False
    if name in optim.names():
        return True
    parts = methods.split(name)
    return parts is not None and parts[1] is None and not name.startswith("newton")


def choose_lr(plan: Plan, trace: Trace) -> float | None:
    """The learning rate for a trace given none (see the module docstring), or None to keep the method's."""
    f, x0 = plan.function, torch.tensor(plan.start, dtype=torch.float64)
    steps = min(plan.steps, _SEARCH_STEPS)
    grid = torch.tensor(LR_GRID, dtype=torch.float64)
    noise = {"noise": plan.noise, "seed": plan.seed} if plan.noise else {}
    sweepable = trace.name not in optim.names() or optim.resolve(trace.name)[0].sweepable
    if sweepable and (trace.name in optim.names() or trace.name in ("gd", "gradient")):
        method = "gd" if trace.name == "gradient" else trace.name
        r = sweep(f, x0, method, steps=steps, lr=grid, **noise, **trace.options)
        final, ends = r.fun, r.x
    else:  # one run per learning rate (a decade apart where the optimizer cannot run on a sweep's rows)
        grid = grid if sweepable else grid[::4]
        runs = [
            minimize(f, x0, trace.name, steps=steps, lr=float(lr), **noise, **trace.options) for lr in grid
        ]
        final = torch.tensor([float(r.fun) if r.success else math.inf for r in runs], dtype=torch.float64)
        ends = torch.stack([r.x.reshape(-1) for r in runs])
    # only paths that end near the picture: on a function unbounded below, running away is not progress
    box = torch.tensor([f.box] if f.dim == 1 else list(f.box)[: f.dim], dtype=torch.float64)
    width = box[:, 1] - box[:, 0]
    near = ((ends >= box[:, 0] - width) & (ends <= box[:, 1] + width)).all(-1)
    start = float(f(x0))
    finite = torch.isfinite(final) & (final < start) & near
    if not bool(finite.any()):
        return None
    best = float(final[finite].min())
    good = finite & (final <= best + 1e-3 * (start - best))
    return float(grid[good][0])


def run(plan: Plan, *, progress: bool = True) -> list[Trace]:
    """Run every trace of ``plan`` (choosing learning rates where none was given); returns the traces."""
    f = plan.function
    x0 = torch.tensor(plan.start, dtype=torch.float64)
    for t in plan.traces:
        if _uses_lr(t.name, t.options):
            lr = choose_lr(plan, t)
            if lr is None:
                t.notes.append(
                    "no learning rate of 1e-8 … 1e2 got below the start; the method's default is used"
                )
            else:
                t.options["lr"] = t.chosen_lr = lr
                t.notes.append(
                    f"lr={lr:.3g} chosen: the gentlest of 1e-8 … 1e2 that ends lowest (set it with :lr=)"
                )
        noise = {"noise": plan.noise, "seed": plan.seed} if plan.noise else {}
        t.result = minimize(
            f,
            x0,
            t.name,
            steps=plan.steps,
            tol=plan.tol,
            progress=progress and plan.steps >= _PROGRESS_STEPS,
            **noise,
            **t.options,
        )
        t.notes += _hints(f, t)
    return plan.traces


def _hints(f: Function, t: Trace) -> list[str]:
    """What to change when a path hardly moved."""
    r = t.result
    if r is None or r.status in ("converged", "diverged", "failed"):
        return []
    box = [f.box] if f.dim == 1 else list(f.box)[: f.dim]
    size = math.hypot(*(hi - lo for lo, hi in box))
    path = r.path.reshape(len(r.path), -1)
    extent = float(torch.linalg.vector_norm(path.amax(0) - path.amin(0)))
    if extent >= 0.01 * size:
        return []
    setting = "lr" if "lr" in t.options or t.name in optim.names() else "steps"
    return [
        f"the path moved {extent:.3g}, under 1% of the box: raise {setting} (e.g. -o {t.name}:{setting}=...)"
    ]


def _name(t: Trace) -> str:
    return t.label if t.chosen_lr is None else f"{t.label} (lr = {t.chosen_lr:.3g})"


def figure(plan: Plan, traces: Sequence[Trace]) -> Figure:
    """The paths on the function: its curve in 1-D, its contours in 2-D."""
    from descend import plot

    paths = {_name(t): t.result.path for t in traces if t.result is not None}
    f = plan.function
    return plot.curve(f, paths) if f.dim == 1 else plot.contour(f, paths)


def table(traces: Sequence[Trace]) -> list[dict[str, Any]]:
    """One row per trace: its spec, learning rate, last point, value, steps and how it ended."""
    rows = []
    for t in traces:
        r = t.result
        if r is None:
            continue
        point = "(" + ", ".join(f"{v:.4g}" for v in r.x.reshape(-1).tolist()) + ")"
        rows.append(
            {
                "optimizer": t.label,
                "lr": t.options.get("lr"),
                "x": point,
                "f": float(r.fun),
                "steps": r.nit,
                "status": str(r.status),
            }
        )
    return rows
