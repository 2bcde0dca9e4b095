"""The run report of a real run: written by `run`, every section present, TFMA's numbers, nothing external,
rendered by a real headless browser; `taxi-pipeline report`; the model-analysis notebook executed headless.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from runners.store import metadata as md
from runners.store.plots import read_plots
from tests import browser
from tests.e2e.conftest import ROOT, HealthyHome, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECTIONS = ("headline", "summary", "statistics", "anomalies", "drift", "metrics", "importance", "blessing", "lineage")
NOTEBOOK = ROOT / "notebooks" / "02-model-analysis.ipynb"
PIPELINE = "taxi"


class _Report(HTMLParser):
    """Collects element ids, every attribute value, the metric and feature importance cells with their
    text, and the text of the model-card paragraph."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.attribute_values: list[str] = []
        self.cells: list[dict[str, str]] = []
        self.importance_cells: list[dict[str, str]] = []
        self.model_card = ""
        self._cell: dict[str, str] | None = None
        self._in_model_card = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.attribute_values += [f"{k}={v}" for k, v in values.items()]
        if "id" in values:
            self.ids.add(values["id"])
            self._in_model_card = values["id"] == "model-card"
        if tag == "td" and "data-metric" in values:
            self._cell = {**values, "text": ""}
            self.cells.append(self._cell)
        elif tag == "td" and "data-feature" in values:
            self._cell = {**values, "text": ""}
            self.importance_cells.append(self._cell)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        if tag == "p":
            self._in_model_card = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] += data
        if self._in_model_card:
            self.model_card += data


def _report_of_run(healthy_home: HealthyHome) -> Path:
    found = re.findall(r"^Report: (.+\.html)$", healthy_home.result.stdout, re.MULTILINE)
    assert found, f"`run` printed no report path:\n{healthy_home.result.stdout[-3000:]}"
    return Path(found[-1])


def _tfma_metrics(evaluation_uri: str) -> dict[tuple[str, str], float]:
    """Reads the candidate's metrics straight from TFMA's output: (slice name, metric) -> value."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.slicer import slicer_lib

    values = {}
    for record in tfma.load_metrics(evaluation_uri):
        key = slicer_lib.deserialize_slice_key(record.slice_key)
        name = "overall" if not key else ", ".join(f"{k}={v.decode() if isinstance(v, bytes) else v}" for k, v in key)
        for item in record.metric_keys_and_values:
            plain = not item.key.sub_key.ByteSize() and not item.key.output_name and not item.key.is_diff
            if plain and item.value.WhichOneof("type") == "double_value":
                number = item.value.double_value.value
                if not math.isnan(number):
                    values[(name, item.key.name)] = number
    return values


def _as_notebook_shows(value: float) -> str:
    """A number as the notebook's pandas float format writes it: a whole number as a count, else four
    significant digits (an AUC of exactly 1 is "1", not "1.0000"), as one cell of the HTML table."""
    text = f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1 else f"{value:.4g}"
    return f"<td>{text}</td>"  # a whole cell of pandas' HTML table, so "1" cannot match any other 1


def _evaluation_uri(home: Path) -> str:
    store = md.connect(home / "metadata.db")
    run_id = md.run_ids(store, PIPELINE)[-1]
    evaluator = md.run_executions(store, run_id)["evaluator"]
    return md.outputs(store, evaluator, "evaluation")[0].uri


def _feature_importance(home: Path) -> dict[str, Any]:
    """The last run's feature_importance.json, found through ML Metadata and read with json alone."""
    store = md.connect(home / "metadata.db")
    run_id = md.run_ids(store, PIPELINE)[-1]
    step = md.run_executions(store, run_id)["feature_importance"]
    (artifact,) = md.outputs(store, step, "feature_importance")
    document: dict[str, Any] = json.loads((Path(artifact.uri) / "feature_importance.json").read_text())
    return document


def test_run_writes_a_report_with_every_section_and_tfma_s_numbers(healthy_home: HealthyHome) -> None:
    path = _report_of_run(healthy_home)
    assert path.is_file()
    assert path.parent == (healthy_home.home / "reports").resolve()
    document = path.read_text(encoding="utf-8")
    parsed = _Report()
    parsed.feed(document)

    assert set(SECTIONS) <= parsed.ids
    assert "Blessed and pushed as version" in document
    pushed = sorted(p.name for p in (healthy_home.home / "serving" / "taxi_big_tipper").iterdir() if p.name.isdigit())
    assert f"Pushed as version {pushed[-1]}" in document
    assert "change vs baseline" in document and "not applied" in document  # the first model has no baseline

    expected = _tfma_metrics(_evaluation_uri(healthy_home.home))
    shown = {
        (c["data-slice"], c["data-metric"]): c
        for c in parsed.cells
        if c.get("data-model") == "candidate" and c.get("data-value")
    }
    slices = {name for name, _ in expected}
    assert {"overall", "payment_type=Cash"} <= slices and len(slices) > 10
    assert set(expected) == set(shown)  # every metric of every slice, and nothing else
    # AUC is n/a exactly where TFMA's confusion matrices count one class only.
    single_class = {
        name for name, found in read_plots(_evaluation_uri(healthy_home.home)).items() if found.single_class
    }
    assert single_class and "overall" not in single_class
    for key, value in expected.items():
        cell = shown[key]
        assert float(cell["data-value"]) == value, key
        text = f"{value:,.0f}" if key[1] == "example_count" else f"{value:.4f}"
        assert cell["text"] == ("n/a" if key[1] == "auc" and key[0] in single_class else text), key


