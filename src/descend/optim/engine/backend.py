"""The seam between the optimizers and the ways of running their rule: a batch of work and a backend."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from descend.optim.rule import Rule, Scalars

#: Tensor types whose memory may be walked through its address, or handed to other threads: plain ones,
#: not subclasses such as DTensor (no single address; its operations talk to other processes in order).
PLAIN = (Tensor, torch.nn.Parameter)


@dataclass
class OnDevice:
    """A step whose scalars a kernel computes itself, from the hyperparameters and counters on the device.

    ``scalars`` is the algorithm's ``scalars(group, step)``; ``hyper`` the group's hyperparameters as they are
    (a tensor ``lr`` stays a tensor); ``steps`` each parameter's step counter, not yet advanced (None for an
    algorithm that counts no steps); ``grad_scale`` and ``found_inf`` are GradScaler's, where it passed them.
    """

    scalars: Callable[[Any, Any], Scalars]
    hyper: dict[str, Any]
    steps: list[Tensor] | None
    grad_scale: Tensor | None = None
    found_inf: Tensor | None = None


@dataclass
class Batch:
    """Parameters that one backend updates in one call: same device, dtype, state keys and step.

    ``keys`` name the state tensors the rule reads, in the order kernels list them; ``dtype`` is the real
    dtype the update computes in (a complex parameter is updated through its real view). The rule may
    create state (SGD's momentum buffer on its first step): a backend stores it with
    ``keep(i, key, tensor)`` for ``params[i]``. With ``on_device``, ``h`` is None: the step is counted on the
    device and only a backend that ``counts_on_device`` runs the batch.
    """

    rule: Rule
    h: Scalars
    keys: tuple[str, ...]
    maximize: bool
    device: torch.device
    dtype: torch.dtype
    params: list[Tensor]
    grads: list[Tensor]
    states: list[dict[str, Any]]
    keep: Callable[[int, str, Tensor], None]
    on_device: OnDevice | None = None

    def __len__(self) -> int:
        return len(self.params)

    def part(self, indices: list[int]) -> Batch:
        """The same work restricted to ``params[i]`` for ``i`` in ``indices``."""

        def keep(i: int, key: str, t: Tensor) -> None:
            self.keep(indices[i], key, t)

        on = self.on_device
        if on is not None and on.steps is not None:
            on = dataclasses.replace(on, steps=[on.steps[i] for i in indices])
        return Batch(
            self.rule, self.h, self.keys, self.maximize, self.device, self.dtype,
            [self.params[i] for i in indices], [self.grads[i] for i in indices],
            [self.states[i] for i in indices], keep, on,
        )  # fmt: skip


class CompileError(RuntimeError):
    """A backend could not build a kernel here (no compiler, a failed compilation)."""


class Backend(Protocol):
    """A way of running an update rule (see :mod:`descend.optim.engine`).

    A backend that builds kernels raises :class:`CompileError` from :meth:`run` (before writing anything)
    when one cannot be built; the dispatch then calls its ``disable(reason)``, so that the default path
    stops choosing it, and hands the batch to the next backend.
    """

    name: str

    def unavailable(self, device: torch.device, dtype: torch.dtype) -> str | None:
        """Why this backend cannot update tensors of ``dtype`` on ``device`` here, or None if it can."""
        ...

    def run(self, batch: Batch) -> Batch | None:
        """Update ``batch`` in place; return the part it could not take (for the loop), or None."""
        ...
