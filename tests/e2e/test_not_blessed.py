"""Candidates the Evaluator refuses, on the real pipeline: each run exits 0, says why, and pushes nothing.

One home: a first run blesses and pushes a baseline; then three runs each fail a different kind of
TFMA threshold (the absolute bar, the change against the baseline, a slice's bar), so every reason
comes from a real TFMA validation result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CliResult, SavedFirstRun, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL_NAME = "taxi_big_tipper"


@dataclass
class Refusals:
    """The home, the baseline run's summary and each refused run's console output and summary."""

    home: Path
    baseline: dict[str, Any]
    runs: dict[str, tuple[CliResult, dict[str, Any]]]


def _json_run(home: Path, data_root: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[CliResult, dict]:
    """Runs the pipeline with --json; the summary is on stdout, the console lines on stderr."""
    result = run_cli("run", "--home", str(home), "--data-root", str(data_root), "--json", *extra, env=env)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr[-5000:]}"
    return result, json.loads(result.stdout)


@pytest.fixture(scope="module")
def refusals(span_1_run: SavedFirstRun) -> Iterator[Refusals]:
    start = span_1_run.restore()
    home, data_root, baseline = start.home, start.data_root, start.summary
    assert baseline["blessed"] and baseline["pushed"], "the first run must push a baseline"
    runs = {
        # The same cached model, now held to a bar it cannot reach.
        "absolute": _json_run(home, data_root, "--train-steps", "30", "--min-accuracy", "0.99"),
        # One training step at a tiny learning rate: a model worse than the baseline, allowed no drop.
        "change": _json_run(
            home,
            data_root,
            "--train-steps",
            "1",
            "--min-accuracy",
            "0.0",
            env={"TAXI_PIPELINE_LEARNING_RATE": "0.000001"},
        ),
        # The baseline's own (cached) model again, passing overall but held to a bar in every slice.
        "slice": _json_run(
            home,
            data_root,
            "--train-steps",
            "30",
            "--min-accuracy",
            "0.5",
            env={"TAXI_PIPELINE_MIN_SLICE_BINARY_ACCURACY": "0.99"},
        ),
    }
    yield Refusals(home, baseline, runs)


def _versions(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "serving" / MODEL_NAME).iterdir() if p.name.isdigit())


@pytest.mark.parametrize("case", ["absolute", "change", "slice"])
def test_a_refused_candidate_exits_0_pushes_nothing_and_gets_no_card(refusals: Refusals, case: str) -> None:
    result, summary = refusals.runs[case]
    assert summary["blessed"] is False
    assert summary["pushed"] is False and summary["pushed_version"] is None
    assert summary["model_card_path"] is None
    assert "blessed       : NO" in result.stderr
    assert "pushed        : nothing (the model was not blessed)" in result.stderr
    assert "to ship it anyway, relax the threshold it failed" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert _versions(refusals.home) == [refusals.baseline["pushed_version"]]


def test_the_absolute_bar_names_the_value_and_the_bound(refusals: Refusals) -> None:
    _, summary = refusals.runs["absolute"]
    accuracy = summary["metrics"]["binary_accuracy"]
    assert summary["blessing_reasons"] == [f"overall: binary_accuracy = {accuracy:.4f}, below the required 0.9900"]


def test_the_change_bar_names_the_drop_against_the_baseline(refusals: Refusals) -> None:
    _, summary = refusals.runs["change"]
    reasons = summary["blessing_reasons"]
    assert len(reasons) == 1, reasons
    found = re.fullmatch(
        r"overall: binary_accuracy \(change vs baseline\) = ([-+]\d\.\d{4}), beyond the allowed change -1e-10",
        reasons[0],
    )
    assert found, reasons
    assert float(found.group(1)) < 0


def test_the_slice_bar_lists_every_failing_slice_with_its_value(refusals: Refusals) -> None:
    _, summary = refusals.runs["slice"]
    reasons = summary["blessing_reasons"]
    failing = {
        name: values["binary_accuracy"]
        for name, values in summary["slice_metrics"].items()
        if name != "overall" and "binary_accuracy" in values and values["binary_accuracy"] < 0.99
    }
    assert failing, "the fixture must have slices below 0.99"
    expected = {f"{name}: binary_accuracy = {value:.4f}, below the required 0.9900" for name, value in failing.items()}
    assert set(reasons) == expected
    assert not any(r.startswith("overall") for r in reasons)


def test_runs_and_the_report_say_not_blessed(refusals: Refusals) -> None:
    listing = run_cli("runs", "--home", str(refusals.home), "--json")
    assert listing.returncode == 0, listing.stderr
    records = json.loads(listing.stdout)["runs"]
    refused_ids = {summary["run_id"] for _, summary in refusals.runs.values()}
    by_id = {r["run_id"]: r for r in records}
    assert refused_ids <= set(by_id)
    assert all(by_id[i]["blessed"] is False and by_id[i]["pushed_version"] is None for i in refused_ids)
    text = run_cli("runs", "--home", str(refusals.home)).stdout
    assert text.count("not blessed") >= 3
    for _, summary in refusals.runs.values():
        page = Path(summary["report"]).read_text()
        assert "not blessed" in page
        for reason in summary["blessing_reasons"]:
            # The report's threshold table shows each failed check's measured value.
            value = re.search(r"= ([-+]?\d\.\d{4})", reason)
            assert value and value.group(1).lstrip("+") in page, reason
