"""The run report's HTML helpers: escaping, tables, inline SVG charts and the self-contained page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from runners.reports import html as h
from runners.reports.run_report import report_path
from runners.store.evaluations import ThresholdCheck


class _Elements(HTMLParser):
    """Collects (tag, attributes) of every start tag, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(markup: str) -> _Elements:
    parser = _Elements()
    parser.feed(markup)
    return parser


def test_text_and_attributes_are_escaped() -> None:
    hostile = '<script>alert("x")</script> & "quoted"'
    cell = h.tag("td", hostile, title=hostile)

    assert "<script>" not in cell
    parsed = _parse(cell)
    assert parsed.elements == [("td", {"title": hostile})]
    assert "".join(parsed.text) == hostile


def test_markup_built_by_the_helpers_is_not_escaped_twice() -> None:
    inner = h.tag("b", "a < b")
    outer = h.tag("p", inner)

    assert outer == "<p><b>a &lt; b</b></p>"


def test_table_escapes_plain_cells_and_keeps_prepared_ones() -> None:
    rows = [["<i>name</i>", h.pill("ok"), h.td("0.5000", class_="num", data_value="0.5")]]
    markup = h.table(["feature", "status", "value"], rows, numeric=(2,), id="t")

    parsed = _parse(markup)
    tags = [tag for tag, _ in parsed.elements]
    assert "i" not in tags  # the <i> in a plain cell is text
    assert "&lt;i&gt;name&lt;/i&gt;" in markup
    assert ("span", {"class": "pill ok"}) in parsed.elements
    assert ("td", {"class": "num", "data-value": "0.5"}) in parsed.elements
    assert tags.count("td") == 3  # the prepared cell is not wrapped in another <td>


def test_histogram_has_one_bar_per_bucket_scaled_to_the_largest_count() -> None:
    buckets = [(0.0, 1.0, 5.0), (1.0, 2.0, 10.0), (2.0, 3.0, 0.0)]
    svg = h.histogram_svg(buckets, width=90, height=52)

    rects = [attrs for tag, attrs in _parse(svg).elements if tag == "rect"]
    assert len(rects) == 3
    heights = [float(r["height"] or 0) for r in rects]
    assert heights[1] == 40.0  # the tallest bucket fills the plot area (height minus the 12 px axis labels)
    assert heights[0] == 20.0
    assert heights[2] == 0.0
    assert "1 to 2: 10" in svg  # each bar's tooltip names its range and count
    assert "xmlns" not in svg  # inline SVG needs no namespace URL


def test_charts_without_data_render_a_dash() -> None:
    assert h.histogram_svg([]) == "—"
    assert h.histogram_svg([(0.0, 1.0, 0.0)]) == "—"
    assert h.bars_svg([]) == "—"


def test_bars_escape_labels_and_draw_the_marker() -> None:
    svg = h.bars_svg([("<Cash>", 3.0), ("Credit Card", 1.0)], width=300, label_width=100, marker=2.0)

    assert "<Cash>" not in svg and "&lt;Cash&gt;" in svg
    elements = _parse(svg).elements
    rects = [attrs for tag, attrs in elements if tag == "rect"]
    assert float(rects[0]["width"] or 0) == pytest.approx(3 * float(rects[1]["width"] or 0), abs=0.2)
    (line,) = [attrs for tag, attrs in elements if tag == "line"]
    assert float(line["x1"] or 0) == pytest.approx(100 + (300 - 100 - 46) * 2 / 3, abs=0.1)


def test_page_is_self_contained_with_a_policy_that_forbids_every_fetch() -> None:
    document = h.page("t <1>", h.tag("h1", "title"), [("summary", "Run summary", h.tag("p", "x"))])

    assert document.startswith("<!DOCTYPE html>")
    policies = [a["content"] for t, a in _parse(document).elements if t == "meta" and a.get("http-equiv")]
    assert policies == [h.CONTENT_SECURITY_POLICY]
    assert h.CONTENT_SECURITY_POLICY.startswith("default-src 'none';")
    assert '<section id="summary">' in document
    assert '<a href="#summary">Run summary</a>' in document
    assert "<title>t &lt;1&gt;</title>" in document
    for external in ("http:", "https:", "//", "src=", "url(", "<link", "<script", "@import"):
        assert external not in document


def test_number_formats() -> None:
    assert h.number(None) == "-"
    assert h.number(float("nan")) == "-"
    assert h.number(0.123456) == "0.1235"
    assert h.number(1500.0) == "1,500"
    assert h.number(2.5, 2) == "2.50"


def test_threshold_sentences_give_values_bounds_and_verdict() -> None:
    absolute = ThresholdCheck("overall", "binary_accuracy", "absolute", 0.7, None, 0.65, None, 0.65, "failed threshold")
    change = ThresholdCheck("overall", "binary_accuracy", "change vs baseline", -1e-10, None, 0.81, 0.8, 0.01, "passed")
    first = ThresholdCheck(
        "overall", "binary_accuracy", "change vs baseline", -1e-10, None, 0.8, None, None, "not applied"
    )

    assert absolute.sentence() == (
        "binary_accuracy on all eval examples: candidate 0.6500, required >= 0.7000: FAILED."
    )
    assert "candidate 0.8100 - baseline 0.8000 = +0.0100" in change.sentence()
    assert change.sentence().endswith("passed.")
    assert "no blessed baseline model existed yet" in first.sentence()


def test_report_file_names_are_safe_on_every_filesystem(tmp_path: object) -> None:
    path = report_path("/h/reports", "2026-11-27T18:40:22.223364")

    assert path.name == "run-2026-11-27T18-40-22.223364.html"
    assert re.fullmatch(r"[\w.-]+", path.name)
