"""Explanations in the user's raw feature names: permutation importance and per-prediction feature ablation.

The computations are plain functions over a `predict(columns) -> probabilities` callable, so they
are tested without a model; the SavedModel helpers below feed them through the `serving_default`
signature, the same raw-value contract clients call.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from models import features
from pipeline import ids

# Raw feature name -> one value per row, in the dtype the serving_default signature takes.
Columns = dict[str, np.ndarray]
Predict = Callable[[Columns], np.ndarray]

IMPORTANCE_FILE = "feature_importance.json"
BASELINE_FILE = "baseline.json"
METRICS = ("auc", "log_loss")


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic, ties counted half; NaN when only one class is present."""
    labels = np.asarray(labels).astype(bool).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return math.nan
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size, dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties, so a constant predictor scores exactly 0.5.
    start = 0
    while start < scores.size:
        end = start
        while end + 1 < scores.size and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def log_loss(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean binary cross-entropy, probabilities clipped away from 0 and 1."""
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    p = np.clip(np.asarray(scores, dtype=np.float64).reshape(-1), 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def permutation_importance(
    predict: Predict,
    columns: Mapping[str, np.ndarray],
    labels: np.ndarray,
    *,
    metric: str = "auc",
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """How much the model's score drops when one feature's values are shuffled across rows.

    Shuffling keeps a feature's distribution but breaks its link to the label and to the other
    features; a feature the model does not rely on loses (about) nothing.

    Args:
        predict: maps raw columns to one probability per row.
        columns: raw feature name -> values, all of the same length.
        labels: 0/1 per row.
        metric: "auc" (importance = AUC drop) or "log_loss" (importance = log-loss increase).
        repeats: shuffles per feature; the importance is their mean, `std` their spread.
        seed: seeds the shuffles, so the same model and rows give the same numbers.

    Returns:
        {"metric", "baseline_score", "rows", "repeats", "features": [{"feature", "importance",
        "std"}, ...]} with features sorted by importance, largest first.

    Raises:
        ValueError: an unknown metric, no rows, or columns of different lengths.
    """
    if metric not in METRICS:
        raise ValueError(f"metric is {metric!r}; expected one of {', '.join(METRICS)}")
    rows = len(labels)
    if rows == 0:
        raise ValueError("no rows to compute feature importance on")
    lengths = {name: len(values) for name, values in columns.items()}
    if any(n != rows for n in lengths.values()):
        raise ValueError(f"every column needs {rows} values (one per label); got {lengths}")
    score_fn = auc if metric == "auc" else log_loss

    def drop(score: float, baseline: float) -> float:
        # Positive means "worse without this feature", for both metrics.
        return baseline - score if metric == "auc" else score - baseline

    baseline_score = score_fn(labels, predict(dict(columns)))
    rng = np.random.default_rng(seed)
    found: list[dict[str, Any]] = []
    for name in columns:
        drops = []
        for _ in range(repeats):
            shuffled = dict(columns)
            shuffled[name] = columns[name][rng.permutation(rows)]
            drops.append(drop(score_fn(labels, predict(shuffled)), baseline_score))
        found.append({"feature": name, "importance": float(np.mean(drops)), "std": float(np.std(drops))})
    found.sort(key=lambda f: (-float(f["importance"]), str(f["feature"])))
    return {
        "metric": metric,
        "baseline_score": float(baseline_score),
        "rows": rows,
        "repeats": repeats,
        "features": found,
    }


@dataclasses.dataclass
class Explanation:
    """One prediction and how much each raw feature moved it away from the baseline row's prediction."""

    prediction: float
    baseline_prediction: float
    contributions: dict[str, float]

    def top(self, count: int) -> list[tuple[str, float]]:
        """The `count` contributions of largest magnitude, largest first."""
        return sorted(self.contributions.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:count]

    def to_dict(self) -> dict[str, Any]:
        """Returns plain JSON-able values."""
        return dataclasses.asdict(self)


def feature_ablation(
    predict: Predict, instances: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any]
) -> list[Explanation]:
    """Explains predictions by replacing one feature at a time with its baseline value.

    A feature's contribution is prediction(instance) - prediction(instance with that feature set to
    the baseline's value): positive pushed the probability up. Contributions need not add up to
    prediction - baseline_prediction, since features interact.

    Args:
        predict: maps raw columns to one probability per row.
        instances: complete raw rows (feature name -> value), e.g. from instances_to_columns' check.
        baseline: a typical row, e.g. baseline_row's; it names every feature the model reads.

    Returns:
        One Explanation per instance, in order.
    """
    names = list(baseline)
    rows: list[Mapping[str, Any]] = [baseline]
    for instance in instances:
        rows.append(instance)
        rows.extend({**instance, name: baseline[name]} for name in names)
    values = {name: [row[name] for row in rows] for name in names}
    template = {name: np.asarray([baseline[name]]) for name in names}
    probabilities = predict({name: np.asarray(v, dtype=template[name].dtype) for name, v in values.items()})
    baseline_prediction = float(probabilities[0])
    explanations = []
    stride = 1 + len(names)
    for i in range(len(instances)):
        start = 1 + i * stride
        prediction = float(probabilities[start])
        ablated = probabilities[start + 1 : start + stride]
        contributions = {name: prediction - float(p) for name, p in zip(names, ablated, strict=True)}
        explanations.append(Explanation(prediction, baseline_prediction, contributions))
    return explanations


