"""What the playground's server answers, as plain functions of the query (no web framework here).

Each function takes the query's text values, checks them before any work (a ``ValueError`` with a
one-line message for anything wrong: the server answers it with status 400) and returns a JSON-ready dict:

- :func:`catalogue`: the functions, the optimizers and methods with their controls (and, for the ones that
  cannot run on a point, the reason), the schedules with theirs;
- :func:`landscape`: a function's contour lines (2-D) or curve (1-D), its box, start and critical points;
- :func:`trace`: one optimizer's path, ``descend.minimize(f, start, method=NAME, steps=N, **options)``;
- :func:`stability`: on a quadratic, heavy-ball momentum's measured map over (lr, momentum) from the start
  (one batch, :func:`descend.sweep`) with the theory's boundary ηλmax = 2 + 2β;
- :func:`schedule`: a schedule's multipliers over the steps (the trace's lr is multiplied by them).

Answers are cached (the same query gives the same numbers: no run here draws random numbers).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from typing import Any

import numpy as np
import torch

from descend import functions, methods, optim, schedules
from descend._loop import optimizer_arguments
from descend._minimize import minimize
from descend._sweep import quadratic_eigenvalues, sweep
from descend.checks import integer, unknown
from descend.lab import spec
from descend.lab.playground.controls import controls
from descend.lab.trace import function, start_point

__all__ = ["MAX_STEPS", "catalogue", "landscape", "schedule", "stability", "trace"]

#: The most steps a trace runs (a request for more is refused, not cut short).
MAX_STEPS = 10_000
#: The classical methods offered beside the optimizers (the chapter's gradient descent, Newton's method
#: with and without a line search, the diagonal preconditioner).
METHODS = ("gd", "gd-armijo", "gd-wolfe", "newton", "newton-abs", "newton-armijo", "precond-gd")
_GRID = 121  # points per axis of a contour grid
_MAP_LR, _MAP_MOMENTUM, _MAP_STEPS = 48, 34, 200  # the stability map's grid and its most steps


def _finite(v: float) -> float | None:
    """A number for JSON: NaN and ±inf have no JSON form and become null."""
    return v if math.isfinite(v) else None


def _points(t: torch.Tensor) -> list[Any]:
    return [[_finite(v) for v in row] for row in t.reshape(len(t), -1).tolist()]


# ----------------------------------------------------------------------------------------------------------
# what there is


def _doc(obj: Any) -> str:
    return (inspect.getdoc(obj) or "").strip().split("\n\n")[0].replace("\n", " ")


def _optimizer_entry(name: str) -> dict[str, Any]:
    cls, implied = optim.resolve(name)
    defaults = {**optimizer_arguments(cls), **implied}
    entry = {"name": name, "title": cls.__name__, "doc": _doc(cls), "controls": controls(defaults)}
    try:
        spec.method(name)
    except ValueError as e:  # Muon (matrices only), SparseAdam (sparse gradients only)
        return {**entry, "available": False, "reason": str(e).replace(f" (in {name!r})", "")}
    return {**entry, "available": True, "reason": None}


def _method_entry(name: str) -> dict[str, Any]:
    descent = methods.parse(name)
    direction, step = descent.direction, descent.step
    lr = getattr(step, "alpha0", None) or getattr(step, "lr", None) or direction.default_lr
    defaults: dict[str, Any] = {"lr": float(lr)}
    for part in (direction, step):
        for f in dataclasses.fields(part):
            if f.name in methods.options_of(name) and f.init:
                defaults[f.name] = getattr(part, f.name)
    title = f"{type(direction).__name__} + {type(step).__name__}"
    return {"name": name, "title": title, "doc": _doc(direction), "controls": controls(defaults),
            "available": True, "reason": None}  # fmt: skip


#: Where the page starts a schedule's required arguments; lr-like ones are 1 (the schedule multiplies lr).
_SCHEDULE_START: dict[str, dict[str, Any]] = {
    "constant": {"lr": 1.0},
    "factor": {"base_lr": 1.0, "factor": 0.99},
    "multi_factor": {"base_lr": 1.0, "milestones": (50, 100), "factor": 0.5},
    "piecewise_constant": {"boundaries": (50, 100), "values": (1.0, 0.5, 0.25)},
    "exponential": {"base_lr": 1.0, "rate": 0.01},
    "polynomial": {"base_lr": 1.0},
    "polynomial_decay": {"base_lr": 1.0, "total_steps": 200},
    "linear": {"start_lr": 1.0, "end_lr": 0.1, "steps": 200},
    "linear_warmup": {"base_lr": 1.0, "warmup_steps": 20},
    "cosine": {"base_lr": 1.0, "max_steps": 200},
    "cosine_warm_restarts": {"base_lr": 1.0, "period": 50},
    "one_cycle": {"max_lr": 1.0, "total_steps": 200},
}


def _schedule_entry(name: str) -> dict[str, Any]:
    start = _SCHEDULE_START[name]
    # no base_lr control: the schedule multiplies each optimizer's own lr, so its base stays 1
    defaults = {f.name: start.get(f.name, f.default) for f in dataclasses.fields(schedules.get(name))
                if f.name != "base_lr"}  # fmt: skip
    return {"name": name, "doc": _doc(schedules.get(name)), "controls": controls(defaults),
            "defaults": {k: list(v) if isinstance(v, tuple) else v for k, v in start.items()}}  # fmt: skip


@functools.cache
def catalogue() -> dict[str, Any]:
    """Everything the page offers: functions, optimizers (and methods) with their controls, schedules."""
    fns = []
    for name in functions.names():
        f = functions.get(name)
        fns.append({"name": name, "dim": f.dim, "formula": f.formula, "description": f.description})
    return {
        "functions": fns,
        "optimizers": [_optimizer_entry(n) for n in optim.names()] + [_method_entry(n) for n in METHODS],
        "schedules": [_schedule_entry(n) for n in schedules.names() if n in _SCHEDULE_START],
        "max_steps": MAX_STEPS,
    }


# ----------------------------------------------------------------------------------------------------------
# a function's picture


def _contours(f: functions.Function) -> dict[str, Any]:
    import contourpy

    from descend.plot.landscapes import _levels

    (x0, x1), (y0, y1) = f.box
    gx, gy = np.meshgrid(np.linspace(x0, x1, _GRID), np.linspace(y0, y1, _GRID))
    with torch.no_grad():
        z = f(torch.from_numpy(np.stack([gx, gy], axis=-1))).numpy()
    chosen = _levels(z, None, None)
    zz = np.where(np.isfinite(z), z - chosen["offset"], np.nan)
    gen = contourpy.contour_generator(gx, gy, zz, line_type=contourpy.LineType.Separate)
    lines = []
    for level in np.asarray(chosen["levels"], dtype=float).tolist():
        segments = [np.round(seg, 5).tolist() for seg in gen.lines(level) if len(seg) > 1]
        lines.append({"level": level + chosen["offset"], "segments": segments})
    return {"levels": lines, "log": chosen["log"]}


def _curve(f: functions.Function) -> dict[str, Any]:
    lo, hi = f.box
    x = torch.linspace(lo, hi, 400, dtype=torch.float64)
    with torch.no_grad():
        y = f(x.unsqueeze(-1))
    return {"x": x.tolist(), "y": [_finite(v) for v in y.tolist()]}


@functools.lru_cache(maxsize=64)
def landscape(name: str) -> dict[str, Any]:
    """A function's picture: contour lines (2-D) or its curve (1-D), with its box, start and critical
    points, and the Hessian's eigenvalues where it is a quadratic."""
    f = function(name)
    if f.dim > 2:
        raise ValueError(f"Invalid function: {name!r} has dim {f.dim}; the playground draws 1-D and 2-D ones")
    lam = quadratic_eigenvalues(f, f.start, f.box)
    out = {
        "name": name,
        "dim": f.dim,
        "formula": f.formula,
        "description": f.description,
        "box": [list(f.box)] if f.dim == 1 else [list(b) for b in f.box],
        "start": list(f.start),
        "minima": [list(p) for p in f.minima],
        "fmin": f.fmin,
        "saddles": [list(p) for p in f.saddles],
        "eigenvalues": None if lam is None else lam.tolist(),
    }
    return out | ({"curve": _curve(f)} if f.dim == 1 else {"contours": _contours(f)})


