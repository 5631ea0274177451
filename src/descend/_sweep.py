r"""Hyperparameter sweeps run as one batch: every configuration is a row of one (K, d) tensor.

``sweep(f, x0, "momentum", steps=400, lr=[...], momentum=[...])`` runs every combination of the grid's
values at once. The K configurations become the rows of a parameter tensor
:math:`X \in \mathbb{R}^{K \times d}` and each swept hyperparameter a (K, 1) tensor of per-row values;
an iteration is

.. math::
    G = \nabla_X \textstyle\sum_i f(X_i) \quad(\text{one backward pass}), \qquad
    X, S \leftarrow \mathrm{rule}(X, G, S, h(t)),

where ``rule`` and ``h`` are the optimizer class's own ``rule`` and ``scalars`` (the same code that steps a
single parameter), evaluated on tensors, and ``"gd"`` is :math:`X \leftarrow X - \eta G`. ``f`` must
broadcast over leading dimensions (``f(X)`` of shape (K,), as every :mod:`descend.functions` entry does).
Rows never mix, so row i is the run ``minimize(f, x0, method, steps, tol, **result.row(i))``, to rounding
in the last place: a sweep is the batched case of :func:`descend.minimize`'s loop, and every row is judged
by the same stopping rule.

A row stops (its iterate frozen) when it reaches ``tol`` or stops being finite, exactly where the single run
would stop; the rest go on. The result records, per row, the final iterate and value (inf or nan where the
run diverged), and the steps it took to reach ``steps_tol``: the first k with f(x_k) − f* ≤ steps_tol when
the minimum f* is known (``fstar``, or a catalogue function's ``fmin``), else the first k with
‖∇f(x_k)‖ ≤ steps_tol; inf where it never did. That is the colour of a sweep map.

On a quadratic, :func:`check_theory` holds a heavy-ball sweep against the theory of
:mod:`descend.analysis`: a run converges when ηλ < 2 + 2β for every Hessian eigenvalue λ.

>>> import torch
>>> from descend import functions, sweep
>>> r = sweep(functions.get("ill_conditioned"), [-5.0, -2.0], "momentum", steps=100,
...           lr=[0.1, 0.3, 0.6], momentum=[0.0, 0.5])
>>> r.x.shape, sorted(r.grid)
(torch.Size([6, 2]), ['lr', 'momentum'])
>>> bool(r.diverged[4]), r.row(4)  # η = 0.6, β = 0: ηλ = 2.4 > 2 diverges
(True, {'lr': 0.6, 'momentum': 0.0})
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from descend._loop import (
    CONVERGED,
    GOING,
    as_start,
    gradient_noise,
    judge,
    norm_bound,
    optimizer_class,
    optimizer_options,
)
from descend.checks import count, optional_seed, plain, positive
from descend.methods import scheduled_lr
from descend.result import Status

__all__ = ["SweepResult", "TheoryCheck", "check_theory", "quadratic_eigenvalues", "sweep"]

TensorFn = Callable[[Tensor], Tensor]

#: Hyperparameters read only when state is created; they cannot differ between rows.
_INIT_ONLY = ("initial_accumulator_value",)


@dataclass
class SweepResult:
    """The outcome of :func:`sweep`: one entry per configuration (row).

    Attributes:
        grid: name -> the K values of each swept hyperparameter (``x0``: a K × d tensor of starts).
        x: the K final iterates (K × d).
        fun: f at each final iterate (inf or nan where the run diverged).
        grad_norm: ‖∇f‖ at each final iterate.
        diverged: rows whose f, iterate or gradient stopped being finite.
        success: rows that stayed finite and (when ``tol`` was given) reached it.
        nit: the iterations each row ran.
        steps_to_tol: the first step k where the row reached ``steps_tol`` (see the module docstring), or inf.
        method: the method swept; steps: the most iterations; fstar: the minimum used for ``steps_to_tol``.
        options: the fixed options shared by every row.
        tol: the gradient-norm tolerance the rows stopped at (None: they ran every step).
    """

    grid: dict[str, Tensor]
    x: Tensor
    fun: Tensor
    grad_norm: Tensor
    diverged: Tensor
    success: Tensor
    nit: Tensor
    steps_to_tol: Tensor
    method: str
    steps: int
    fstar: float | None
    steps_tol: float
    options: dict[str, Any] = field(default_factory=dict)
    tol: float | None = None

    def __len__(self) -> int:
        return len(self.x)

    @property
    def status(self) -> list[Status]:
        """How each row ended (the :class:`descend.result.Status` its single run reports)."""
        out = []
        for bad, ok in zip(self.diverged.tolist(), self.success.tolist(), strict=True):
            if bad:
                out.append(Status.DIVERGED)
            elif self.tol is None:
                out.append(Status.FINISHED)
            else:
                out.append(Status.CONVERGED if ok else Status.MAX_STEPS)
        return out

    def row(self, i: int) -> dict[str, Any]:
        """Row i's grid values as keyword arguments for :func:`descend.minimize` (``x0`` as a tensor)."""
        return {k: (v[i].clone() if k == "x0" else float(v[i])) for k, v in self.grid.items()}

    def best(self) -> int:
        """The row with the lowest final value among those that stayed finite (-1 if none did)."""
        ok = torch.isfinite(self.fun)
        if not bool(ok.any()):
            return -1
        return int(torch.where(ok, self.fun, torch.inf).argmin())

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}[{len(v.unique(dim=0))}]" for k, v in self.grid.items())
        return (
            f"SweepResult(method={self.method!r}, K={len(self)}, grid=({axes}), steps={self.steps}, "
            f"diverged={int(self.diverged.sum())}, reached={int(torch.isfinite(self.steps_to_tol).sum())})"
        )


