"""Linear ramps, warmup, the cosine family, 1cycle and :class:`join`: the schedules of
:mod:`descend.schedules` that have more than one phase. Private: :mod:`descend.schedules` is the way in."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from descend._schedule_base import (
    Math,
    Schedule,
    Steps,
    _increasing_steps,
)
from descend.checks import integer, nonnegative, positive, real


def _ramp(t: Steps, xp: Math, start: float, end: float, steps: int) -> Steps:
    """start + (end − start)·min(t, steps)/steps, and ``end`` throughout when steps = 0."""
    if steps == 0:
        return xp.full(t, end)
    return start + (end - start) * xp.clamp(t, high=steps) / steps


@dataclass(frozen=True)
class linear(Schedule):
    """η(t) = start_lr + (end_lr − start_lr)·min(t, n)/n, n = ``steps`` (optax's ``linear_schedule``).

    Torch's ``LinearLR(start_factor, end_factor, total_iters)`` on a group with lr η₀ is
    ``linear(η₀·start_factor, η₀·end_factor, total_iters)``.

    Args:
        start_lr: the rate at step 0, ≥ 0.
        end_lr: the rate from step n on, ≥ 0.
        steps: n ≥ 1.
    """

    start_lr: float
    end_lr: float
    steps: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_lr", nonnegative("start_lr", self.start_lr))
        object.__setattr__(self, "end_lr", nonnegative("end_lr", self.end_lr))
        object.__setattr__(self, "steps", integer("steps", self.steps, minimum=1))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        return _ramp(t, xp, self.start_lr, self.end_lr, self.steps)

    @property
    def peak_lr(self) -> float:
        return max(self.start_lr, self.end_lr)


@dataclass(frozen=True)
class linear_warmup(Schedule):
    """η(t) = warmup_begin_lr + (base_lr − warmup_begin_lr)·min(t, w)/w, w = ``warmup_steps``.

    The chapter's linear warmup, then constant at ``base_lr``; put another schedule after it with
    :func:`join`, e.g. ``join([linear_warmup(0.1, 5), exponential(0.1, 0.01)], [5])``.

    Args:
        base_lr: the rate reached at step w, ≥ 0.
        warmup_steps: w ≥ 0 (0: constant ``base_lr``).
        warmup_begin_lr: the rate at step 0, ≥ 0 (default 0).
    """

    base_lr: float
    warmup_steps: int
    warmup_begin_lr: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "warmup_steps", integer("warmup_steps", self.warmup_steps, minimum=0))
        object.__setattr__(self, "warmup_begin_lr", nonnegative("warmup_begin_lr", self.warmup_begin_lr))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        return _ramp(t, xp, self.warmup_begin_lr, self.base_lr, self.warmup_steps)

    @property
    def peak_lr(self) -> float:
        return max(self.base_lr, self.warmup_begin_lr)


def _half_cosine(progress: Steps, xp: Math, start: float, end: float) -> Steps:
    """end + (start − end)(1 + cos(π·progress))/2: from ``start`` at 0 to ``end`` at 1."""
    return end + (start - end) * (1.0 + xp.cos(math.pi * progress)) / 2.0


@dataclass(frozen=True)
class cosine(Schedule):
    r"""Cosine decay with linear warmup, as the chapter's ``CosineScheduler`` defines it.

    With η₀ = ``base_lr``, η_T = ``final_lr``, η_w = ``warmup_begin_lr``, w = ``warmup_steps`` and
    T = ``max_steps`` (d2l's ``max_update``)::

        η(t) = η_w + (η₀ − η_w)·t/w                              for t < w
        η(t) = η_T + (η₀ − η_T)(1 + cos(π(t − w)/(T − w)))/2     for w ≤ t ≤ T
        η(t) = η_T                                               for t > T

    With no warmup this is torch's ``CosineAnnealingLR(T_max=T, eta_min=η_T)`` for t ≤ T.

    Args:
        base_lr: η₀ ≥ 0.
        max_steps: T ≥ 1, the step at which ``final_lr`` is reached.
        final_lr: η_T ≥ 0 (default 0).
        warmup_steps: 0 ≤ w ≤ T (default 0).
        warmup_begin_lr: η_w ≥ 0 (default 0).
    """

    base_lr: float
    max_steps: int
    final_lr: float = 0.0
    warmup_steps: int = 0
    warmup_begin_lr: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "max_steps", integer("max_steps", self.max_steps, minimum=1))
        object.__setattr__(self, "final_lr", nonnegative("final_lr", self.final_lr))
        warmup = integer("warmup_steps", self.warmup_steps, minimum=0)
        if warmup > self.max_steps:
            raise ValueError(
                f"Invalid warmup_steps: {warmup!r}; expected warmup_steps <= max_steps ({self.max_steps})"
            )
        object.__setattr__(self, "warmup_steps", warmup)
        object.__setattr__(self, "warmup_begin_lr", nonnegative("warmup_begin_lr", self.warmup_begin_lr))

    def _eval(self, t: Steps, xp: Math) -> Steps:
        w, total = self.warmup_steps, self.max_steps
        warm = _ramp(t, xp, self.warmup_begin_lr, self.base_lr, w)
        # when w == T the cosine part has no steps: guard the 0/0, t >= T gives final_lr anyway
        progress = xp.clamp((t - w) / max(total - w, 1), 0.0, 1.0)
        decay = _half_cosine(progress, xp, self.base_lr, self.final_lr)
        decay = xp.where(t >= total, xp.full(t, self.final_lr), decay)
        return xp.where(t < w, warm, decay)

    @property
    def peak_lr(self) -> float:
        return max(self.base_lr, self.final_lr, self.warmup_begin_lr)


@dataclass(frozen=True)
class cosine_warm_restarts(Schedule):
    r"""Cosine annealing with warm restarts (SGDR; torch's ``CosineAnnealingWarmRestarts``).

    Cycle i lasts T_i = T₀·m^i steps (T₀ = ``period``, m = ``period_mult``); with t_cur the steps since
    the cycle began, η(t) = η_min + (η₀ − η_min)(1 + cos(π·t_cur/T_i))/2. Each cycle starts at η₀ and
    restarts just before reaching η_min.

    Args:
        base_lr: η₀ ≥ 0 (torch's initial lr).
        period: T₀ ≥ 1 (torch's ``T_0``).
        period_mult: m ≥ 1, an integer (torch's ``T_mult``; default 1).
        min_lr: η_min ≥ 0 (torch's ``eta_min``; default 0).
    """

    base_lr: float
    period: int
    period_mult: int = 1
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "period", integer("period", self.period, minimum=1))
        object.__setattr__(self, "period_mult", integer("period_mult", self.period_mult, minimum=1))
        object.__setattr__(self, "min_lr", nonnegative("min_lr", self.min_lr))

    def _cycle(self, t: Steps, xp: Math) -> tuple[Steps, Steps]:
        """(steps since the current cycle began, length of the current cycle)."""
        t0, m = float(self.period), float(self.period_mult)
        if self.period_mult == 1:
            return t % t0, xp.full(t, t0)

        def start(n: Steps) -> Steps:  # first step of cycle n: T₀(mⁿ − 1)/(m − 1)
            return t0 * (m**n - 1.0) / (m - 1.0)

        n = xp.floor(xp.log(t / t0 * (m - 1.0) + 1.0) / math.log(m))
        # the logarithm can land a hair on the wrong side of a restart: settle it with exact sums
        n = xp.where(t < start(n), n - 1.0, n)
        n = xp.where(t >= start(n + 1.0), n + 1.0, n)
        return t - start(n), t0 * m**n

    def _eval(self, t: Steps, xp: Math) -> Steps:
        since, length = self._cycle(t, xp)
        return _half_cosine(since / length, xp, self.base_lr, self.min_lr)

    @property
    def peak_lr(self) -> float:
        return max(self.base_lr, self.min_lr)


@dataclass(frozen=True)
class one_cycle(Schedule):
    r"""The 1cycle policy, as torch's ``OneCycleLR`` sets the learning rate.

    It starts at η_s = max_lr/div_factor, anneals up to ``max_lr`` until step pct_start·N − 1, then down to
    η_min = η_s/final_div_factor at step N − 1 (N = ``total_steps``) and stays there. With
    ``three_phase`` it comes back to η_s at step 2·pct_start·N − 2 and then anneals to η_min. Between
    phase ends s and e the annealing is, with p = (t − s)/(e − s), ``"cos"``:
    end + (start − end)(1 + cos(πp))/2 or ``"linear"``: start + (end − start)·p.

    Momentum cycling (torch's ``cycle_momentum``) is not part of a learning-rate schedule.

    Args:
        max_lr: the peak, ≥ 0.
        total_steps: N ≥ 1.
        pct_start: the fraction of the steps spent rising, 0 ≤ pct_start ≤ 1 (≤ 0.5 with three phases).
        anneal_strategy: ``"cos"`` or ``"linear"``.
        div_factor: η_s = max_lr/div_factor, > 0 (default 25).
        final_div_factor: η_min = η_s/final_div_factor, > 0 (default 1e4).
        three_phase: the paper's three phases instead of fastai's two (default False).
    """

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: Literal["cos", "linear"] = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_lr", nonnegative("max_lr", self.max_lr))
        object.__setattr__(self, "total_steps", integer("total_steps", self.total_steps, minimum=1))
        if not isinstance(self.three_phase, bool):
            raise TypeError(f"Invalid three_phase: {self.three_phase!r}; expected a bool")
        pct = real("pct_start", self.pct_start)
        highest = 0.5 if self.three_phase else 1.0
        if not 0 <= pct <= highest:
            raise ValueError(
                f"Invalid pct_start: {pct!r}; expected 0 <= pct_start <= {highest}"
                + (" with three_phase=True" if self.three_phase else "")
            )
        object.__setattr__(self, "pct_start", pct)
        if self.anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"Invalid anneal_strategy: {self.anneal_strategy!r}; expected 'cos' or 'linear'")
        object.__setattr__(self, "div_factor", positive("div_factor", self.div_factor))
        object.__setattr__(self, "final_div_factor", positive("final_div_factor", self.final_div_factor))

    def _phases(self) -> list[tuple[float, float, float]]:
        """(last step, start value, end value) of each phase, as torch's ``OneCycleLR`` lays them out."""
        n, pct = self.total_steps, self.pct_start
        initial = self.max_lr / self.div_factor
        lowest = initial / self.final_div_factor
        if self.three_phase:
            return [
                (pct * n - 1.0, initial, self.max_lr),
                (2.0 * pct * n - 2.0, self.max_lr, initial),
                (n - 1.0, initial, lowest),
            ]
        return [(pct * n - 1.0, initial, self.max_lr), (n - 1.0, self.max_lr, lowest)]

    def _anneal(self, xp: Math, start: float, end: float, progress: Steps) -> Steps:
        if self.anneal_strategy == "cos":
            return _half_cosine(progress, xp, start, end)
        return start + (end - start) * progress

    def _eval(self, t: Steps, xp: Math) -> Steps:
        # each step is in the first phase whose last step it has not passed (the last phase takes the rest)
        phases = self._phases()
        begins = [0.0] + [end for end, _, _ in phases[:-1]]
        out = None
        for begin, (end_step, start_lr, end_lr) in reversed(list(zip(begins, phases, strict=True))):
            span = end_step - begin
            # a phase of no length (e.g. pct_start·N = 1) is at its end value; past the last step the
            # progress stops at 1, so the rate stays at its final value
            progress = xp.clamp((t - begin) / span, 0.0, 1.0) if span > 0 else xp.full(t, 1.0)
            value = self._anneal(xp, start_lr, end_lr, progress)
            out = value if out is None else xp.where(t <= end_step, value, out)
        return out

    @property
    def peak_lr(self) -> float:
        initial = self.max_lr / self.div_factor
        return max(self.max_lr, initial, initial / self.final_div_factor)


@dataclass(frozen=True)
class join(Schedule):
    """Schedules in sequence (optax's ``join_schedules``).

    ``schedules[0]`` runs until ``boundaries[0]``; schedule i + 1 takes over at step ``boundaries[i]`` and
    counts its steps from there: η(t) = schedules[i + 1](t − boundaries[i]).

    Args:
        schedules: one or more :class:`Schedule` objects.
        boundaries: ``len(schedules) − 1`` strictly increasing steps ≥ 1.
    """

    schedules: tuple[Schedule, ...]
    boundaries: tuple[int, ...]

    def __post_init__(self) -> None:
        if isinstance(self.schedules, Schedule) or not isinstance(self.schedules, Sequence):
            raise TypeError(f"Invalid schedules: {self.schedules!r}; expected a sequence of schedules")
        for i, s in enumerate(self.schedules):
            if not isinstance(s, Schedule):
                raise TypeError(f"Invalid schedules[{i}]: {s!r}; expected a descend.schedules.Schedule")
        if not self.schedules:
            raise ValueError("Invalid schedules: []; expected at least one schedule")
        boundaries = _increasing_steps("boundaries", self.boundaries)
        if len(boundaries) != len(self.schedules) - 1:
            raise ValueError(
                f"Invalid boundaries: {list(boundaries)!r}; expected len(boundaries) == len(schedules) - 1 "
                f"= {len(self.schedules) - 1}, got {len(boundaries)}"
            )
        object.__setattr__(self, "schedules", tuple(self.schedules))
        object.__setattr__(self, "boundaries", boundaries)

    def _eval(self, t: Steps, xp: Math) -> Steps:
        out = self.schedules[0]._eval(t, xp)
        for boundary, schedule in zip(self.boundaries, self.schedules[1:], strict=True):
            # steps before the boundary are not this schedule's: clamp so it is never asked for t < 0
            later = schedule._eval(xp.clamp(t - boundary, low=0.0), xp)
            out = xp.where(t < boundary, out, later)
        return out

    @property
    def peak_lr(self) -> float:
        return max(s.peak_lr for s in self.schedules)
