"""The readers of runners/store: read-only connections, accepted spans, statistics and damaged artifacts."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from runners.errors import EXIT_INPUT
from runners.quiet import LIBRARY_LOGGERS, quiet_libraries
from runners.store import artifacts, gates, importance, statistics
from runners.store import metadata as md
from tests.unit.fake_home import FakeHome

ROOT = Path(__file__).resolve().parents[2]


# Connections -----------------------------------------------------------------------------------------------------


def test_readers_open_ml_metadata_read_only_and_writers_ask_for_it(tmp_path: Path) -> None:
    FakeHome(tmp_path, sqlite=True)
    path = tmp_path / "metadata.db"
    node = pb.Context(type_id=md.connect(path).get_context_type("node").id, name="taxi.extra")

    with pytest.raises(Exception, match="readonly"):
        md.connect(path).put_contexts([node])
    md.connect(path, writable=True).put_contexts([node])
    assert md.connect(path).get_context_by_type_and_name("node", "taxi.extra") is not None


def test_connect_creates_a_store_only_when_asked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no ML Metadata store"):
        md.connect(tmp_path / "metadata.db")
    assert not (tmp_path / "metadata.db").exists()
    md.connect(tmp_path / "metadata.db", create=True)
    assert (tmp_path / "metadata.db").is_file()


def test_rollback_writes_through_the_cli_while_the_listing_commands_only_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runners.cli import main

    home = FakeHome(tmp_path, sqlite=True)
    home.run("run-1", span=1, version=100)
    home.run("run-2", span=2, version=200)
    before = (tmp_path / "metadata.db").read_bytes()
    assert main(["runs", "--home", str(tmp_path)]) == 0
    assert (tmp_path / "metadata.db").read_bytes() == before

    assert main(["rollback", "--home", str(tmp_path), "--reason", "test"]) == 0
    capsys.readouterr()
    assert main(["models", "--home", str(tmp_path), "--json"]) == 0
    versions = json.loads(capsys.readouterr().out)["versions"]
    assert [(v["kind"], v["rollback_of"]) for v in versions][-1] == ("rollback", 100)


def _store_with_types(path: Path, order: tuple[str, ...]) -> metadata_store.MetadataStore:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    store = metadata_store.MetadataStore(config)
    for name in order:
        store.put_context_type(pb.ContextType(name=name))
    return store


def test_context_type_names_are_cached_per_store_not_per_type_id(tmp_path: Path) -> None:
    first = _store_with_types(tmp_path / "a.db", ("pipeline", "pipeline_run", "node"))
    second = _store_with_types(tmp_path / "b.db", ("node", "pipeline_run", "pipeline"))
    # The same type id names "pipeline" in one database and "node" in the other.
    assert first.get_context_type("pipeline").id == second.get_context_type("node").id
    for store in (first, second):
        execution_type = store.put_execution_type(pb.ExecutionType(name="Trainer"))
        node = pb.Context(type_id=store.get_context_type("node").id, name="taxi.trainer")
        [node.id] = store.put_contexts([node])
        store.put_execution(pb.Execution(type_id=execution_type), [], [node])

    assert md.node_id_of(first, first.get_executions()[0]) == "trainer"
    assert md.node_id_of(second, second.get_executions()[0]) == "trainer"


# Accepted spans --------------------------------------------------------------------------------------------------


def test_accepted_spans_are_those_a_successful_gate_consumed(tmp_path: Path) -> None:
    home = FakeHome(tmp_path)
    home.gate(home.run("run-1", span=1, version=100), passed=True)
    home.gate(home.run("run-2", span=2, version=None, blessed=False), passed=False)
    home.run("run-3", span=3, version=None, blessed=False)  # ingested, never judged

    assert gates.accepted_spans(home.store, "taxi") == {1}
    assert [(s.span, s.accepted) for s in gates.ingested_spans(home.store, "taxi")] == [
        (1, True),
        (2, False),
        (3, False),
    ]
    assert gates.accepted_spans(home.store, "other") == set()


def test_listing_spans_loads_neither_tfx_nor_tensorflow() -> None:
    code = (
        "import sys; import runners.store.gates, pipeline.accepted_spans; "
        "print(sorted(m for m in ('tfx', 'tensorflow') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# Statistics ------------------------------------------------------------------------------------------------------


def _write_statistics(folder: Path, split: str, rows: int, features: tuple[str, ...] = ("fare",)) -> Path:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = stats.datasets.add(num_examples=rows)
    for name in features:
        feature = dataset.features.add()
        feature.path.step.append(name)
        feature.type = statistics_pb2.FeatureNameStatistics.FLOAT
        common = feature.num_stats.common_stats
        common.num_non_missing, common.tot_num_values, common.min_num_values, common.max_num_values = rows, rows, 1, 1
    path = folder / f"Split-{split}" / "FeatureStats.pb"
    path.parent.mkdir(parents=True)
    path.write_bytes(stats.SerializeToString())
    return path


def test_split_rows_and_feature_rows_come_from_one_read_of_the_artifact(tmp_path: Path) -> None:
    _write_statistics(tmp_path, "train", 20, ("fare", "tips"))
    _write_statistics(tmp_path, "eval", 10, ("fare", "tips"))
    (tmp_path / "Split-test").mkdir()  # a split folder without its file is not a split

    assert statistics.split_rows(str(tmp_path)) == {"eval": 10, "train": 20}
    by_split = statistics.read_split_statistics(str(tmp_path))
    assert sorted(by_split) == ["eval", "train"]
    assert [(f.name, f.present) for f in by_split["train"]] == [("fare", 20), ("tips", 20)]


def test_missing_counts_empty_cells_and_types_follow_the_schema() -> None:
    # CsvExampleGen writes an empty cell as a feature with no values: TFDV counts it non-missing.
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = stats.datasets.add(num_examples=10)
    company = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    company.path.step.append("company")
    common = company.string_stats.common_stats
    common.num_non_missing, common.num_missing, common.tot_num_values, common.max_num_values = 10, 0, 6, 1
    tract = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    tract.path.step.append("pickup_census_tract")
    tract.string_stats.common_stats.num_non_missing = 10  # empty throughout: TFDV calls it a STRING
    schema = schema_pb2.Schema()
    schema.feature.add(name="company", type=schema_pb2.BYTES)
    schema.feature.add(name="pickup_census_tract", type=schema_pb2.INT)

    rows = {row.name: row for row in statistics.feature_statistics(stats, schema)}
    assert (rows["company"].present, rows["company"].missing, rows["company"].missing_share) == (6, 4, 0.4)
    assert (rows["company"].type, rows["pickup_census_tract"].type) == ("STRING", "INT")
    assert (rows["pickup_census_tract"].present, rows["pickup_census_tract"].missing) == (0, 10)


def test_a_damaged_statistics_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = _write_statistics(tmp_path, "train", 20)
    path.write_bytes(b"\xff\xff\xff\xff not a proto")
    with pytest.raises(artifacts.CorruptArtifactError, match="is not a TFDV DatasetFeatureStatisticsList") as err:
        statistics.split_rows(str(tmp_path))
    assert err.value.path == str(path) and err.value.exit_code == EXIT_INPUT


# Damaged and missing artifacts -----------------------------------------------------------------------------------


def test_a_missing_json_artifact_is_not_there_and_a_truncated_one_is_an_error_naming_it(tmp_path: Path) -> None:
    assert artifacts.read_json(tmp_path / "removed", "baseline.json") is None
    assert artifacts.read_json(tmp_path, "baseline.json") is None

    (tmp_path / "baseline.json").write_text('{"fare": 7.5, "payment_type": "Ca')
    with pytest.raises(artifacts.CorruptArtifactError) as err:
        artifacts.read_json(tmp_path, "baseline.json")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'baseline.json'} is not valid JSON (Unterminated string")
    assert "run the pipeline again" in message and err.value.exit_code == EXIT_INPUT


def test_a_json_artifact_of_the_wrong_shape_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "baseline.json").write_text("[1, 2]")
    with pytest.raises(artifacts.CorruptArtifactError, match="holds a JSON list, not the object"):
        importance.read_baseline(str(tmp_path))
    (tmp_path / "feature_importance.json").write_text(json.dumps({"metric": "auc"}))
    with pytest.raises(artifacts.CorruptArtifactError, match="lacks the field"):
        importance.read_feature_importance(str(tmp_path))


def test_a_truncated_feature_importance_is_an_error_not_a_missing_step(tmp_path: Path) -> None:
    home = FakeHome(tmp_path)
    first = home.run("run-1", span=1, version=100)
    folder = tmp_path / "importance"
    folder.mkdir()
    artifact = home.artifact("pipeline.FeatureImportance", str(folder))
    home.execute(first["run"], "feature_importance", {"model": [first["model"]]}, {"feature_importance": [artifact]})

    assert importance.baseline_for_model(home.store, first["model"].id) is None  # the files are missing
    (folder / "baseline.json").write_text('{"fare": ')
    with pytest.raises(artifacts.CorruptArtifactError, match=r"baseline\.json is not valid JSON"):
        importance.baseline_for_model(home.store, first["model"].id)
    (folder / "feature_importance.json").write_text("")
    with pytest.raises(artifacts.CorruptArtifactError, match=r"feature_importance\.json is not valid JSON"):
        importance.read_feature_importance(str(folder))


# Library logs ----------------------------------------------------------------------------------------------------


def test_quiet_libraries_raises_only_the_library_loggers_and_restores_them(caplog: pytest.LogCaptureFixture) -> None:
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    with caplog.at_level(logging.WARNING), quiet_libraries():
        logging.getLogger("tensorflow").warning("deprecated, ignore")
        logging.getLogger("taxi.reader").warning("still shown")
    assert [r.getMessage() for r in caplog.records] == ["still shown"]
    assert {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS} == levels
    assert logging.root.manager.disable == logging.NOTSET


# Evaluations -----------------------------------------------------------------------------------------------------


def _write_evaluation(folder: Path) -> str:
    """A TFMA output of a candidate judged against a baseline: two slices, a diff, a NaN and a plot-like value."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tensorflow_model_analysis.proto import config_pb2, metrics_for_slice_pb2, validation_result_pb2

    eval_config = config_pb2.EvalConfig(
        model_specs=[config_pb2.ModelSpec(name="candidate"), config_pb2.ModelSpec(name="baseline", is_baseline=True)]
    )
    run = config_pb2.EvalRun(
        eval_config=eval_config,
        version=tfma.version.VERSION,
        model_locations={"candidate": "/models/2", "baseline": "/models/1"},
    )
    (folder / "eval_config.json").write_text(json_format.MessageToJson(run))
    records = []
    for key, accuracy in (((), 0.8), ((("trip_start_hour", 3),), 0.6)):
        record = metrics_for_slice_pb2.MetricsForSlice()
        for name, value in key:
            record.slice_key.single_slice_keys.add(column=name, int64_value=value)
        for model, name, value, is_diff in (
            ("", "example_count", 50.0, False),
            ("candidate", "binary_accuracy", accuracy, False),
            ("baseline", "binary_accuracy", accuracy - 0.05, False),
            ("candidate", "binary_accuracy", 0.05, True),
            ("candidate", "precision", float("nan"), False),
        ):
            item = record.metric_keys_and_values.add()
            item.key.name, item.key.model_name, item.key.is_diff = name, model, is_diff
            item.value.double_value.value = value
        records.append(record)
    with tf.io.TFRecordWriter(str(folder / "metrics-00000-of-00001.tfrecord")) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    with tf.io.TFRecordWriter(str(folder / "validations.tfrecord")) as writer:
        writer.write(validation_result_pb2.ValidationResult(validation_ok=True).SerializeToString())
    return str(folder)


