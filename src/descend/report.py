"""Reports that gather figures and tables: a self-contained HTML page, Markdown, CSV and terminal tables.

A :class:`Report` is a title and a list of blocks (headings, paragraphs, figures, tables, code). It writes

* HTML (:meth:`Report.to_html`): one file that opens anywhere, figures embedded as base64 PNG or SVG
  (``<img src="data:image/png;base64,...">``), no scripts, no external resources; each heading opens a
  ``<section>`` with an id, and ``contents=True`` lists the sections at the top;
* Markdown (:meth:`Report.to_markdown`): figures written as files beside it and linked.

Tables are lists of rows (dicts ``column -> value``); :func:`text_table`, :func:`markdown_table`,
:func:`html_table` and :func:`write_csv` render the same rows for the terminal, Markdown, HTML and CSV.
Numbers are shown with :func:`format_value` (4 significant digits; NaN as ``nan``).

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so a reader
never sees half a report.

>>> from descend.report import Report
>>> r = Report("demo")
>>> r.add_table([{"optimizer": "adam", "loss": 0.25}])
>>> "<table>" in r.to_html()
True
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from descend.files import atomic_write

__all__ = [
    "Report",
    "atomic_write",
    "format_value",
    "html_table",
    "markdown_table",
    "text_table",
    "write_csv",
]

Row = Mapping[str, Any]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1000px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .92em; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: right; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: .88em; }
nav ol { columns: 2; font-size: .95em; }
"""


# ------------------------------------------------------------------------------------------ writing


# ------------------------------------------------------------------------------------------- tables