def test_the_report_shows_the_model_s_feature_importance_and_its_model_card(healthy_home: HealthyHome) -> None:
    document = _report_of_run(healthy_home).read_text(encoding="utf-8")
    parsed = _Report()
    parsed.feed(document)

    expected = _feature_importance(healthy_home.home)
    assert len(expected["features"]) > 10  # every raw serving feature, not a top few
    shown = [
        (c["data-feature"], float(c["data-importance"]), float(c["data-std"]), c["text"])
        for c in parsed.importance_cells
    ]
    assert shown == [(f["feature"], f["importance"], f["std"], f"{f['importance']:+.4f}") for f in expected["features"]]
    assert f"Unshuffled, its {expected['metric']} on those rows is {expected['baseline_score']:.4f}." in document

    version = sorted(p.name for p in (healthy_home.home / "serving" / "taxi_big_tipper").iterdir() if p.name.isdigit())
    card = (healthy_home.home / "model-cards" / version[-1] / "model_card.html").resolve()
    assert card.is_file()
    assert parsed.model_card == f"Model card: {card} (model_card.md beside it)."


def test_the_report_references_nothing_outside_itself(healthy_home: HealthyHome) -> None:
    document = _report_of_run(healthy_home).read_text(encoding="utf-8")
    parsed = _Report()
    parsed.feed(document)

    lowered = document.lower()
    for marker in ("http:", "https:", "//", "src=", "url(", "@import", "<link", "<script", "<iframe", "<object"):
        assert marker not in lowered, marker
    links = [v.removeprefix("href=") for v in parsed.attribute_values if v.startswith("href=")]
    # In-page navigation, and relative links to the pages beside it (the model card), nothing with a scheme.
    assert links and all(link.startswith("#") or (":" not in link and link.endswith(".html")) for link in links)
    assert "../model-cards/" in " ".join(links)
    assert "default-src 'none'" in html.unescape(document)


def test_the_report_renders_in_a_headless_browser_without_errors(healthy_home: HealthyHome, tmp_path: Path) -> None:
    chromium = browser.require_chromium()
    page = tmp_path / "report.html"
    shutil.copy(_report_of_run(healthy_home), page)

    rendered = browser.render(page, chromium, width=1280, height=2400)

    assert rendered.problems == []
    assert browser.png_size(rendered.screenshot) == (1280, 2400)
    assert len(rendered.screenshot) > 50_000
    assert browser.distinct_rows(rendered.screenshot) > 500  # text, tables and charts, not a blank page
    (tmp_path / "report.png").write_bytes(rendered.screenshot)


def test_report_command_writes_a_named_run_to_a_chosen_file(healthy_home: HealthyHome, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(healthy_home.home, home)
    store = md.connect(home / "metadata.db")
    runs = md.run_ids(store, PIPELINE)
    first = runs[0]  # the ingest-only run of span 1
    output = tmp_path / "out" / "first.html"

    result = run_cli("report", "--home", str(home), "--run", first, "--output", str(output))

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(output.resolve())
    document = output.read_text(encoding="utf-8")
    parsed = _Report()
    parsed.feed(document)
    assert set(SECTIONS) <= parsed.ids
    assert "Ingest only" in document
    assert "No evaluation: this run did not train or evaluate a model." in document
    assert "No feature importance: this run trained no model." in document
    assert "model-card" not in parsed.ids

    unknown = run_cli("report", "--home", str(home), "--run", "no-such-run")
    assert unknown.returncode == 2
    assert "'no-such-run' is not a run" in unknown.stderr and runs[-1] in unknown.stderr


def test_model_analysis_notebook_shows_the_latest_evaluation(
    healthy_home: HealthyHome, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The kernel inherits the environment: the home to read, and this checkout's code ahead of any installed copy.
    monkeypatch.setenv("TAXI_PIPELINE_HOME", str(healthy_home.home))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(NOTEBOOK, as_version=4)

    NotebookClient(
        notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    def outputs(tag: str) -> list[dict[str, str]]:
        (cell,) = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
        return [dict(o.get("data", {}), text=o.get("text", "")) for o in cell.get("outputs", [])]

    expected = _tfma_metrics(_evaluation_uri(healthy_home.home))
    overall = outputs("overall-table")[0]["text/html"]
    assert "binary_accuracy" in overall and "candidate" in overall
    assert _as_notebook_shows(expected[("overall", "binary_accuracy")]) in overall

    slice_tables = [o["text/html"] for o in outputs("slice-tables") if "text/html" in o]
    assert len(slice_tables) == 2  # payment_type and trip_start_hour
    by_payment = next(t for t in slice_tables if "payment_type" in t)
    assert "Cash" in by_payment
    assert _as_notebook_shows(expected[("payment_type=Cash", "binary_accuracy")]) in by_payment
    assert _as_notebook_shows(expected[("payment_type=Cash", "auc")]) in by_payment

    assert sum("image/png" in o for o in outputs("slice-plots")) == 2
    thresholds = outputs("thresholds-table")
    assert "binary_accuracy on all eval examples" in "".join(o["text"] for o in thresholds)
    assert "passed" in "".join(o.get("text/html", "") for o in thresholds)
