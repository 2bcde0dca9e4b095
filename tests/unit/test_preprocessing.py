"""preprocessing_fn analysed and applied by tf.Transform's own test harness on a handful of rows."""

from __future__ import annotations

import math
from pathlib import Path

import tensorflow_transform as tft
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.beam import tft_unit
from tensorflow_transform.tf_metadata import dataset_metadata

import models  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from models import features
from models.preprocessing import preprocessing_fn

SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "schema.pbtxt"


def _metadata() -> dataset_metadata.DatasetMetadata:
    schema = text_format.Parse(SCHEMA.read_text(), schema_pb2.Schema())
    return dataset_metadata.DatasetMetadata(schema)


def _row(fare: float, tips: float | None, payment: str, hour: int, company: str | None) -> dict:
    """One raw row in the form the schema gives it: every feature a list of 0 or 1 values."""
    row = {name: [] for name in features.model_input_features()}
    row.update(
        fare=[fare],
        tips=[] if tips is None else [tips],
        payment_type=[payment],
        trip_start_hour=[hour],
        company=[] if company is None else [company],
        trip_start_timestamp=[1_400_000_000],
    )
    return row


def _subset(*keys: str):
    def fn(inputs):
        outputs = preprocessing_fn(inputs)
        return {key: outputs[key] for key in keys}

    return fn


class PreprocessingTest(tft_unit.TransformTestCase):
    """tft_unit compares analysis + transform output with expected rows exactly (floats approximately)."""

    def test_scaling_label_vocabulary_and_clipping(self) -> None:
        rows = [
            _row(10.0, 5.0, "Cash", 3, "Flash Cab"),
            _row(20.0, 0.0, "Cash", 25, "Flash Cab"),
            _row(30.0, 10.0, "Cash", 23, None),
            _row(40.0, None, "Credit Card", 0, "Flash Cab"),
        ]
        std = math.sqrt(125.0)
        expected = [
            {
                "fare_xf": (f - 25.0) / std,
                "big_tipper": label,
                "payment_type_xf": pay,
                "trip_start_hour_xf": hour,
                "company_xf": company,
            }
            for f, label, pay, hour, company in [
                (10.0, 1, 0, 3, 0),
                (20.0, 0, 0, 23, 0),  # hour 25 is out of range: clipped to the last id
                (30.0, 1, 0, 23, 1),  # a missing company gets its own "<missing>" id
                (40.0, 0, 1, 0, 0),  # missing tips count as no tip
            ]
        ]
        self.assertAnalyzeAndTransformResults(
            rows,
            _metadata(),
            _subset("fare_xf", "big_tipper", "payment_type_xf", "trip_start_hour_xf", "company_xf"),
            expected,
        )

    def test_missing_coordinates_are_filled_and_bucketized(self) -> None:
        import tempfile

        import apache_beam as beam
        import tensorflow_transform.beam as tft_beam
        from apache_beam.testing.util import assert_that

        rows = [_row(10.0 * i, 1.0, "Cash", i, "A") for i in range(1, 21)]
        for i, row in enumerate(rows):
            row["pickup_latitude"] = [] if i % 5 == 0 else [41.8 + i * 0.01]

        def check(transformed: list[dict]) -> None:
            # Buckets are ids in [0, FEATURE_BUCKET_COUNT); a filled (missing) value is the lowest.
            ids = {round(r["pickup_latitude_xf"]) for r in transformed}
            assert len(transformed) == 20
            assert ids <= set(range(features.FEATURE_BUCKET_COUNT))
            assert len(ids) >= 5
            lowest = min(r["pickup_latitude_xf"] for r in transformed)
            assert {r["pickup_latitude_xf"] for r in transformed[::5]} == {lowest}

        with tempfile.TemporaryDirectory() as tmp, beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=tmp):
            dataset = (pipeline | beam.Create(rows, reshuffle=False), _metadata())
            (transformed, _), _ = dataset | tft_beam.AnalyzeAndTransformDataset(_subset("pickup_latitude_xf"))
            assert_that(transformed, check)


def test_transformed_features_are_the_model_inputs() -> None:
    from models.model import categorical_sizes

    expected = {features.transformed_name(k) for k in features.model_input_features()}
    assert set(categorical_sizes()) | {features.transformed_name(k) for k in features.DENSE_FLOAT_FEATURES} == expected
    assert tft.__version__.startswith("1.16")