def format_value(value: Any, digits: int = 4) -> str:
    """A cell as text: floats with ``digits`` significant digits, NaN as ``nan``, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return str(value)


def _columns(rows: Sequence[Row], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _check_rows(rows: Any) -> list[Row]:
    if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
        raise TypeError(f"Invalid rows: {type(rows).__name__}; expected a sequence of dicts")
    rows = list(rows)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"Invalid rows[{i}]: {type(row).__name__}; expected a dict column -> value")
    return rows


def _cells(rows: Sequence[Row], columns: Sequence[str], digits: int) -> list[list[str]]:
    return [[format_value(row.get(c), digits) for c in columns] for row in rows]


def _is_text_column(rows: Sequence[Row], column: str) -> bool:
    values = [row.get(column) for row in rows if row.get(column) is not None]
    return bool(values) and all(isinstance(v, str) for v in values)


def text_table(rows: Iterable[Row], columns: Sequence[str] | None = None, *, digits: int = 4) -> str:
    """Rows as an aligned plain-text table for the terminal (text left, numbers right)."""
    rows = _check_rows(rows)
    cols = _columns(rows, columns)
    body = _cells(rows, cols, digits)
    widths = [max([len(c), *(len(r[i]) for r in body)]) for i, c in enumerate(cols)]
    left = [_is_text_column(rows, c) for c in cols]

    def line(cells: Sequence[str]) -> str:
        parts = [s.ljust(w) if lft else s.rjust(w) for s, w, lft in zip(cells, widths, left, strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cols), rule, *(line(r) for r in body)])


def markdown_table(rows: Iterable[Row], columns: Sequence[str] | None = None, *, digits: int = 4) -> str:
    """Rows as a GitHub-flavoured Markdown table (``|`` in cells escaped)."""
    rows = _check_rows(rows)
    cols = _columns(rows, columns)
    body = _cells(rows, cols, digits)

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---" if _is_text_column(rows, c) else "---:" for c in cols]
    return "\n".join([line(cols), "|" + "|".join(align) + "|", *(line(r) for r in body)])


def html_table(rows: Iterable[Row], columns: Sequence[str] | None = None, *, digits: int = 4) -> str:
    """Rows as an HTML ``<table>`` (cells escaped)."""
    rows = _check_rows(rows)
    cols = _columns(rows, columns)
    body = _cells(rows, cols, digits)
    cls = [' class="text"' if _is_text_column(rows, c) else "" for c in cols]
    head = "".join(f"<th{k}>{html.escape(c)}</th>" for c, k in zip(cols, cls, strict=True))
    lines = ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for r in body:
        cells = "".join(f"<td{k}>{html.escape(v)}</td>" for v, k in zip(r, cls, strict=True))
        lines.append(f"<tr>{cells}</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def write_csv(
    path: str | os.PathLike[str], rows: Iterable[Row], columns: Sequence[str] | None = None
) -> Path:
    """Rows as CSV, every number at full precision (``repr`` of floats), written atomically."""
    rows = _check_rows(rows)
    cols = _columns(rows, columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(cols)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _csv_value(row.get(c)) for c in cols])
    return atomic_write(path, buffer.getvalue())


def _csv_value(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


# ------------------------------------------------------------------------------------------- report


@dataclass
class _Block:
    kind: str  # "heading", "text", "figure", "table", "code"
    content: Any
    name: str = ""  # a figure's file name; a heading's section id
    caption: str = ""
    html: str | None = None  # a figure's interactive version


_MIME = {"png": "image/png", "svg": "image/svg+xml"}


def _is_image(data: bytes, fmt: str) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n") if fmt == "png" else b"<svg" in data[:2000]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


@dataclass
class Report:
    """A titled sequence of headings, paragraphs, figures, tables and code blocks.

    Figures are rendered when added, as ``format`` (``"png"`` at ``dpi``, or ``"svg"``), so the report owns
    bytes, not live figures, and the matplotlib objects can be freed. ``contents=True`` puts a list of the
    sections, linked, before the first heading.
    """

    title: str
    dpi: int = 110
    format: str = "png"
    contents: bool = False
    blocks: list[_Block] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.format not in _MIME:
            raise ValueError(f"Invalid format: {self.format!r}; expected one of {', '.join(_MIME)}")

    def add_heading(self, text: str, *, anchor: str | None = None) -> Report:
        """A section heading; in HTML the section it opens has the id ``anchor`` (default: from the text)."""
        self.blocks.append(_Block("heading", str(text), name=anchor or _slug(str(text))))
        return self

    def add_text(self, text: str) -> Report:
        """A paragraph (plain text; escaped in HTML)."""
        self.blocks.append(_Block("text", str(text)))
        return self

    def add_code(self, text: str) -> Report:
        """A preformatted block (a command line, a JSON configuration)."""
        self.blocks.append(_Block("code", str(text)))
        return self

    def add_table(
        self, rows: Iterable[Row], columns: Sequence[str] | None = None, *, caption: str = ""
    ) -> Report:
        rows = _check_rows(rows)
        self.blocks.append(_Block("table", (rows, _columns(rows, columns)), caption=caption))
        return self

    def add_figure(
        self, name: str, figure: Figure | bytes, *, caption: str = "", html: str | None = None
    ) -> Report:
        """A figure under a file-safe ``name`` (``loss_vs_epoch``): a matplotlib Figure, or image bytes in
        the report's format. ``html``: an interactive version (a fragment, e.g. a plotly chart) that the
        HTML page shows instead of the image; the image is still written, for Markdown."""
        if not name or any(ch in name for ch in '/\\:*?"<>| '):
            raise ValueError(f"Invalid figure name: {name!r}; expected a file-safe name without spaces")
        if any(b.kind == "figure" and b.name == name for b in self.blocks):
            raise ValueError(f"Invalid figure name: {name!r}; this report already has a figure by that name")
        if isinstance(figure, Figure):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=self.format, dpi=self.dpi, bbox_inches="tight")
            data = buffer.getvalue()
        elif isinstance(figure, bytes):
            if not _is_image(figure, self.format):
                raise ValueError(f"Invalid figure {name!r}: bytes that are not a {self.format.upper()} image")
            data = figure
        else:
            expected = f"a Figure or {self.format.upper()} bytes"
            raise TypeError(f"Invalid figure {name!r}: {type(figure).__name__}; expected {expected}")
        self.blocks.append(_Block("figure", data, name=name, caption=caption, html=html))
        return self

    @property
    def figures(self) -> dict[str, bytes]:
        """Figure name -> image bytes (in the report's format), in order."""
        return {b.name: b.content for b in self.blocks if b.kind == "figure"}

    # -- rendering ---------------------------------------------------------------------------------------

    def to_html(self) -> str:
        """The whole report as one self-contained HTML page."""
        out = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(self.title)}</title>",
            f"<style>{_STYLE}</style>",
            *self._scripts(),
            "</head>",
            "<body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        headings = [b for b in self.blocks if b.kind == "heading"]
        in_section = False
        for b in self.blocks:
            if b.kind == "heading":
                if self.contents and b is headings[0]:
                    out.append("<nav><ol>")
                    out += [
                        f'<li><a href="#{html.escape(h.name)}">{html.escape(h.content)}</a></li>'
                        for h in headings
                    ]
                    out.append("</ol></nav>")
                out += ["</section>"] if in_section else []
                out += [f'<section id="{html.escape(b.name)}">', f"<h2>{html.escape(b.content)}</h2>"]
                in_section = True
            elif b.kind == "text":
                out.append(f"<p>{html.escape(b.content)}</p>")
            elif b.kind == "code":
                out.append(f"<pre>{html.escape(b.content)}</pre>")
            elif b.kind == "table":
                rows, cols = b.content
                if b.caption:
                    out.append(f"<p>{html.escape(b.caption)}</p>")
                out.append(html_table(rows, cols))
            else:
                data = base64.b64encode(b.content).decode("ascii")
                alt = html.escape(b.caption or b.name)
                out.append(f'<figure id="{html.escape(b.name)}">')
                if b.html is not None:
                    out.append(b.html)
                else:
                    out.append(f'<img alt="{alt}" src="data:{_MIME[self.format]};base64,{data}">')
                if b.caption:
                    out.append(f"<figcaption>{html.escape(b.caption)}</figcaption>")
                out.append("</figure>")
        out += ["</section>"] if in_section else []
        out += ["</body>", "</html>", ""]
        return "\n".join(out)

    def _scripts(self) -> list[str]:
        """The chart library, inlined once, when a figure is interactive (the page needs no network)."""
        if not any(b.kind == "figure" and b.html is not None for b in self.blocks):
            return []
        from descend.plot.interactive import library

        return [f'<script type="text/javascript">{library()}</script>']

    def to_markdown(self, figure_dir: str = "figures") -> str:
        """The report as Markdown, figures linked as ``figure_dir/<name>.<format>`` (see :meth:`write`)."""
        out = [f"# {self.title}", ""]
        for b in self.blocks:
            if b.kind == "heading":
                out += [f"## {b.content}", ""]
            elif b.kind == "text":
                out += [b.content, ""]
            elif b.kind == "code":
                out += ["```", b.content, "```", ""]
            elif b.kind == "table":
                rows, cols = b.content
                out += ([b.caption, ""] if b.caption else []) + [markdown_table(rows, cols), ""]
            else:
                out += [f"![{b.caption or b.name}]({figure_dir}/{b.name}.{self.format})", ""]
                if b.caption:
                    out += [f"*{b.caption}*", ""]
        return "\n".join(out)

    def write(self, folder: str | os.PathLike[str], *, stem: str = "report") -> dict[str, Path]:
        """Write ``<stem>.html``, ``<stem>.md`` and ``figures/<name>.<format>`` into ``folder``, atomically.

        Returns the paths written, by kind (``"html"``, ``"markdown"``, and one per figure name).
        """
        root = Path(folder)
        written = {
            "html": atomic_write(root / f"{stem}.html", self.to_html()),
            "markdown": atomic_write(root / f"{stem}.md", self.to_markdown("figures")),
        }
        for name, data in self.figures.items():
            written[name] = atomic_write(root / "figures" / f"{name}.{self.format}", data)
        return written
