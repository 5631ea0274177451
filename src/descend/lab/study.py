"""The one study/report type of the lab: what an experiment, a comparison or the tour measured, and how it
is reported (a terminal table, a self-contained HTML page, Markdown, CSV files and the configuration).

A :class:`Study` holds a summary table (``rows``), figures with captions (``panels``), the training
histories behind them, the settings that rerun it (``config``, ``command``) and any further tables. Its
:meth:`~Study.write` fills an output folder (claimed beforehand with :func:`descend.files.claim_folder`)::

    report.html   one page, figures embedded, no scripts or external resources
    report.md     the same as Markdown, linking figures/
    figures/      one image per panel
    summary.csv   the summary table            (when there is one)
    <name>.csv    each further table            (e.g. runs.csv)
    history.csv   every evaluation point        (when runs were trained)
    config.json   every setting                 command.txt   the command that reruns it

and lists them in the folder's manifest, so that a rerun into the same folder replaces them.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from descend.files import atomic_write, record_outputs
from descend.history import History
from descend.report import Report, text_table, write_csv

__all__ = [
    "Log",
    "Notes",
    "Panel",
    "Study",
    "band_curve",
    "band_curves",
    "median_curve",
    "median_curves",
    "quiet",
    "spread",
]

Log = Callable[[str], None]


def quiet(_: str) -> None:
    """A log that says nothing."""


class Notes:
    """A log that keeps its lines (for a study's ``notes``) and passes each on to another log."""

    def __init__(self, log: Log = quiet) -> None:
        self.lines: list[str] = []
        self.log = log

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self.log(line)


@dataclass
class Panel:
    """A figure of a study: the figure (or image bytes), a caption saying what to notice, the numbers it
    draws (``data``) so they can be checked, a file-safe ``name`` (of its image file), and an optional
    heading of its own (``title``, its section's id ``anchor``, by default the name)."""

    figure: Figure | bytes
    caption: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    title: str | None = None
    anchor: str | None = None
    html: str | None = None  # an interactive version for the HTML page (the image stays for Markdown)


@dataclass
class Study:
    """What a run of the lab measured, and everything needed to report it and run it again.

    Attributes:
        name: short name (``"momentum"``, ``"compare"``, ``"tour"``).
        title: the report's title.
        description: what was run, in words.
        rows: the summary table, one dict per run (or per optimizer).
        panels: the figures, in order.
        histories: run label -> one :class:`~descend.history.History` per seed.
        config: the settings, JSON-serializable, enough to run it again.
        command: the command line that reruns it (None where there is none).
        tables: further tables by name, each shown in the report and written as ``<name>.csv``.
        records: per-point rows for ``history.csv`` besides the histories' (studies that do not train).
        notes: things to know before reading the numbers (e.g. which data stood in for a missing file).
        columns: the summary's columns, in order (default: as they appear).
        run_column: the name of the column that says which run a row of ``history.csv`` belongs to.
        leading: names of ``tables`` shown first, before the summary, each with a paragraph saying how
            it was computed (a ranking).
    """

    name: str
    title: str
    description: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)
    histories: dict[str, list[History]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    columns: list[str] | None = None
    run_column: str = "run"
    leading: dict[str, str] = field(default_factory=dict)

    @property
    def figures(self) -> dict[str, Figure | bytes]:
        """Panel name -> figure."""
        return {p.name: p.figure for p in self.panels}

    def table(self) -> str:
        """The summary as an aligned text table, for the terminal."""
        return text_table(self.rows, self.columns) if self.rows else ""

    def history_rows(self) -> list[dict[str, Any]]:
        """Every evaluation point of every run and seed, one dict each (the run's label and seed first)."""
        out = list(self.records)
        key = self.run_column
        for label, runs in self.histories.items():
            for hist in runs:
                out.extend({key: label, "seed": hist.config.get("seed"), **rec} for rec in hist.records)
        return out

    def to_report(self, *, format: str = "png", dpi: int = 110) -> Report:
        """The study as a :class:`~descend.report.Report`: description, notes, summary, figures (each under
        its own heading where it has a title), further tables, and how to rerun it."""
        titled = any(p.title for p in self.panels)
        rep = Report(self.title, dpi=dpi, format=format, contents=titled)
        rep.add_text(self.description)
        for note in self.notes:
            rep.add_text(note)
        for name, how in self.leading.items():
            rep.add_heading(name.replace("_", " ").capitalize())
            rep.add_text(how)
            rep.add_table(self.tables[name])
        if self.rows:
            rep.add_heading("Summary")
            rep.add_table(self.rows, self.columns)
        if self.panels and not titled:
            rep.add_heading("Figures")
        for p in self.panels:
            if p.title:
                rep.add_heading(p.title, anchor=p.anchor or p.name)
            rep.add_figure(p.name, p.figure, caption=p.caption or p.name.replace("_", " "), html=p.html)
        for name, rows in self.tables.items():
            if name in self.leading:
                continue
            rep.add_heading(name.replace("_", " ").capitalize())
            rep.add_table(rows)
        if self.config or self.command:
            rep.add_heading("Rerun" if self.command else "Configuration")
            if self.command:
                rep.add_code(self.command)
            rep.add_code(json.dumps(self.config, indent=2, default=str))
        return rep

    def write(
        self, folder: str | os.PathLike[str], *, stem: str = "report", format: str = "png", dpi: int = 110
    ) -> dict[str, Path]:
        """Write the study into ``folder`` (see the module docstring), every file whole or not at all, and
        list them in the folder's manifest. Returns the paths by kind (``"html"``, ``"summary"``, ...)."""
        root = Path(folder)
        written = self.to_report(format=format, dpi=dpi).write(root, stem=stem)
        if self.rows:
            written["summary"] = write_csv(root / "summary.csv", self.rows, self.columns)
        for name, rows in self.tables.items():
            written[name] = write_csv(root / f"{name}.csv", rows)
        history = self.history_rows()
        if history:
            written["history"] = write_csv(root / "history.csv", history)
        if self.config:
            text = json.dumps(self.config, indent=2, default=str) + "\n"
            written["config"] = atomic_write(root / "config.json", text)
        if self.command:
            written["command"] = atomic_write(root / "command.txt", self.command + "\n")
        record_outputs(root, written.values())
        return written


# ----------------------------------------------------------------------------------------------------------
# Numbers over seeds


def median_curve(histories: Sequence[History], x: str, y: str) -> np.ndarray:
    """The point-wise median over seeds of column ``y`` against the median of column ``x``: an (n, 2)
    array. Runs of different lengths (one stopped by a non-finite loss) count where they have values;
    non-finite points are dropped."""
    bx, my, _, _ = band_curve(histories, x, y)
    return np.stack([bx, my], axis=1)


def band_curve(histories: Sequence[History], x: str, y: str) -> tuple[np.ndarray, ...]:
    """:func:`median_curve` with the spread over seeds: ``(x, median, min, max)`` of column ``y`` at each
    evaluation point (``x`` the median of column ``x``), non-finite points dropped."""
    if not histories:
        raise ValueError("Invalid histories: empty; expected at least one History")
    n = max(len(h) for h in histories)
    xs = np.full((len(histories), n), np.nan)
    ys = np.full((len(histories), n), np.nan)
    for i, h in enumerate(histories):
        if len(h):
            xs[i, : len(h)] = np.asarray(h[x], dtype=float)
            ys[i, : len(h)] = np.asarray(h[y], dtype=float)
    ys[~np.isfinite(ys)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns after a divergence
        mx, my = np.nanmedian(xs, axis=0), np.nanmedian(ys, axis=0)
        lo, hi = np.nanmin(ys, axis=0), np.nanmax(ys, axis=0)
    keep = np.isfinite(mx) & np.isfinite(my)
    return mx[keep], my[keep], lo[keep], hi[keep]


def band_curves(histories: Mapping[str, Sequence[History]], x: str, y: str) -> dict[str, tuple]:
    """:func:`band_curve` of every run that recorded ``y``."""
    return {k: band_curve(h, x, y) for k, h in histories.items() if h and y in h[0].columns()}


def median_curves(histories: Mapping[str, Sequence[History]], x: str, y: str) -> dict[str, np.ndarray]:
    """:func:`median_curve` of every run that recorded ``y``."""
    return {k: median_curve(h, x, y) for k, h in histories.items() if h and y in h[0].columns()}


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """Median, min and max of the finite values (NaN when there is none)."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, math.nan
    return float(np.median(finite)), min(finite), max(finite)
