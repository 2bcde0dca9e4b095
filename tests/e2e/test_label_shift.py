"""A span whose label no longer relates to its features is stopped before Transform, on the real pipeline.

The fixture is span 2 of tests/data/taxi-small with its label's source columns (tips and fare, which
define big_tipper) shuffled together against the other columns, as a bad join or a shifted export
would leave them: the label's own rate is exactly that of the real span, so label drift alone cannot
see it; the label rate within payment_type categories can.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL_DATA, CliResult, SavedFirstRun, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL_NAME = "taxi_big_tipper"
EXIT_GATE = 4


def write_scrambled_span(source: Path, target: Path, seed: int = 11) -> None:
    """Copies a span folder's CSV with the (tips, fare) pairs shuffled across rows."""
    target.mkdir(parents=True)
    for path in sorted(source.glob("*.csv")):
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
        pairs = [(row["tips"], row["fare"]) for row in rows]
        random.Random(seed).shuffle(pairs)
        with (target / path.name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            for row, (tips, fare) in zip(rows, pairs, strict=True):
                writer.writerow({**row, "tips": tips, "fare": fare})


@dataclass
class Stopped:
    home: Path
    data_root: Path
    first: dict
    stopped: CliResult


@pytest.fixture(scope="module")
def stopped(span_1_run: SavedFirstRun) -> Iterator[Stopped]:
    start = span_1_run.restore()
    home, data_root, first = start.home, start.data_root, start.summary
    assert first["pushed"], "span 1 must train and push"
    write_scrambled_span(SMALL_DATA / "span-2", data_root / "span-2")
    result = run_cli("run", "--home", str(home), "--data-root", str(data_root), "--train-steps", "30")
    yield Stopped(home, data_root, first, result)


def _versions(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "serving" / MODEL_NAME).iterdir() if p.name.isdigit())


def test_the_scrambled_span_keeps_the_labels_own_rate(tmp_path: Path) -> None:
    # The premise: what the label alone shows is unchanged, so only its relationship can give it away.
    def rate(folder: Path) -> float:
        with next(folder.glob("*.csv")).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        return sum(float(r["tips"] or 0) > 0.2 * float(r["fare"] or 0) for r in rows) / len(rows)

    write_scrambled_span(SMALL_DATA / "span-2", tmp_path / "span-2")
    assert rate(tmp_path / "span-2") == rate(SMALL_DATA / "span-2")


def test_the_span_is_stopped_before_transform_and_nothing_is_pushed(stopped: Stopped) -> None:
    assert stopped.stopped.returncode == EXIT_GATE, stopped.stopped.stderr[-3000:]
    assert _versions(stopped.home) == [stopped.first["pushed_version"]]
    runs = json.loads(run_cli("runs", "--home", str(stopped.home), "--json").stdout)["runs"]
    last = runs[-1]
    assert last["span"] == 2 and last["pushed_version"] is None
    assert "transform" not in last["components"] and "trainer" not in last["components"]


def test_the_output_names_the_check_its_numbers_and_the_override(stopped: Stopped) -> None:
    err, out = stopped.stopped.stderr, stopped.stopped.stdout
    assert "span 2 did not pass the data gate" in err
    found = [line for line in err.splitlines() if line.strip().startswith("big_tipper by payment_type:")]
    assert found, err[-3000:]
    value = float(found[0].split("changed by ")[1].split(" ")[0])
    assert value > 0.15 and "over the limit 0.15" in found[0]
    assert "raise label_shift_limit (TAXI_PIPELINE_LABEL_SHIFT_LIMIT)" in err
    # The drift table printed with the run shows the same row and number.
    table = [line.strip() for line in out.splitlines() if line.strip().startswith("big_tipper by payment_type")]
    assert table and "label-rate change" in table[0] and f"{value:.3f}" in table[0] and "OVER LIMIT" in table[0]


def test_the_report_of_the_stopped_run_shows_the_label_check(stopped: Stopped) -> None:
    reports = sorted((stopped.home / "reports").glob("run-*.html"), key=lambda p: p.stat().st_mtime)
    page = reports[-1].read_text()
    assert "big_tipper by payment_type" in page and "label-rate change" in page


def test_when_the_labels_are_right_the_override_lets_the_span_train(stopped: Stopped) -> None:
    result = run_cli(
        "run",
        "--home",
        str(stopped.home),
        "--data-root",
        str(stopped.data_root),
        "--train-steps",
        "30",
        "--min-accuracy",
        "0.0",
        "--json",
        # The override under test is the label limit. On this 300-row fixture the re-hashed train split of
        # the scrambled span also moves trip_miles' quantile shift to about the limit (0.42 vs 0.4 seen), so
        # other drift only warns here; test_data_gates covers drift stops.
        env={"TAXI_PIPELINE_LABEL_SHIFT_LIMIT": "1.0", "TAXI_PIPELINE_DRIFT_ACTION": "warn"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["span"] == 2 and 2 in summary["window_spans"]
    assert summary["component_states"]["trainer"] == "executed"
