"""The data gates on the real pipeline: bad spans stop before Transform, a healthy span passes with its drift.

One healthy run (fixture spans 1 and 2, session fixture) is copied for each bad span 3; a bad span
stops at the pre-flight check or the data gate, so those runs skip training. The pipeline runs in a
subprocess, as a user runs it; the CLI tools (drift, schema) run on the same bad spans in-process.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline import ids, validation
from pipeline.config import PROJECT_ROOT
from runners.cli import main
from runners.errors import EXIT_GATE, EXIT_INPUT, EXIT_OK
from runners.store import gates
from runners.store import metadata as md
from tests.e2e.conftest import FAST_FLAGS, SMALL_DATA, CliResult, HealthyHome, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCHEMA = validation.load_schema(PROJECT_ROOT / "schema" / "schema.pbtxt")
ROWS_SOURCE = SMALL_DATA / "span-2" / "data.csv"


def _source_rows() -> tuple[list[str], list[list[str]]]:
    with ROWS_SOURCE.open(newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _with_column(
    header: list[str], rows: list[list[str]], name: str, change: Callable[[int, str], str]
) -> list[list[str]]:
    index = header.index(name)
    return [[*row[:index], change(number, row[index]), *row[index + 1 :]] for number, row in enumerate(rows)]


def missing_column(path: Path) -> None:
    header, rows = _source_rows()
    index = header.index("trip_miles")
    _write(path, header[:index] + header[index + 1 :], [row[:index] + row[index + 1 :] for row in rows])


def numeric_as_text(path: Path) -> None:
    header, rows = _source_rows()
    _write(path, header, _with_column(header, rows, "fare", lambda _, value: f"{value} USD"))


def unseen_category(path: Path) -> None:
    header, rows = _source_rows()
    # One row in five: far above the schema's 1% allowance, yet below payment_type's drift limit.
    _write(
        path, header, _with_column(header, rows, "payment_type", lambda n, value: "Bitcoin" if n % 5 == 0 else value)
    )


def strong_shift(path: Path) -> None:
    header, rows = _source_rows()
    rows = _with_column(header, rows, "fare", lambda _, value: f"{float(value) * 10:.2f}")
    _write(path, header, _with_column(header, rows, "payment_type", lambda _, value: "Credit Card"))


def empty_span(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def _data_root(base: Path, make_span_3: Callable[[Path], None]) -> Path:
    """Fixture spans 1 and 2, as in the healthy run, plus a bad span 3."""
    root = base / "data"
    for span in (1, 2):
        shutil.copytree(SMALL_DATA / f"span-{span}", root / f"span-{span}")
    make_span_3(root / "span-3" / "data.csv")
    return root


def _versions(home: Path) -> list[str]:
    serving = home / "serving" / "taxi_big_tipper"
    return sorted(p.name for p in serving.iterdir()) if serving.is_dir() else []


def _executions(home: Path, node_id: str) -> list[md.Execution]:
    return md.node_executions(md.connect(home / "metadata.db"), "taxi", node_id)


def _copy_home(healthy: HealthyHome, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    # Artifact URIs in ML Metadata are absolute and point into the original home, which stays intact.
    shutil.copytree(healthy.home, home)
    return home


def test_healthy_next_span_passes_the_gates_and_prints_its_drift(healthy_home: HealthyHome) -> None:
    output = healthy_home.result.stdout
    assert "Drift of span 2 against span 1 (train split" in output
    table = output[output.index("Drift of span 2 against span 1") :]
    for feature in validation.training_columns(SCHEMA):
        assert feature in table
    assert "tips (label source)" in table
    assert "OVER LIMIT" not in table
    assert "Anomalies: none in span 2." in output
    assert len(_versions(healthy_home.home)) == 1

    store = md.connect(healthy_home.home / "metadata.db")
    spans = gates.ingested_spans(store, "taxi")
    assert [(s.span, s.accepted) for s in spans] == [(1, True), (2, True)]
    report = validation.load_drift_report(spans[1].drift_report_uri or "")
    assert report["baseline_span"] == 1
    recorded = {row.feature: row.value for row in validation.drift_rows(report)}
    assert recorded["tips"] is not None and recorded["fare"] is not None
    (drift_artifact,) = md.outputs(store, _executions(healthy_home.home, ids.DRIFT_CHECK)[-1])
    assert md.prop(drift_artifact, "baseline_span") == 1
    assert "tips" in str(md.prop(drift_artifact, "drift_values"))
    # The first span had nothing to compare with: recorded as such, not as a failure.
    assert validation.load_drift_report(spans[0].drift_report_uri or "")["baseline_span"] is None


@pytest.mark.parametrize(
    ("make_span_3", "exit_code", "named"),
    [
        (missing_column, EXIT_INPUT, ["column 'trip_miles' is missing", "span-3/data.csv"]),
        (numeric_as_text, EXIT_INPUT, ["column 'fare' holds", "line 2", "FLOAT"]),
        (empty_span, EXIT_INPUT, ["span-3/data.csv: the file is empty"]),
        (unseen_category, EXIT_GATE, ["payment_type", "ENUM_TYPE_UNEXPECTED_STRING_VALUES", "Bitcoin"]),
        (strong_shift, EXIT_GATE, ["fare: Jensen-Shannon drift", "payment_type: L-infinity drift", "OVER LIMIT"]),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_bad_span_stops_before_transform_and_nothing_new_is_pushed(
    healthy_home: HealthyHome,
    tmp_path: Path,
    make_span_3: Callable[[Path], None],
    exit_code: int,
    named: list[str],
) -> None:
    home = _copy_home(healthy_home, tmp_path)
    data_root = _data_root(tmp_path, make_span_3)
    versions_before = _versions(home)
    trained_before = {node: len(_executions(home, node)) for node in (ids.TRANSFORM, ids.PUSHER)}

    result: CliResult = run_cli("run", "--home", str(home), "--data-root", str(data_root), *FAST_FLAGS)

    output = result.stdout + result.stderr
    assert result.returncode == exit_code, output[-3000:]
    for text in named:
        assert text in output
    assert "Traceback" not in output
    assert "taxi-pipeline: stopped: span 3" in result.stderr
    assert _versions(home) == versions_before
    after = {node: len(_executions(home, node)) for node in trained_before}
    assert after == trained_before

    spans = gates.ingested_spans(md.connect(home / "metadata.db"), "taxi")
    if exit_code == EXIT_INPUT:
        assert [s.span for s in spans] == [1, 2]  # stopped before TFX ingested anything
    else:
        span_3 = spans[-1]
        assert (span_3.span, span_3.accepted) == (3, False)
        assert _executions(home, ids.DATA_GATE)[-1].last_known_state == md.Execution.FAILED
        # The findings stay in ML Metadata: ExampleValidator's anomalies and the drift report.
        anomalies = validation.load_anomalies(span_3.anomalies_uri or "")
        drift = validation.load_drift_report(span_3.drift_report_uri or "")
        assert drift["baseline_span"] == 2
        if make_span_3 is unseen_category:
            assert "payment_type" in anomalies["train"].anomaly_info
        else:
            # Ten times the fare also changes what big_tipper means (tips over a fifth of the fare), and the
            # label check sees it within the one payment type left.
            # (fare is over on two measures: Jensen-Shannon and the quantile shift.)
            assert sorted(set(drift["over_limit"])) == ["big_tipper by payment_type", "fare", "payment_type"]
        # The stopped run still writes its report: what stopped the span, and that nothing was trained.
        (report_path,) = re.findall(r"^Report: (.+\.html)$", result.stdout, re.MULTILINE)
        document = Path(report_path).read_text(encoding="utf-8")
        assert "Stopped by the data gate: span 3 was not trained on" in document
        assert ("ENUM_TYPE_UNEXPECTED_STRING_VALUES" if make_span_3 is unseen_category else "OVER LIMIT") in document
        assert "No evaluation: the data gate stopped the span" in document


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """Runs a CLI tool in this process: unlike `run`, they start no pipeline, and this saves an import of TFX."""
    code = main(list(args))
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def test_drift_command_prints_every_feature_and_fails_over_the_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_root = _data_root(tmp_path, strong_shift)
    home = tmp_path / "home"
    args = ("drift", "--span", "3", "--against", "2", "--data-root", str(data_root), "--home", str(home))
    result = _cli(capsys, *args)
    assert result.returncode == EXIT_GATE, result.stderr[-3000:]
    for feature in validation.training_columns(SCHEMA):
        assert feature in result.stdout
    assert "fare 0." in result.stderr and "payment_type 0." in result.stderr
    # Fares x10: the quantile shift reads 9 (|10 - 1|), and the before/after means show why.
    assert "fare 9." in result.stderr and "> 0.4 (quantile shift)" in result.stderr
    as_json = _cli(capsys, *args, "--json")
    assert as_json.returncode == EXIT_GATE
    document = json.loads(as_json.stdout)
    (shift,) = [r for r in document["features"] if (r["feature"], r["measure"]) == ("fare", "quantile_shift")]
    assert shift["status"] == "OVER LIMIT" and shift["after"]["mean"] > 9 * shift["before"]["mean"]
    assert "fare" in document["over_limit"]
    assert not home.exists(), "a read-only command wrote into the home"


def test_schema_tools_show_and_judge_an_unseen_category(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data_root = _data_root(tmp_path, unseen_category)
    home = ("--data-root", str(data_root), "--home", str(tmp_path / "home"))

    diff = _cli(capsys, "schema", "diff", "--span", "3", *home)
    # The schema must change to accept the span: exit 4, as a data gate would stop it.
    assert diff.returncode == EXIT_GATE, diff.stderr[-3000:]
    assert "@@ string_domain payment_type @@" in diff.stdout
    assert '+  value: "Bitcoin"' in diff.stdout
    as_json = json.loads(_cli(capsys, "schema", "diff", "--span", "3", *home, "--json").stdout)
    assert as_json["must_change"] is True and '+  value: "Bitcoin"' in as_json["diff"]
    accepted = _cli(capsys, "schema", "diff", "--span", "2", *home)
    assert accepted.returncode == EXIT_OK and "no change needed" in accepted.stdout

    stopped = _cli(capsys, "schema", "validate", "--span", "3", *home)
    assert stopped.returncode == EXIT_GATE
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in stopped.stdout and "stop" in stopped.stdout
    assert "payment_type" in stopped.stderr

    monkeypatch.setenv("TAXI_PIPELINE_WARNING_ANOMALIES", "ENUM_TYPE_UNEXPECTED_STRING_VALUES")
    warned = _cli(capsys, "schema", "validate", "--span", "3", *home)
    assert warned.returncode == EXIT_OK, warned.stderr[-3000:]
    assert "warn" in warned.stdout
    document = json.loads(_cli(capsys, "schema", "validate", "--span", "3", *home, "--json").stdout)
    assert document["stopped"] is False and document["anomalies"][0]["feature"] == "payment_type"
    assert not (tmp_path / "home").exists(), "a read-only command wrote into the home"
