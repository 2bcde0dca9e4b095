"""Whether the label still means what it meant: the label rate within each category of key features, span to span.

A label column scrambled against its features (a join gone wrong, a column shifted by a bad export)
keeps its own distribution, so drift of the label alone cannot see it. Its relationship with the
features changes, though: in the taxi data almost no cash trip is a big tipper and most card trips
are, so the label rate within `payment_type` categories moves from about 0.0/0.6 towards the overall
rate. This measures that move as the row-weighted mean absolute change of the label rate over the
categories both spans have enough rows of, reported as a drift row so the data gate judges it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from models import features
from pipeline.validation.distance import LABEL_RATE
from pipeline.validation.drift import DriftRow

# A category's label rate counts only where both spans have at least this many of its rows: below it,
# sampling noise alone moves a rate by more than a real change would (the standard error of a rate
# from 20 rows is up to 0.11).
MIN_CATEGORY_ROWS = 20

# feature -> category -> (label positives, rows)
LabelCounts = dict[str, dict[str, tuple[int, int]]]


def row_name(feature: str) -> str:
    """The drift table's name for the label's relationship with one feature, e.g. `big_tipper by payment_type`."""
    return f"{features.LABEL_KEY} by {feature}"


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if number == number else 0.0  # NaN reads as missing


def label_of(row: Mapping[str, Any]) -> int:
    """The label as models/preprocessing.py derives it: tips over BIG_TIP_FRACTION of the fare, missing as 0."""
    return int(_number(row.get(features.TIPS_KEY)) > features.BIG_TIP_FRACTION * _number(row.get(features.FARE_KEY)))


def label_counts(rows: Iterable[Mapping[str, Any]], by: Sequence[str]) -> LabelCounts:
    """Counts label positives and rows per category of each feature in `by`.

    Args:
        rows: raw rows (feature -> value; missing values as None or absent).
        by: the categorical features.

    Returns:
        feature -> category (as text; a missing value is "") -> (positives, rows).
    """
    counts: dict[str, dict[str, list[int]]] = {name: {} for name in by}
    for row in rows:
        label = label_of(row)
        for name in by:
            value = row.get(name)
            cell = counts[name].setdefault("" if value is None else str(value), [0, 0])
            cell[0] += label
            cell[1] += 1
    return {name: {c: (p, n) for c, (p, n) in cells.items()} for name, cells in counts.items()}


def label_rate_change(
    current: Mapping[str, tuple[int, int]], previous: Mapping[str, tuple[int, int]], min_rows: int = MIN_CATEGORY_ROWS
) -> float | None:
    """The row-weighted mean absolute change of the label rate over the categories both sides have enough rows of.

    Returns:
        A number between 0 and 1, or None when no category has min_rows rows on both sides.
    """
    weighted = 0.0
    total = 0
    for category, (positives, rows) in current.items():
        before_positives, before_rows = previous.get(category, (0, 0))
        if rows < min_rows or before_rows < min_rows:
            continue
        weighted += rows * abs(positives / rows - before_positives / before_rows)
        total += rows
    return weighted / total if total else None


def measure_label_shift(
    current: LabelCounts, previous: LabelCounts, by: Sequence[str], limit: float | None
) -> list[DriftRow]:
    """One drift row per feature in `by`: the label-rate change within its categories, judged by `limit`."""
    return [
        DriftRow(
            feature=row_name(name),
            measure=LABEL_RATE,
            value=label_rate_change(current.get(name, {}), previous.get(name, {})),
            threshold=limit,
        )
        for name in by
    ]


def example_rows(examples_uri: str, split: str, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Reads the given columns of one split of an Examples artifact (ExampleGen's gzipped TFRecords of tf.Examples).

    Args:
        examples_uri: the Examples artifact's URI.
        split: the split, e.g. "train".
        columns: the features to read; a feature a row lacks reads as None.

    Raises:
        FileNotFoundError: the artifact has no such split.
    """
    import tensorflow as tf

    # Here, not at the top: explanations loads numpy, which the read-only commands importing
    # pipeline.validation never need.
    from pipeline.explanations import iter_examples

    for record in iter_examples(examples_uri, split):
        example = tf.train.Example.FromString(record)
        row: dict[str, Any] = {}
        for name in columns:
            feature = example.features.feature.get(name)
            kind = feature.WhichOneof("kind") if feature is not None else None
            values = list(getattr(feature, kind).value) if kind else []
            if values and isinstance(values[0], bytes):
                values = [v.decode("utf-8", "replace") for v in values]
            row[name] = values[0] if values else None
        yield row


def csv_label_counts(folder: str | Path, by: Sequence[str]) -> LabelCounts:
    """Label counts per category of `by` over every row of a span folder's CSV files (empty cells as missing)."""

    def rows() -> Iterator[dict[str, Any]]:
        for path in sorted(Path(folder).glob("*.csv")):
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    yield {name: (value if value != "" else None) for name, value in row.items()}

    return label_counts(rows(), by)


def examples_label_counts(examples_uri: str, split: str, by: Sequence[str]) -> LabelCounts:
    """Label counts per category of `by` in one split of an Examples artifact."""
    columns = [features.TIPS_KEY, features.FARE_KEY, *by]
    return label_counts(example_rows(examples_uri, split, columns), by)
