"""The model server's parts that need no trained model: version policy and labels, settings, the request
log, and :explain on a two-feature SavedModel."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import ConfigError, PipelineConfig, load_config
from runners.errors import RunError
from runners.serving import explain
from runners.serving.app import ServingApp, endpoint_of
from runners.serving.metrics import ServingMetrics
from runners.serving.model import LoadedModel, ModelManager, baseline_of_version
from runners.serving.request_log import RequestLog
from runners.serving.requests import ServingFeature
from runners.serving.server import is_loopback
from runners.serving.settings import ServeSettings, load_model_config, parse_labels
from tests.unit.fake_home import FakeHome


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
        signatures={},
        loaded_at=0.0,
    )


def _render(metrics: ServingMetrics) -> str:
    return metrics.render().decode()


def _manager(config: PipelineConfig, loaded: list[int], fail: set[int] | None = None, **settings: Any) -> ModelManager:
    def loader(_: PipelineConfig, version: int) -> LoadedModel:
        if version in (fail or set()):
            raise ValueError(f"version {version} is broken")
        loaded.append(version)
        return _fake_model(version)

    return ModelManager(config, ServingMetrics(), lambda _: None, ServeSettings(**settings), loader=loader)


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
    assert list(manager.models) == [200]  # the latest-1 policy unloads the older one
    assert 'taxi_serving_model_version{model="taxi_big_tipper"} 200.0' in _render(manager.metrics)
    assert "taxi_serving_models_loaded 1.0" in _render(manager.metrics)


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
    assert 'taxi_serving_model_loads_total{result="failed"} 1.0' in _render(manager.metrics)
    assert "taxi_serving_model_load_failures_total 1.0" in _render(manager.metrics)


def test_version_policies_load_the_latest_n_the_listed_or_all_versions(tmp_path: Path) -> None:
    config = _config(tmp_path)
    for version in (100, 200, 300):
        _version(config, version)
    latest = _manager(config, [], latest=2)
    latest.poll()
    assert sorted(latest.models) == [200, 300]
    specific = _manager(config, [], policy="specific", versions=(100, 300, 400))
    specific.poll()
    assert sorted(specific.models) == [100, 300] and specific.current is not None and specific.current.version == 300
    every = _manager(config, [], policy="all")
    every.poll()
    assert sorted(every.models) == [100, 200, 300]


def test_labels_and_versions_resolve_as_tf_serving_words_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    for version in (100, 200):
        _version(config, version)
    manager = _manager(config, [], latest=2, labels={"stable": 100, "canary": 200, "old": 50})
    manager.poll()
    stable = manager.resolve(label="stable")
    assert isinstance(stable, LoadedModel) and stable.version == 100
    assert manager.resolve(label="nope") == "Unrecognized servable version label: nope"
    assert "Specific(taxi_big_tipper, 50) (label old); it is not loaded" in str(manager.resolve(label="old"))
    assert "Specific(taxi_big_tipper, 7)" in str(manager.resolve(7))
    assert (
        _manager(_config(tmp_path / "empty"), []).resolve() == "Servable not found for request: Latest(taxi_big_tipper)"
    )


def test_settings_flags_and_model_config_files_are_checked(tmp_path: Path) -> None:
    assert parse_labels("stable=3, canary=4") == {"stable": 3, "canary": 4}
    with pytest.raises(RunError, match="NAME=VERSION"):
        parse_labels("stable")
    with pytest.raises(RunError, match="needs at least one version"):
        ServeSettings(policy="specific")
    with pytest.raises(RunError, match="max_rows"):
        ServeSettings(max_rows=0)
    config_file = tmp_path / "models.json"
    config_file.write_text(json.dumps({"policy": "specific", "versions": [3, 4], "labels": {"stable": 3}}))
    assert load_model_config(config_file) == {"policy": "specific", "versions": (3, 4), "labels": {"stable": 3}}
    config_file.write_text(json.dumps({"policy": "latest", "extra": 1}))
    with pytest.raises(RunError, match="keys among"):
        load_model_config(config_file)
    assert ServeSettings().hosts == ("127.0.0.1", "localhost", "::1", "[::1]")


def _app(tmp_path: Path, model: LoadedModel | None, **values: Any) -> ServingApp:
    config = _config(tmp_path, **values)
    manager = _manager(config, [])
    manager.models = {model.version: model} if model is not None else {}
    log = RequestLog(config.serving_logs_dir, 0.0, manager.metrics)
    return ServingApp(config, ServeSettings(), manager, log, manager.metrics)


def test_the_request_log_writes_tf_examples_that_tensorflow_reads_back(tmp_path: Path) -> None:
    import tensorflow as tf

    features = [ServingFeature("fare", "float", True), ServingFeature("company", "string", False)]
    metrics = ServingMetrics()
    log = RequestLog(tmp_path / "logs", 1.0, metrics, max_string=4, exclude=["pickup_latitude"])
    log.start()
    log.offer([{"fare": 3.5, "company": None}], features, [[]])
    log.offer([{"fare": 1.0, "company": "Flash Cab"}], features, [["fare"]])
    log.close()
    (path,) = (tmp_path / "logs").glob("requests-*.tfrecord")
    assert path.stat().st_mode & 0o777 == 0o600  # clients' data: owner only
    examples = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    assert [e.features.feature["fare"].float_list.value[0] for e in examples] == [3.5, 1.0]
    # A missing value is a feature with no value, as CsvExampleGen writes an empty CSV cell.
    assert "company" in examples[0].features.feature
    assert list(examples[0].features.feature["company"].bytes_list.value) == []
    assert list(examples[1].features.feature["company"].bytes_list.value) == [b"Flas"]  # cut at max_string
    assert list(examples[1].features.feature["_out_of_domain"].bytes_list.value) == [b"fare"]
    assert "_out_of_domain" not in examples[0].features.feature
    assert "taxi_serving_logged_rows_total 2.0" in _render(metrics)


def test_named_features_are_left_out_of_the_request_log(tmp_path: Path) -> None:
    import tensorflow as tf

    features = [ServingFeature("fare", "float", True), ServingFeature("pickup_latitude", "float", False)]
    log = RequestLog(tmp_path / "logs", 1.0, ServingMetrics(), exclude=["pickup_latitude"])
    log.start()
    log.offer([{"fare": 3.5, "pickup_latitude": 41.9}], features, [[]])
    log.close()
    (path,) = (tmp_path / "logs").glob("requests-*.tfrecord")
    (record,) = list(tf.data.TFRecordDataset(str(path)))
    assert set(tf.train.Example.FromString(record.numpy()).features.feature) == {"fare"}


def test_request_log_retention_deletes_the_oldest_files_beyond_size_and_age(tmp_path: Path) -> None:
    import os

    folder = tmp_path / "logs"
    folder.mkdir()
    now = time.time()
    for age_days, name in ((40, "a"), (3, "b"), (2, "c"), (1, "d")):
        path = folder / f"requests-{name}.tfrecord"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    metrics = ServingMetrics()
    log = RequestLog(folder, 1.0, metrics, max_bytes=2500, max_age_days=30)
    log.enforce_retention()
    # a: older than 30 days; b: the oldest once the folder holds more than 2,500 bytes.
    assert sorted(p.name for p in folder.iterdir()) == ["requests-c.tfrecord", "requests-d.tfrecord"]
    assert "taxi_serving_log_deleted_files_total 2.0" in _render(metrics)


# ------------------------------------------------------------------------------------------- :explain

BASELINE = {"fare": 10.0, "company": "Flash Cab"}
EXPLAIN = "/v1/models/taxi_big_tipper:explain"


@pytest.fixture(scope="module")
def two_feature_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A SavedModel with the project's serving_default contract on two features: a dearer fare and Flash Cab
    raise the probability, and the model fills a missing company with "" as preprocessing does."""
    import tensorflow as tf

    class TwoFeatures(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="fare"),
                tf.TensorSpec([None], tf.string, name="company"),
            ]
        )
        def serving_default(self, fare: Any, company: Any) -> dict[str, Any]:
            logit = 0.2 * (fare - 10.0) + tf.where(company == "Flash Cab", 1.0, -1.0)
            return {"probability": tf.sigmoid(logit)[:, None]}

    module = TwoFeatures()
    folder = tmp_path_factory.mktemp("two-features") / "1"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serving_default})
    return explain.load_model(folder)