# ----------------------------------------------------------------------------------------------------------
# runs


def _steps(text: str | None, default: int = 100) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"Invalid steps: {text!r}; expected an integer from 0 to {MAX_STEPS}") from None
    return integer("steps", value, minimum=0, maximum=MAX_STEPS)


def _schedule(text: str | None) -> schedules.Schedule | None:
    """A schedule from ``NAME[:KEY=VALUE,...]``; its learning-rate argument is 1 unless given (the trace's
    lr is multiplied by it)."""
    if not text:
        return None
    name, options = spec.parse(text)
    if name not in _SCHEDULE_START:
        raise unknown("schedule", name, list(_SCHEDULE_START))
    fields = {f.name for f in dataclasses.fields(schedules.get(name))}
    for key in options:
        if key not in fields:
            raise unknown(f"setting of {name}", key, sorted(fields))
    try:
        return schedules.get(name)(**{**_SCHEDULE_START[name], **options})
    except (ValueError, TypeError) as e:
        raise ValueError(f"{e} (in {text!r})") from None


@functools.lru_cache(maxsize=512)
def trace(
    name: str, optimizer: str, steps: str | None = None, start: str | None = None, schedule: str | None = None
) -> dict[str, Any]:
    """One optimizer's run: ``{"path": [[x1, x2], ...], "values": [...], ...}`` with ``path[0]`` the start;
    the path of ``descend.minimize(f, start, method=NAME, steps=N, **options)`` (``schedule=`` too when one
    is given). A run that diverges stops there (``status`` says so)."""
    f = function(name)
    choice = spec.method(optimizer)
    n = _steps(steps)
    x0 = start_point(f, start)
    sched = _schedule(schedule)
    extra = {} if sched is None else {"schedule": sched}
    try:
        r = minimize(f, x0, choice.name, steps=n, **extra, **choice.options)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{e} (in {optimizer!r})") from None
    return {
        "path": _points(r.path),
        "values": [_finite(v) for v in r.values.tolist()],
        "status": str(r.status),
        "message": r.message,
        "nit": r.nit,
    }