# ----------------------------------------------------------------------------------------------------------
# The grid


def _axis(name: str, values: Any) -> Tensor:
    try:
        t = torch.as_tensor(values, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"Invalid {name}: {values!r}; expected a list or 1-D tensor of numbers") from err
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(f"Invalid {name}: shape {tuple(t.shape)}; expected a non-empty list or 1-D tensor")
    if isinstance(values, list | tuple) and any(isinstance(v, bool) for v in values):
        raise ValueError(f"Invalid {name}: {values!r}; a switch cannot be swept, run one sweep per setting")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"Invalid {name}: {values!r}; expected finite values")
    return t


def _is_axis(v: Any) -> bool:
    """Lists, arrays and 1-D tensors are grid axes; numbers, switches and tuples (``betas``) are fixed."""
    if isinstance(v, Tensor):
        return v.dim() == 1
    return isinstance(v, list) or (hasattr(v, "__array__") and getattr(v, "ndim", 0) == 1)


def _starts(x0: Any) -> tuple[Tensor, bool]:
    """(m, d) starting points, and whether x0 named several (a grid axis)."""
    x = as_start(x0)
    if x.dim() <= 1:
        return x.reshape(1, -1), False
    if x.dim() == 2:
        return x, True
    raise ValueError(f"Invalid x0: shape {tuple(x.shape)}; expected a point (d,) or a list of points (m, d)")


def _combinations(axes: dict[str, Tensor], starts: Tensor, several: bool) -> tuple[dict[str, Tensor], Tensor]:
    """Every combination, row-major in the order given (the starting points first): grid and X0."""
    sizes = ([len(starts)] if several else []) + [len(v) for v in axes.values()]
    if not sizes:
        return {}, starts.clone()
    index = torch.cartesian_prod(*[torch.arange(n) for n in sizes]).reshape(-1, len(sizes))
    cols = list(index.unbind(-1))
    grid: dict[str, Tensor] = {}
    if several:
        x = starts[cols.pop(0)].clone()
        grid["x0"] = x.clone()
    else:
        x = starts.expand(len(index), -1).clone()
    for (name, values), col in zip(axes.items(), cols, strict=True):
        grid[name] = values[col]
    return grid, x


