"""descend.report: tables in every format, self-contained HTML with decodable images, atomic files."""

from __future__ import annotations

import base64
import csv
import io
import math
from html.parser import HTMLParser

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure

from descend.report import (
    Report,
    atomic_write,
    format_value,
    html_table,
    markdown_table,
    text_table,
    write_csv,
)

ROWS = [
    {"optimizer": "adam", "loss": 0.123456789, "steps": 10},
    {"optimizer": "sgd|x", "loss": math.nan, "steps": 3},
]


class _Images(HTMLParser):
    """Collects every <img> src and every <table> cell text."""

    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.cells: list[str] = []
        self.external: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.srcs.append(a.get("src", ""))
        if tag in ("link", "script") or (tag == "img" and not a.get("src", "").startswith("data:")):
            self.external.append(tag)
        self._in_cell = tag in ("td", "th")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells.append(data)


def _figure(color: str) -> Figure:
    fig = Figure(figsize=(2, 1.5))
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [3, 1, 2], color=color)
    return fig


def decode_images(page: str) -> list[np.ndarray]:
    """Every <img> of the page, decoded from its base64 PNG data URI (fails on anything else)."""
    parser = _Images()
    parser.feed(page)
    assert not parser.external, f"external resources in the page: {parser.external}"
    images = []
    for src in parser.srcs:
        head, _, payload = src.partition(",")
        assert head == "data:image/png;base64"
        data = base64.b64decode(payload, validate=True)
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        images.append(mpimg.imread(io.BytesIO(data), format="png"))
    return images


def test_format_value():
    assert format_value(0.123456789) == "0.1235"
    assert format_value(1234567.0) == "1.235e+06"
    assert format_value(math.nan) == "nan"
    assert format_value(-math.inf) == "-inf"
    assert format_value(None) == ""
    assert format_value(True) == "True"
    assert format_value(7) == "7"


def test_text_table_aligns_columns():
    lines = text_table(ROWS).splitlines()
    assert lines[0].split() == ["optimizer", "loss", "steps"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["adam", "0.1235", "10"]
    assert lines[3].split() == ["sgd|x", "nan", "3"]
    # numbers are right-aligned: the last characters of the number column line up
    assert lines[2].index("10") + 2 == lines[3].index("3") + 1


def test_markdown_table_escapes_and_aligns():
    md = markdown_table(ROWS).splitlines()
    assert md[0] == "| optimizer | loss | steps |"
    assert md[1] == "|---|---:|---:|"
    assert md[3] == "| sgd\\|x | nan | 3 |"


def test_html_table_escapes():
    page = html_table([{"name": "<b>&", "v": 1.5}])
    assert "&lt;b&gt;&amp;" in page and "<b>" not in page
    parser = _Images()
    parser.feed(page)
    assert parser.cells == ["name", "v", "<b>&", "1.5"]


def test_write_csv_keeps_full_precision(tmp_path):
    path = write_csv(tmp_path / "t.csv", ROWS)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["loss"]) == 0.123456789
    assert math.isnan(float(rows[1]["loss"]))
    assert rows[1]["optimizer"] == "sgd|x"
    assert [r["steps"] for r in rows] == ["10", "3"]


def test_tables_reject_bad_rows():
    with pytest.raises(TypeError, match="rows"):
        text_table("abc")
    with pytest.raises(TypeError, match=r"rows\[1\]"):
        markdown_table([{"a": 1}, 3])


def test_html_is_self_contained_and_images_decode(tmp_path):
    rep = Report("A <report>")
    rep.add_heading("Numbers").add_text("x < y & z").add_table(ROWS, caption="the table")
    rep.add_figure("red", _figure("red"), caption="a red line")
    rep.add_figure("blue", _figure("blue"))
    rep.add_code('{"a": 1}')
    page = rep.to_html()
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>A &lt;report&gt;</title>" in page
    assert "x &lt; y &amp; z" in page
    images = decode_images(page)
    assert len(images) == 2
    red, blue = images
    assert red.ndim == 3 and red.shape[0] > 50 and red.shape[1] > 50
    # the red figure has strongly red pixels, the blue one has none
    assert ((red[..., 0] > 0.8) & (red[..., 1] < 0.3) & (red[..., 2] < 0.3)).any()
    assert not ((blue[..., 0] > 0.8) & (blue[..., 1] < 0.3) & (blue[..., 2] < 0.3)).any()
    written = rep.write(tmp_path / "out")
    assert written["html"].read_text() == page
    md = written["markdown"].read_text()
    assert "![a red line](figures/red.png)" in md and "![blue](figures/blue.png)" in md
    assert (tmp_path / "out" / "figures" / "red.png").read_bytes() == rep.figures["red"]
    assert not [p for p in (tmp_path / "out").rglob("*.part")]


def test_figure_arguments_checked():
    rep = Report("r")
    with pytest.raises(ValueError, match="figure name"):
        rep.add_figure("a b", _figure("red"))
    with pytest.raises(ValueError, match="not a PNG"):
        rep.add_figure("x", b"GIF89a")
    with pytest.raises(TypeError, match="Figure or PNG bytes"):
        rep.add_figure("x", "figure.png")
    rep.add_figure("x", _figure("red"))
    with pytest.raises(ValueError, match="already has a figure"):
        rep.add_figure("x", _figure("blue"))


def test_atomic_write_replaces_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "file.txt"
    atomic_write(target, "one")
    atomic_write(target, b"two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.txt"]