@functools.lru_cache(maxsize=64)
def stability(name: str, steps: str | None = None, start: str | None = None) -> dict[str, Any]:
    """Heavy-ball momentum on a quadratic: the final loss over a (lr, momentum) grid, run from the start
    as one batch, beside the theory's boundary η = 2(1 + β)/λmax. For other functions ``applies`` is false
    and ``reason`` says why."""
    f = function(name)
    x0 = start_point(f, start)
    n = min(_steps(steps, _MAP_STEPS), _MAP_STEPS) or 1
    lam = quadratic_eigenvalues(f, x0, f.box)
    if lam is None or not bool((lam > 0).all()):
        why = "not a quadratic" if lam is None else "a quadratic with a direction of no or negative curvature"
        return {
            "applies": False,
            "reason": f"{name} is {why}: the theory's boundary is for convex quadratics",
        }
    lmax = float(lam.max())
    edge = 2.0 / lmax  # gradient descent's largest stable lr; momentum's reaches 2·edge
    lr = torch.logspace(math.log10(edge / 100), math.log10(edge * 2.5), _MAP_LR, dtype=torch.float64)
    momentum = torch.linspace(0.0, 0.98, _MAP_MOMENTUM, dtype=torch.float64)
    r = sweep(f, x0, "sgd", steps=n, lr=lr, momentum=momentum)
    fun = r.fun.reshape(_MAP_LR, _MAP_MOMENTUM)
    diverged = r.diverged.reshape(_MAP_LR, _MAP_MOMENTUM)
    fstar = f.fmin if f.fmin is not None else float(f(torch.tensor(f.minima[0], dtype=torch.float64)))
    gap = torch.where(diverged, torch.full_like(fun, math.inf), (fun - fstar).clamp(min=0))
    return {
        "applies": True,
        "eigenvalues": lam.tolist(),
        "lmax": lmax,
        "steps": n,
        "lr": lr.tolist(),
        "momentum": momentum.tolist(),
        "gap": [[_finite(v) for v in row] for row in gap.tolist()],  # lr rows × momentum columns
        "start_gap": float(f(torch.tensor(x0, dtype=torch.float64))) - fstar,
    }


def schedule(text: str, steps: str | None = None) -> dict[str, Any]:
    """A schedule's values over the steps: the multipliers of each optimizer's lr."""
    sched = _schedule(text)
    if sched is None:
        raise ValueError("Invalid schedule: ''; expected NAME[:KEY=VALUE,...], e.g. cosine:max_steps=200")
    n = max(_steps(steps), 1)
    return {"values": sched(torch.arange(n)).tolist()}