def _explainable(handle: Any, baseline: dict[str, Any] | None, problem: str = "") -> LoadedModel:
    model = _fake_model(7)
    model.features = [ServingFeature("fare", "float", True), ServingFeature("company", "string", False)]
    model.handle, model.baseline, model.baseline_problem = handle, baseline, problem
    return model


def _post(app: ServingApp, path: str, document: Any, method: str = "POST") -> tuple[int, Any]:
    from starlette.testclient import TestClient

    with TestClient(app.asgi(), base_url="http://localhost") as client:
        response = client.request(method, path, content=json.dumps(document).encode())
    return response.status_code, response.json()


def test_explain_answers_the_contributions_runners_explain_computes(tmp_path: Path, two_feature_model: Any) -> None:
    app = _app(tmp_path, _explainable(two_feature_model, BASELINE))
    instances = [
        {"fare": 30.0, "company": "Flash Cab"},
        {"fare": 10.0},  # company left out: it takes the baseline's value and contributes nothing
        {"fare": 10.0, "company": None},  # company sent as null: the model's fill "", not Flash Cab
    ]

    status, document = _post(app, EXPLAIN, {"instances": instances})

    assert status == 200, document
    expected = explain.explain(two_feature_model, instances, BASELINE)
    assert document["model_version"] == "7" and document["baseline"] == BASELINE
    assert document["explanations"] == [e.to_dict() for e in expected]
    first, left_out, null = document["explanations"]
    assert first["contributions"]["fare"] > 0 and first["contributions"]["company"] == 0.0
    assert left_out["contributions"] == {"fare": 0.0, "company": 0.0}
    assert left_out["prediction"] == left_out["baseline_prediction"]
    assert null["contributions"]["company"] < 0 and null["contributions"]["fare"] == 0.0
    assert 'taxi_serving_explanations_total{version="7"} 3.0' in _render(app.metrics)


