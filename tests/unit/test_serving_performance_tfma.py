"""The scoring step's TFMA path on a tiny model: its numbers are the ones counted by hand on the same rows.

The model has the project's contract as TFMA's Evaluator uses it (pipeline/eval_config.py):
`serving_tf_example` scores serialized tf.Examples, `transform_features` yields the label big_tipper
(tips over 20% of the fare, as models/preprocessing.py). Rows in two splits, as ExampleGen writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.explanations import auc
from pipeline.serving_performance import MIN_SLICE_ROWS, span_metrics
from pipeline.trusted_set import binary_accuracy

pytestmark = pytest.mark.slow

SCHEMA = """
feature { name: "fare" type: FLOAT }
feature { name: "tips" type: FLOAT }
feature { name: "trip_start_hour" type: INT }
feature { name: "payment_type" type: BYTES }
"""


def _save_model(folder: Path) -> None:
    import tensorflow as tf

    spec = {
        "fare": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
        "tips": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
        "trip_start_hour": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def score(self, serialized: Any) -> Any:
            parsed = tf.io.parse_example(serialized, spec)
            logit = 0.3 * (parsed["fare"] - 10.0) + 0.05 * tf.cast(parsed["trip_start_hour"] - 12, tf.float32)
            return {"probability": tf.sigmoid(logit)[:, None]}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def transform(self, serialized: Any) -> Any:
            parsed = tf.io.parse_example(serialized, spec)
            return {"big_tipper": tf.cast(parsed["tips"] > 0.2 * parsed["fare"], tf.int64)}

    module = Tiny()
    signatures = {"serving_tf_example": module.score, "transform_features": module.transform}
    tf.saved_model.save(module, str(folder / "Format-Serving"), signatures=signatures)


def _rows(count: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "fare": float(rng.uniform(3, 30)),
            "tips": float(rng.uniform(0, 6)),
            "trip_start_hour": int(rng.choice([3, 8, 17])),
            "payment_type": str(rng.choice(["Cash", "Credit Card", "Mobile"], p=[0.45, 0.45, 0.1])),
        }
        for _ in range(count)
    ]


def _example(row: dict[str, Any]) -> bytes:
    import tensorflow as tf

    feature = {
        "fare": tf.train.Feature(float_list=tf.train.FloatList(value=[row["fare"]])),
        "tips": tf.train.Feature(float_list=tf.train.FloatList(value=[row["tips"]])),
        "trip_start_hour": tf.train.Feature(int64_list=tf.train.Int64List(value=[row["trip_start_hour"]])),
        "payment_type": tf.train.Feature(bytes_list=tf.train.BytesList(value=[row["payment_type"].encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write_split(folder: Path, rows: list[dict[str, Any]]) -> None:
    import tensorflow as tf

    folder.mkdir(parents=True)
    # Gzipped TFRecords, as ExampleGen writes them.
    with tf.io.TFRecordWriter(str(folder / "data_tfrecord-00000-of-00001.gz"), options="GZIP") as writer:
        for row in rows:
            writer.write(_example(row))


def _by_hand(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    fare = np.array([r["fare"] for r in rows], dtype=np.float32)
    hour = np.array([r["trip_start_hour"] for r in rows], dtype=np.float32)
    tips = np.array([r["tips"] for r in rows], dtype=np.float32)
    scores = 1.0 / (1.0 + np.exp(-(0.3 * (fare - 10.0) + 0.05 * (hour - 12.0))))
    return (tips > 0.2 * fare).astype(np.int64), scores


def test_tfma_scores_every_split_of_the_span_as_counted_by_hand(tmp_path: Path) -> None:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx.types import artifact_utils, standard_artifacts

    from pipeline.components.serving_performance import read_tfma_metrics, run_tfma

    model = tmp_path / "model"
    _save_model(model)
    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "schema.pbtxt").write_text(SCHEMA)
    train, evaluation = _rows(160, seed=1), _rows(80, seed=2)
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    _write_split(tmp_path / "examples" / "Split-train", train)
    _write_split(tmp_path / "examples" / "Split-eval", evaluation)
    output = tmp_path / "performance"
    pipeline = beam.Pipeline(options=PipelineOptions(["--direct_running_mode=in_memory", "--direct_num_workers=1"]))

    run_tfma(pipeline, examples, str(tmp_path / "schema"), str(model), ["eval", "train"], str(output))
    scored = span_metrics(read_tfma_metrics(str(output)))

    rows = train + evaluation
    labels, scores = _by_hand(rows)
    overall = scored["overall"]
    assert overall["rows"] == len(rows) == 240
    assert overall["binary_accuracy"] == pytest.approx(binary_accuracy(labels, scores), abs=1e-6)
    # TFMA's AUC sums 10,000 thresholds; the hand count is exact.
    assert overall["auc"] == pytest.approx(auc(labels, scores), abs=2e-3)
    assert overall["label_rate"] == pytest.approx(labels.mean(), abs=1e-6)
    assert overall["mean_prediction"] == pytest.approx(scores.mean(), abs=1e-5)
    payments = np.array([r["payment_type"] for r in rows])
    for value in ("Cash", "Credit Card"):
        mask = payments == value
        assert int(mask.sum()) >= MIN_SLICE_ROWS
        found = scored["slices"][f"payment_type={value}"]
        assert found["rows"] == int(mask.sum())
        assert found["binary_accuracy"] == pytest.approx(binary_accuracy(labels[mask], scores[mask]), abs=1e-6)
    assert {"trip_start_hour=3", "trip_start_hour=8", "trip_start_hour=17"} <= set(scored["slices"])
    # TFMA's own output is in the folder too: the Evaluator's reader reads it.
    assert (output / "eval_config.json").exists() and list(output.glob("metrics-*"))