# ----------------------------------------------------------------------------------------------------------
# Updates: the optimizer's rule on rows, or gradient descent


class _GD:
    """X ← X − ηG with per-row η."""

    def __init__(self, lr: Any) -> None:
        self.lr = lr

    def __call__(
        self, x: Tensor, g: Tensor, t: int, schedule: Callable[[int], Any] | None, given: bool
    ) -> Tensor:
        lr = self.lr if schedule is None else scheduled_lr(schedule, t, self.lr if given else None)
        return x + lr * -g


class _Rule:
    """An optimizer class's rule on a (K, d) parameter with (K, 1) hyperparameters."""

    def __init__(self, cls: Any, group: dict[str, Any], x: Tensor) -> None:
        self.cls, self.group = cls, group
        self.state = cls.init_state(x, group)

    def __call__(
        self, x: Tensor, g: Tensor, t: int, schedule: Callable[[int], Any] | None, given: bool
    ) -> Tensor:
        group = self.group
        if schedule is not None:
            group = dict(group, lr=scheduled_lr(schedule, t, group["lr"] if given else None))
        if group.get("maximize"):
            g = -g
        # update t + 1; an algorithm that counts no steps ignores it
        new_x, new_state = self.cls.rule(x, g, self.state, self.cls.scalars(group, float(t + 1)))
        self.state = {**self.state, **new_state}
        return new_x


def _group(
    cls: Any, fixed: dict[str, Any], axes: dict[str, Tensor], grid: dict[str, Tensor], x: Tensor
) -> dict:
    """The hyperparameter group the rule sees: defaults, fixed options, and (K, 1) tensors for the axes.

    Every row's values are validated by the class itself (an optimizer built on a probe), so a bad row
    raises as its single run would.
    """
    probe = torch.zeros(1, requires_grad=True)
    defaults = dict(cls([probe], **fixed).defaults)  # validates the fixed options
    betas = "betas" in defaults
    for name in axes:
        if name in _INIT_ONLY:
            raise ValueError(f"Invalid {name}: a sweep cannot vary it (it only sets the initial state)")
        if name not in defaults and not (betas and name in ("beta1", "beta2")):
            raise TypeError(f"Invalid grid axis {name!r}: {cls.__name__} has no such hyperparameter")
        if name in defaults and isinstance(defaults[name], bool):
            raise ValueError(f"Invalid {name}: a switch cannot be swept, run one sweep per setting")
        if name == "betas":
            raise ValueError("Invalid betas: sweep beta1= and beta2= instead")
    seen = set()
    for i in range(len(x)):
        row = tuple(float(grid[name][i]) for name in axes)
        if row in seen:
            continue
        seen.add(row)
        cls([probe], **optimizer_options(cls, {**fixed, **dict(zip(axes, row, strict=True))}))
    group = {name: plain(v) for name, v in defaults.items()}
    for name in axes:
        group[name] = grid[name].to(x.dtype).reshape(len(x), 1)
    if betas:  # beta1= and beta2= sweep the first two of betas (Adan has a third)
        first, second, *rest = group["betas"]
        group["betas"] = (group.pop("beta1", first), group.pop("beta2", second), *rest)
    return group


# ----------------------------------------------------------------------------------------------------------


