"""Fuzzing what is read back from artifact folders ML Metadata points to: statistics, importance, baseline.

A truncated or corrupted file gives the record it still holds or CorruptArtifactError naming the
file (exit 3), never another exception: the summary, report, card and explain read these.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline import explanations, validation
from runners.errors import EXIT_INPUT
from runners.store import artifacts
from runners.store.importance import read_baseline, read_feature_importance
from runners.store.statistics import read_split_statistics

pytestmark = pytest.mark.fuzz

IMPORTANCE = {
    "metric": "auc",
    "baseline_score": 0.8,
    "rows": 100,
    "repeats": 3,
    "features": [
        {"feature": "fare", "importance": 0.1, "std": 0.01},
        {"feature": "company", "importance": 0.0, "std": 0},
    ],
}
BASELINE = {"fare": 9.5, "trip_start_hour": 14, "company": "Flash Cab"}


def _statistics() -> bytes:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = stats.datasets.add(num_examples=40)
    fare = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.FLOAT)
    fare.path.step.append("fare")
    fare.num_stats.mean = 11.0
    fare.num_stats.common_stats.num_non_missing = 40
    histogram = fare.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    histogram.buckets.add(low_value=0, high_value=10, sample_count=30)
    company = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    company.path.step.append("company")
    company.string_stats.unique = 3
    company.string_stats.top_values.add(value="Flash Cab", frequency=20)
    return stats.SerializeToString()


STATISTICS = _statistics()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


def _mutate(draw: st.DrawFn, data: bytes) -> bytes:
    at = draw(st.integers(0, len(data)))
    edit = draw(st.sampled_from(["truncate", "insert", "flip"]))
    if edit == "truncate":
        return data[:at]
    if edit == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if not data:
        return data
    at = min(at, len(data) - 1)
    return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 3))):
        data = _mutate(draw, data)
    return data


@given(damaged(STATISTICS) | st.binary(max_size=64))
@example(b"")
@example(STATISTICS[: len(STATISTICS) // 2])
@example(b"\x08\x63")  # a field of the wrong wire type
@example(STATISTICS.replace(b"\n\x07company", b"\n\x07\xe3ompany"))  # a name not UTF-8: bytes from protobuf
def test_damaged_statistics_give_rows_or_name_the_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as uri:
        split = Path(uri) / "Split-train"
        split.mkdir()
        (split / validation.STATISTICS_FILE).write_bytes(data)
        try:
            found = read_split_statistics(uri)
        except artifacts.CorruptArtifactError as err:
            assert err.exit_code == EXIT_INPUT and validation.STATISTICS_FILE in str(err)
            return
    assert set(found) <= {"train"}
    for rows in found.values():
        for row in rows:
            assert isinstance(row.name, str) and isinstance(row.type, str) and 0 <= row.missing_share <= 1


def test_an_unknown_feature_type_is_shown_as_its_number() -> None:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.datasets.add().features.add(name="x", type=99)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as uri:
        (Path(uri) / "Split-train").mkdir()
        (Path(uri) / "Split-train" / validation.STATISTICS_FILE).write_bytes(stats.SerializeToString())
        (row,) = read_split_statistics(uri)["train"]
    assert row.type == "type 99"


def _read_json_file(reader: Any, name: str, data: bytes) -> Any:
    with tempfile.TemporaryDirectory() as uri:
        (Path(uri) / name).write_bytes(data)
        try:
            return reader(uri)
        except artifacts.CorruptArtifactError as err:
            assert err.exit_code == EXIT_INPUT and str(err).startswith(str(Path(uri) / name)), err
            return None


@given(
    damaged(json.dumps(IMPORTANCE).encode())
    | st.builds(
        lambda k, v: json.dumps({**IMPORTANCE, k: v}).encode(), st.sampled_from(sorted(IMPORTANCE)), json_values
    )
)
@example(b"[" * 100_000)  # json's RecursionError
@example(json.dumps({**IMPORTANCE, "features": "fare"}).encode())  # the summary sliced a string
@example(json.dumps({**IMPORTANCE, "features": [{"feature": "fare", "importance": "high", "std": 0}]}).encode())
def test_a_damaged_importance_file_is_whole_or_named(data: bytes) -> None:
    document = _read_json_file(read_feature_importance, explanations.IMPORTANCE_FILE, data)
    if document is not None:  # every consumer formats these as numbers
        for entry in document["features"]:
            assert isinstance(entry["feature"], str)
            assert f"{entry['importance']:+.4f} {entry['std']:.4f}"


@given(
    damaged(json.dumps(BASELINE).encode())
    | st.builds(lambda k, v: json.dumps({**BASELINE, k: v}).encode(), st.sampled_from(sorted(BASELINE)), json_values)
)
@example(json.dumps({**BASELINE, "fare": [1]}).encode())
@example(json.dumps({**BASELINE, "trip_start_hour": 10**30}).encode())
@example(b'{"fare": NaN}')
def test_a_damaged_baseline_row_is_model_input_or_named(data: bytes) -> None:
    row = _read_json_file(read_baseline, explanations.BASELINE_FILE, data)
    for value in (row or {}).values():
        assert isinstance(value, str) or (
            not isinstance(value, bool)
            and isinstance(value, (int, float))
            and math.isfinite(value)
            and abs(value) < 2**63
        )


def test_a_feature_name_that_is_not_utf8_is_shown_replaced() -> None:
    # Found by the fuzzer: protobuf returns such a string field as bytes, which ".".join refused.
    data = STATISTICS.replace(b"\n\x07company", b"\n\x07\xe3ompany")
    with tempfile.TemporaryDirectory() as uri:
        (Path(uri) / "Split-train").mkdir()
        (Path(uri) / "Split-train" / validation.STATISTICS_FILE).write_bytes(data)
        names = [row.name for row in read_split_statistics(uri)["train"]]
    assert names == ["fare", "\ufffdompany"]
