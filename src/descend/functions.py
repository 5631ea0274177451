"""The catalogue of objective functions: the chapter's examples and the classic test functions.

Every entry is a :class:`Function`: a callable on a float tensor whose **last dimension is the input**,
so ``f(X)`` with ``X`` of shape ``(..., d)`` has shape ``(...)`` (leading dimensions broadcast; a single
point of shape ``(d,)`` gives a 0-d tensor). Everything is written with ordinary torch operations, so
``torch.autograd`` differentiates it and it runs in float32 and float64 alike.

>>> import torch
>>> from descend import functions
>>> f = functions.get("rosenbrock")
>>> f(torch.tensor([1.0, 1.0]))
tensor(0.)
>>> f.minima, f.fmin
([(1.0, 1.0)], 0.0)

Attributes of a function:

- ``name``, ``dim`` (the input dimension ``d``), ``formula`` (text), ``description`` (one line);
- ``minima``: the known minimizers as tuples (``f(m) == fmin`` for each), and ``fmin``, the minimum value
  (``None`` where the function has no minimum, e.g. x³ or tanh). Where a function is unbounded below
  (``bounded_below`` is False: x·cos(cx), McCormick, ...), ``minima``/``fmin`` are the lowest local minima
  inside its plotting ``box``, which is where the chapter and the test-function literature place them;
- ``local_minima`` (other local minima), ``maxima`` and ``saddles`` where they are known, for demos of
  critical points;
- ``box``: the plotting box, ``(lo, hi)`` in 1-D and ``((xlo, xhi), (ylo, yhi))`` otherwise (for d > 2,
  the box of the first two coordinates);
- ``start``: a sensible default start point for demos (the chapter's, where it has one).

Parametrised families take keyword arguments through :func:`get`: ``get("xcos", c=math.pi)``,
``get("cosh", c=1.0)``, ``get("rosenbrock", dim=10)``. Without arguments :func:`get` returns the entry the
chapter uses (x·cos(cx) with c = 0.15π, cosh(cx) with c = 0.5, two-dimensional classic functions).
Critical points that have no closed form are found once, on first access, by Newton's method in float64
(roots of the derivative located on a fine grid, then refined to machine precision).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from descend.checks import unknown

Point = tuple[float, ...]
Box = tuple[float, float] | tuple[tuple[float, float], ...]
Expr = Callable[[Tensor], Tensor]

__all__ = ["CriticalPoints", "Function", "describe", "get", "names", "table"]


@dataclass(frozen=True)
class CriticalPoints:
    """Known critical points of a function (see the module docstring for what ``minima`` means)."""

    minima: list[Point] = field(default_factory=list)
    fmin: float | None = None
    local_minima: list[Point] = field(default_factory=list)
    maxima: list[Point] = field(default_factory=list)
    saddles: list[Point] = field(default_factory=list)


class Function:
    """An objective function of the catalogue: ``f(X)`` maps shape ``(..., dim)`` to shape ``(...)``.

    Args:
        name: catalogue name.
        dim: input dimension d.
        expr: the function on a validated float tensor of shape ``(..., d)``.
        formula: the formula as text.
        description: one line saying what the function is for.
        box: plotting box, ``(lo, hi)`` in 1-D or ``((xlo, xhi), (ylo, yhi))``.
        start: default start point for demos.
        points: a callable returning the function's :class:`CriticalPoints`, run once on first access
            (so numerical refinement costs nothing at import).
        bounded_below: whether the function is bounded below on all of R^d.
        smooth: False where the function has a kink (Ackley at its minimum); autograd then returns the
            subgradient 0 there.
    """

    def __init__(
        self,
        name: str,
        dim: int,
        expr: Expr,
        formula: str,
        description: str,
        box: Box,
        start: Sequence[float],
        points: Callable[[Function], CriticalPoints],
        *,
        bounded_below: bool = True,
        smooth: bool = True,
    ) -> None:
        if dim < 1:
            raise ValueError(f"Invalid dim for {name!r}: {dim}; expected dim >= 1")
        if len(start) != dim:
            raise ValueError(f"Invalid start for {name!r}: {tuple(start)}; expected {dim} coordinates")
        self.name = name
        self.dim = dim
        self.formula = formula
        self.description = description
        self.box = box
        self.start = tuple(float(s) for s in start)
        self.bounded_below = bounded_below
        self.smooth = smooth
        self._expr = expr
        self._points = points

    def __call__(self, x: Tensor) -> Tensor:
        self._check(x)
        return self._expr(x)

    def _check(self, x: Any) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{self.name}: expected a torch.Tensor of shape (..., {self.dim}), got {type(x)}")
        if not (x.is_floating_point()):
            raise ValueError(f"{self.name}: invalid dtype {x.dtype}; expected a floating-point tensor")
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(
                f"{self.name}: invalid input shape {tuple(x.shape)}; expected (..., {self.dim}) "
                f"(the last dimension is the input)"
            )

    def start_tensor(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """The default start point as a tensor of shape ``(dim,)``."""
        return torch.tensor(self.start, dtype=dtype)

    @cached_property
    def _critical(self) -> CriticalPoints:
        return self._points(self)

    @property
    def minima(self) -> list[Point]:
        """Known minimizers (``f(m) == fmin`` for each)."""
        return list(self._critical.minima)

    @property
    def fmin(self) -> float | None:
        """The minimum value, or None where there is none."""
        return self._critical.fmin

    @property
    def local_minima(self) -> list[Point]:
        """Known local minima that are not global."""
        return list(self._critical.local_minima)

    @property
    def maxima(self) -> list[Point]:
        """Known local maxima."""
        return list(self._critical.maxima)

    @property
    def saddles(self) -> list[Point]:
        """Known saddle points (including degenerate ones such as x³ at 0)."""
        return list(self._critical.saddles)

    def __repr__(self) -> str:
        return f"Function({self.name!r}, dim={self.dim}, formula={self.formula!r})"


# ---------------------------------------------------------------------------------------------------
# Critical points: closed forms where they exist, Newton's method in float64 where they do not.


def _grad_hess(f: Function, x: Tensor) -> tuple[Tensor, Tensor]:
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    rows = [torch.autograd.grad(g[i], x, retain_graph=True)[0] for i in range(x.numel())]
    return g.detach(), torch.stack(rows).detach()


def _newton(f: Function, seed: Sequence[float], iters: int = 100) -> Tensor:
    """A critical point near ``seed``: Newton's method on the gradient, x ← x − H⁻¹∇f, in float64."""
    x = torch.tensor(seed, dtype=torch.float64)
    for _ in range(iters):
        g, h = _grad_hess(f, x)
        step = torch.linalg.solve(h, g)
        x = x - step
        if step.abs().max() <= 1e-15 * (1.0 + x.abs().max()):
            break
    g, _ = _grad_hess(f, x)
    if not torch.isfinite(x).all() or g.abs().max() > 1e-9:
        raise RuntimeError(f"{f.name}: Newton's method from {tuple(seed)} found no critical point")
    return x


