"""TFMA's output files read without TensorFlow: metrics, plots, validation result and eval config.

Importing tensorflow_model_analysis loads TensorFlow (10 s and more on a busy machine) although its
output is plain TFRecord files of MetricsForSlice, PlotsForSlice and ValidationResult protos and a JSON
EvalRun, and the proto modules need only protobuf. This reads them directly: the TFRecord framing by
hand, TFMA's proto modules from their files without the package's __init__. Whatever it cannot read
raises, and callers fall back to TFMA.
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import math
import os
import re
import struct
import sys
from collections.abc import Collection, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import google_crc32c
from google.protobuf.message import DecodeError

from runners.store.artifacts import CorruptArtifactError, read_json_object

_PACKAGE = "tensorflow_model_analysis"
_PROTO_PACKAGE = f"{_PACKAGE}.proto"
_PROTO_MODULE = f"{_PROTO_PACKAGE}.metrics_for_slice_pb2"
# What a TFMA 0.47 slice key value is once read (deserialize_slice_key's SliceKeyType values).
SliceKey = tuple[tuple[str, Any], ...]


class UnsupportedConfig(ValueError):
    """The eval config uses a TFMA feature this reader does not interpret (callers use TFMA itself)."""


def _proto_module(name: str) -> ModuleType:
    """One of TFMA's *_pb2 modules, loaded from its file when the package is not imported yet."""
    full_name = f"{_PROTO_PACKAGE}.{name}"
    if full_name in sys.modules:
        return sys.modules[full_name]
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{_PACKAGE} is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "proto" / f"{name}.py"
    # Registered under its real name, so a later `import tensorflow_model_analysis` reuses it instead
    # of adding the same .proto file to protobuf's pool a second time.
    loader_spec = importlib.util.spec_from_file_location(full_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(loader_spec)
    # validation_result_pb2 imports its sibling protos as `from tensorflow_model_analysis.proto import
    # config_pb2`, which would run the package's __init__ (TensorFlow); this module's own import
    # resolves that one package to the siblings loaded here, and leaves every other import alone.
    module.__dict__["__builtins__"] = {**builtins.__dict__, "__import__": _sibling_import}
    loader_spec.loader.exec_module(module)
    sys.modules[full_name] = module
    return module


def _sibling_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    if name == _PROTO_PACKAGE and fromlist and level == 0 and _PACKAGE not in sys.modules:
        return SimpleNamespace(**{sibling: _proto_module(sibling) for sibling in fromlist})
    return builtins.__import__(name, globals, locals, fromlist, level)


def metrics_proto() -> ModuleType:
    """TFMA's metrics_for_slice_pb2 (MetricsForSlice, PlotsForSlice), without importing TFMA."""
    return _proto_module("metrics_for_slice_pb2")


def config_proto() -> ModuleType:
    """TFMA's config_pb2 (EvalConfig, EvalRun, MetricThreshold), without importing TFMA."""
    return _proto_module("config_pb2")


def validation_proto() -> ModuleType:
    """TFMA's validation_result_pb2 (ValidationResult), without importing TFMA."""
    return _proto_module("validation_result_pb2")


def masked_crc(data: bytes) -> bytes:
    """TFRecord's checksum of `data`: CRC-32C, rotated and offset ("masked") as TensorFlow writes it."""
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def tfrecords(path: Path) -> Iterator[bytes]:
    """The records of a TFRecord file: length (8 bytes), its CRC (4), data, the data's CRC (4).

    Both checksums are checked, as TensorFlow's reader does: a changed byte inside a number would
    otherwise be read as another number.
    """
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        while header := handle.read(12):
            if len(header) < 12:
                raise ValueError(f"{path}: truncated record header")
            if masked_crc(header[:8]) != header[8:]:
                raise ValueError(f"{path}: corrupted record header (checksum mismatch)")
            (length,) = struct.unpack("<Q", header[:8])
            # A damaged length (up to 2**64) would have read() allocate that much before finding the end.
            if length > size - handle.tell():
                raise ValueError(f"{path}: truncated record")
            data = handle.read(length)
            footer = handle.read(4)
            if len(data) < length or len(footer) < 4:
                raise ValueError(f"{path}: truncated record")
            if masked_crc(data) != footer:
                raise ValueError(f"{path}: corrupted record (checksum mismatch)")
            yield data


def output_files(folder: Path, kind: str) -> list[Path]:
    """TFMA's files of one kind ("metrics", "plots", "validations"), as its loaders glob them."""
    files = sorted(p for p in folder.glob(f"{kind}*.tfrecord") if p.is_file())
    return files or sorted(p for p in folder.glob(f"{kind}*") if p.is_file())


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
    folder = Path(uri)
    files = output_files(folder, "metrics")
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


def load_metrics(uri: str) -> Iterator[Any]:
    """The MetricsForSlice records of an Evaluator output (what tfma.load_metrics yields).

    Raises:
        FileNotFoundError: the folder holds no metrics file. DamagedRecordsError (a ValueError): a file
            is cut short, fails a checksum or holds other records.
    """
    files = output_files(Path(uri), "metrics")
    if not files:
        raise FileNotFoundError(f"{uri} holds no metrics file")
    proto: Any = metrics_proto()
    for path in files:
        yield from records_of(path, proto.MetricsForSlice)


def load_validation_result(uri: str) -> Any:
    """The ValidationResult of an Evaluator output (what tfma.load_validation_result returns).

    Raises:
        FileNotFoundError: no validations file. ValueError: not exactly one record, or truncated.
    """
    files = output_files(Path(uri), "validations")
    if not files:
        raise FileNotFoundError(f"{uri} holds no validations file")
    records = [record for path in files for record in records_of(path, validation_proto().ValidationResult)]
    if len(records) != 1:
        raise ValueError(f"{uri}: {len(records)} validation results, expected one")
    return records[0]


def parse_eval_config(text: str) -> Any:
    """An EvalConfig from its JSON (the Evaluator's `eval_config` exec property)."""
    from google.protobuf import json_format

    return json_format.Parse(text, config_proto().EvalConfig())


def load_eval_config(uri: str) -> Any:
    """The EvalConfig an Evaluator output was computed with (its eval_config.json's EvalRun).

    Raises:
        FileNotFoundError: no eval_config.json (TFMA's legacy pickled form is left to TFMA).
        ValueError: the file is not an EvalRun with a version, as TFMA requires.
    """
    from google.protobuf import json_format

    run = json_format.Parse((Path(uri) / EVAL_CONFIG_FILE).read_text(), config_proto().EvalRun())
    if not run.version:
        raise ValueError(f"{uri}/{EVAL_CONFIG_FILE} names no TFMA version")
    return run.eval_config


def slice_key(proto: Any) -> SliceKey:
    """A SliceKey proto as TFMA's slicer_lib.deserialize_slice_key returns it: ((column, value), ...)."""
    parts = []
    for single in proto.single_slice_keys:
        kind = single.WhichOneof("kind")
        if kind == "bytes_value":
            value: Any = single.bytes_value.decode("utf-8")
        elif kind in ("int64_value", "float_value"):
            value = getattr(single, kind)
        else:
            raise ValueError(f"unrecognised slice key value of column {single.column!r}")
        parts.append((single.column, value))
    return tuple(parts)


def _to_type(value: Any) -> Any:
    """TFMA's slicer_lib._to_type: strings of ints and floats compare as numbers."""
    if isinstance(value, int | float):
        return value
    text = str(value)
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def slice_spec_applies(spec: Any, key: SliceKey) -> bool:
    """Whether a SlicingSpec covers a slice key (TFMA's SingleSliceSpec.is_slice_applicable)."""
    columns = list(spec.feature_keys)
    features = [(name, _to_type(value)) for name, value in spec.feature_values.items()]
    for column, value in key:
        single = (column, _to_type(value))
        if single in features:
            features.remove(single)
        elif column in columns:
            columns.remove(column)
        else:
            return False
    return not features and not columns


def _metric_name(metric: Any) -> str:
    """A TFMA metric's name: its config's "name", else its class name in snake case (AUC -> auc)."""
    if metric.module and not metric.module.startswith(_PACKAGE):
        raise UnsupportedConfig(f"metric {metric.class_name} of module {metric.module}")
    if metric.config:
        name = json.loads(metric.config).get("name")
        if isinstance(name, str) and name:
            return name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", metric.class_name).lower()


def metric_thresholds(eval_config: Any, skip_models: Collection[str] = ()) -> list[tuple[str, bool, Any, Any]]:
    """The thresholds of an eval config: (metric name, is a change threshold, SlicingSpec or None, threshold).

    What TFMA's metric_thresholds_from_metrics_specs yields for the plain configs this pipeline writes
    (metrics per model, no output names, sub keys, weights or cross-slice thresholds), in its order and
    without its duplicates; a None spec applies to the overall slice. Metric names follow TFMA's class
    naming; a caller checks them against the names in the metrics files.

    Args:
        eval_config: the EvalConfig.
        skip_models: model names whose thresholds are left out (the baseline's).

    Raises:
        UnsupportedConfig: the config uses anything else.
    """
    found: dict[tuple[str, str, bool], list[tuple[Any, Any]]] = {}
    seen: set[tuple[str, str, bool, bytes, bytes]] = set()

    def add(name: str, model: str, slice_spec: Any, threshold: Any) -> None:
        for is_diff, field in ((False, "value_threshold"), (True, "change_threshold")):
            if not threshold.HasField(field):
                continue
            bound = getattr(threshold, field)
            spec_bytes = slice_spec.SerializeToString() if slice_spec is not None else b""
            marker = (name, model, is_diff, spec_bytes, bound.SerializeToString())
            if marker not in seen:
                seen.add(marker)
                found.setdefault((name, model, is_diff), []).append((slice_spec, bound))

    for spec in eval_config.metrics_specs:
        unusual = [f for f in ("binarize", "aggregate", "example_weights") if spec.HasField(f)]
        if spec.output_names or spec.thresholds or spec.per_slice_thresholds or unusual:
            raise UnsupportedConfig("a metrics spec with output names, binarization, weights or in-graph thresholds")
        if spec.cross_slice_thresholds:
            raise UnsupportedConfig("cross-slice thresholds")
        for metric in spec.metrics:
            if metric.cross_slice_thresholds:
                raise UnsupportedConfig(f"cross-slice thresholds on {metric.class_name}")
            if not metric.HasField("threshold") and not metric.per_slice_thresholds:
                continue
            name = _metric_name(metric)
            for model in spec.model_names or [""]:
                if metric.HasField("threshold"):
                    add(name, model, None, metric.threshold)
                for per_slice in metric.per_slice_thresholds:
                    for slicing_spec in per_slice.slicing_specs:
                        add(name, model, slicing_spec, per_slice.threshold)
    return [
        (name, is_diff, slice_spec, threshold)
        for (name, model, is_diff), items in found.items()
        if model not in skip_models
        for slice_spec, threshold in items
    ]
