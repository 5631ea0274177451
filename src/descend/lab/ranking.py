"""Targets, time to target, and the ranking of optimizers over one or several tasks (as MLCommons
AlgoPerf ranks training algorithms).

Each task declares a **target** on the validation split (a loss to get below, or an accuracy to reach,
:class:`Target`). A run's **time to target** is the training time (``seconds``, or ``steps``) at the
first evaluation point that meets it; an optimizer's time on a task is the median over its final runs'
seeds, counted as reached when at least half of the seeds reach it (infinite otherwise).

**Performance profile.** With times ``t(p, o)`` of optimizer ``o`` on task ``p`` and the ratios
``r(p, o) = t(p, o) / min_o' t(p, o')``, the profile of ``o`` is the fraction of tasks it solves within
``τ`` times the best time::

    ρ_o(τ) = |{p : r(p, o) ≤ τ}| / |P|

**Score and ranking.** The score is the profile's normalized area over ``1 ≤ τ ≤ τ_max`` (4 by default,
as AlgoPerf), ``(1 / (τ_max − 1)) ∫₁^τmax ρ_o(τ) dτ``, in ``[0, 1]``: 1 for an optimizer that is the
fastest on every task, 0 for one that never reaches a target within ``τ_max`` times the best. Optimizers
are ranked by score; equal scores (e.g. none reached the target) by the mean over tasks of their rank by
median final validation loss.

Every number here is computed from the stored records of the runs (``runs.jsonl``), nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from descend.lab.study import spread

__all__ = ["TAU_MAX", "Target", "profile", "rank", "summarize", "time_to_target"]

#: The largest ratio to the best time that the score counts (AlgoPerf's).
TAU_MAX = 4.0


@dataclass(frozen=True)
class Target:
    """A validation target: ``metric`` (``"val_loss"``, reached at or below ``value``; ``"val_acc"``,
    reached at or above)."""

    metric: Literal["val_loss", "val_acc"]
    value: float

    def __post_init__(self) -> None:
        if self.metric not in ("val_loss", "val_acc"):
            raise ValueError(f"Invalid target metric: {self.metric!r}; expected 'val_loss' or 'val_acc'")
        if not math.isfinite(self.value) or (self.metric == "val_acc" and not 0 < self.value <= 1):
            raise ValueError(f"Invalid target: {self.value!r} for {self.metric}")

    def met(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        return value <= self.value if self.metric == "val_loss" else value >= self.value

    def describe(self) -> str:
        what = "validation loss ≤" if self.metric == "val_loss" else "validation accuracy ≥"
        return f"{what} {self.value:g}"


def time_to_target(records: Sequence[Mapping[str, Any]], target: Target) -> tuple[int, float] | None:
    """``(steps, seconds)`` at the first evaluation point that meets ``target``; None when none does."""
    for rec in records:
        value = rec.get(target.metric)
        if value is not None and target.met(float(value)):
            return int(rec["step"]), float(rec["seconds"])
    return None


def _median_time(times: Sequence[float | None]) -> float:
    """The median over seeds, with an unreached seed counted as infinitely slow: finite only when at
    least half the seeds reach the target."""
    values = sorted(math.inf if t is None else float(t) for t in times)
    if not values:
        return math.inf
    return float(np.median(values)) if values[(len(values) - 1) // 2] < math.inf else math.inf


_FINALS = ("val_loss", "val_acc", "test_loss", "test_acc", "train_loss")


def summarize(runs: Sequence[Mapping[str, Any]], target: Target) -> list[dict[str, Any]]:
    """One row per optimizer of one task's final runs (records with ``history``, ``metrics``): how many
    seeds reached the target, the median steps and seconds to it, and each final metric's median, min
    and max over the seeds."""
    labels = list(dict.fromkeys(r["optimizer"] for r in runs))
    rows = []
    for label in labels:
        mine = [r for r in runs if r["optimizer"] == label]
        reached = [time_to_target(r["history"]["records"], target) for r in mine]
        row: dict[str, Any] = {"task": mine[0]["task"], "optimizer": label, "seeds": len(mine)}
        row["reached"] = f"{sum(t is not None for t in reached)}/{len(mine)}"
        row["steps_to_target"] = _median_time([t and t[0] for t in reached])
        row["seconds_to_target"] = _median_time([t and t[1] for t in reached])
        for key in _FINALS:
            values = [r["metrics"].get(key) for r in mine]
            if all(v is None for v in values) and not any(key in r["metrics"] for r in mine):
                continue
            med, lo, hi = spread([math.nan if v is None else float(v) for v in values])
            row[key], row[f"{key} min"], row[f"{key} max"] = med, lo, hi
        diverged = sum(r["status"] != "ok" for r in mine)
        row["status"] = "ok" if not diverged else f"diverged ({diverged}/{len(mine)})"
        rows.append(row)
    return rows


def profile(
    times: Mapping[str, Mapping[str, float]], taus: Sequence[float] | np.ndarray
) -> dict[str, np.ndarray]:
    """The performance profile ``ρ_o(τ)`` of each optimizer at each ``τ``, from ``times[task][optimizer]``
    (infinite where the target was not reached)."""
    taus = np.asarray(taus, dtype=float)
    tasks = list(times)
    optimizers = list(dict.fromkeys(o for t in tasks for o in times[t]))
    ratios = np.full((len(tasks), len(optimizers)), math.inf)
    for i, task in enumerate(tasks):
        best = min(times[task].values(), default=math.inf)
        for j, o in enumerate(optimizers):
            t = times[task].get(o, math.inf)
            if math.isfinite(best) and math.isfinite(t):
                ratios[i, j] = t / best if best > 0 else (1.0 if t == best else math.inf)
    return {o: (ratios[:, j][None, :] <= taus[:, None]).mean(axis=1) for j, o in enumerate(optimizers)}


def _score(times: Mapping[str, Mapping[str, float]], tau_max: float) -> dict[str, float]:
    """The normalized area under each profile over [1, τ_max], exactly: each task solved at ratio r ≤ τ_max
    adds (τ_max − r) / (τ_max − 1) / |P|."""
    out = dict.fromkeys((o for by in times.values() for o in by), 0.0)
    for by in times.values():
        best = min(by.values(), default=math.inf)
        for o, t in by.items():
            if math.isfinite(best) and math.isfinite(t):
                r = t / best if best > 0 else 1.0
                if r <= tau_max:
                    out[o] += (tau_max - r) / (tau_max - 1.0) / len(times)
    return out


def rank(
    summaries: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    by: Literal["seconds", "steps"] = "seconds",
    tau_max: float = TAU_MAX,
) -> list[dict[str, Any]]:
    """The ranking table from each task's :func:`summarize` rows (see the module docstring)."""
    key = f"{by}_to_target"
    times = {task: {r["optimizer"]: float(r[key]) for r in rows} for task, rows in summaries.items()}
    scores = _score(times, tau_max)
    loss_ranks: dict[str, list[float]] = {o: [] for o in scores}
    for rows in summaries.values():
        ordered = sorted(rows, key=lambda r: _finite_or_inf(r.get("val_loss")))
        for place, r in enumerate(ordered, 1):
            loss_ranks[r["optimizer"]].append(place)
    table = []
    for o, score in scores.items():
        reached = sum(math.isfinite(times[t].get(o, math.inf)) for t in times)
        row: dict[str, Any] = {"optimizer": o, "score": round(score, 4)}
        row["tasks reached"] = f"{reached}/{len(times)}"
        if len(times) == 1:
            only = next(iter(summaries.values()))
            mine = next(r for r in only if r["optimizer"] == o)
            for k in ("steps_to_target", "seconds_to_target", "test_acc", "test_loss", "val_loss"):
                if k in mine:
                    row[k] = mine[k]
        row["mean loss rank"] = float(np.mean(loss_ranks[o])) if loss_ranks[o] else math.nan
        table.append(row)
    table.sort(key=lambda r: (-r["score"], r["mean loss rank"]))
    for place, row in enumerate(table, 1):
        row["rank"] = place
    return [{"rank": r.pop("rank"), **r} for r in table]


def _finite_or_inf(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else math.inf
