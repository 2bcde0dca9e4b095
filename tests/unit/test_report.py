"""The run report rendered from hand-made data: a rejected model, a stopped span, hostile text, the CLI's errors."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline import validation
from pipeline.config import load_config
from runners import text
from runners.cli import main
from runners.commands import run
from runners.errors import EXIT_STORAGE
from runners.reports import run_data, run_report
from runners.store import evaluations, statistics
from runners.store import metadata as md
from runners.store.gates import GateReport
from runners.store.summary import RunSummary
from tests.unit.fake_home import FakeHome

ROOT = Path(__file__).resolve().parents[2]
SECTION_IDS = (
    "headline",
    "summary",
    "statistics",
    "anomalies",
    "drift",
    "metrics",
    "importance",
    "blessing",
    "lineage",
)


def _gate(description: str, drift_value: float, stopped_by_drift: bool) -> GateReport:
    policy = validation.GatePolicy()
    anomaly = validation.AnomalyRow(
        "company", "ENUM_TYPE_UNEXPECTED_STRING_VALUES", description, "ERROR", ("train",), True
    )
    drift = validation.DriftRow("fare", validation.JENSEN_SHANNON, drift_value, 0.6 if stopped_by_drift else 1.0)
    verdict = validation.GateVerdict((anomaly,), (drift,), policy)
    return GateReport(span=3, baseline_span=2, verdict=verdict, anomalies_uri="/a", drift_report_uri="/d")


def _data(**changes: object) -> run_data.ReportData:
    summary = RunSummary(run_id="run-<1>", span=3, rows={"train": 200, "eval": 100}, window_spans=[2, 3])
    fields: dict[str, object] = {
        "run_id": "run-<1>",
        "pipeline_name": "taxi",
        "home": "/home/h",
        "started": 1_800_000_000.0,
        "ended": 1_800_000_090.0,
        "components": [
            run_data.ComponentRun("example_gen", "executed", 1_800_000_000.0, 4.2),
            run_data.ComponentRun("schema_importer", "cached", 1_800_000_005.0, 0.0),
        ],
        "summary": summary,
        "statistics": {
            "train": [
                statistics.FeatureStatistics(
                    "fare", "FLOAT", 190, 10, mean=11.5, histogram=[(0.0, 10.0, 150), (10.0, 20.0, 40)]
                ),
                statistics.FeatureStatistics(
                    "company", "STRING", 200, 0, unique=2, top_values=[("<b>Flash</b>", 120.0)]
                ),
            ]
        },
        "statistics_uri": "/s",
        "gate": _gate("Examples contain <script>alert(1)</script>", 0.9, True),
        "gate_passed": False,
        "evaluation": None,
        "baseline_model": None,
        "lineage": None,
        "generated": 1_800_000_100.0,
    }
    fields.update(changes)
    return run_data.ReportData(**fields)  # type: ignore[arg-type]


def _failed_evaluation() -> evaluations.ModelEvaluation:
    overall = evaluations.SliceMetrics(
        "",
        "",
        candidate={"binary_accuracy": 0.61, "example_count": 100.0},
        baseline={"binary_accuracy": 0.8},
        diff={"binary_accuracy": -0.19},
    )
    cash = evaluations.SliceMetrics("payment_type", "Cash", candidate={"binary_accuracy": 0.9, "example_count": 60.0})
    checks = [
        evaluations.ThresholdCheck(
            "overall", "binary_accuracy", "absolute", 0.7, None, 0.61, 0.8, 0.61, "failed threshold"
        ),
        evaluations.ThresholdCheck(
            "overall", "binary_accuracy", "change vs baseline", -1e-10, None, 0.61, 0.8, -0.19, "failed threshold"
        ),
    ]
    return evaluations.ModelEvaluation("/e", [overall, cash], checks, validation_ok=False, has_baseline=True)


def test_a_span_stopped_at_the_gate_says_so_and_escapes_what_the_data_says() -> None:
    document = run_report.render(_data())

    for section_id in SECTION_IDS:
        assert f'id="{section_id}"' in document
    assert "Stopped by the data gate: span 3 was not trained on" in document
    assert "<script>" not in document and "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert "<b>Flash</b>" not in document and "&lt;b&gt;Flash&lt;/b&gt;" in document
    assert "run-&lt;1&gt;" in document
    assert "OVER LIMIT" in document and "1 feature(s) over their limit: fare (drift action: stop)" in document
    assert "No evaluation: the data gate stopped the span, so nothing was trained or evaluated." in document
    assert "No feature importance: the data gate stopped the span, so no model was trained." in document
    assert "No model: this run trained nothing" in document


def test_a_rejected_model_lists_each_failed_threshold_with_candidate_and_baseline() -> None:
    summary = RunSummary(run_id="r", span=3, blessed=False, metrics={"binary_accuracy": 0.61})
    data = _data(
        summary=summary,
        gate=_gate("fine", 0.1, False),
        gate_passed=True,
        evaluation=_failed_evaluation(),
        baseline_model={"id": 7, "uri": "/m/7", "versions": [1795000000]},
        components=[run_data.ComponentRun("trainer", "executed", 1_800_000_000.0, 30.0)],
    )

    document = run_report.render(data)

    assert "NOT blessed: the model failed a threshold and was not pushed." in document
    assert "binary_accuracy on all eval examples: candidate 0.6100, required &gt;= 0.7000: FAILED." in document
    assert "candidate 0.6100 - baseline 0.8000 = -0.1900" in document
    assert "pushed as version 1795000000" in document
    assert "Not pushed: the Pusher only publishes blessed models" in document
    assert 'data-slice="payment_type=Cash" data-metric="binary_accuracy" data-model="candidate" data-value="0.9"' in (
        document
    )
    assert 'data-model="baseline" data-value="0.8"' in document
    assert 'data-model="diff" data-value="-0.19">-0.1900</td>' in document  # a change carries its sign


class _ImportanceCells(HTMLParser):
    """Collects the importance cells (data-feature) in order, and the text of the model-card paragraph."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self.card = ""
        self._in_card = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "td" and "data-feature" in values:
            self.cells.append(values)
        if values.get("id") == "model-card":
            self._in_card = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_card = False

    def handle_data(self, data: str) -> None:
        if self._in_card:
            self.card += data