# ------------------------------------------------------------------------------- SavedModel helpers


def load_model(model_dir: str) -> Any:
    """Loads an exported model (a folder with saved_model.pb) with tf.saved_model.load."""
    import tensorflow as tf

    return tf.saved_model.load(model_dir)


def raw_input_spec(model: Any) -> dict[str, str]:
    """Returns raw feature name -> "string", "int" or "float": what the serving_default signature takes."""
    signature = model.signatures[ids.SERVING_DEFAULT]
    kinds = {}
    for name, spec in sorted(signature.structured_input_signature[1].items()):
        kinds[name] = "string" if spec.dtype.name == "string" else ("int" if spec.dtype.is_integer else "float")
    return kinds


_NUMPY = {"string": object, "int": np.int64, "float": np.float32}
# What an absent value means to the model: models/preprocessing.py fills these defaults.
_MISSING = {"string": "", "int": 0, "float": 0.0}


def raw_predictor(model: Any, batch_size: int = 4096) -> Predict:
    """Returns predict(columns) -> probabilities calling the model's serving_default signature in batches."""
    import tensorflow as tf

    signature = model.signatures[ids.SERVING_DEFAULT]
    kinds = raw_input_spec(model)
    dtypes = {"string": tf.string, "int": tf.int64, "float": tf.float32}

    def predict(columns: Columns) -> np.ndarray:
        rows = len(next(iter(columns.values())))
        out = []
        for start in range(0, rows, batch_size):
            inputs = {
                name: tf.constant(np.asarray(columns[name][start : start + batch_size]).tolist(), dtype=dtypes[kind])
                for name, kind in kinds.items()
            }
            out.append(signature(**inputs)[features.OUTPUT_KEY].numpy().reshape(-1))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    return predict


def coerce(value: Any, kind: str, name: str) -> Any:
    """Converts one JSON or tf.Example value to the feature's kind.

    Raises:
        ValueError: naming the feature, when the value cannot be read as its kind.
    """
    if value is None or (isinstance(value, str) and value.strip() == "" and kind != "string"):
        return _MISSING[kind]
    try:
        if kind == "string":
            return value.decode() if isinstance(value, bytes) else str(value)
        if kind == "int":
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        return float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: float() of an integer beyond a double
        expected = "an integer" if kind == "int" else "a number"
        raise ValueError(f"feature '{name}' is {value!r}; expected {expected}") from None


# What the serving_default signature's int64 and float32 inputs can hold.
_INT64 = (-(2**63), 2**63 - 1)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _json_value(value: Any, kind: str, name: str) -> Any:
    """coerce() for a value a user typed as JSON: one value, within the range of the model's input type.

    Raises:
        ValueError: naming the feature, for a list or object, a number out of range, NaN or infinity.
    """
    if isinstance(value, (list, dict)):
        raise ValueError(f"feature '{name}' is a JSON {type(value).__name__}; expected one value")
    coerced = coerce(value, kind, name)
    if kind == "int" and not _INT64[0] <= coerced <= _INT64[1]:
        raise ValueError(f"feature '{name}' is {value!r}; expected an integer within the 64-bit range")
    if kind == "float" and not (math.isfinite(coerced) and abs(coerced) <= _FLOAT32_MAX):
        raise ValueError(f"feature '{name}' is {value!r}; expected a finite number (a 32-bit float)")
    return coerced


