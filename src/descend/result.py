"""The one result type of every search and minimizer (scipy's ``OptimizeResult``, typed), and the one
status every run ends with: a search, a minimization, each row of a sweep, a training run.

============  ========  ===============================================================================
status        success   meaning
============  ========  ===============================================================================
converged     yes       met the tolerance it was given (a gradient norm, a bracket width)
finished      yes       ran every step or epoch it was given, with finite values (no tolerance asked)
max_steps     no        stopped at its limit of steps before meeting the tolerance
diverged      no        a value became NaN or infinite, or the iterate ran beyond ``max_norm``
failed        no        the method could not go on (a singular Hessian, a line search that found no step)
running       no        not over yet (a checkpoint's copy of a training run)
============  ========  ===============================================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["Result", "Status"]


class Status(enum.StrEnum):
    """How a run ended (see the module docstring); equal to its text: ``Status.DIVERGED == "diverged"``."""

    CONVERGED = "converged"
    FINISHED = "finished"
    MAX_STEPS = "max_steps"
    DIVERGED = "diverged"
    FAILED = "failed"
    RUNNING = "running"

    @property
    def success(self) -> bool:
        """Whether a run that ended so did what it was asked: converged, or finished with finite values."""
        return self in (Status.CONVERGED, Status.FINISHED)


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
        status: how the run ended (:class:`Status`); by default ``converged`` for a success, else ``failed``.
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
    status: Status | None = None

    def __post_init__(self) -> None:
        if self.status is None:
            self.status = Status.CONVERGED if self.success else Status.FAILED
        elif self.status.success != bool(self.success):
            raise ValueError(f"Invalid status: {self.status!r} with success={self.success}")

    def __repr__(self) -> str:
        def show(v: Any) -> str:
            if isinstance(v, torch.Tensor):
                return f"tensor(shape={tuple(v.shape)})" if v.numel() > 6 else repr(v.detach().tolist())
            return repr(v)

        names = ["x", "fun", "nit", "nfev", "njev", "nhev", "success", "message"]
        body = ", ".join(f"{n}={show(getattr(self, n))}" for n in names)
        return f"Result({body}, status={str(self.status)!r})"