def sweep(
    f: TensorFn,
    x0: Any,
    method: Any = "gd",
    steps: int = 100,
    *,
    tol: float | None = None,
    schedule: Callable[[int], Any] | None = None,
    noise: float = 0.0,
    seed: int | None = None,
    fstar: float | None = None,
    steps_tol: float = 1e-6,
    progress: bool = False,
    max_norm: float | None = 1e8,
    **grid: Any,
) -> SweepResult:
    """Run every combination of the grid's values at once, as rows of one batch.

    Args:
        f: a function mapping (K, d) to (K,) (leading dimensions broadcast), e.g. a catalogue function.
        x0: the start (d,), or several starts (a list of points or an (m, d) tensor), which become a grid
            axis named ``x0``.
        method: ``"gd"``, a :mod:`descend.optim` class or short name (``"sgd"``, ``"momentum"``,
            ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``, ``"adadelta"``, ``"adam"``, ``"yogi"``, ...).
        steps: the most iterations of every row.
        tol: a row stops, successful, once ‖∇f‖ ≤ tol (as in :func:`descend.minimize`).
        schedule: the learning rate of update t, or with ``lr`` (swept or fixed) a multiplier on each row's.
        noise, seed: Gaussian gradient noise, one draw per step shared by all rows (so each row sees the
            noise its single run with the same seed sees, and rows differ only by their hyperparameters).
        fstar: the minimum value, for ``steps_to_tol`` (default: ``f.fmin`` for a catalogue function).
        steps_tol: the tolerance of ``steps_to_tol``.
        progress: show a progress bar over the steps.
        max_norm: a row has diverged once ‖x_k‖ > max_norm·max(1, ‖x0‖) (None: only non-finite values).
        **grid: hyperparameters; lists, arrays and 1-D tensors are swept (``lr=[...], momentum=[...]``,
            ``beta1=[...]``), anything else is a fixed option shared by all rows.

    Returns:
        :class:`SweepResult`.
    """
    steps = count("steps", steps)
    tol = None if tol is None else positive("tol", tol)
    steps_tol = positive("steps_tol", steps_tol)
    sigma = positive("noise", noise, allow_zero=True)
    add_noise = gradient_noise(sigma, optional_seed("seed", seed)) if sigma > 0 else None
    if schedule is not None and not callable(schedule):
        raise TypeError(f"Invalid schedule: {schedule!r}; expected a callable step -> learning rate")
    if not callable(f):
        raise TypeError(f"Invalid f: {f!r}; expected a callable of a (K, d) tensor")
    starts, several = _starts(x0)
    if "x0" in grid:
        raise TypeError("Invalid grid axis 'x0': pass several starting points as x0 itself")
    axes = {k: _axis(k, v) for k, v in grid.items() if _is_axis(v)}
    fixed = {k: v for k, v in grid.items() if not _is_axis(v)}
    grid_values, x = _combinations(axes, starts, several)
    bound = norm_bound(x, max_norm)
    for name, values in grid_values.items():
        if name != "x0":
            grid_values[name] = values.to(x.dtype)

    if isinstance(method, str) and method.lower() == "gd":
        extra = sorted(set(grid) - {"lr"})
        if extra:
            raise TypeError(f"Invalid option {extra[0]!r} for method 'gd'; it takes lr")
        lr = grid_values["lr"].reshape(-1, 1) if "lr" in axes else positive("lr", grid.get("lr", 0.1))
        if "lr" in axes and not bool((grid_values["lr"] > 0).all()):
            raise ValueError(f"Invalid lr: {grid['lr']!r}; expected every lr > 0")
        update: Any = _GD(lr)
        name = "gd"
    else:
        from descend import optim

        resolved = optimizer_class(method)
        if resolved is None or not issubclass(resolved[0], optim.Optimizer):
            raise TypeError(
                f"Invalid method: {method!r}; a sweep runs 'gd' or a descend.optim optimizer "
                "(a class or a short name), whose update rule can act on rows"
            )
        cls, implied = resolved
        if not cls.sweepable:
            raise TypeError(
                f"Invalid method: {method!r}; {cls.__name__} cannot run on the rows of a sweep (see its "
                "sweepable attribute); run descend.minimize once per setting"
            )
        fixed = optimizer_options(cls, {**implied, **fixed})
        update = _Rule(cls, _group(cls, fixed, axes, grid_values, x), x)
        name = method if isinstance(method, str) else cls.__name__
    if fstar is None:
        fstar = getattr(f, "fmin", None)
    elif isinstance(fstar, bool) or not isinstance(fstar, int | float):
        raise TypeError(f"Invalid fstar: {fstar!r}; expected a number or None")
    loop = _Loop(f, update, steps, tol, add_noise, schedule, "lr" in grid, fstar, steps_tol, bound)
    return loop.run(x, name, grid_values, fixed, progress)


