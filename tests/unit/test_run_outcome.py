"""What `run`, `watch` and `rollback` leave in the metrics textfile, on a fabricated home."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import serving_dir as sd
from pipeline.config import PipelineConfig, load_config
from runners.cli import main
from runners.monitoring import outcome, textfile
from tests.unit.fake_home import FakeHome


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHome:
    home = FakeHome(tmp_path, sqlite=True)
    home.run("run-1", span=1, version=100)
    home.run("run-2", span=2, version=200)
    # The fake evaluations hold no TFMA plots: each one's mean score, as scores.eval_mean_score would read it.
    levels = {f"{tmp_path}/evaluation/run-1": 0.2, f"{tmp_path}/evaluation/run-2": 0.3}
    monkeypatch.setattr(outcome, "eval_mean_score", levels.get)
    return home


def _config(home: FakeHome) -> PipelineConfig:
    return load_config(overrides={"home": str(home.root)})


def _levels(home: FakeHome) -> list[tuple[tuple[tuple[str, str], ...], float]]:
    return textfile.read_textfile(textfile.textfile_path(home.root)).get("taxi_pipeline_model_eval_mean_score", [])


def test_the_score_level_is_the_serving_versions_and_follows_a_rollback(home: FakeHome) -> None:
    config = _config(home)
    assert outcome.record_serving_score(config) == (200, 0.3)
    assert _levels(home) == [((("version", "200"),), 0.3)]
    assert main(["rollback", "--home", str(home.root), "--reason", "test"]) == 0
    # The new highest version republishes version 100's model: the level of the evaluation it was blessed on.
    serving = sd.serving_version(home.serving)
    assert serving is not None and serving > 200
    assert _levels(home) == [((("version", str(serving)),), 0.2)]


def test_a_run_records_its_outcome_and_the_serving_level_once(home: FakeHome) -> None:
    config = _config(home)
    path, drift = outcome.record_run_outcome(config, 0, {"span": 2, "performance_decay": True}, runs_before=1)
    assert path == textfile.textfile_path(home.root)
    # The fake run has no ExampleValidator output: drift is unknown, not zero.
    assert drift is None
    values = textfile.read_textfile(path)
    assert values["taxi_pipeline_last_run_exit_code"] == [((), 0.0)]
    assert values["taxi_pipeline_performance_decay"] == [((), 1.0)]
    assert "taxi_pipeline_drift_features_over_limit" not in values
    assert _levels(home) == [((("version", "200"),), 0.3)]


def test_a_stopped_run_keeps_the_level_and_the_fast_path_keeps_the_recorded_drift(home: FakeHome) -> None:
    config = _config(home)
    textfile.record_run(home.root, 0, {"span": 2}, drift_features_over_limit=2)
    textfile.record_serving_score(home.root, 200, 0.3)
    # A repeat of the last run (the fast path) reads nothing from ML Metadata: its drift stays as recorded.
    outcome.record_run_outcome(config, 0, {"span": 2}, outcome.REPEATED)
    values = textfile.read_textfile(textfile.textfile_path(home.root))
    assert values["taxi_pipeline_drift_features_over_limit"] == [((), 2.0)]
    # A run that stopped before registering a run (no new run in ML Metadata) knows no drift.
    outcome.record_run_outcome(config, 3, None, runs_before=outcome.run_count(config))
    values = textfile.read_textfile(textfile.textfile_path(home.root))
    assert values["taxi_pipeline_last_run_exit_code"] == [((), 3.0)]
    assert values["taxi_pipeline_last_run_success"] == [((), 0.0)]
    assert "taxi_pipeline_drift_features_over_limit" not in values
    assert _levels(home) == [((("version", "200"),), 0.3)]


def test_a_run_that_stops_records_its_exit_code_without_watch(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-m", "runners", "run", "--home", str(home), "--data-root", str(tmp_path / "nowhere")],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr
    values = textfile.read_textfile(textfile.textfile_path(home))
    assert values["taxi_pipeline_last_run_exit_code"] == [((), 3.0)]
    assert values["taxi_pipeline_last_run_success"] == [((), 0.0)]
    # It stopped before the data gate: drift is unknown, and no success was ever recorded.
    assert "taxi_pipeline_drift_features_over_limit" not in values
    assert "taxi_pipeline_last_success_timestamp_seconds" not in values
