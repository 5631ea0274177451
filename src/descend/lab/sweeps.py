"""Maps of a hyperparameter sweep on a catalogue function, as ``descend sweep`` draws them.

:func:`prepare` checks the function, the optimizer spec, the swept axes (``a:b:n``, ``a:b:n:log`` or
``v1,v2,...``) and the fixed settings before any work; :func:`run` runs the grid as one batch
(:func:`descend.sweep`) and, on a quadratic, holds it against theory (:func:`descend._sweep.check_theory`);
:func:`figure` draws the map (a line for one swept hyperparameter) and :func:`summary` sums it up.

What the colour shows: the final loss as f − f* on a log scale where the function's minimum f* is known (a
function with negative values, such as Styblinski–Tang, still spans the colours), or the steps taken to get
within ``steps_tol`` of it (``color="steps"``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from descend import optim
from descend._sweep import SweepResult, TheoryCheck, check_theory, sweep
from descend.checks import choice, integer, positive, unknown
from descend.functions import Function
from descend.lab import spec
from descend.lab.trace import function, start_point

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Outcome", "Plan", "figure", "parse_range", "prepare", "run", "summary"]

_PROGRESS_WORK = 2_000_000  # rows × steps from which a sweep shows a progress bar


@dataclass
class Plan:
    """A checked sweep, ready to run."""

    function: Function
    method: str
    options: dict[str, Any]
    axes: dict[str, list[float]]
    steps: int
    start: list[float]
    color: str
    steps_tol: float
    label: str = ""

    @property
    def runs(self) -> int:
        n = 1
        for values in self.axes.values():
            n *= len(values)
        return n


@dataclass
class Outcome:
    """A sweep's result, its theory check (None where theory does not apply) and the time it took."""

    result: SweepResult
    theory: TheoryCheck | None
    seconds: float
    notes: list[str] = field(default_factory=list)


def prepare(
    name: str,
    text: str,
    axes: Mapping[str, str],
    *,
    fixed: Mapping[str, Any] | None = None,
    steps: int = 200,
    start: str | None = None,
    color: str = "loss",
    steps_tol: float = 1e-6,
) -> Plan:
    """Check a sweep: the function, the spec ``text`` (``gd`` or a :mod:`descend.optim` name, with fixed
    settings), ``axes`` (hyperparameter -> range text; one or two), ``fixed`` settings, the steps, the start
    and what to colour. Every mistake is a ``ValueError`` with a one-line message."""
    f = function(name)
    method, options = spec.parse(text)
    method = method.lower()
    options = {**options, **dict(fixed or {})}
    steps = integer("steps", steps, minimum=1, maximum=10_000_000)
    choice("color", color, ("loss", "steps"))
    steps_tol = positive("steps_tol", steps_tol)
    values = {k: parse_range(v, f"--{k.replace('_', '-')}") for k, v in axes.items() if v}
    if not 1 <= len(values) <= 2:
        raise ValueError(f"Invalid grid: {len(values)} axes; expected 1 or 2 (--lr, --momentum, --grid)")
    if method == "gd":
        extra = sorted((set(options) | set(values)) - {"lr"})
        if extra:
            raise ValueError(f"Invalid setting of gd: {extra[0]!r}; gradient descent takes only lr")
    elif method in optim.names():
        takes = spec.settings(method)
        for axis in values:
            if axis not in takes:
                raise unknown(f"hyperparameter of {method} to sweep", axis, sorted(takes))
        spec.resolve_optimizer(method, options, text=text, extras=set(values))
    else:
        raise unknown("optimizer", method, ["gd", *optim.names()])
    plan = Plan(f, method, options, values, steps, start_point(f, start), color, steps_tol, text)
    # the rows' own checks (every value of every axis), on the first step only
    _sweep(plan, steps=0)
    return plan


