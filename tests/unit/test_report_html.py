"""The reports' HTML: autoescaped templates, the self-contained page shell, and the charts' geometry."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import pytest

from runners.reports import charts
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


def test_templates_escape_text_and_attributes() -> None:
    document = h.render("base.html.j2", title='t <1> & "q"', sections=[{"id": 'a"b', "title": "<b>x</b>"}])

    assert "<title>t &lt;1&gt; &amp; &#34;q&#34;</title>" in document
    assert '<a href="#a&#34;b">&lt;b&gt;x&lt;/b&gt;</a>' in document
    assert "<b>" not in document


def test_the_page_shell_is_self_contained_with_a_policy_that_forbids_every_fetch() -> None:
    document = h.render("base.html.j2", title="t", sections=[{"id": "summary", "title": "Run summary"}])

    assert document.startswith("<!DOCTYPE html>")
    policies = [a["content"] for t, a in _parse(document).elements if t == "meta" and a.get("http-equiv")]
    assert policies == [h.CONTENT_SECURITY_POLICY]
    assert h.CONTENT_SECURITY_POLICY.startswith("default-src 'none';")
    assert '<a href="#summary">Run summary</a>' in document
    for external in ("http:", "https:", "//", "src=", "url(", "<link", "<script", "@import"):
        assert external not in document


def test_every_chart_label_is_at_least_12_px() -> None:
    styles = (h.TEMPLATES / "base.html.j2").read_text()
    sizes = [int(size) for size in re.findall(r"svg text[^{]*\{[^}]*?(\d+)px", styles)]
    assert sizes and min(sizes) >= 12


def test_ticks_are_round_and_cover_the_range() -> None:
    assert charts.nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = charts.nice_ticks(3.25, 46.65, 4)
    assert ticks == [10.0, 20.0, 30.0, 40.0]
    assert charts.tick_label(0.30000000000000004) == "0.3" and charts.tick_label(12000.0) == "12k"


def test_a_skewed_histogram_uses_quantile_bins_on_a_log_axis() -> None:
    # 90 % of the rows in the first of ten equal-width buckets: one tall bar and nine invisible ones.
    standard = [(0.0, 10.0, 90.0)] + [(10.0 * i, 10.0 * (i + 1), 1.0) for i in range(1, 10)]
    quantiles = (
        [(0.0, 0.0, 10.0), (0.0, 0.0, 10.0), (0.0, 1.0, 10.0)]
        + [(float(i), float(i + 1), 10.0) for i in range(1, 7)]
        + [(7.0, 100.0, 10.0)]
    )

    chart = charts.histogram("h", "fare", standard, quantiles)

    assert chart is not None and "log scale" in chart["x_label"] and chart["y_label"] == "rows per unit"
    # The two zero-width buckets (30 % of rows at 0) merge into the next, so every bar has a width.
    assert len(chart["bars"]) == 8 and all(b["width"] >= 1.0 for b in chart["bars"])
    assert "0 to 1: 30 rows" in chart["bars"][0]["title"]
    assert [t["text"] for t in chart["x_ticks"]][:3] == ["0", "1", "3"]
    even = charts.histogram("h", "hour", [(0.0, 12.0, 50.0), (12.0, 24.0, 50.0)], quantiles)
    assert even is not None and even["y_label"] == "rows" and len(even["bars"]) == 2
    assert charts.histogram("h", "x", [], []) is None


def test_bars_are_scaled_to_the_maximum_and_undefined_values_read_n_a() -> None:
    chart = charts.bar_rows(
        "b", [("a", 0.3), ("b", 0.9), ("c", None)], maximum=0.6, marker=0.4, width=460, bad_above=True
    )
    room = 460 - 150 - 60

    assert [r["length"] for r in chart["rows"]] == [room / 2, room, 0.0]  # 0.9 is clipped to the scale
    assert [r["text"] for r in chart["rows"]] == ["0.300", "0.900", "n/a"]
    assert [r["over"] for r in chart["rows"]] == [False, True, False]
    assert chart["marker"]["x"] == round(150 + room * 0.4 / 0.6, 1)


def test_a_dag_is_drawn_left_to_right_by_longest_path() -> None:
    nodes = [{"id": n, "label": n, "detail": "", "state": "executed"} for n in ("gen", "stats", "transform", "trainer")]
    chart = charts.graph(
        "g",
        nodes,
        [("gen", "stats"), ("gen", "transform"), ("stats", "transform"), ("transform", "trainer"), ("trainer", "nope")],
    )

    x = {b["id"]: b["x"] for b in chart["boxes"]}
    assert x["gen"] < x["stats"] < x["transform"] < x["trainer"]
    assert len(chart["edges"]) == 4  # the edge to an unknown node is left out


def test_calibration_buckets_are_pooled_into_tenths() -> None:
    bucket = dataclasses.make_dataclass("B", ["examples", "mean_prediction", "mean_label"])
    points = charts.calibration_points([bucket(1.0, 0.01, 0.0), bucket(3.0, 0.05, 1.0), bucket(2.0, 0.95, 1.0)])

    assert points == [(pytest.approx(0.04), pytest.approx(0.75)), (0.95, 1.0)]


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
