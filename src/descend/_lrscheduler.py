"""The torch adapter of :mod:`descend.schedules`: :class:`LRScheduler` drives any torch optimizer with a
schedule. Private: :mod:`descend.schedules` is the way in."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.lr_scheduler import LRScheduler as _TorchLRScheduler

from descend._schedule_base import Schedule

# ----------------------------------------------------------------------------------------------------------
# the torch adapter


class LRScheduler(_TorchLRScheduler):
    r"""Drives any ``torch.optim.Optimizer`` with a :class:`Schedule`.

    After construction the optimizer's groups hold the rate of step 0; after k calls of :meth:`step`
    (one after each ``optimizer.step()``), that of step k.

    Group rates. When every group starts with the same lr, each group's lr is ``schedule(k)`` (the
    schedule is the learning rate). When the groups start with different lrs, each keeps its share:
    ``lr_g(k) = initial_lr_g · schedule(k) / schedule.peak_lr``, so a group's initial lr is its peak.
    For every schedule that starts at its peak (all the decays) this is ``initial_lr_g ·
    schedule(k)/schedule(0)``, and the groups start at their own lrs. Dividing by the peak instead of by
    ``schedule(0)`` keeps warmup sound: a warmup from 0 has ``schedule(0) = 0``, and each group then rises
    from ``initial_lr_g · warmup_begin_lr/base_lr`` to its own initial lr at the end of warmup (and in
    ``one_cycle``, each group's initial lr is its ``max_lr``, as with ``OneCycleLR(max_lr=[...])``).
    ``scale_groups=True`` or ``False`` forces one rule or the other.

    Resuming. :meth:`state_dict` holds plain numbers only (the step count and the groups' initial lrs;
    not the schedule, which the code that resumes constructs again), so it survives
    ``torch.save``/``torch.load(weights_only=True)``. :meth:`load_state_dict` restores the step and sets
    every group's lr for it, so a resumed run sets the same lr at every later step as a run never stopped,
    whether the optimizer's state is loaded before or after.

    Args:
        optimizer: any ``torch.optim.Optimizer`` (torch's or descend's).
        schedule: a :class:`Schedule`.
        scale_groups: ``None`` (default) to scale only when the groups' initial lrs differ; ``True`` to
            always scale them; ``False`` to set every group to ``schedule(k)``.
        last_epoch: the last step taken, to resume by hand as torch's schedulers do (default −1: start).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        *,
        scale_groups: bool | None = None,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"Invalid schedule: {schedule!r}; expected a descend.schedules.Schedule")
        if scale_groups is not None and not isinstance(scale_groups, bool):
            raise TypeError(f"Invalid scale_groups: {scale_groups!r}; expected None, True or False")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"Invalid last_epoch: {last_epoch!r}; expected an integer >= -1")
        self.schedule = schedule
        self.scale_groups = scale_groups
        super().__init__(optimizer, last_epoch)

    def _scaling(self) -> bool:
        if self.scale_groups is not None:
            return self.scale_groups
        return len({float(lr) for lr in self.base_lrs}) > 1

    def _lrs_at(self, step: int) -> list[float | Tensor]:
        value = self.schedule(step)
        if not self._scaling():
            return [value] * len(self.optimizer.param_groups)
        peak = self.schedule.peak_lr
        ratio = value / peak if peak > 0 else 0.0
        return [base * ratio for base in self.base_lrs]

    def get_lr(self) -> list[float | Tensor]:
        """The lrs of step ``last_epoch`` for each group (a closed form: no dependence on past lrs)."""
        return self._lrs_at(self.last_epoch)

    _get_closed_form_lr = get_lr

    def state_dict(self) -> dict[str, Any]:
        """The step count, the groups' initial lrs, the last lrs and the group rule: plain values only."""
        return {
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "base_lrs": list(self.base_lrs),
            "_last_lr": list(self._last_lr),
            "scale_groups": self.scale_groups,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the step (and initial lrs) from :meth:`state_dict` and set the groups' lrs for it."""
        if "last_epoch" not in state_dict:
            raise ValueError(
                f"Invalid state_dict: keys {sorted(state_dict)!r}; expected a 'last_epoch' entry"
            )
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict.get("_step_count", self.last_epoch + 1))
        if "base_lrs" in state_dict:
            base_lrs = list(state_dict["base_lrs"])
            if len(base_lrs) != len(self.optimizer.param_groups):
                raise ValueError(
                    f"Invalid state_dict: {len(base_lrs)} base_lrs for "
                    f"{len(self.optimizer.param_groups)} parameter groups"
                )
            self.base_lrs = base_lrs
        self.scale_groups = state_dict.get("scale_groups", self.scale_groups)
        for group, lr in zip(self.optimizer.param_groups, self._lrs_at(self.last_epoch), strict=True):
            if isinstance(group["lr"], Tensor):
                group["lr"].fill_(float(lr))
            else:
                group["lr"] = lr
        self._last_lr = [
            g["lr"].clone() if isinstance(g["lr"], Tensor) else g["lr"] for g in self.optimizer.param_groups
        ]