@dataclass
class _Loop:
    f: TensorFn
    update: Callable[..., Tensor]
    steps: int
    tol: float | None
    add_noise: Callable[[Tensor], Tensor] | None
    schedule: Callable[[int], Any] | None
    given_lr: bool
    fstar: float | None
    steps_tol: float
    bound: Tensor

    def gradient(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k = len(x)
        xg = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self.f(xg)
            if not isinstance(out, Tensor) or out.shape != (k,):
                shown = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(
                    f"Invalid f: f(X) for X of shape {tuple(x.shape)} returned {shown}; expected ({k},) "
                    "(f must broadcast over leading dimensions)"
                )
            (g,) = torch.autograd.grad(out.sum(), xg)
        return out.detach(), g

    def run(
        self, x: Tensor, name: str, grid: dict[str, Tensor], fixed: dict[str, Any], progress: bool
    ) -> SweepResult:
        k = len(x)
        active = torch.ones(k, dtype=torch.bool)
        diverged = torch.zeros(k, dtype=torch.bool)
        nit = torch.full((k,), self.steps, dtype=torch.int64)
        reached = torch.full((k,), math.inf, dtype=torch.float64)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=self.steps, desc=f"sweep {name} ({k} runs)", unit="step", disable=None, leave=False
            )
        t = 0
        while True:
            fun, g = self.gradient(x)
            norm = torch.linalg.vector_norm(g, dim=-1)
            verdict = judge(x, fun, g, self.tol, self.bound, first=t == 0)
            done = active & (verdict != GOING)
            diverged |= done & (verdict != CONVERGED)
            nit = torch.where(done, t, nit)
            active &= ~done
            hit = (fun - self.fstar <= self.steps_tol) if self.fstar is not None else (norm <= self.steps_tol)
            reached = torch.where(hit & torch.isinf(reached), float(t), reached)
            if t == self.steps or not bool(active.any()):
                break
            if self.add_noise is not None:  # one draw of shape (d,) per step, shared by the rows
                g = g + self.add_noise(torch.zeros(x.shape[-1:], dtype=x.dtype))
            new = self.update(x, g, t, self.schedule, self.given_lr)
            x = torch.where(active.unsqueeze(-1), new, x)
            t += 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        # A row that stopped on a non-finite gradient or iterate with f still finite reports inf, as diverged.
        fun = torch.where(diverged & torch.isfinite(fun), torch.inf, fun)
        success = ~diverged & ((norm <= self.tol) if self.tol is not None else torch.ones_like(diverged))
        return SweepResult(
            grid=grid,
            x=x.detach(),
            fun=fun,
            grad_norm=norm,
            diverged=diverged,
            success=success,
            nit=nit,
            steps_to_tol=reached,
            method=name,
            steps=self.steps,
            fstar=self.fstar,
            steps_tol=self.steps_tol,
            options=fixed,
            tol=self.tol,
        )


# ----------------------------------------------------------------------------------------------------------
# Theory beside measurement


def quadratic_eigenvalues(f: TensorFn, x0: Any, box: Any = None, samples: int = 3) -> Tensor | None:
    """The Hessian's eigenvalues if f is a quadratic (the same Hessian at x0 and at sample points), else None.

    Points are drawn from ``box`` (((lo, hi), ...) per coordinate, or (lo, hi) in 1-D) when given, else
    around x0, with a fixed seed.
    """
    from descend.analysis import hessian

    x = as_start(x0).reshape(-1)
    gen = torch.Generator().manual_seed(0)
    if box is not None:
        bounds = torch.tensor([box] if x.numel() == 1 else box, dtype=x.dtype).reshape(-1, 2)
        lo, hi = bounds[:, 0], bounds[:, 1]
    else:
        lo, hi = x - 1 - x.abs(), x + 1 + x.abs()
    points = [x] + [
        lo + (hi - lo) * torch.rand(x.shape, generator=gen, dtype=x.dtype) for _ in range(samples)
    ]

    def fn(z: Tensor) -> Tensor:
        return f(z.reshape(as_start(x0).shape))

    hs = [hessian(fn, p) for p in points]
    if not all(bool(torch.isfinite(h).all()) for h in hs):
        return None
    scale = max(float(h.abs().max()) for h in hs) or 1.0
    if any(float((h - hs[0]).abs().max()) > 1e-9 * scale for h in hs[1:]):
        return None
    return torch.linalg.eigvalsh(0.5 * (hs[0] + hs[0].T))


