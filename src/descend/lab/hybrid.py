"""Muon beside AdamW: Muon orthogonalises the update of a weight *matrix*, so a model's other parameters
(biases, convolution kernels, embeddings' vectors) need another optimizer; Muon's authors and
``torch.optim.Muon``'s documentation use AdamW. :class:`Hybrid` steps several optimizers over disjoint
parameters as one ``torch.optim.Optimizer``, so that :func:`descend.train.fit` trains with it as with any
other."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

__all__ = ["Hybrid", "with_adamw"]

#: AdamW's learning rate beside Muon when ``adamw_lr`` is not given.
ADAMW_LR = 1e-3


class Hybrid(torch.optim.Optimizer):
    """Several optimizers over disjoint parameters, stepped together. ``param_groups`` are theirs (the
    same dicts, so a change of learning rate reaches them), the first optimizer's first."""

    def __init__(self, parts: Sequence[torch.optim.Optimizer]) -> None:
        if not parts:
            raise ValueError("Invalid parts: empty; expected at least one optimizer")
        params = [p for part in parts for g in part.param_groups for p in g["params"]]
        super().__init__(params, {})
        self.parts = list(parts)
        self.param_groups = [g for part in self.parts for g in part.param_groups]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for part in self.parts:
            part.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        for part, state in zip(self.parts, state_dict["parts"], strict=True):
            part.load_state_dict(state)


def with_adamw(cls: type[torch.optim.Optimizer], model: torch.nn.Module, kwargs: dict[str, Any]) -> Any:
    """``cls`` (Muon) over ``model``'s matrices and AdamW (at ``kwargs["adamw_lr"]``, default
    :data:`ADAMW_LR`) over the rest; ``cls`` alone when every parameter is a matrix."""
    kwargs = dict(kwargs)
    adamw_lr = float(kwargs.pop("adamw_lr", ADAMW_LR))
    params = [p for p in model.parameters() if p.requires_grad]
    matrices = [p for p in params if p.ndim == 2]
    others = [p for p in params if p.ndim != 2]
    if not matrices:
        raise ValueError(f"Invalid model for {cls.__name__}: it has no matrix parameters")
    first = cls(matrices, **kwargs)
    if not others:
        return first
    return Hybrid([first, torch.optim.AdamW(others, lr=adamw_lr)])
