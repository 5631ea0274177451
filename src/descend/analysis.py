"""Analysis of objectives: Hessian spectra, critical points, convexity, projections, and stability theory.

* :func:`hessian`, :func:`eigenvalues`, :func:`describe_point` and :func:`classify`: the second-derivative
  test at a point (the chapter's optimization-intro section: a point of zero gradient is a minimum when every
  Hessian eigenvalue is positive, a maximum when all are negative, a saddle when they have both signs).
* :func:`check_convexity`: a numerical search for a violation of convexity on a box (Jensen's inequality on
  random pairs and the Hessian test on random points), returning a counterexample when it finds one.
* :func:`project_l2_ball`, :func:`project_l1_ball`, :func:`project_box`: Euclidean projections onto convex
  sets (the convexity section's constraints; gradient clipping is projection onto an ℓ2 ball).
* :func:`iteration_matrix`, :func:`spectral_radius`, :func:`rate`, :func:`converges`, :func:`max_stable_lr`,
  :func:`effective_lr`: gradient descent and heavy-ball momentum on a quadratic, in closed form. All accept
  tensors and broadcast, so a whole grid of (lr, momentum) is evaluated in one call.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from descend.checks import nonnegative

__all__ = [
    "ConvexityReport",
    "NotCriticalWarning",
    "PointInfo",
    "check_convexity",
    "classify",
    "converges",
    "describe_point",
    "effective_lr",
    "eigenvalues",
    "hessian",
    "iteration_matrix",
    "max_stable_lr",
    "project_box",
    "project_l1_ball",
    "project_l2_ball",
    "rate",
    "spectral_radius",
]

TensorFn = Callable[[torch.Tensor], torch.Tensor]
Kind = Literal["minimum", "maximum", "saddle", "degenerate"]


class NotCriticalWarning(UserWarning):
    """:func:`classify` was asked about a point whose gradient is not ~0."""


def _point(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(f"Invalid x: dtype {x.dtype}; expected a floating-point tensor")
        return x.detach()
    try:
        return torch.as_tensor(x, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"Invalid x: {x!r}; expected a tensor or a number") from err


def _scalar_out(f: TensorFn, z: torch.Tensor) -> torch.Tensor:
    out = f(z)
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        shown = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(f"f returned {shown}; expected a scalar tensor")
    return out.reshape(())


# ----------------------------------------------------------------------------------------------------------
# Second-derivative test
# ----------------------------------------------------------------------------------------------------------


def hessian(f: TensorFn, x: Any) -> torch.Tensor:
    """The Hessian ∇²f(x) as an n × n matrix (n = x.numel()), by ``torch.autograd.functional.hessian``.

    ``f`` takes a tensor shaped like ``x`` and returns a scalar tensor. A Python number or a 0-dim tensor
    gives a 1 × 1 matrix.
    """
    x = _point(x)
    h = torch.autograd.functional.hessian(lambda z: _scalar_out(f, z), x)
    return h.reshape(x.numel(), x.numel())


def eigenvalues(f: TensorFn, x: Any) -> torch.Tensor:
    """The eigenvalues of the (symmetrized) Hessian of ``f`` at ``x``, in ascending order."""
    h = hessian(f, x)
    return torch.linalg.eigvalsh(0.5 * (h + h.T))


def _gradient(f: TensorFn, x: torch.Tensor) -> tuple[float, torch.Tensor]:
    z = x.clone().requires_grad_(True)
    with torch.enable_grad():
        out = _scalar_out(f, z)
    if not out.requires_grad:
        return float(out), torch.zeros_like(x)
    (g,) = torch.autograd.grad(out, z, allow_unused=True)
    return float(out.detach()), (torch.zeros_like(x) if g is None else g.detach())


@dataclass
class PointInfo:
    """What the second-derivative test says about a point.

    Attributes:
        kind: "minimum", "maximum", "saddle" or "degenerate".
        value: f(x).
        grad_norm: ‖∇f(x)‖₂.
        eigenvalues: the Hessian's eigenvalues, ascending.
        critical: whether ‖∇f(x)‖ ≤ grad_tol, i.e. the test applies.
    """

    kind: Kind
    value: float
    grad_norm: float
    eigenvalues: torch.Tensor
    critical: bool


def _kind(eigs: torch.Tensor, tol: float) -> Kind:
    scale = max(1.0, float(eigs.abs().max())) if eigs.numel() else 1.0
    zero = tol * scale
    lo, hi = float(eigs.min()), float(eigs.max())
    if lo < -zero and hi > zero:
        return "saddle"  # indefinite: whatever the zero eigenvalues hide, directions of both signs exist
    if bool((eigs.abs() <= zero).any()):
        return "degenerate"
    return "minimum" if lo > 0 else "maximum"


def describe_point(f: TensorFn, x: Any, tol: float = 1e-8, grad_tol: float = 1e-6) -> PointInfo:
    """Value, gradient norm, Hessian eigenvalues and the second-derivative test's verdict at ``x``.

    See :func:`classify` for the rule and the meaning of ``tol``; ``critical`` says whether
    ‖∇f(x)‖ ≤ ``grad_tol``.
    """
    if not tol >= 0:
        raise ValueError(f"Invalid tol: {tol}; expected tol >= 0")
    if not grad_tol >= 0:
        raise ValueError(f"Invalid grad_tol: {grad_tol}; expected grad_tol >= 0")
    x = _point(x)
    value, g = _gradient(f, x)
    eigs = eigenvalues(f, x)
    if not bool(torch.isfinite(eigs).all()):
        raise ValueError(f"the Hessian at x has non-finite entries: eigenvalues {eigs.tolist()}")
    grad_norm = float(torch.linalg.vector_norm(g))
    return PointInfo(_kind(eigs, tol), value, grad_norm, eigs, grad_norm <= grad_tol)


def classify(f: TensorFn, x: Any, tol: float = 1e-8, grad_tol: float = 1e-6) -> Kind:
    r"""Classify a critical point by the eigenvalues λᵢ of the Hessian ∇²f(x).

    With z = ``tol``·max(1, maxᵢ|λᵢ|) the threshold below which an eigenvalue counts as zero:

    * "saddle" if some λᵢ < −z and some λⱼ > z (indefinite: f rises along one eigenvector and falls along
      another, whatever the zero eigenvalues hide);
    * else "degenerate" if some |λᵢ| ≤ z (the second-derivative test is inconclusive: x³ and x⁴ at 0);
    * else "minimum" if all λᵢ > 0 and "maximum" if all λᵢ < 0.

    The test is about critical points. If ‖∇f(x)‖ > ``grad_tol`` the verdict describes only the curvature at
    x (x is not a minimum, maximum or saddle point of f), and a :class:`NotCriticalWarning` says so; use
    :func:`describe_point` to get the gradient norm and the eigenvalues as well.
    """
    info = describe_point(f, x, tol=tol, grad_tol=grad_tol)
    if not info.critical:
        warnings.warn(
            f"x is not a critical point: |grad f(x)| = {info.grad_norm:.3g} > grad_tol = {grad_tol}; "
            f"'{info.kind}' describes the curvature only",
            NotCriticalWarning,
            stacklevel=2,
        )
    return info.kind


# ----------------------------------------------------------------------------------------------------------
# Convexity
# ----------------------------------------------------------------------------------------------------------


@dataclass
class ConvexityReport:
    """Outcome of :func:`check_convexity`.

    Attributes:
        convex: False when a counterexample was found; True means none was found (evidence, not proof).
        counterexample: None, or a dict describing the violation. For Jensen's inequality:
            ``{"test": "jensen", "x", "y", "t", "lhs": f(t·x + (1−t)·y), "rhs": t·f(x) + (1−t)·f(y),
            "gap": lhs − rhs}``; for the Hessian test: ``{"test": "hessian", "x", "min_eigenvalue"}``.
        n_pairs: pairs tested with Jensen's inequality.
        n_points: points where the Hessian was tested.
        max_jensen_gap: the largest lhs − rhs seen (≤ tolerance for a convex function).
        min_eigenvalue: the smallest Hessian eigenvalue seen.
    """

    convex: bool
    counterexample: dict[str, Any] | None
    n_pairs: int
    n_points: int
    max_jensen_gap: float
    min_eigenvalue: float


def _box(low: Any, high: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
    scalar = not isinstance(low, (Sequence, torch.Tensor)) or (
        isinstance(low, torch.Tensor) and low.dim() == 0
    )
    lo = torch.as_tensor(low, dtype=torch.float64).reshape(-1)
    hi = torch.as_tensor(high, dtype=torch.float64).reshape(-1)
    if lo.shape != hi.shape:
        raise ValueError(f"Invalid box: low has {lo.numel()} entries, high has {hi.numel()}")
    if not bool(torch.isfinite(lo).all() and torch.isfinite(hi).all()):
        raise ValueError(f"Invalid box: low={lo.tolist()}, high={hi.tolist()}; expected finite bounds")
    if not bool((lo < hi).all()):
        raise ValueError(f"Invalid box: low={lo.tolist()}, high={hi.tolist()}; expected low < high")
    return lo, hi, scalar


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor) -> torch.Tensor:
    """``fn`` on every row of ``points`` (vmapped when possible, else one row at a time)."""
    try:
        return torch.func.vmap(fn)(points)
    except Exception:
        return torch.stack([fn(p) for p in points])


def check_convexity(
    f: TensorFn,
    low: Any,
    high: Any,
    n_pairs: int = 2000,
    n_points: int = 200,
    tol: float = 1e-9,
    seed: int = 0,
) -> ConvexityReport:
    r"""Search for a violation of convexity of ``f`` on the box [low, high].

    f is convex on a convex set iff, for all x, y in it and t ∈ [0, 1] (Jensen's inequality),

        f(t·x + (1 − t)·y) ≤ t·f(x) + (1 − t)·f(y),

    and, for twice-differentiable f, iff ∇²f ⪰ 0 everywhere. This draws ``n_pairs`` random pairs (x, y) and
    t uniformly, and ``n_points`` random points (Hessian test by autograd), all with a seeded generator.
    A violation counts when lhs − rhs > tol·(1 + |rhs|), or λ_min(∇²f) < −tol·max(1, max|λ|). The largest
    violation found is returned as the counterexample. Finding none is evidence, not proof.

    Args:
        f: a function of a tensor returning a scalar tensor. With scalar ``low``/``high`` it receives 0-dim
            tensors; with sequences (the box's corners) it receives 1-D tensors of that length.
        low, high: the box, finite with low < high in every coordinate.
        n_pairs, n_points: sample sizes (either may be 0, not both).
        tol: the relative tolerance for rounding.
        seed: the random generator's seed.
    """
    lo, hi, scalar = _box(low, high)
    for name, n in (("n_pairs", n_pairs), ("n_points", n_points)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"Invalid {name}: {n!r}; expected an int >= 0")
    if n_pairs + n_points == 0:
        raise ValueError("Invalid n_pairs, n_points: both 0; expected at least one test")
    if not tol >= 0:
        raise ValueError(f"Invalid tol: {tol}; expected tol >= 0")
    gen = torch.Generator().manual_seed(seed)
    d = lo.numel()

    def draw(n: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, d, generator=gen, dtype=torch.float64)

    def as_input(p: torch.Tensor) -> torch.Tensor:
        return p.reshape(()) if scalar else p

    def value(p: torch.Tensor) -> torch.Tensor:
        return _scalar_out(f, as_input(p))

    counter: dict[str, Any] | None = None
    max_gap = -math.inf
    if n_pairs:
        xs, ys = draw(n_pairs), draw(n_pairs)
        t = torch.rand(n_pairs, 1, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            fx, fy, fm = _batched(value, xs), _batched(value, ys), _batched(value, t * xs + (1 - t) * ys)
        t = t.squeeze(1)
        rhs = t * fx + (1 - t) * fy
        gap = fm - rhs
        excess = gap - tol * (1 + rhs.abs())
        i = int(torch.argmax(torch.nan_to_num(excess, nan=-math.inf)))
        max_gap = float(gap.max())
        if float(excess[i]) > 0:
            counter = {
                "test": "jensen",
                "x": as_input(xs[i]),
                "y": as_input(ys[i]),
                "t": float(t[i]),
                "lhs": float(fm[i]),
                "rhs": float(rhs[i]),
                "gap": float(gap[i]),
            }
    min_eig = math.inf
    if n_points:
        points = draw(n_points)
        eig_rows = []
        for p in points:
            h = torch.autograd.functional.hessian(value, p).reshape(d, d)
            eig_rows.append(torch.linalg.eigvalsh(0.5 * (h + h.T)))
        eigs = torch.stack(eig_rows)
        smallest = eigs[:, 0]
        scale = eigs.abs().amax(dim=1).clamp(min=1.0)
        excess = -smallest - tol * scale
        i = int(torch.argmax(torch.nan_to_num(excess, nan=-math.inf)))
        min_eig = float(smallest.min())
        if counter is None and float(excess[i]) > 0:
            counter = {"test": "hessian", "x": as_input(points[i]), "min_eigenvalue": float(smallest[i])}
    return ConvexityReport(counter is None, counter, n_pairs, n_points, max_gap, min_eig)


# ----------------------------------------------------------------------------------------------------------
# Projections
# ----------------------------------------------------------------------------------------------------------


def _as_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(f"Invalid x: dtype {x.dtype}; expected a floating-point tensor")
        return x
    return torch.as_tensor(x, dtype=torch.float64)


def project_l2_ball(x: Any, radius: float = 1.0, dim: int | None = None) -> torch.Tensor:
    r"""Euclidean projection onto the ℓ2 ball {z : ‖z‖₂ ≤ r}: Π(x) = x·min(1, r/‖x‖₂).

    ``dim=None`` treats the whole tensor as one vector (gradient clipping by norm); an int projects each
    slice along that dimension separately.
    """
    x, r = _as_tensor(x), nonnegative("radius", radius)
    norm = torch.linalg.vector_norm(x) if dim is None else torch.linalg.vector_norm(x, dim=dim, keepdim=True)
    # Clamping the divisor at the smallest normal number keeps r/‖x‖ finite for subnormal norms.
    tiny = torch.finfo(norm.dtype).tiny
    scale = torch.where(norm > r, (r / norm.clamp(min=tiny)).clamp(max=1.0), 1.0)
    return x * scale


def project_l1_ball(x: Any, radius: float = 1.0, dim: int | None = None) -> torch.Tensor:
    r"""Euclidean projection onto the ℓ1 ball {z : ‖z‖₁ ≤ r}, exactly, by sorting (Duchi et al., 2008).

    If ‖x‖₁ ≤ r, Π(x) = x. Otherwise Π(x)ᵢ = sign(xᵢ)·max(|xᵢ| − θ, 0), where, with u = |x| sorted in
    decreasing order, ρ = max{j : u_j − (Σ_{k≤j} u_k − r)/j > 0} and θ = (Σ_{k≤ρ} u_k − r)/ρ. O(n log n).

    ``dim=None`` treats the whole tensor as one vector; an int projects each slice along that dimension.
    """
    x, r = _as_tensor(x), nonnegative("radius", radius)
    if dim is None:
        return project_l1_ball(x.reshape(1, -1), r, dim=1).reshape(x.shape)
    v = x.movedim(dim, -1)
    a = v.abs()
    u, _ = torch.sort(a, dim=-1, descending=True)
    css = torch.cumsum(u, dim=-1)
    j = torch.arange(1, u.shape[-1] + 1, dtype=u.dtype, device=u.device)
    active = u - (css - r) / j > 0
    rho = active.to(torch.int64).cumsum(-1).amax(-1, keepdim=True).clamp(min=1)  # active is a prefix
    theta = ((css.gather(-1, rho - 1) - r) / rho.to(u.dtype)).clamp(min=0)
    inside = a.sum(-1, keepdim=True) <= r
    w = torch.where(inside, v, torch.sign(v) * (a - theta).clamp(min=0))
    return w.movedim(-1, dim)


def project_box(x: Any, low: Any, high: Any) -> torch.Tensor:
    """Euclidean projection onto the box {z : low ≤ z ≤ high} (coordinate-wise clamp; bounds broadcast)."""
    x = _as_tensor(x)
    lo = torch.as_tensor(low, dtype=x.dtype, device=x.device)
    hi = torch.as_tensor(high, dtype=x.dtype, device=x.device)
    if bool((lo > hi).any()) or bool(torch.isnan(lo).any() or torch.isnan(hi).any()):
        raise ValueError(f"Invalid box: low={low}, high={high}; expected low <= high")
    return torch.minimum(torch.maximum(x, lo), hi)


# ----------------------------------------------------------------------------------------------------------
# GD and heavy-ball momentum on a quadratic
# ----------------------------------------------------------------------------------------------------------


def _grid(*values: Any) -> list[torch.Tensor]:
    """The arguments as tensors of one dtype: that of the float tensors given (promoted), else float64."""
    floats = [v.dtype for v in values if isinstance(v, torch.Tensor) and v.is_floating_point()]
    dtype = torch.float64
    if floats:
        dtype = floats[0]
        for other in floats[1:]:
            dtype = torch.promote_types(dtype, other)
    return [torch.as_tensor(v).to(dtype) for v in values]


def iteration_matrix(lr: Any, momentum: Any, eigenvalue: Any) -> torch.Tensor:
    r"""The matrix T of heavy-ball momentum along one eigenvector of a quadratic, shape (..., 2, 2).

    On f(x) = λx²/2 the update v ← βv + ∇f(x), x ← x − ηv (the chapter's momentum; torch's SGD with
    ``momentum`` and ``dampening=0``) is x_{t+1} = x_t − ηλx_t + β(x_t − x_{t−1}), i.e.

        [x_{t+1}, x_t]ᵀ = T·[x_t, x_{t−1}]ᵀ,   T = [[1 + β − ηλ, −β], [1, 0]].

    β = 0 is gradient descent (T's eigenvalues 1 − ηλ and 0). Arguments broadcast.
    """
    lr, momentum, lam = _grid(lr, momentum, eigenvalue)
    a = 1 + momentum - lr * lam
    a, b = torch.broadcast_tensors(a, -momentum)
    one, zero = torch.ones_like(a), torch.zeros_like(a)
    return torch.stack([torch.stack([a, b], -1), torch.stack([one, zero], -1)], -2)


def spectral_radius(lr: Any, momentum: Any = 0.0, eigenvalue: Any = 1.0) -> torch.Tensor:
    r"""The spectral radius ρ(T) of :func:`iteration_matrix`, in closed form (broadcasts).

    T's eigenvalues are the roots of z² − a·z + β = 0 with a = 1 + β − ηλ. If a² ≥ 4β they are real and
    ρ = (|a| + √(a² − 4β))/2; otherwise they are a complex pair of modulus √β. For β = 0, ρ = |1 − ηλ|.
    The error along the eigenvector shrinks like ρᵗ: ρ < 1 means convergence, ρ > 1 divergence.
    """
    lr, momentum, lam = _grid(lr, momentum, eigenvalue)
    a = 1 + momentum - lr * lam
    disc = a * a - 4 * momentum
    real = 0.5 * (a.abs() + disc.clamp(min=0).sqrt())
    return torch.where(disc >= 0, real, momentum.abs().sqrt())


def _eigenvalue_axis(eigenvalues: Any) -> torch.Tensor:
    lam = torch.as_tensor(eigenvalues)
    if lam.dim() > 1:
        raise ValueError(
            f"Invalid eigenvalues: shape {tuple(lam.shape)}; expected a number or a 1-D sequence"
        )
    if lam.numel() == 0:
        raise ValueError("Invalid eigenvalues: empty; expected at least one eigenvalue")
    return lam.reshape(-1)


def rate(lr: Any, momentum: Any, eigenvalues: Any) -> torch.Tensor:
    """The linear convergence rate on a quadratic with Hessian eigenvalues λ₁…λ_k: maxᵢ ρ(T(η, β, λᵢ)).

    ``lr`` and ``momentum`` broadcast to a grid; the result has the grid's shape.
    """
    lam = _eigenvalue_axis(eigenvalues)
    lr, momentum, lam = _grid(lr, momentum, lam)
    return spectral_radius(lr.unsqueeze(-1), momentum.unsqueeze(-1), lam).amax(-1)


def converges(lr: Any, momentum: Any, eigenvalues: Any) -> torch.Tensor:
    r"""Whether GD / heavy ball converges on a quadratic with Hessian eigenvalues λᵢ (a bool tensor).

    ρ(T) < 1 exactly when |β| < 1 and 0 < ηλ < 2(1 + β) for every λᵢ (Schur–Cohn conditions for
    z² − (1 + β − ηλ)z + β). For the usual 0 ≤ β < 1 this is the chapter's rule: gradient descent (β = 0)
    converges iff 0 < ηλ < 2, heavy ball iff 0 < ηλ < 2 + 2β. A zero or negative eigenvalue never converges
    (the iterates stay put or grow along it). Computed from the inequalities, so exact on the boundary.
    """
    lam = _eigenvalue_axis(eigenvalues)
    lr, momentum, lam = _grid(lr, momentum, lam)
    eta_lam = lr.unsqueeze(-1) * lam
    beta = momentum.unsqueeze(-1)
    ok = (beta.abs() < 1) & (eta_lam > 0) & (eta_lam < 2 * (1 + beta))
    return ok.all(-1)


def max_stable_lr(eigenvalues: Any, momentum: Any = 0.0) -> torch.Tensor:
    r"""The stability boundary η* = 2(1 + β)/λ_max: GD / heavy ball converges for 0 < η < η* (λ > 0).

    ``momentum`` may be a tensor (the boundary curve of a (lr, β) map).
    """
    lam = _eigenvalue_axis(eigenvalues)
    if not bool((lam > 0).all()):
        raise ValueError(f"Invalid eigenvalues: {lam.tolist()}; expected all > 0")
    (beta,) = _grid(momentum)
    return 2 * (1 + beta) / lam.max().to(beta.dtype)


def effective_lr(lr: Any, momentum: Any) -> torch.Tensor:
    r"""The effective step size of momentum, η/(1 − β): the step the velocity settles to under a constant
    gradient, v → g/(1 − β). Broadcasts; β = 1 gives inf."""
    lr, momentum = _grid(lr, momentum)
    return lr / (1 - momentum)