def test_explain_refuses_a_bad_instance_naming_the_feature(tmp_path: Path, two_feature_model: Any) -> None:
    app = _app(tmp_path, _explainable(two_feature_model, BASELINE))

    status, document = _post(app, EXPLAIN, {"instances": [{"fare": 12.0}, {"fare": "cheap"}]})
    assert status == 400 and document["error"] == "instance 1: feature 'fare' is 'cheap'; expected a number"
    status, document = _post(app, EXPLAIN, {"instances": [{"company": "Flash Cab"}]})
    assert status == 400 and "feature 'fare' is missing" in document["error"]
    status, document = _post(app, EXPLAIN, {"instances": [{"fare": 1.0, "tips": 2.0}]})
    assert status == 400 and "unknown feature 'tips'" in document["error"]
    assert _post(app, EXPLAIN, None, method="GET")[0] == 405
    assert 'taxi_serving_explanations_total{version="7"}' not in _render(app.metrics)


def test_explain_without_a_baseline_row_answers_400_saying_why(tmp_path: Path) -> None:
    app = _app(
        tmp_path, _explainable(None, None, "ML Metadata does not record version 7 (a folder copied in by hand?)")
    )

    status, document = _post(app, EXPLAIN, {"instances": [{"fare": 1.0}]})

    # TF Serving's status for a method the version lacks (FAILED_PRECONDITION -> 400), not a retryable 503.
    assert status == 400
    assert document["error"].startswith(
        "version 7 cannot be explained: ML Metadata does not record version 7 (a folder copied in by hand?); "
        ":predict still serves it"
    )
    assert _post(_app(tmp_path, None), EXPLAIN, {"instances": [{"fare": 1.0}]})[0] == 404


def test_the_baseline_row_of_a_version_is_found_through_ml_metadata_or_its_absence_named(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    home = FakeHome(tmp_path / "home", sqlite=True)
    first = home.run("run-1", span=1, version=100)
    folder = tmp_path / "importance"
    folder.mkdir()
    (folder / "baseline.json").write_text(json.dumps(BASELINE))
    importance = home.artifact("pipeline.FeatureImportance", str(folder))
    home.execute(first["run"], "feature_importance", {"model": [first["model"]]}, {"feature_importance": [importance]})
    home.run("run-2", span=2, version=200)  # a model trained before the pipeline had the step
    config = _config(tmp_path)

    assert baseline_of_version(config, 100) == (BASELINE, "")
    assert baseline_of_version(config, 200) == (
        None,
        "the run that trained version 200 recorded no baseline row (it had no feature_importance step, "
        "or that step's artifact folder was removed)",
    )
    assert baseline_of_version(config, 300) == (
        None,
        "ML Metadata does not record version 300 (a folder copied in by hand?)",
    )
    (folder / "baseline.json").unlink()
    assert baseline_of_version(config, 100)[0] is None
    elsewhere = _config(tmp_path / "empty")
    assert baseline_of_version(elsewhere, 100) == (
        None,
        f"the home has no ML Metadata at {elsewhere.metadata_path} to find its baseline row in",
    )


def test_a_damaged_baseline_row_is_named_not_taken_for_a_missing_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runners.cli import main

    (tmp_path / "home").mkdir()
    home = FakeHome(tmp_path / "home", sqlite=True)
    first = home.run("run-1", span=1, version=100)
    folder = tmp_path / "importance"
    folder.mkdir()
    (folder / "baseline.json").write_text(json.dumps(BASELINE)[:-3])  # cut short, as by a full disk
    importance = home.artifact("pipeline.FeatureImportance", str(folder))
    home.execute(first["run"], "feature_importance", {"model": [first["model"]]}, {"feature_importance": [importance]})

    baseline, problem = baseline_of_version(_config(tmp_path), 100)
    assert baseline is None
    assert problem.startswith(f"{folder / 'baseline.json'} is not valid JSON (")
    assert "recorded no baseline row" not in problem

    code = main(["explain", "--home", str(tmp_path / "home"), "--instances", '{"instances": [{}]}'])
    err = capsys.readouterr().err
    assert code == 3 and f"{folder / 'baseline.json'} is not valid JSON" in err and "Traceback" not in err


def test_metrics_label_explain_requests_apart_from_predict() -> None:
    assert endpoint_of("/v1/models/taxi_big_tipper:explain") == "explain"
    assert endpoint_of("/v1/models/taxi_big_tipper/versions/3:explain") == "explain"
    assert endpoint_of("/v1/models/taxi_big_tipper:predict") == "predict"
    assert endpoint_of("/v1/models/taxi_big_tipper") == "status"
    assert endpoint_of("/metrics") == "metrics"
    assert endpoint_of("/v1/models/taxi_big_tipper/labels/stable/metadata") == "metadata"
    assert endpoint_of("/nope") == "other"
