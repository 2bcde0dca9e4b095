"""Reading and writing the validation artifacts: statistics, anomalies, the schema, the drift report.

Remote URIs (gs://) go through TFX's fileio; local folders are read with the standard library, since
fileio imports TensorFlow (seconds) and the read-only commands read local homes.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from pipeline.validation.drift import DRIFT_SPLIT

DRIFT_REPORT_FILE = "drift.json"
ANOMALIES_FILE = "SchemaDiff.pb"
STATISTICS_FILE = "FeatureStats.pb"


def _is_remote(path: str) -> bool:
    return "://" in path


def _read_bytes(path: str) -> bytes:
    if not _is_remote(path):
        with open(path, "rb") as handle:
            return handle.read()
    from tfx.dsl.io import fileio

    with fileio.open(path, "rb") as handle:
        return bytes(handle.read())


def _split_dirs(uri: str) -> dict[str, str]:
    if _is_remote(uri):
        from tfx.dsl.io import fileio

        entries = [os.fsdecode(entry) for entry in fileio.listdir(uri)]
    else:
        entries = os.listdir(uri)
    found = {}
    for entry in entries:
        name = entry.rstrip("/")
        if name.startswith("Split-"):
            found[name.removeprefix("Split-")] = f"{uri.rstrip('/')}/{name}"
    return found


def load_statistics(uri: str, split: str = DRIFT_SPLIT) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Reads one split of a StatisticsGen artifact.

    Args:
        uri: the ExampleStatistics artifact's URI.
        split: the split to read.

    Returns:
        The statistics.

    Raises:
        FileNotFoundError: the artifact has no such split.
    """
    splits = _split_dirs(uri)
    if split not in splits:
        raise FileNotFoundError(f"statistics at {uri} have no split '{split}' (splits: {', '.join(sorted(splits))})")
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(_read_bytes(f"{splits[split]}/{STATISTICS_FILE}"))


def load_anomalies(uri: str) -> dict[str, anomalies_pb2.Anomalies]:
    """Reads every split of an ExampleValidator (ExampleAnomalies) artifact: split name -> Anomalies."""
    return {
        split: anomalies_pb2.Anomalies.FromString(_read_bytes(f"{path}/{ANOMALIES_FILE}"))
        for split, path in sorted(_split_dirs(uri).items())
    }


def load_drift_report(uri: str) -> dict[str, Any]:
    """Reads the drift report a DriftCheck artifact holds."""
    loaded: dict[str, Any] = json.loads(_read_bytes(f"{uri.rstrip('/')}/{DRIFT_REPORT_FILE}").decode())
    return loaded


def write_drift_report(uri: str, report: dict[str, Any]) -> None:
    """Writes a drift report (see drift.drift_report) into a DriftCheck artifact's folder."""
    from tfx.dsl.io import fileio

    with fileio.open(f"{uri.rstrip('/')}/{DRIFT_REPORT_FILE}", "w") as handle:
        handle.write(json.dumps(report, indent=2))


def read_schema_artifact(uri: str) -> schema_pb2.Schema:
    """Reads the schema file inside a Schema artifact (ImportSchemaGen writes one file there)."""
    from tfx.utils import io_utils

    schema: schema_pb2.Schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(uri))
    return schema
