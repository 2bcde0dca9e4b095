"""Feature definitions: every raw column is typed, and the model inputs are disjoint from the label."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from models import features

DATA = Path(__file__).resolve().parents[2] / "data" / "taxi"


def test_model_inputs_are_unique_and_exclude_label_sources() -> None:
    inputs = features.model_input_features()
    assert len(inputs) == len(set(inputs))
    assert features.TIPS_KEY not in inputs
    assert features.LABEL_KEY not in inputs


def test_every_csv_column_has_a_kind() -> None:
    with (DATA / "span-1" / "data.csv").open() as handle:
        header = next(csv.reader(handle))
    for column in header:
        assert features.raw_feature_kind(column) in ("string", "int", "float")
    assert set(features.model_input_features()) <= set(header)


def test_unknown_feature_raises() -> None:
    with pytest.raises(KeyError):
        features.raw_feature_kind("tip_percentage")


def test_transformed_name() -> None:
    assert features.transformed_name("fare") == "fare_xf"


def test_slices_are_model_inputs() -> None:
    assert set(features.SLICE_FEATURES) <= set(features.model_input_features())