def test_the_summary_and_the_report_read_an_evaluation_from_one_parse(tmp_path: Path) -> None:
    from runners.store import evaluations

    uri = _write_evaluation(tmp_path)
    overall, per_slice = evaluations.read_evaluation(uri)
    # TFMA's own view of the candidate (what the summary used to read), flattened the same way.
    import tensorflow_model_analysis as tfma

    viewed = {
        evaluations.slice_name(key): {
            name: float(value["doubleValue"])
            for by_sub_key in metrics.values()
            for metric_map in by_sub_key.values()
            for name, value in metric_map.items()
            if value.get("doubleValue") not in (None, "NaN")
        }
        for key, metrics in tfma.load_eval_result(uri).slicing_metrics
    }
    assert per_slice == viewed
    assert overall == {"example_count": 50.0, "binary_accuracy": 0.8, "binary_accuracy_diff": 0.05}
    assert list(per_slice) == ["overall", "trip_start_hour=3"]

    model_evaluation = evaluations.read_model_evaluation(uri)
    by_name = {s.name: s for s in model_evaluation.slices}
    assert {name: s.summary_values() for name, s in by_name.items()} == per_slice
    assert by_name["trip_start_hour=3"].baseline == {"binary_accuracy": pytest.approx(0.55)}


def test_read_metrics_returns_what_it_could_not_read_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runners.store import evaluations

    (tmp_path / "good").mkdir()
    uri = _write_evaluation(tmp_path / "good")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "eval_config.json").write_text('{"evalConfig": ')
    found, unreadable = evaluations.read_metrics([uri, str(damaged), uri])
    assert found[uri]["binary_accuracy"] == 0.8 and found[str(damaged)] == {}
    assert list(unreadable) == [str(damaged)]
    assert capsys.readouterr() == ("", "")