def _pushed(**changes: object) -> run_data.ReportData:
    summary = RunSummary(
        run_id="r", span=3, blessed=True, pushed=True, pushed_version="1800000200", pushed_path="/h/serving/1800000200"
    )
    fields: dict[str, object] = {
        "summary": summary,
        "gate": _gate("fine", 0.1, False),
        "gate_passed": True,
        "components": [run_data.ComponentRun("trainer", "executed", 1_800_000_000.0, 30.0)],
        "evaluation": evaluations.ModelEvaluation("/e", [], [], validation_ok=True, has_baseline=False),
    }
    fields.update(changes)
    return _data(**fields)


IMPORTANCE = {
    "metric": "auc",
    "baseline_score": 0.8123,
    "rows": 1200,
    "repeats": 3,
    "features": [
        {"feature": "payment_type", "importance": 0.21, "std": 0.004},
        {"feature": "<i>fare</i>", "importance": 0.0123456789, "std": 0.001},
        {"feature": "company", "importance": -0.0004, "std": 0.0007},
    ],
}


def test_feature_importance_lists_every_feature_largest_first_with_exact_values() -> None:
    document = run_report.render(_pushed(importance=IMPORTANCE))

    parsed = _ImportanceCells()
    parsed.feed(document)
    shown = [(c["data-feature"], float(c["data-importance"]), float(c["data-std"])) for c in parsed.cells]
    assert shown == [(f["feature"], f["importance"], f["std"]) for f in IMPORTANCE["features"]]
    assert 'id="importance-table"' in document and "<i>fare</i>" not in document
    assert "&lt;i&gt;fare&lt;/i&gt;" in document
    assert ">+0.0123</td>" in document and ">-0.0004</td>" in document
    assert "its auc drops when one feature&#39;s values are shuffled across 1,200 eval rows" in document
    assert "Unshuffled, its auc on those rows is 0.8123." in document
    # One inline bar per feature, scaled to the largest; a negative importance draws no bar.
    section = document.split('id="importance"')[1].split("</section>")[0]
    assert section.count("<svg") == 3
    assert 'width="236.0"' in section and 'width="0.0"' in section  # 300 - 4 - 60 px of room


