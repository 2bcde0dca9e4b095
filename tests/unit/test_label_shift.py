"""The label's relationship with key features, span to span: quiet on the bundled spans, loud on scrambled labels."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import ConfigError, PipelineConfig
from pipeline.settings import LabelShift
from pipeline.validation import GatePolicy, judge
from pipeline.validation.label_shift import (
    example_rows,
    examples_label_counts,
    label_counts,
    label_of,
    label_rate_change,
    measure_label_shift,
    row_name,
)

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "data" / "taxi"
DEFAULT = LabelShift()


def _rows(span_folder: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(span_folder.glob("*.csv")):
        with path.open(newline="") as handle:
            rows += [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(handle)]
    return rows


def _scrambled(rows: list[dict[str, Any]], seed: int = 7) -> list[dict[str, Any]]:
    """The same rows with the label's source columns (tips and fare together) shuffled against the others.

    Every label moves with its row's tips and fare, so the label's own rate does not change at all.
    """
    sources = [(row["tips"], row["fare"]) for row in rows]
    random.Random(seed).shuffle(sources)
    return [{**row, "tips": tips, "fare": fare} for row, (tips, fare) in zip(rows, sources, strict=True)]


def _change(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> float:
    (row,) = measure_label_shift(
        label_counts(new, DEFAULT.features), label_counts(old, DEFAULT.features), DEFAULT.features, DEFAULT.limit
    )
    assert row.value is not None
    return row.value


@pytest.mark.parametrize("span", [2, 3, 4])
def test_the_bundled_spans_arriving_one_by_one_stay_under_the_default_limit(span: int) -> None:
    new, old = _rows(BUNDLED / f"span-{span}"), _rows(BUNDLED / f"span-{span - 1}")
    assert _change(new, old) < DEFAULT.limit / 2


@pytest.mark.parametrize("span", [2, 3, 4])
def test_a_span_with_scrambled_labels_is_over_the_default_limit(span: int) -> None:
    new, old = _rows(BUNDLED / f"span-{span}"), _rows(BUNDLED / f"span-{span - 1}")
    positives = sum(label_of(r) for r in new)
    scrambled = _scrambled(new)
    assert sum(label_of(r) for r in scrambled) == positives  # the label's own distribution did not move
    assert _change(scrambled, old) > 1.5 * DEFAULT.limit


def test_the_label_is_derived_as_preprocessing_derives_it() -> None:
    assert label_of({"tips": 2.1, "fare": 10.0}) == 1
    assert label_of({"tips": 2.0, "fare": 10.0}) == 0  # strictly more than a fifth
    assert label_of({"tips": None, "fare": 10.0}) == 0  # a missing tip is no tip
    assert label_of({"tips": 1.0, "fare": None}) == 1  # a missing fare is 0
    assert label_of({"tips": "nan", "fare": 1.0}) == 0


def test_small_categories_do_not_count_and_nothing_comparable_is_not_measured() -> None:
    previous = {"Cash": (0, 100), "Credit Card": (60, 100), "Prcard": (0, 5)}
    current = {"Cash": (10, 100), "Credit Card": (50, 100), "Prcard": (5, 5), "Dispute": (0, 40)}
    # Prcard (5 rows) and Dispute (absent before) are left out: (100*0.1 + 100*0.1) / 200.
    assert label_rate_change(current, previous) == pytest.approx(0.1)
    assert label_rate_change({"Prcard": (5, 5)}, previous) is None
    (row,) = measure_label_shift({"payment_type": {}}, {"payment_type": {}}, ("payment_type",), 0.15)
    assert row.value is None and row.status == "not measured" and not row.over_limit


def test_an_over_limit_change_stops_the_span_and_says_what_it_saw() -> None:
    counts_before = {"payment_type": {"Cash": (1, 100), "Credit Card": (70, 100)}}
    counts_now = {"payment_type": {"Cash": (40, 100), "Credit Card": (40, 100)}}
    rows = measure_label_shift(counts_now, counts_before, ("payment_type",), 0.15)
    assert [r.feature for r in rows] == [row_name("payment_type")] == ["big_tipper by payment_type"]
    verdict = judge({}, rows, GatePolicy())
    assert verdict.stopped
    (reason,) = verdict.reasons()
    assert "big_tipper by payment_type" in reason and "0.345" in reason and "limit 0.15" in reason
    assert not judge({}, rows, GatePolicy(drift_action="warn")).stopped


def test_examples_are_read_from_an_examples_artifact(tmp_path: Path) -> None:
    import tensorflow as tf

    split = tmp_path / "Split-train"
    split.mkdir()
    rows = [("Cash", 0.0, 10.0), ("Credit Card", 3.0, 10.0), ("Credit Card", 0.5, 10.0)]
    with tf.io.TFRecordWriter(str(split / "data_tfrecord-00000-of-00001.gz"), options="GZIP") as writer:
        for payment, tips, fare in rows:
            example = tf.train.Example()
            example.features.feature["payment_type"].bytes_list.value.append(payment.encode())
            example.features.feature["tips"].float_list.value.append(tips)
            example.features.feature["fare"].float_list.value.append(fare)
            writer.write(example.SerializeToString())
    read = list(example_rows(str(tmp_path), "train", ["payment_type", "tips", "company"]))
    assert read[1] == {"payment_type": "Credit Card", "tips": 3.0, "company": None}
    assert examples_label_counts(str(tmp_path), "train", ["payment_type"]) == {
        "payment_type": {"Cash": (0, 1), "Credit Card": (1, 2)}
    }
    with pytest.raises(FileNotFoundError, match="no files for split 'eval'"):
        list(example_rows(str(tmp_path), "eval", ["tips"]))


def test_the_config_names_a_wrong_feature_and_a_wrong_limit() -> None:
    with pytest.raises(ConfigError, match=r"label_shift_features.*fare is not one; choose from"):
        PipelineConfig(label_shift_features=("fare",))
    with pytest.raises(ConfigError, match="label_shift_limit"):
        PipelineConfig(label_shift_limit=1.5)
    assert LabelShift.from_json(LabelShift(("company",), 0.3).to_json()) == LabelShift(("company",), 0.3)


def test_csv_label_counts_read_a_span_folder_as_the_pipeline_counts_its_rows() -> None:
    from pipeline.validation import csv_label_counts

    folder = BUNDLED / "span-4"
    assert csv_label_counts(folder, ("payment_type", "company")) == label_counts(
        _rows(folder), ("payment_type", "company")
    )