def _kind(f: Function, x: Tensor) -> str:
    eig = torch.linalg.eigvalsh(_grad_hess(f, x)[1])
    if (eig > 0).all():
        return "min"
    if (eig < 0).all():
        return "max"
    return "saddle"


def _tup(x: Tensor) -> Point:
    return tuple(float(v) for v in x)


def _value(f: Function, p: Point) -> float:
    return float(f(torch.tensor(p, dtype=torch.float64)))


def _exact(minima: Sequence[Point], fmin: float | None, **rest: list[Point]) -> Callable[..., CriticalPoints]:
    """Critical points known in closed form."""
    return lambda _f: CriticalPoints(
        [tuple(float(v) for v in m) for m in minima], fmin, **{k: list(v) for k, v in rest.items()}
    )


def _from_minimizers(f: Function, mins: Sequence[Point], maxima=(), saddles=()) -> CriticalPoints:
    """Split local minimizers into the lowest (``minima``, ``fmin``) and the others."""
    if not mins:
        return CriticalPoints(maxima=list(maxima), saddles=list(saddles))
    values = [_value(f, m) for m in mins]
    low = min(values)
    tol = 1e-12 * max(1.0, abs(low))
    best = [m for m, v in zip(mins, values, strict=True) if v <= low + tol]
    others = [m for m, v in zip(mins, values, strict=True) if v > low + tol]
    return CriticalPoints(best, low, others, list(maxima), list(saddles))


def _refined(
    seeds: Sequence[Point], *, exact_min: Sequence[Point] = (), fmin: float | None = None
) -> Callable[[Function], CriticalPoints]:
    """Critical points refined from seeds and sorted by kind; ``exact_min``/``fmin`` are closed forms."""

    def solve(f: Function) -> CriticalPoints:
        kinds: dict[str, list[Point]] = {"min": [tuple(map(float, m)) for m in exact_min]}
        kinds.update(max=[], saddle=[])
        for seed in seeds:
            x = _newton(f, seed)
            kinds[_kind(f, x)].append(_tup(x))
        points = _from_minimizers(f, kinds["min"], kinds["max"], kinds["saddle"])
        if fmin is not None:
            return CriticalPoints(points.minima, fmin, points.local_minima, points.maxima, points.saddles)
        return points

    return solve


