"""The trusted-set comparison: accuracy of candidate and baseline on earlier spans, and the blessing it withdraws."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from tfx.components.evaluator import constants
from tfx.types import standard_artifacts

from pipeline.trusted_evaluator import apply_comparison, earlier_examples, is_blessed, skip_reason
from pipeline.trusted_set import (
    MIN_ROWS,
    TRUSTED_FILE,
    TrustedComparison,
    binary_accuracy,
    compare_accuracy,
    worse_p_value,
)

LABELS = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0])


def _blessed(folder: Path) -> standard_artifacts.ModelBlessing:
    """A ModelBlessing as TFX's Evaluator executor leaves a blessed one: the BLESSED file, blessed=1."""
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(folder)
    folder.mkdir(parents=True)
    (folder / constants.BLESSED_FILE_NAME).write_text("")
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.BLESSED_VALUE)
    return blessing


def _examples(span: int) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = f"/examples/{span}"
    examples.set_int_custom_property("span", span)
    return examples


def test_binary_accuracy_cuts_the_score_at_one_half() -> None:
    assert binary_accuracy(np.array([1, 0, 1, 0]), np.array([0.9, 0.1, 0.4, 0.6])) == 0.5
    assert binary_accuracy(np.array([1, 0]), np.array([0.5, 0.49])) == 1.0
    with pytest.raises(ValueError, match="2 labels but 3 scores"):
        binary_accuracy(np.array([1, 0]), np.array([0.1, 0.2, 0.3]))


def test_a_candidate_worse_than_the_baseline_beyond_the_drop_fails() -> None:
    labels = np.tile(LABELS, 20)
    right = labels.astype(float)
    # The candidate gets one row of ten wrong that the baseline gets right: a change of -0.1 on 200 rows.
    worse = right.copy()
    worse[::10] = 1.0 - worse[::10]
    comparison = compare_accuracy(labels, worse, right, spans=[2, 1], max_drop=0.05, significance=0.01)
    assert (comparison.spans, comparison.rows, comparison.candidate, comparison.baseline) == ((1, 2), 200, 0.9, 1.0)
    assert (comparison.baseline_wins, comparison.candidate_wins) == (20, 0)
    assert comparison.change == pytest.approx(-0.1)
    assert comparison.p_value == pytest.approx(0.5**20)
    assert not comparison.passed
    assert compare_accuracy(labels, worse, right, spans=[1], max_drop=0.1).passed
    assert compare_accuracy(labels, right, worse, spans=[1], max_drop=0.0).passed


def test_a_drop_the_models_disagreement_explains_by_chance_does_not_refuse() -> None:
    labels = np.tile(LABELS, 20)
    baseline = labels.astype(float)
    candidate = baseline.copy()
    # 12 rows only the baseline gets right, 8 only the candidate: -0.02, beyond a 0.01 drop, but with
    # 20 disagreements 12 or more go to the baseline one time in four between equal models.
    candidate[:12] = 1.0 - candidate[:12]
    baseline[100:108] = 1.0 - baseline[100:108]
    comparison = compare_accuracy(labels, candidate, baseline, spans=[1], max_drop=0.01, significance=0.01)
    assert comparison.change == pytest.approx(-0.02)
    assert comparison.p_value == pytest.approx(0.2517, abs=1e-4)
    assert comparison.passed
    # Refusing on the drop alone (significance 1.0) is the old rule, and refuses.
    assert not compare_accuracy(labels, candidate, baseline, spans=[1], max_drop=0.01).passed


def test_too_few_rows_cannot_refuse() -> None:
    right = LABELS.astype(float)
    wrong = 1.0 - right
    assert LABELS.size < MIN_ROWS
    assert compare_accuracy(LABELS, wrong, right, spans=[1], max_drop=0.0).passed
    assert worse_p_value(0, 0) == 1.0


def test_a_failed_comparison_withdraws_the_blessing_as_tfx_writes_a_refusal(tmp_path: Path) -> None:
    blessing = _blessed(tmp_path / "blessing")
    evaluation = tmp_path / "evaluation"
    comparison = TrustedComparison(
        spans=(1, 2), rows=312, candidate=0.80, baseline=0.85, max_drop=0.01, baseline_wins=20, candidate_wins=4
    )
    apply_comparison(comparison, str(evaluation), blessing)
    assert sorted(os.listdir(blessing.uri)) == [constants.NOT_BLESSED_FILE_NAME]
    assert blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == constants.NOT_BLESSED_VALUE
    assert not is_blessed(blessing)
    written = json.loads((evaluation / TRUSTED_FILE).read_text())
    assert written == {
        "spans": [1, 2],
        "rows": 312,
        "candidate": 0.80,
        "baseline": 0.85,
        "change": pytest.approx(-0.05),
        "max_drop": 0.01,
        "baseline_wins": 20,
        "candidate_wins": 4,
        "p_value": pytest.approx(0.000772, abs=1e-6),
        "significance": 1.0,
        "min_rows": MIN_ROWS,
        "passed": False,
    }


def test_a_passed_comparison_keeps_the_blessing_and_records_the_numbers(tmp_path: Path) -> None:
    blessing = _blessed(tmp_path / "blessing")
    comparison = TrustedComparison(spans=(1,), rows=100, candidate=0.85, baseline=0.85, max_drop=0.0)
    apply_comparison(comparison, str(tmp_path / "evaluation"), blessing)
    assert sorted(os.listdir(blessing.uri)) == [constants.BLESSED_FILE_NAME]
    assert is_blessed(blessing)
    assert json.loads((tmp_path / "evaluation" / TRUSTED_FILE).read_text())["passed"] is True


def test_the_trusted_set_is_every_span_but_the_newest() -> None:
    window = [_examples(3), _examples(1), _examples(2)]
    assert [e.uri for e in earlier_examples(window)] == ["/examples/1", "/examples/2"]
    assert earlier_examples([_examples(1)]) == []
    assert earlier_examples([]) == []


def test_the_comparison_is_skipped_without_a_blessing_a_baseline_or_an_earlier_span(tmp_path: Path) -> None:
    blessing, baseline, earlier = _blessed(tmp_path / "b"), [standard_artifacts.Model()], [_examples(1)]
    assert skip_reason(0.01, blessing, baseline, earlier) == ""
    assert skip_reason(None, blessing, baseline, earlier) == "no threshold was given"
    assert skip_reason(0.01, blessing, [], earlier) == "there is no blessed baseline"
    assert skip_reason(0.01, blessing, baseline, []) == "the window holds a single span"
    refused = standard_artifacts.ModelBlessing()
    refused.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.NOT_BLESSED_VALUE)
    assert skip_reason(0.01, refused, baseline, earlier) == "TFMA did not bless the model"
