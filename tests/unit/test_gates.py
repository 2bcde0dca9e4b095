"""The data gates' logic: the curated schema, drift measures and limits, the anomaly policy, previous-span choice."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx.types import standard_artifacts

from models import features
from pipeline import validation
from pipeline.accepted_spans import accepted_artifact_ids, examples_span, select_previous
from pipeline.config import ConfigError, load_config
from runners.cli import build_parser
from runners.commands import data

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = validation.load_schema(ROOT / "schema" / "schema.pbtxt")
SMALL = ROOT / "tests" / "data" / "taxi-small"


# The curated schema --------------------------------------------------------------------------------------------


def test_schema_covers_every_csv_column_with_one_value_at_most() -> None:
    header = (SMALL / "span-1" / "data.csv").read_text().splitlines()[0].split(",")
    assert validation.training_columns(SCHEMA) == header
    assert all(f.value_count.max == 1 for f in SCHEMA.feature)


def test_label_source_and_timestamp_are_absent_at_serving_only() -> None:
    serving_only_absent = {f.name for f in SCHEMA.feature if "SERVING" in f.not_in_environment}
    assert serving_only_absent == {features.TIPS_KEY, features.TIMESTAMP_KEY}
    assert list(SCHEMA.default_environment) == ["TRAINING", "SERVING"]


def test_drift_uses_jensen_shannon_for_numbers_and_l_infinity_for_categories() -> None:
    for feature in SCHEMA.feature:
        expected = validation.L_INFINITY if validation.is_categorical(feature) else validation.JENSEN_SHANNON
        assert validation.measure_kind(feature) == expected, feature.name
    limited = {f.name for f in SCHEMA.feature if validation.schema_threshold(f, validation.DRIFT) is not None}
    assert features.TIPS_KEY in limited and "payment_type" in limited and "fare" in limited


def test_optional_features_accept_the_empty_cells_csv_example_gen_writes() -> None:
    for feature in SCHEMA.feature:
        if feature.presence.min_fraction < 1.0:
            assert feature.value_count.min == 0, feature.name


def test_categorical_features_have_domains() -> None:
    for name in ("payment_type", "trip_start_hour", "trip_start_day", "trip_start_month", "pickup_community_area"):
        feature = next(f for f in SCHEMA.feature if f.name == name)
        assert feature.HasField("domain") or feature.int_domain.HasField("max"), name


def test_deprecated_features_are_not_required_in_training_data() -> None:
    schema = copy.deepcopy(SCHEMA)
    next(f for f in schema.feature if f.name == "company").lifecycle_stage = schema_pb2.DEPRECATED
    assert "company" not in validation.training_columns(schema)


# Drift ---------------------------------------------------------------------------------------------------------


def _frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def _stats(frame: pd.DataFrame) -> Any:
    return tfdv.generate_statistics_from_dataframe(frame, tfdv.StatsOptions(schema=SCHEMA))


@pytest.fixture(scope="module")
def span_1() -> pd.DataFrame:
    return _frame(SMALL / "span-1" / "data.csv")


def test_drift_is_measured_for_every_feature_and_zero_against_itself(span_1: pd.DataFrame) -> None:
    rows = validation.measure_drift(_stats(span_1), _stats(span_1), SCHEMA)
    tfdv_rows = [row for row in rows if row.measure != validation.QUANTILE_SHIFT]
    assert [row.feature for row in tfdv_rows] == [f.name for f in SCHEMA.feature]
    assert {row.feature for row in rows if row.measure == validation.QUANTILE_SHIFT} >= {"fare", "tips"}
    measured = [row for row in rows if row.value is not None]
    assert len(measured) >= len(rows) - 1  # pickup_census_tract is empty throughout
    assert all(row.value == pytest.approx(0.0, abs=1e-6) for row in measured)
    assert not any(row.over_limit for row in rows)


def test_a_strong_numeric_and_categorical_shift_is_over_the_limits(span_1: pd.DataFrame) -> None:
    shifted = span_1.assign(fare=span_1.fare * 10, payment_type="Credit Card")
    measured = validation.measure_drift(_stats(shifted), _stats(span_1), SCHEMA)
    rows = {row.feature: row for row in measured if row.measure != validation.QUANTILE_SHIFT}
    shifts = {row.feature: row for row in measured if row.measure == validation.QUANTILE_SHIFT}
    assert rows["fare"].over_limit and rows["fare"].measure == validation.JENSEN_SHANNON
    assert shifts["fare"].over_limit and shifts["fare"].value == pytest.approx(9.0, rel=1e-3)
    assert not shifts["tips"].over_limit
    assert rows["payment_type"].over_limit and rows["payment_type"].measure == validation.L_INFINITY
    assert not rows["tips"].over_limit and rows["tips"].value is not None
    assert rows["trip_start_timestamp"].limit is None and rows["trip_start_timestamp"].status == "no limit"


def test_drift_report_round_trips_and_its_table_marks_limits_and_label() -> None:
    rows = [
        validation.DriftRow("fare", validation.JENSEN_SHANNON, 0.9, 0.6),
        validation.DriftRow("tips", validation.JENSEN_SHANNON, 0.1, 0.3),
        validation.DriftRow("trip_start_month", validation.L_INFINITY, 0.05, None),
        validation.DriftRow("pickup_census_tract", validation.L_INFINITY, None, None),
    ]
    report = validation.drift_report(3, 2, rows)
    assert report["over_limit"] == ["fare"]
    assert validation.drift_rows(report) == rows
    table = validation.drift_table(rows)
    assert "OVER LIMIT" in table and "no limit" in table and "not measured" in table
    assert "tips (label source)" in table
    assert table.splitlines()[1].startswith("----")


# The anomaly policy and the verdict ------------------------------------------------------------------------------


def _anomalies(feature: str, kind: str, description: str, severity: int = anomalies_pb2.AnomalyInfo.ERROR) -> Any:
    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info[feature]
    info.severity = severity
    reason = info.reason.add()
    reason.type = anomalies_pb2.AnomalyInfo.Type.Value(kind)
    reason.description = description
    return anomalies


UNSEEN = "ENUM_TYPE_UNEXPECTED_STRING_VALUES"


def test_by_default_every_error_stops_and_warning_severity_only_warns() -> None:
    policy = validation.GatePolicy()
    assert policy.blocks(UNSEEN, anomalies_pb2.AnomalyInfo.ERROR)
    assert not policy.blocks(UNSEEN, anomalies_pb2.AnomalyInfo.WARNING)


def test_listed_types_warn_and_an_empty_blocking_list_stops_on_nothing() -> None:
    assert not validation.GatePolicy(warning_anomalies=(UNSEEN,)).blocks(UNSEEN, anomalies_pb2.AnomalyInfo.ERROR)
    only_new_columns = validation.GatePolicy(blocking_anomalies=("SCHEMA_NEW_COLUMN",))
    assert only_new_columns.blocks("SCHEMA_NEW_COLUMN", anomalies_pb2.AnomalyInfo.WARNING)
    assert not only_new_columns.blocks(UNSEEN, anomalies_pb2.AnomalyInfo.ERROR)
    assert not validation.GatePolicy(blocking_anomalies=()).blocks(UNSEEN, anomalies_pb2.AnomalyInfo.ERROR)


def test_policy_round_trips_as_json_and_rejects_unknown_names() -> None:
    policy = validation.GatePolicy(warning_anomalies=(UNSEEN,), drift_action="warn")
    assert validation.GatePolicy.from_json(policy.to_json()) == policy
    with pytest.raises(ValueError, match="UNEXPECTED_VALUES"):
        validation.GatePolicy(warning_anomalies=("UNEXPECTED_VALUES",))
    with pytest.raises(ValueError, match="drift action"):
        validation.GatePolicy(drift_action="ignore")


def test_anomalies_are_merged_over_splits_with_the_train_description() -> None:
    by_split = {
        "eval": _anomalies("payment_type", UNSEEN, "Bitcoin (~26%)"),
        "train": _anomalies("payment_type", UNSEEN, "Bitcoin (~22%)"),
    }
    (row,) = validation.anomaly_rows(by_split, validation.GatePolicy())
    assert (row.feature, row.kind, row.description, row.splits, row.blocking) == (
        "payment_type",
        UNSEEN,
        "Bitcoin (~22%)",
        ("eval", "train"),
        True,
    )
    table = validation.anomaly_table([row])
    assert table.splitlines()[0].split() == ["feature", "anomaly", "description", "action"]


def test_verdict_names_every_blocking_feature_and_drift_follows_the_drift_action() -> None:
    by_split = {"train": _anomalies("payment_type", UNSEEN, "Bitcoin (~22%)")}
    drift = [validation.DriftRow("fare", validation.JENSEN_SHANNON, 0.9, 0.6)]

    stop = validation.judge(by_split, drift, validation.GatePolicy())
    assert stop.stopped
    assert stop.reasons() == [
        f"payment_type: {UNSEEN} (Bitcoin (~22%))",
        "fare: Jensen-Shannon drift 0.900 is over the limit 0.6",
    ]

    lenient = validation.judge(by_split, drift, validation.GatePolicy(warning_anomalies=(UNSEEN,), drift_action="warn"))
    assert not lenient.stopped
    assert len(lenient.warnings()) == 2

    assert not validation.judge({"train": anomalies_pb2.Anomalies()}, [], validation.GatePolicy()).stopped


# The schema diff -----------------------------------------------------------------------------------------------


def test_schema_diff_shows_only_the_changed_block() -> None:
    accepting = copy.deepcopy(SCHEMA)
    accepting.string_domain[0].value.append("Bitcoin")
    diff = validation.schema_diff(SCHEMA, accepting, "a", "b")
    assert diff.splitlines()[:3] == ["--- a", "+++ b", "@@ string_domain payment_type @@"]
    assert [line for line in diff.splitlines() if line.startswith(("+ ", "- ", "+  ", "-  "))] == [
        '+  value: "Bitcoin"'
    ]
    assert validation.schema_diff(SCHEMA, copy.deepcopy(SCHEMA), "a", "b") == ""


# The previous span and the accepted spans ------------------------------------------------------------------------


def _examples(span: int, artifact_id: int) -> Any:
    artifact = standard_artifacts.Examples()
    artifact.id = artifact_id
    artifact.set_int_custom_property("span", span)
    return artifact


def test_examples_span_is_read_from_example_gens_custom_property() -> None:
    assert examples_span(_examples(7, 1)) == 7
    statistics = standard_artifacts.ExampleStatistics()
    assert examples_span(statistics) == 0


def test_previous_span_is_the_newest_accepted_one_before_this_span() -> None:
    pairs = [(_examples(s, s), f"stats-{s}") for s in (1, 3, 2)]
    assert select_previous(pairs, 3) == (pairs[2][0], "stats-2")
    assert select_previous(pairs, 5) == (pairs[1][0], "stats-3")
    assert select_previous(pairs, 1) is None
    reingested = [*pairs, (_examples(2, 9), "stats-2-again")]
    assert select_previous(reingested, 3) == (reingested[3][0], "stats-2-again")


class _Store:
    """Just enough of an ML Metadata store: one gate context, its executions and their input events."""

    def __init__(self, executions: list[tuple[int, int, dict[str, int]]]) -> None:
        from ml_metadata.proto import metadata_store_pb2 as pb

        self.pb = pb
        self.executions = [pb.Execution(id=i, last_known_state=state) for i, state, _ in executions]
        self.events = []
        for execution_id, _, inputs in executions:
            for key, artifact_id in inputs.items():
                event = pb.Event(execution_id=execution_id, artifact_id=artifact_id, type=pb.Event.INPUT)
                event.path.steps.add().key = key
                self.events.append(event)

    def get_context_by_type_and_name(self, type_name: str, name: str) -> Any:
        return self.pb.Context(id=1) if (type_name, name) == ("node", "taxi.data_gate") else None

    def get_executions_by_context(self, context_id: int) -> list[Any]:
        return self.executions

    def get_events_by_execution_ids(self, ids: list[int]) -> list[Any]:
        return [e for e in self.events if e.execution_id in ids]


def test_only_artifacts_a_successful_gate_consumed_are_accepted() -> None:
    from ml_metadata.proto import metadata_store_pb2 as pb

    store = _Store(
        [
            (1, pb.Execution.COMPLETE, {"examples": 10, "statistics": 11}),
            (2, pb.Execution.FAILED, {"examples": 20, "statistics": 21}),
            (3, pb.Execution.CACHED, {"examples": 30, "statistics": 31}),
        ]
    )
    assert accepted_artifact_ids(store, "taxi.data_gate") == {10, 11, 30, 31}
    assert accepted_artifact_ids(store, "other.data_gate") == set()


# Configuration and CLI -------------------------------------------------------------------------------------------


def test_gate_policy_is_configured_by_environment_with_clear_errors() -> None:
    config = load_config(environ={"TAXI_PIPELINE_WARNING_ANOMALIES": f"{UNSEEN} SCHEMA_NEW_COLUMN"})
    assert config.warning_anomalies == (UNSEEN, "SCHEMA_NEW_COLUMN")
    assert config.blocking_anomalies == ("*",) and config.drift_action == "stop"
    with pytest.raises(ConfigError, match=r"'warning_anomalies'.*NEW_COLUMN is not one"):
        load_config(environ={"TAXI_PIPELINE_WARNING_ANOMALIES": "NEW_COLUMN"})
    with pytest.raises(ConfigError, match="leave blocking_anomalies empty"):
        load_config(environ={"TAXI_PIPELINE_WARNING_ANOMALIES": "*"})
    with pytest.raises(ConfigError, match=r"'drift_action'.*stop, warn"):
        load_config(environ={"TAXI_PIPELINE_DRIFT_ACTION": "ignore"})


def test_cli_has_the_drift_and_schema_commands() -> None:
    parser = build_parser()
    drift = parser.parse_args(["drift", "--span", "3", "--against", "2", "--data-root", "d"])
    assert (drift.span, drift.against, drift.data_root) == (3, 2, "d")
    assert parser.parse_args(["schema", "diff"]).span is None
    assert parser.parse_args(["schema", "validate", "--span", "4"]).handler is data._cmd_schema_validate
    with pytest.raises(SystemExit):
        parser.parse_args(["drift", "--span", "3"])