def _scan_1d(f: Function) -> CriticalPoints:
    """All critical points of a 1-D function inside its box: sign changes of f' on a grid, then Newton."""
    lo, hi = f.box
    x = torch.linspace(lo, hi, 20001, dtype=torch.float64).unsqueeze(-1).requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    g = g.squeeze(-1)
    grid = x.detach().squeeze(-1)
    change = torch.nonzero(torch.sign(g[:-1]) * torch.sign(g[1:]) <= 0).flatten()
    found: dict[str, list[Point]] = {"min": [], "max": [], "saddle": []}
    for i in change.tolist():
        p = _newton(f, (float(grid[i] + grid[i + 1]) / 2,))
        if not lo < float(p) < hi:
            continue
        pt = _tup(p)
        if any(abs(pt[0] - q[0]) < 1e-9 for qs in found.values() for q in qs):
            continue
        kind = _kind(f, p) if abs(float(_grad_hess(f, p)[1])) > 1e-12 else "saddle"
        found[kind].append(pt)
    return _from_minimizers(f, found["min"], found["max"], found["saddle"])


def _no_minimum(saddles: Sequence[Point] = (), maxima: Sequence[Point] = ()) -> Callable[..., CriticalPoints]:
    return lambda _f: CriticalPoints(saddles=list(saddles), maxima=list(maxima))


_DEFAULTS: dict[str, Function] = {}


def _factories() -> dict[str, Callable[..., Function]]:
    from descend._catalogue import FACTORIES  # the entries need this module's Function: imported on use

    return FACTORIES


def names() -> list[str]:
    """The catalogue's names, chapter functions first, then the classic test functions."""
    return list(_factories())


def get(name: str, **params: float) -> Function:
    """The catalogue function called ``name``; ``params`` choose a member of a family.

    Families: ``xcos`` (c = 0.15π), ``cosh`` (c = 0.5), and ``sphere``, ``rosenbrock``, ``rastrigin``,
    ``styblinski_tang``, ``ackley`` (dim = 2).

    Raises:
        ValueError: unknown name, or a parameter the function does not take.
    """
    factories = _factories()
    if name not in factories:
        raise unknown("function", name, names())
    if params:
        try:
            return factories[name](**params)
        except TypeError:
            raise ValueError(f"Invalid parameters for {name!r}: {params}") from None
    if name not in _DEFAULTS:
        _DEFAULTS[name] = factories[name]()
    return _DEFAULTS[name]


def _fmt_point(p: Point) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in p) + ")"


def _minimum_cells(f: Function) -> tuple[str, str]:
    if f.fmin is None:
        return "none", "-"
    star = "" if f.bounded_below else "*"
    where = _fmt_point(f.minima[0]) + (f" +{len(f.minima) - 1}" if len(f.minima) > 1 else "")
    return f"{f.fmin:.6g}{star}", where


def table(width: int | None = None) -> str:
    """The catalogue as a text table: name, dim, minimum value, a minimizer, formula.

    Formulas are cut to fit ``width`` characters (None: no limit). A star marks the lowest local minimum
    inside the box of a function that is unbounded below.
    """
    rows = [("name", "dim", "min f", "at", "formula")]
    for name in names():
        f = get(name)
        rows.append((name, str(f.dim), *_minimum_cells(f), f.formula))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for k, row in enumerate(rows):
        head = "  ".join(
            cell.ljust(w) if i != 1 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row[:4], widths, strict=True))
        )
        line = f"{head}  {row[4]}"
        if width is not None and len(line) > width:
            line = line[: max(width - 1, len(head) + 3)] + "…"
        lines.append(line)
        if k == 0:
            lines.append("-" * min(len(line), width or len(line)))
    lines.append("* lowest minimum inside the plotting box; the function is unbounded below")
    return "\n".join(lines)


def describe(name: str) -> str:
    """Everything the catalogue knows about one function, as text."""
    f = get(name)
    lines = [
        f"{f.name}: {f.formula}",
        f"  {f.description}",
        f"  dim {f.dim}; box {f.box}; start {_fmt_point(f.start)}",
        f"  minimum {'none' if f.fmin is None else f'{f.fmin:.12g}'}"
        + ("" if f.bounded_below else " (lowest in the box; unbounded below)"),
    ]
    for label, pts in (
        ("minimizers", f.minima),
        ("local minima", f.local_minima),
        ("maxima", f.maxima),
        ("saddles", f.saddles),
    ):
        if pts:
            lines.append(f"  {label}: " + ", ".join(_fmt_point(p) for p in pts))
    return "\n".join(lines)