@dataclass
class TheoryCheck:
    """A heavy-ball sweep on a quadratic held against theory: per row, whether theory predicts convergence
    (ηλ < 2 + 2β for every eigenvalue λ) and whether the run converged (stayed finite and ended below
    f(x0)); cells within two grid steps of the boundary (``near``) may need more steps than the sweep took
    to show their side, and are left out of ``agreement``."""

    eigenvalues: Tensor
    momentum: Tensor
    predicted: Tensor
    measured: Tensor
    near: Tensor

    @property
    def lmax(self) -> float:
        return float(self.eigenvalues.max())

    @property
    def agreement(self) -> float:
        """The fraction of rows away from the boundary where theory and measurement agree."""
        away = ~self.near
        if not bool(away.any()):
            return math.nan
        return float((self.predicted == self.measured)[away].double().mean())

    def boundary(self, lr_axis: bool, momentum_axis: bool) -> dict[str, Any] | None:
        """The boundary to draw over a sweep map: β = ηλmax/2 − 1 over (η, β), or η = 2(1 + β)/λmax over η
        alone (β fixed); None for other axes."""
        lmax = self.lmax
        if lr_axis and momentum_axis:
            return {f"theory: ηλmax = 2 + 2β (λmax = {lmax:.3g})": lambda eta: eta * lmax / 2 - 1}
        if lr_axis:
            beta = float(self.momentum[0])
            return {f"theory: η = 2(1 + β)/λmax = {2 * (1 + beta) / lmax:.3g}": 2 * (1 + beta) / lmax}
        return None


def check_theory(result: SweepResult, f: TensorFn, x0: Any, box: Any = None) -> TheoryCheck | None:
    """Theory beside a sweep's measurement, where it applies: gradient descent or SGD with heavy-ball
    momentum (no Nesterov, dampening or weight decay) with lr swept, from one start, on a quadratic with
    positive curvature. None elsewhere."""
    opts = result.options
    heavy_ball = result.method in ("gd", "sgd", "momentum", "SGD")
    if not heavy_ball or "lr" not in result.grid or "x0" in result.grid:
        return None
    if opts.get("nesterov") or opts.get("dampening", 0) or opts.get("weight_decay", 0):
        return None
    if set(result.grid) - {"lr", "momentum"}:
        return None
    lam = quadratic_eigenvalues(f, x0, box)
    if lam is None or not bool((lam > 0).all()):
        return None
    from descend.analysis import converges

    lr = result.grid["lr"]
    momentum = result.grid.get("momentum", torch.full_like(lr, float(opts.get("momentum", 0.0))))
    predicted = converges(lr, momentum, lam)
    start = float(f(as_start(x0)))
    measured = ~result.diverged & (result.fun < start)
    values = torch.unique(lr)
    gaps = values.diff()
    step = (
        torch.zeros_like(values)
        if len(values) < 2
        else torch.maximum(torch.cat([gaps[:1], gaps]), torch.cat([gaps, gaps[-1:]]))
    )
    spacing = step[torch.searchsorted(values, lr)]
    lmax = float(lam.max())
    near = (lr * lmax - (2 + 2 * momentum)).abs() <= 2 * spacing * lmax
    return TheoryCheck(lam, momentum, predicted, measured, near)
