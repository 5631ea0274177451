"""What :func:`descend.minimize` and :func:`descend.sweep` share: the start, gradient noise, optimizer
classes as methods, and the one stopping rule.

A sweep runs K rows at once and a minimization is the case K = 1: both judge every iterate with
:func:`judge`, so a row of a sweep stops exactly where its single run stops.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from descend.checks import positive

#: Verdicts of :func:`judge`, per row.
GOING, CONVERGED, NOT_FINITE, TOO_FAR = 0, 1, 2, 3


def judge(x: Tensor, fun: Tensor, grad: Tensor, tol: float | None, bound: Tensor, first: bool) -> Tensor:
    """The verdict on K iterates (x: K × d, fun: K, grad: K × d): ``NOT_FINITE`` where f, x or ∇f is not
    finite, ``TOO_FAR`` where ‖x‖ exceeds the row's ``bound`` (not at the start), ``CONVERGED`` where
    ‖∇f‖ ≤ ``tol``, else ``GOING``; in that order of precedence."""
    finite = torch.isfinite(fun) & torch.isfinite(x).all(-1) & torch.isfinite(grad).all(-1)
    verdict = torch.full(fun.shape, GOING, dtype=torch.int8)
    if tol is not None:
        verdict[torch.linalg.vector_norm(grad, dim=-1) <= tol] = CONVERGED
    if not first:
        verdict[torch.linalg.vector_norm(x, dim=-1) > bound] = TOO_FAR
    verdict[~finite] = NOT_FINITE
    return verdict


def as_start(x0: Any) -> Tensor:
    """The starting point as a detached floating tensor (numbers and lists become float64)."""
    if isinstance(x0, Tensor):
        if not x0.is_floating_point():
            raise TypeError(f"Invalid x0: dtype {x0.dtype}; expected a floating-point tensor")
        return x0.detach().clone()
    try:
        return torch.as_tensor(x0, dtype=torch.float64).clone()
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"Invalid x0: {x0!r}; expected a tensor, a number or a list of numbers") from err


def norm_bound(starts: Tensor, max_norm: Any) -> Tensor:
    """Per row of ``starts`` (K × d), the iterate norm beyond which a run counts as diverged:
    max_norm·max(1, ‖x0‖) (inf for ``max_norm=None``)."""
    if max_norm is None:
        return torch.full(starts.shape[:1], math.inf, dtype=torch.float64)
    scale = torch.linalg.vector_norm(starts.double(), dim=-1).clamp(min=1.0)
    return positive("max_norm", max_norm) * scale


def gradient_noise(sigma: float, seed: int | None) -> Callable[[Tensor], Tensor]:
    """g ↦ g + σξ, ξ ~ N(0, I) from a generator seeded with ``seed`` (the global one when seed is None)."""
    if sigma == 0.0:
        return lambda g: g
    generator = None if seed is None else torch.Generator().manual_seed(seed)

    def add(g: Tensor) -> Tensor:
        return g + sigma * torch.randn(g.shape, generator=generator, dtype=g.dtype).to(g.device)

    return add


def optimizer_class(method: Any) -> tuple[type[torch.optim.Optimizer], dict[str, Any]] | None:
    """The optimizer class a method stands for (a class, or a short name of descend.optim), or None."""
    if isinstance(method, type) and issubclass(method, torch.optim.Optimizer):
        return method, {}
    if isinstance(method, str):
        from descend import optim

        if method.lower() in optim.METHODS:
            return optim.resolve(method)
    return None


def optimizer_options(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with ``beta1``/``beta2`` folded into ``betas`` (for the classes that take betas)."""
    if "beta1" not in options and "beta2" not in options:
        return options
    params = inspect.signature(cls.__init__).parameters
    if "betas" not in params:
        name = "beta1" if "beta1" in options else "beta2"
        raise TypeError(f"Invalid option {name!r}: {cls.__name__} takes no betas")
    out = dict(options)
    beta1, beta2, *rest = out.pop("betas", params["betas"].default)  # Adan has a third beta
    out["betas"] = (out.pop("beta1", beta1), out.pop("beta2", beta2), *rest)
    return out


def optimizer_arguments(cls: type) -> dict[str, Any]:
    """The keyword arguments an optimizer class takes besides its parameters, with their defaults
    (``beta1``/``beta2`` too where it takes ``betas``)."""
    params = inspect.signature(cls.__init__).parameters
    out = {n: p.default for n, p in params.items() if n not in ("self", "params") and p.kind != p.VAR_KEYWORD}
    if "betas" in out and isinstance(out["betas"], tuple):
        out["beta1"], out["beta2"] = out["betas"][:2]
    return out