def test_the_pushed_version_names_its_model_card_or_how_to_write_one() -> None:
    card = "/h/model-cards/1800000200/model_card.html"
    with_card = _ImportanceCells()
    with_card.feed(run_report.render(_pushed(model_card=card)))
    assert with_card.card == f"Model card: {card} (model_card.md beside it)."

    without = _ImportanceCells()
    without.feed(run_report.render(_pushed()))
    assert without.card == (
        "No model card was written for version 1800000200; taxi-pipeline model-card --version 1800000200 writes one."
    )
    rejected = run_report.render(_data(summary=RunSummary(run_id="r", blessed=False), evaluation=_failed_evaluation()))
    assert 'id="model-card"' not in rejected


def test_a_trained_run_without_an_importance_artifact_says_so() -> None:
    document = run_report.render(_pushed())

    assert "No feature importance: the run recorded no feature_importance output for its model" in document
    assert 'id="importance-table"' not in document


def test_report_of_an_unknown_run_names_the_runs_there(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "runners", "report", "--home", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert missing.returncode == 2
    assert f"no ML Metadata at {tmp_path / 'metadata.db'}" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_report_that_cannot_be_written_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "reports").write_text("a file where the reports folder should be")
    md.connect(home / "metadata.db", create=True)
    config = load_config(overrides={"home": str(home)})
    console = io.StringIO()
    log_file = tmp_path / "run.log"

    with caplog.at_level(logging.ERROR):
        written = run._write_run_report(config, "some-run", console, log_file)

    assert written is None
    assert console.getvalue() == (
        f"taxi-pipeline: warning: the run report could not be written (the traceback is in {log_file})\n"
    )
    (record,) = [r for r in caplog.records if r.exc_info]
    assert "writing the report of run some-run failed" in record.getMessage()


def test_the_report_says_durations_times_and_spans_as_the_console_does() -> None:
    data = _data(components=[run_data.ComponentRun("trainer", "executed", 1_800_000_000.0, 187.0)])

    document = run_report.render(data)

    # 90 s between start and end, as `runs` and the run's last line show it; spans as `runs` lists them.
    assert "<td>duration</td><td>1m30s</td>" in document
    assert '<td class="num">3m07s</td>' in document
    assert f"<td>started</td><td>{text.format_time(1_800_000_000.0)} UTC</td>" in document
    assert "<td>training window</td><td>2,3</td>" in document


def test_report_into_a_blocked_home_exits_7_as_every_command_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    FakeHome(home, sqlite=True).run("run-1", span=1, version=100)
    (home / "reports").write_text("a file where the reports folder should be")
    monkeypatch.setattr(run_data, "gather", lambda store, config, run_id: _data())

    code = main(["report", "--home", str(home)])

    err = capsys.readouterr().err
    assert code == EXIT_STORAGE
    assert f"cannot write to the home folder {home} (" in err
    assert f"{home / 'reports'} is a file, not a folder" in err
    assert err.rstrip().endswith("No report was written.") and "Traceback" not in err
    # Outside the home, the --output flag is what to change.
    elsewhere = tmp_path / "outside"
    elsewhere.write_text("")
    code = main(["report", "--home", str(home), "--output", str(elsewhere / "r.html")])
    assert code == 2 and f"cannot write the report to {elsewhere / 'r.html'}" in capsys.readouterr().err
