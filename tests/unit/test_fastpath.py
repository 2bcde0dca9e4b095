"""The unchanged-rerun fast path: which changes send a run down the normal path."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from pipeline.config import PipelineConfig, load_config
from runners.home import fastpath


@pytest.fixture
def config(tmp_path: Path) -> PipelineConfig:
    """A home after a recorded run: one span file, ML Metadata, a pushed model."""
    data_root = tmp_path / "data"
    (data_root / "span-1").mkdir(parents=True)
    (data_root / "span-1" / "data.csv").write_text("fare,tips\n1.0,0.5\n")
    home = tmp_path / "home"
    home.mkdir()
    config = load_config(profile="local", environ={}, overrides={"home": str(home), "data_root": str(data_root)})
    Path(config.metadata_path).write_bytes(b"metadata")
    pushed = Path(config.serving_dir) / "1700000000"
    pushed.mkdir(parents=True)
    (pushed / "saved_model.pb").write_bytes(b"model")
    summary = {"run_id": "2026-11-27T19:00:00", "pushed": True, "pushed_path": str(pushed), "blessed": True}
    fastpath.record(config, fastpath.fingerprint(config), summary, "Run 2026-11-27T19:00:00")
    return config


def _unchanged(config: PipelineConfig) -> fastpath.Unchanged | None:
    return fastpath.unchanged_since_last_run(config, fastpath.fingerprint(config))


def test_an_unchanged_home_repeats_the_recorded_run(config: PipelineConfig) -> None:
    unchanged = _unchanged(config)
    assert unchanged is not None
    assert unchanged.run_id == "2026-11-27T19:00:00"
    assert unchanged.summary["pushed"] is True
    assert "Nothing changed since run 2026-11-27T19:00:00" in fastpath.describe(unchanged, config)
    # Console-only settings do not count as a change.
    assert _unchanged(dataclasses.replace(config, verbose=True)) is not None


def test_touching_a_span_file_runs_the_pipeline(config: PipelineConfig) -> None:
    csv = Path(config.data_root) / "span-1" / "data.csv"
    stat = csv.stat()
    os.utime(csv, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert _unchanged(config) is None


def test_editing_or_adding_data_runs_the_pipeline(config: PipelineConfig) -> None:
    span_2 = Path(config.data_root) / "span-2"
    span_2.mkdir()
    (span_2 / "data.csv").write_text("fare,tips\n2.0,0.1\n")
    assert _unchanged(config) is None


def test_a_changed_setting_or_no_cache_runs_the_pipeline(config: PipelineConfig) -> None:
    assert _unchanged(dataclasses.replace(config, train_steps=config.train_steps + 1)) is None
    assert _unchanged(dataclasses.replace(config, beam_args=("--direct_num_workers=2",))) is None
    assert _unchanged(dataclasses.replace(config, enable_cache=False)) is None


def test_a_changed_schema_runs_the_pipeline(config: PipelineConfig, tmp_path: Path) -> None:
    schema = tmp_path / "schema.pbtxt"
    schema.write_text(Path(config.schema_path).read_text() + "\n# reviewed again\n")
    assert _unchanged(dataclasses.replace(config, schema_path=str(schema))) is None


def test_a_changed_home_runs_the_pipeline(config: PipelineConfig) -> None:
    # Another command wrote ML Metadata (e.g. a rollback) ...
    with open(config.metadata_path, "ab") as metadata:
        metadata.write(b"more")
    assert _unchanged(config) is None


def test_a_missing_pushed_model_runs_the_pipeline(config: PipelineConfig) -> None:
    for version in Path(config.serving_dir).iterdir():
        (version / "saved_model.pb").unlink()
    assert _unchanged(config) is None


def test_a_forgotten_or_unreadable_manifest_runs_the_pipeline(config: PipelineConfig) -> None:
    fastpath.manifest_path(config).write_text("{not json")
    assert _unchanged(config) is None
    fastpath.forget(config)
    assert not fastpath.manifest_path(config).exists()
    assert _unchanged(config) is None


def test_the_code_digest_covers_every_package(tmp_path: Path) -> None:
    for package in fastpath.CODE_PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "a.py").write_text("x = 1\n")
    before = fastpath.source_digest(tmp_path)
    (tmp_path / "runners" / "a.py").write_text("x = 2\n")
    assert fastpath.source_digest(tmp_path) != before