def parse_range(text: str, name: str = "range") -> list[float]:
    """Grid values from text: ``a:b:n`` (n evenly spaced), ``a:b:n:log`` (geometric) or ``v1,v2,...``."""
    parts = text.split(":")
    try:
        if len(parts) == 1:
            values = [float(v) for v in text.split(",") if v.strip()]
        elif len(parts) in (3, 4) and (len(parts) == 3 or parts[3] == "log"):
            a, b, n = float(parts[0]), float(parts[1]), int(parts[2])
            if n < 1 or (len(parts) == 4 and not (a > 0 and b > 0)):
                raise ValueError
            space = torch.logspace if len(parts) == 4 else torch.linspace
            ends = (math.log10(a), math.log10(b)) if len(parts) == 4 else (a, b)
            values = space(*ends, n, dtype=torch.float64).tolist()
        else:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"Invalid {name}: {text!r}; expected a:b:n, a:b:n:log (a, b > 0) or comma-separated values"
        ) from None
    if not values:
        raise ValueError(f"Invalid {name}: {text!r}; expected at least one value")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"Invalid {name}: {text!r}; expected finite values")
    return values


def _sweep(plan: Plan, *, steps: int, progress: bool = False) -> SweepResult:
    grid = {k: torch.tensor(v, dtype=torch.float64) for k, v in plan.axes.items()}
    try:
        return sweep(
            plan.function,
            plan.start,
            plan.method,
            steps=steps,
            steps_tol=plan.steps_tol,
            progress=progress,
            **grid,
            **plan.options,
        )
    except (TypeError, ValueError) as e:
        raise ValueError(str(e)) from None


def run(plan: Plan) -> Outcome:
    """Run the sweep (a progress bar when it is long) and check it against theory where that applies."""
    began = time.perf_counter()
    r = _sweep(plan, steps=plan.steps, progress=plan.runs * plan.steps >= _PROGRESS_WORK)
    seconds = time.perf_counter() - began
    theory = check_theory(r, plan.function, plan.start, plan.function.box)
    notes = []
    if plan.color == "steps" and not bool(torch.isfinite(r.steps_to_tol).any()):
        notes.append(_unreached(plan, r))
    return Outcome(r, theory, seconds, notes)


def _unreached(plan: Plan, r: SweepResult) -> str:
    what = "f − f*" if r.fstar is not None else "the gradient norm"
    return (
        f"no run got {what} to {plan.steps_tol:g} within {plan.steps} steps; "
        "try more --steps or a larger --steps-tol"
    )


def _axes(plan: Plan) -> tuple[str, str | None]:
    names = list(plan.axes)
    x = "lr" if "lr" in plan.axes else names[0]
    return x, next((n for n in names if n != x), None)


def figure(plan: Plan, outcome: Outcome) -> Figure:
    """The map: colour over two swept hyperparameters, a line over one; theory's boundary where it applies."""
    from descend import plot

    r, theory = outcome.result, outcome.theory
    x_name, y_name = _axes(plan)
    boundary = None
    if theory is not None and y_name in (None, "momentum"):
        boundary = theory.boundary(lr_axis=x_name == "lr", momentum_axis=y_name == "momentum")
    kind = plan.color
    values = r.fun if kind == "loss" else r.steps_to_tol
    what = "final loss" if kind == "loss" else f"steps to within {plan.steps_tol:g}"
    title = f"{plan.label} on {plan.function.name}: {what}, {len(r)} runs × {plan.steps} steps"
    return plot.sweep_map(
        r.grid[x_name],
        None if y_name is None else r.grid[y_name],
        values,
        x_name=x_name,
        y_name=y_name or "",
        kind=kind,
        diverged=r.diverged,
        boundary=boundary,
        title=title,
        fstar=r.fstar,
        note=outcome.notes[0] if outcome.notes else None,
    )


def summary(plan: Plan, outcome: Outcome) -> list[dict[str, Any]]:
    """A short table: runs, how many reached the tolerance or diverged, the best setting, theory's verdict."""
    r, theory = outcome.result, outcome.theory
    row: dict[str, Any] = {
        "optimizer": plan.label,
        "runs": len(r),
        "steps": plan.steps,
        "seconds": outcome.seconds,
        "reached tol": int(torch.isfinite(r.steps_to_tol).sum()),
        "diverged": int(r.diverged.sum()),
    }
    best = r.best()
    if best >= 0:
        row["best"] = ", ".join(f"{n}={v:.4g}" for n, v in r.row(best).items())
        row["best f"] = float(r.fun[best])
    if theory is not None:
        row["theory agrees"] = f"{100 * theory.agreement:.1f}%"
    return [row]
