"""The model server's parts that need no trained model: version pick-up, routing, limits, request log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import ConfigError, PipelineConfig, load_config
from runners.serve import (
    LoadedModel,
    ModelManager,
    RequestLog,
    ServingApp,
    declare_metrics,
    example_of_row,
    is_loopback,
)
from runners.serving_metrics import Registry
from runners.serving_requests import ServingFeature


def _config(tmp_path: Path, **values: Any) -> PipelineConfig:
    return PipelineConfig(home=str(tmp_path / "home"), **values)


def _version(config: PipelineConfig, version: int, complete: bool = True) -> None:
    folder = Path(config.serving_dir) / str(version)
    folder.mkdir(parents=True)
    if complete:
        (folder / "saved_model.pb").write_bytes(b"")


def _fake_model(version: int) -> LoadedModel:
    return LoadedModel(
        version=version,
        path=Path(str(version)),
        features=[ServingFeature("fare", "float", True)],
        schema_source="test",
        raw_call=lambda **_: None,
        raw_dtypes={},
        examples_call=lambda **_: None,
        examples_input="examples",
        output_key="probability",
        loaded_at=0.0,
    )


def _manager(config: PipelineConfig, loaded: list[int], fail: set[int] | None = None) -> ModelManager:
    def loader(_: PipelineConfig, version: int) -> LoadedModel:
        if version in (fail or set()):
            raise ValueError(f"version {version} is broken")
        loaded.append(version)
        return _fake_model(version)

    metrics = Registry()
    declare_metrics(metrics)
    return ModelManager(config, metrics, lambda _: None, loader=loader)


def test_serve_config_defaults_to_loopback_and_checks_its_values(tmp_path: Path) -> None:
    config = load_config(environ={})
    assert (config.serve_host, config.serve_port) == ("127.0.0.1", 8501)
    assert config.serving_logs_dir.endswith("serving-logs/taxi_big_tipper")
    overridden = load_config(environ={"TAXI_PIPELINE_SERVE_LOG_SAMPLING": "1", "TAXI_PIPELINE_SERVE_PORT": "0"})
    assert (overridden.serve_log_sampling, overridden.serve_port) == (1.0, 0)
    with pytest.raises(ConfigError, match="serve_log_sampling"):
        load_config(environ={"TAXI_PIPELINE_SERVE_LOG_SAMPLING": "1.5"})
    with pytest.raises(ConfigError, match="serve_port"):
        load_config(overrides={"serve_port": 70000}, environ={})


def test_only_loopback_addresses_count_as_local() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_the_highest_complete_version_serves_and_a_newer_one_is_swapped_in(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _version(config, 100)
    _version(config, 300, complete=False)  # being copied by hand: no saved_model.pb yet
    (Path(config.serving_dir) / ".tmp-400").mkdir()  # the Pusher's staging folder
    loaded: list[int] = []
    manager = _manager(config, loaded)
    manager.poll()
    assert manager.current is not None and manager.current.version == 100
    manager.poll()
    assert loaded == [100]  # unchanged folder: nothing reloaded
    _version(config, 200)
    manager.poll()
    assert manager.current.version == 200 and loaded == [100, 200]
    assert manager.metrics.render().count('taxi_serving_model_version{model="taxi_big_tipper"} 200') == 1


def test_a_version_that_fails_to_load_leaves_the_next_one_serving(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _version(config, 100)
    _version(config, 200)
    loaded: list[int] = []
    manager = _manager(config, loaded, fail={200})
    manager.poll()
    assert manager.current is not None and manager.current.version == 100
    manager.poll()  # not retried at once, and the serving version is not reloaded
    assert loaded == [100]
    assert 'taxi_serving_model_loads_total{result="failed"} 1' in manager.metrics.render()


def test_a_pinned_version_is_served_even_when_a_newer_one_exists(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _version(config, 100)
    _version(config, 200)
    manager = _manager(config, [])
    manager.pinned_version = 100
    manager.poll()
    assert manager.current is not None and manager.current.version == 100


def _app(tmp_path: Path, model: LoadedModel | None, **values: Any) -> ServingApp:
    config = _config(tmp_path, **values)
    manager = _manager(config, [])
    manager.current = model
    log = RequestLog(config.serving_logs_dir, 0.0, manager.metrics)
    return ServingApp(config, manager, log, manager.metrics)


def test_routes_answer_like_tf_serving(tmp_path: Path) -> None:
    app = _app(tmp_path, _fake_model(7))
    status = app.handle("GET", "/v1/models/taxi_big_tipper", None, lambda n: b"")
    assert status.status == 200
    assert json.loads(status.body)["model_version_status"][0] == {
        "version": "7",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
    assert app.handle("GET", "/v1/models/taxi_big_tipper/versions/8", None, lambda n: b"").status == 404
    assert app.handle("GET", "/v1/models/other", None, lambda n: b"").status == 404
    assert app.handle("POST", "/v1/models/taxi_big_tipper:classify", "2", lambda n: b"{}").status == 400
    metrics = app.handle("GET", "/metrics", None, lambda n: b"")
    assert metrics.status == 200 and metrics.content_type.startswith("text/plain")


def test_a_body_over_the_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    app = _app(tmp_path, _fake_model(7), serve_max_request_bytes=2048)
    drained: list[int] = []
    response = app.handle("POST", "/v1/models/taxi_big_tipper:predict", "5000", lambda n: drained.append(n) or b"x" * n)
    assert response.status == 413 and response.close and sum(drained) == 5000
    assert "serve_max_request_bytes" in json.loads(response.body)["error"]
    assert app.handle("POST", "/v1/models/taxi_big_tipper:predict", None, lambda n: b"").status == 411


def test_predict_without_a_loaded_version_answers_503(tmp_path: Path) -> None:
    app = _app(tmp_path, None)
    response = app.handle("POST", "/v1/models/taxi_big_tipper:predict", "2", lambda n: b"{}")
    assert response.status == 503


def test_the_request_log_writes_tf_examples_that_tensorflow_reads_back(tmp_path: Path) -> None:
    import tensorflow as tf

    features = [ServingFeature("fare", "float", True), ServingFeature("company", "string", False)]
    metrics = Registry()
    declare_metrics(metrics)
    log = RequestLog(tmp_path / "logs", 1.0, metrics)
    log.start()
    log.offer(lambda: [example_of_row({"fare": 3.5, "company": None}, features)])
    log.offer(lambda: [example_of_row({"fare": 1.0, "company": "Flash Cab"}, features)])
    log.close()
    (path,) = (tmp_path / "logs").glob("requests-*.tfrecord")
    examples = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    assert [e.features.feature["fare"].float_list.value[0] for e in examples] == [3.5, 1.0]
    # A missing value is a feature with no value, as CsvExampleGen writes an empty CSV cell.
    assert "company" in examples[0].features.feature
    assert list(examples[0].features.feature["company"].bytes_list.value) == []
    assert "taxi_serving_logged_rows_total 2" in metrics.render()
