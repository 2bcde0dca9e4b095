"""The run report, the model card and the compare page of a trained home, opened in a headless browser:
their charts are there (ROC, PR, calibration, loss, DAG, lineage), and nothing errs or is fetched."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from runners.store import metadata as md
from tests import browser
from tests.e2e.conftest import HealthyHome, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PIPELINE = "taxi"


class _Charts(HTMLParser):
    """Collects each <svg>'s id and how many curves, bars, boxes and text labels it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, dict[str, int]] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "svg":
            self._current = values.get("id") or f"svg-{len(self.charts)}"
            self.charts[self._current] = {}
        elif self._current is not None:
            self.charts[self._current][tag] = self.charts[self._current].get(tag, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._current = None


def _charts(document: str) -> dict[str, dict[str, int]]:
    parsed = _Charts()
    parsed.feed(document)
    return parsed.charts


def _open(page: Path, tmp_path: Path, name: str) -> browser.Rendered:
    """Renders a copy of the page (links resolve to nothing, as for a file attached to a review) at 1400 px."""
    copy = tmp_path / f"{name}.html"
    shutil.copy(page, copy)
    rendered = browser.render(copy, browser.require_chromium(), width=1400, height=2400)
    (tmp_path / f"{name}.png").write_bytes(rendered.screenshot)
    return rendered


def _report(healthy_home: HealthyHome) -> Path:
    found = re.findall(r"^Report: (.+\.html)$", healthy_home.result.stdout, re.MULTILINE)
    assert found
    return Path(found[-1])


def test_the_report_draws_roc_pr_calibration_loss_dag_and_lineage(healthy_home: HealthyHome, tmp_path: Path) -> None:
    page = _report(healthy_home)
    charts = _charts(page.read_text(encoding="utf-8"))

    for curve in ("roc", "pr", "calibration", "loss"):
        assert charts[curve].get("polyline", 0) >= 1, curve
        assert charts[curve]["text"] >= 8, curve  # title, axis titles, tick labels
    assert charts["loss"]["polyline"] == 2  # training and validation loss
    store = md.connect(healthy_home.home / "metadata.db")
    executed = md.run_executions(store, md.run_ids(store, PIPELINE)[-1])
    assert charts["dag"]["g"] >= len(executed) - 3  # one box per component (resolvers are not components)
    assert charts["lineage-graph"]["g"] >= 4  # examples, schema, transform graph, model, serving
    assert any(name.startswith("histogram-fare") for name in charts)
    assert any(name.startswith("drift-") for name in charts)

    rendered = _open(page, tmp_path, "report")
    assert rendered.problems == []
    assert browser.distinct_rows(rendered.screenshot) > 500


def test_the_model_card_draws_its_slices_and_calibration(healthy_home: HealthyHome, tmp_path: Path) -> None:
    versions = sorted(p.name for p in (healthy_home.home / "model-cards").iterdir())
    page = healthy_home.home / "model-cards" / versions[-1] / "model_card.html"
    document = page.read_text(encoding="utf-8")
    charts = _charts(document)

    assert charts["card-calibration"]["polyline"] == 1
    assert charts["card-slices-trip_start_hour"]["rect"] == 24  # one bar per hour
    for field in ("Model details", "Ethical considerations", "Tradeoffs", "Known limitations"):
        assert f"<h2>{field}</h2>" in document
    assert "Apache-2.0" in document  # from models/model_card.yaml
    hours = re.findall(r"<td>trip_start_hour=(\d+)</td>", document)
    assert hours == [str(h) for h in sorted(map(int, hours))] and len(hours) == 24
    assert "_diff" not in document

    rendered = _open(page, tmp_path, "card")
    assert rendered.problems == []
    assert browser.distinct_rows(rendered.screenshot) > 500


def test_compare_shows_two_runs_side_by_side_as_text_json_and_html(healthy_home: HealthyHome, tmp_path: Path) -> None:
    store = md.connect(healthy_home.home / "metadata.db")
    ingest, trained = md.run_ids(store, PIPELINE)[:2]
    page = tmp_path / "out" / "compare.html"

    result = run_cli("compare", "--home", str(healthy_home.home), ingest, trained, "--json", "--html", str(page))

    assert result.returncode == 0, result.stderr[-3000:]
    compared = json.loads(result.stdout)
    assert compared["runs"]["a"]["run_id"] == ingest and compared["runs"]["b"]["span"] == 2
    fare = next(s for s in compared["statistics"] if s["feature"] == "fare")
    assert fare["mean"]["a"] is not None and fare["mean"]["change"] == fare["mean"]["b"] - fare["mean"]["a"]
    overall = next(m for m in compared["metrics"] if m["slice"] == "overall")
    assert overall["metrics"]["binary_accuracy"]["a"] is None  # the ingest-only run trained nothing
    assert overall["metrics"]["binary_accuracy"]["b"] is not None
    document = page.read_text(encoding="utf-8")
    assert 'id="compare-slices"' in document and 'id="compare-training"' in document

    rendered = _open(page, tmp_path, "compare")
    assert rendered.problems == []

    # Without runs named, the last two training runs; this home has one, and the error says what to do.
    default = run_cli("compare", "--home", str(healthy_home.home))
    assert default.returncode == 2
    assert "compare needs two training runs and the home has 1" in default.stderr


def test_the_pages_read_the_real_evaluation_as_tfma_s_own_readers_do(healthy_home: HealthyHome) -> None:
    """The report, card and compare read TFMA's files as protos (no TensorFlow); TFMA itself reads the same."""
    import tensorflow_model_analysis as tfma

    from runners.store import evaluations, tfma_files
    from runners.store.plots import read_plots

    store = md.connect(healthy_home.home / "metadata.db")
    (record,) = evaluations.ln.list_evaluations(store, PIPELINE)
    uri = str(record.evaluation_uri)
    (execution,) = store.get_executions_by_id([record.execution_id])
    configured = md.prop(execution, "eval_config")
    assert isinstance(configured, str)

    for config in (configured, None):
        fast = evaluations._model_evaluation(uri, config, evaluations._FILES)
        assert fast == evaluations._model_evaluation(uri, config, evaluations._TFMA)
    assert len(fast.slices) > 10 and fast.thresholds and fast.validation_ok is True
    assert tfma_files.overall_metrics(uri) == evaluations.read_evaluation(uri)[0] == fast.overall.summary_values()  # type: ignore[union-attr]
    validation = tfma_files.load_validation_result(uri)
    assert validation == tfma.load_validation_result(uri)
    assert evaluations._validation_reasons(validation, evaluations._FILES) == []

    plots = read_plots(uri)
    curves = {
        evaluations.slice_name(tfma_files.slice_key(p.slice_key)): next(
            item.value.confusion_matrix_at_thresholds.matrices
            for item in p.plot_keys_and_values
            if item.value.HasField("confusion_matrix_at_thresholds")
        )
        for p in tfma.load_plots(uri)
    }
    assert set(plots) == set(curves)
    for name, matrices in curves.items():
        assert [(m.threshold, m.recall, m.precision) for m in matrices] == [
            (point.threshold, point.true_positive_rate, point.precision) for point in plots[name].curve
        ]