def instances_to_rows(
    instances: Iterable[Mapping[str, Any]], kinds: Mapping[str, str], baseline: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Turns JSON instances into complete rows of the model's raw features.

    A feature an instance leaves out takes the baseline's value when a baseline is given (so it
    contributes nothing), else the value the model uses for a missing one.

    Raises:
        ValueError: an instance is not an object, names an unknown feature, or has a bad value.
    """
    rows = []
    for i, instance in enumerate(instances):
        if not isinstance(instance, Mapping):
            raise ValueError(f"instance {i} is {type(instance).__name__}; expected an object of feature: value")
        unknown = sorted(set(instance) - set(kinds))
        if unknown:
            raise ValueError(
                f"instance {i} has unknown feature(s) {', '.join(unknown)}; the model reads: {', '.join(kinds)}"
            )
        row = {}
        for name, kind in kinds.items():
            if name in instance:
                row[name] = _json_value(instance[name], kind, name)
            else:
                row[name] = baseline[name] if baseline is not None else _MISSING[kind]
        rows.append(row)
    return rows


def iter_examples(examples_uri: str, split: str) -> Iterator[bytes]:
    """Yields the serialized tf.Examples of one split of an Examples artifact (ExampleGen's gzipped TFRecords).

    Raises:
        FileNotFoundError: the split has no files.
    """
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        raise FileNotFoundError(f"no files for split '{split}' under {examples_uri}")
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        yield record.numpy()


def read_examples(examples_uri: str, split: str, max_rows: int, seed: int) -> list[bytes]:
    """Returns up to max_rows serialized tf.Examples of one split, a seeded random sample when there are more."""
    records = list(iter_examples(examples_uri, split))
    if len(records) > max_rows:
        picked = np.random.default_rng(seed).choice(len(records), size=max_rows, replace=False)
        records = [records[i] for i in sorted(picked)]
    return records


def examples_to_columns(serialized: Sequence[bytes], kinds: Mapping[str, str]) -> Columns:
    """Reads raw feature columns from serialized tf.Examples; absent values become the model's defaults."""
    import tensorflow as tf

    values: dict[str, list[Any]] = {name: [] for name in kinds}
    for record in serialized:
        feature = tf.train.Example.FromString(record).features.feature
        for name, kind in kinds.items():
            raw: Any = None
            if name in feature:
                kind_field = feature[name].WhichOneof("kind")
                listed = list(getattr(feature[name], kind_field).value) if kind_field else []
                raw = listed[0] if listed else None
            values[name].append(coerce(raw, kind, name))
    return {name: np.asarray(v, dtype=_NUMPY[kinds[name]]) for name, v in values.items()}


def labels_of(model: Any, serialized: Sequence[bytes], batch_size: int = 4096) -> np.ndarray:
    """Computes the label of raw examples with the model's own transform_features signature.

    The label rule lives in the Transform graph shipped with the model, so it is not repeated here.
    """
    import tensorflow as tf

    signature = model.signatures[ids.TRANSFORM_FEATURES]
    out = []
    for start in range(0, len(serialized), batch_size):
        batch = tf.constant(list(serialized[start : start + batch_size]), dtype=tf.string)
        out.append(signature(examples=batch)[features.LABEL_KEY].numpy().reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def baseline_row(statistics_uri: str, kinds: Mapping[str, str], split: str = "train") -> dict[str, Any]:
    """A typical row from training statistics: the median of numeric features, the most frequent value otherwise.

    Args:
        statistics_uri: a StatisticsGen artifact's folder.
        kinds: raw feature name -> kind (see raw_input_spec).
        split: which split's statistics to read.
    """
    from tensorflow_data_validation import load_stats_binary

    stats = load_stats_binary(os.path.join(statistics_uri, f"Split-{split}", "FeatureStats.pb"))
    by_name = {".".join(f.path.step) or f.name: f for dataset in stats.datasets for f in dataset.features}
    row: dict[str, Any] = {}
    for name, kind in kinds.items():
        feature = by_name.get(name)
        value: Any = None
        if feature is not None and feature.HasField("string_stats") and feature.string_stats.top_values:
            value = feature.string_stats.top_values[0].value
        elif feature is not None and feature.HasField("num_stats"):
            value = feature.num_stats.median
            if kind == "int":
                value = round(value)
        row[name] = coerce(value, kind, name)
    return row


def write_json(folder: str, name: str, document: Any) -> str:
    """Writes a JSON document into a (possibly remote) artifact folder and returns its path."""
    import tensorflow as tf

    path = os.path.join(folder, name)
    tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(document, indent=2, sort_keys=True))
    return path


def read_json(folder: str, name: str) -> Any:
    """Reads a JSON document from a (possibly remote) artifact folder."""
    import tensorflow as tf

    with tf.io.gfile.GFile(os.path.join(folder, name)) as f:
        return json.loads(f.read())
