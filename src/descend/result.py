"""The one result type of every search and minimizer (scipy's ``OptimizeResult``, typed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Result:
    """Outcome of a search or a minimization.

    Attributes:
        x: the solution (a float for one-dimensional searches and line searches, where it is the step
            length along the direction; a tensor for minimizers).
        fun: the objective at ``x``.
        nit: iterations taken.
        nfev: objective evaluations.
        success: whether the method met its stopping criterion with finite values.
        message: why it stopped, in words.
        njev: gradient (or derivative) evaluations.
        nhev: Hessian evaluations.
        path: the iterates, ``path[0]`` being the start (minimizers only).
        values: the objective at each iterate (minimizers only).
        grad_norms: the gradient norm at each iterate (minimizers only).
        extra: anything else a method reports (bracket ends, the accepted step's derivative, ...).
    """

    x: Any
    fun: Any
    nit: int
    nfev: int
    success: bool
    message: str
    njev: int = 0
    nhev: int = 0
    path: torch.Tensor | None = None
    values: torch.Tensor | None = None
    grad_norms: torch.Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        def show(v: Any) -> str:
            if isinstance(v, torch.Tensor):
                return f"tensor(shape={tuple(v.shape)})" if v.numel() > 6 else repr(v.detach().tolist())
            return repr(v)

        names = ["x", "fun", "nit", "nfev", "njev", "nhev", "success", "message"]
        body = ", ".join(f"{n}={show(getattr(self, n))}" for n in names)
        return f"Result({body})"
