"""Training/serving skew: logged serving rows against the training statistics of the served model."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from pipeline import validation
from runners.errors import EXIT_INPUT, RunError
from runners.serving.requests import serving_features


@dataclasses.dataclass(frozen=True)
class SkewRow(validation.DistanceRow):
    """The skew of one feature between training and serving data.

    A distance row as drift's, in skew's words: SKEWED for over the threshold, and a JSON form
    that carries its status (the `skew --json` document).
    """

    COMPARISON: ClassVar[str] = validation.SKEW
    OVER: ClassVar[str] = "SKEWED"
    NO_THRESHOLD: ClassVar[str] = "no threshold"

    @property
    def skewed(self) -> bool:
        """True when the value exceeds the threshold (strictly, as TFDV judges)."""
        return self.over_threshold

    def to_dict(self) -> dict[str, Any]:
        """Returns the row as JSON-able values, its status included."""
        return {**dataclasses.asdict(self), "status": self.status}


def measure_skew(
    training: statistics_pb2.DatasetFeatureStatisticsList,
    serving: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    thresholds: Mapping[str, float] | None = None,
) -> list[SkewRow]:
    """Measures the skew of every SERVING feature between training and serving statistics.

    Each feature's measure and threshold come from the schema's skew comparator, else its drift
    comparator (see validation.schema_threshold).

    Args:
        training: statistics of the training data.
        serving: statistics of the logged requests.
        schema: the schema the model was trained with.
        thresholds: feature -> threshold, over the schema's.

    Returns:
        One row per SERVING feature, in schema order; `value` is None when a side has no values.
    """
    names = {f.name for f in serving_features(schema)}
    return validation.measure_distances(SkewRow, training, serving, schema, features=names, thresholds=thresholds)


def skew_table(rows: Sequence[SkewRow]) -> str:
    """Formats rows: feature, comparator, value, threshold, status."""
    return validation.distance_table(rows, ("feature", "comparator", "value", "threshold", "status"))


def read_request_log(folder: Path) -> tuple[list[bytes], list[Path], list[str]]:
    """Reads every record of the request log's TFRecord files.

    Returns:
        The serialized tf.Examples, the files read, and warnings (a file whose last record was cut
        short when the server was killed mid-write still gives its complete records).
    """
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    records: list[bytes] = []
    warnings: list[str] = []
    files = sorted(folder.glob("*.tfrecord"))
    for path in files:
        not_examples = 0
        try:
            for record in tf.data.TFRecordDataset(str(path)):
                data = bytes(record.numpy())
                try:
                    tf.train.Example.FromString(data)
                except DecodeError:  # a damaged record whose checksum still matched: not the server's
                    not_examples += 1
                    continue
                records.append(data)
        except tf.errors.DataLossError:
            warnings.append(
                f"{path} ends with an incomplete or damaged record (the server stopped mid-write, or the file "
                "was changed); the records before it are used"
            )
        if not_examples:
            warnings.append(f"{path} holds {not_examples} record(s) that are not tf.Examples; they are left out")
    return records, files, warnings


def log_statistics(records: Sequence[bytes], schema: Any) -> Any:
    """Computes TFDV statistics of logged tf.Examples in memory, typed by the schema's SERVING features."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl
    from tfx_bsl.coders import example_coder

    names = {f.name for f in serving_features(schema)}
    serving_schema = copy.deepcopy(schema)
    del serving_schema.feature[:]
    serving_schema.feature.extend(f for f in schema.feature if f.name in names)
    try:
        batch = example_coder.ExamplesToRecordBatchDecoder(serving_schema.SerializeToString()).DecodeBatch(
            list(records)
        )
    except RuntimeError as err:  # tfx_bsl's decoder: a record whose values have another type than the schema's
        raise RunError(
            f"the request log holds rows that do not match the schema's SERVING features ({err}); it was written "
            "for another schema or changed by hand: move those files out of the serving-logs folder",
            EXIT_INPUT,
        ) from None
    # The in-memory generator of TFDV 1.16 (not re-exported at the top level): the same statistics
    # generators as StatisticsGen, without starting a Beam pipeline for a few thousand rows.
    return stats_impl.generate_statistics_in_memory(batch, tfdv.StatsOptions(schema=serving_schema))
