"""What a training run measured: :class:`History`, one record per evaluation point, and how the run ended.

A history is what :func:`descend.train.fit` returns and what the lab's studies gather; it reads and writes
JSON (everything) and CSV (the records).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from descend.files import atomic_write
from descend.result import Status

__all__ = ["History"]

_INT_COLUMNS = ("step", "examples")
# Histories written before the status vocabulary was shared called a divergence "non-finite".
_OLD_STATUS = {"non-finite": Status.DIVERGED}


@dataclass
class History:
    """What :func:`descend.train.fit` measured, one record per evaluation point.

    Each record has ``epoch`` (examples seen / training-set size, a float), ``step`` (updates taken),
    ``examples`` (examples seen), ``seconds`` (training time so far, evaluation excluded), ``lr`` (the first
    parameter group's learning rate, the one the next update will use), ``train_loss`` and, where they
    apply, ``test_loss`` and each metric as ``train_<name>``/``test_<name>`` (``train_acc``, ``test_acc``).

    Attributes:
        records: the evaluation points in order.
        status: a :class:`descend.result.Status`: ``finished`` (all epochs done), ``max_steps`` (stopped
            by ``max_steps``), ``diverged`` (stopped by a non-finite loss) or ``running`` (a checkpoint's
            own copy).
        message: the reason, in words.
        config: the run's settings (optimizer, hyperparameters, batch size, ...), JSON-serializable.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    status: Status = Status.RUNNING
    message: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = Status(_OLD_STATUS.get(self.status, self.status))

    @property
    def ok(self) -> bool:
        """Whether the run ended without a non-finite loss."""
        return self.status != Status.DIVERGED

    def columns(self) -> list[str]:
        """Every record key, in order of first appearance."""
        seen: dict[str, None] = {}
        for record in self.records:
            seen.update(dict.fromkeys(record))
        return list(seen)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, name: str) -> list[Any]:
        """The column ``name`` (NaN where a record lacks it)."""
        if name not in self.columns():
            raise KeyError(f"Invalid column: {name!r}; this history has {self.columns()}")
        return [record.get(name, math.nan) for record in self.records]

    def final(self, name: str) -> Any:
        """The last recorded value of ``name``, e.g. ``history.final("test_loss")``."""
        if not self.records:
            raise IndexError(f"history is empty: no value of {name!r} recorded")
        return self[name][-1]

    def best(self, name: str, mode: Literal["min", "max"] = "min") -> float:
        """The smallest (``mode="min"``) or largest finite value of ``name``; NaN if there is none."""
        if mode not in ("min", "max"):
            raise ValueError(f"Invalid mode: {mode!r}; expected 'min' or 'max'")
        finite = [v for v in self[name] if math.isfinite(v)]
        if not finite:
            return math.nan
        return min(finite) if mode == "min" else max(finite)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (non-finite numbers become ``None``)."""
        return {
            "records": [{k: _json_number(v) for k, v in r.items()} for r in self.records],
            "status": str(self.status),
            "message": self.message,
            "config": self.config,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> History:
        records = [{k: (math.nan if v is None else v) for k, v in r.items()} for r in d["records"]]
        return cls(records, d.get("status", "running"), d.get("message", ""), dict(d.get("config", {})))

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the history (records, status, message, config) as JSON, atomically."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        return atomic_write(path, text + "\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> History:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the records as CSV, one row per evaluation point (status and config are not included:
        use :meth:`to_json` for those)."""
        columns = self.columns()
        lines = [",".join(columns)]
        for record in self.records:
            lines.append(",".join(_csv_cell(record.get(c)) for c in columns))
        return atomic_write(path, "\n".join(lines) + "\n")

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> History:
        """Read the records written by :meth:`to_csv` (status ``finished``, empty config)."""
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        records = [{k: _parse_cell(k, v) for k, v in row.items() if v != ""} for row in rows]
        return cls(records, status=Status.FINISHED)

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else {}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k.startswith(("train_", "test_")))
        status = str(self.status)
        return f"History({len(self.records)} points, status={status!r}{', ' if shown else ''}{shown})"


def _json_number(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _parse_cell(column: str, text: str) -> int | float:
    return int(text) if column in _INT_COLUMNS else float(text)


def _csv_cell(v: Any) -> str:
    return "" if v is None else repr(v) if isinstance(v, float) else str(v)
