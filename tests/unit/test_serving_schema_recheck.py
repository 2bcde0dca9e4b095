"""A version the server loads before ML Metadata records its push (the Pusher writes the folder first)
is checked against the curated schema only until the push is recorded, then against its trained one."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from pipeline.config import PipelineConfig
from runners.serving.metrics import ServingMetrics
from runners.serving.model import SCHEMA_RECHECK_SECONDS, LoadedModel, ModelManager, schema_of_version
from runners.serving.requests import ServingFeature
from runners.serving.settings import ServeSettings
from tests.unit.fake_home import FakeHome

ROOT = Path(__file__).resolve().parents[2]


def test_schema_of_version_says_whether_ml_metadata_records_the_version(tmp_path: Path) -> None:
    home = FakeHome(tmp_path, sqlite=True)
    config = PipelineConfig(home=str(tmp_path))
    trained = tmp_path / "schema"
    trained.mkdir()
    shutil.copy(ROOT / config.schema_path, trained / "schema.pbtxt")
    _, source, recorded = schema_of_version(config, 7)  # the folder is there, the push not recorded yet
    assert not recorded and "curated schema" in source and "does not record version 7" in source
    home.run("run-1", span=1, version=7)
    _, source, recorded = schema_of_version(config, 7)
    assert recorded and source.startswith(str(trained / "schema.pbtxt"))


Lookup = tuple[list[ServingFeature], str] | None


def _model(version: int, recheck: list[Lookup] | None, loaded_at: float) -> LoadedModel:
    return LoadedModel(
        version=version,
        path=Path(str(version)),
        features=[ServingFeature("fare", "float", True)],
        schema_source="curated",
        signatures={},
        loaded_at=loaded_at,
        recheck_schema=None if recheck is None else (lambda: recheck.pop(0)),
    )


def test_the_manager_swaps_in_the_trained_schema_once_the_push_is_recorded(tmp_path: Path) -> None:
    config = PipelineConfig(home=str(tmp_path))
    (Path(config.serving_dir) / "3").mkdir(parents=True)
    (Path(config.serving_dir) / "3" / "saved_model.pb").write_bytes(b"")
    trained = [ServingFeature("fare", "float", True), ServingFeature("trip_miles", "float", True)]
    answers: list[Lookup] = [None, (trained, "trained.pbtxt")]
    said: list[str] = []
    manager = ModelManager(
        config, ServingMetrics(), said.append, ServeSettings(), loader=lambda _, v: _model(v, answers, time.time())
    )
    manager.poll()
    first = manager.models[3]
    assert first.schema_source == "curated" and first.recheck_schema is not None  # not recorded yet
    manager.poll()
    second = manager.models[3]
    assert second.features == trained and second.schema_source == "trained.pbtxt" and second.recheck_schema is None
    assert second.handle is first.handle and first.features != trained  # requests in flight keep theirs
    assert any("ML Metadata now records its push; requests checked with trained.pbtxt" in s for s in said)
    assert sum("serving versions" in s for s in said) == 1  # not a version change
    manager.poll()
    assert manager.models[3] is second and answers == []  # no more lookups


def test_a_hand_copied_version_stops_being_looked_up_after_a_while(tmp_path: Path) -> None:
    config = PipelineConfig(home=str(tmp_path))
    (Path(config.serving_dir) / "3").mkdir(parents=True)
    (Path(config.serving_dir) / "3" / "saved_model.pb").write_bytes(b"")
    lookups: list[Lookup] = []  # any lookup would fail on an empty list
    old = time.time() - SCHEMA_RECHECK_SECONDS - 1
    manager = ModelManager(
        config, ServingMetrics(), lambda _: None, ServeSettings(), loader=lambda _, v: _model(v, lookups, old)
    )
    manager.poll()
    assert manager.models[3].recheck_schema is None and manager.models[3].schema_source == "curated"
