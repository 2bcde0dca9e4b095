"""TFMA's metrics files read without TensorFlow: the overall metrics `models` and `kpis` list.

Importing tensorflow_model_analysis loads TensorFlow (10 s and more on a busy machine) although
its output is plain TFRecord files of MetricsForSlice protos, and the proto module needs only
protobuf. This reads them directly: the TFRecord framing by hand, the proto module from its file
without the package's __init__. Whatever it cannot read raises, and callers fall back to TFMA.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf.message import DecodeError

from runners.store.artifacts import CorruptArtifactError, read_json_object

_PROTO_MODULE = "tensorflow_model_analysis.proto.metrics_for_slice_pb2"


def metrics_proto() -> ModuleType:
    """TFMA's metrics_for_slice_pb2, loaded from its file when the package is not imported yet."""
    if _PROTO_MODULE in sys.modules:
        return sys.modules[_PROTO_MODULE]
    spec = importlib.util.find_spec("tensorflow_model_analysis")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("tensorflow_model_analysis is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "proto" / "metrics_for_slice_pb2.py"
    # Registered under its real name, so a later `import tensorflow_model_analysis` reuses it instead
    # of adding the same .proto file to protobuf's pool a second time.
    loader_spec = importlib.util.spec_from_file_location(_PROTO_MODULE, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(loader_spec)
    loader_spec.loader.exec_module(module)
    sys.modules[_PROTO_MODULE] = module
    return module


def tfrecords(path: Path) -> Iterator[bytes]:
    """The records of a TFRecord file: length (8 bytes), its CRC (4), data, the data's CRC (4)."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        while header := handle.read(12):
            if len(header) < 12:
                raise ValueError(f"{path}: truncated record header")
            (length,) = struct.unpack("<Q", header[:8])
            # A damaged length (up to 2**64) would have read() allocate that much before finding the end.
            if length > size - handle.tell():
                raise ValueError(f"{path}: truncated record")
            data = handle.read(length)
            if len(data) < length or len(handle.read(4)) < 4:
                raise ValueError(f"{path}: truncated record")
            yield data


class DamagedRecordsError(CorruptArtifactError, ValueError):
    """A TFRecord file of an evaluation that is cut short or holds other records (exit 3).

    Also a ValueError, which tfrecords() raises, so a caller that falls back on one still does.
    """


def records_of(path: Path, message: Any) -> list[Any]:
    """Every record of one of TFMA's TFRecord files, parsed as `message` (a protobuf message class).

    Raises:
        DamagedRecordsError: the file is cut short or holds a record that is not such a message.
    """
    try:
        return [message.FromString(record) for record in tfrecords(path)]
    except ValueError as err:  # tfrecords' own, naming the path already
        raise DamagedRecordsError(path, f"is not a whole TFRecord file ({str(err).rsplit(': ', 1)[-1]})") from None
    except (DecodeError, RecursionError):  # random bytes, another file's records, or nesting too deep
        raise DamagedRecordsError(path, f"holds a record that is not a {message.DESCRIPTOR.name}") from None


EVAL_CONFIG_FILE = "eval_config.json"


def _baseline_names(uri: Path) -> set[str]:
    document = read_json_object(uri, EVAL_CONFIG_FILE)
    if document is None:
        raise FileNotFoundError(f"{uri} holds no {EVAL_CONFIG_FILE}")
    config = document.get("evalConfig", {})
    specs = config.get("modelSpecs", []) if isinstance(config, dict) else None
    if not isinstance(specs, list) or not all(isinstance(spec, dict) for spec in specs):
        raise CorruptArtifactError(uri / EVAL_CONFIG_FILE, "holds no list of modelSpecs objects under evalConfig")
    return {spec.get("name", "") for spec in specs if spec.get("isBaseline")}


def overall_metrics(uri: str) -> dict[str, float]:
    """The candidate's overall metrics of an Evaluator output, a change vs the baseline as `<metric>_diff`.

    The same values as runners.store.evaluations.read_evaluation's overall slice: plain metrics only
    (no sub key, no named output), undefined (NaN) values left out.

    Raises:
        FileNotFoundError, ImportError: the output cannot be read this way.
        CorruptArtifactError: a metrics file or eval_config.json is damaged (exit 3).
    """
    import math

    folder = Path(uri)
    files = sorted(p for p in folder.glob("metrics*") if p.is_file())
    if not files:
        raise FileNotFoundError(f"{folder} holds no metrics file")
    proto: Any = metrics_proto()
    baselines = _baseline_names(folder)
    found: dict[str, float] = {}
    for path in files:
        for metrics in records_of(path, proto.MetricsForSlice):
            if metrics.slice_key.single_slice_keys:
                continue
            for item in metrics.metric_keys_and_values:
                if item.value.WhichOneof("type") != "double_value":
                    continue
                if item.key.sub_key.ByteSize() or item.key.output_name:
                    continue
                number = float(item.value.double_value.value)
                if math.isnan(number):
                    continue
                if item.key.is_diff:
                    found[f"{item.key.name}_diff"] = number
                elif item.key.model_name not in baselines:
                    found[item.key.name] = number
    return found
