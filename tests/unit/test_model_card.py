"""Model card rendering from a card's facts: every section present, values escaped, nothing fetched from outside."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from runners.errors import RunError
from runners.reports import model_card


def _card(**overrides: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "model_name": "taxi_big_tipper",
        "version": 1700000000,
        "pushed_at": "2026-11-27 10:00:00 UTC",
        "intended_use": model_card.INTENDED_USE,
        "label": "big_tipper: tips > 20% of the fare",
        "training": {
            "spans": [{"span": 1, "rows": {"train": 200, "eval": 100}, "total": 300}],
            "total_rows": 300,
        },
        "features": [{"name": "payment_type", "typical_value": "Cash", "importance": 0.31}],
        "hyperparameters": {"hidden_units": [32], "learning_rate": 0.01, "batch_size": 128},
        "tuned": True,
        "metrics": {
            "overall": {"binary_accuracy": 0.8123, "auc": 0.9012, "example_count": 100.0},
            "slices": {
                "payment_type=<script>alert(1)</script>": {"binary_accuracy": 0.42, "example_count": 12.0},
                "trip_start_hour=3": {"binary_accuracy": 0.9, "example_count": 80.0},
            },
        },
        "thresholds": model_card.thresholds_of(
            {
                "metrics_specs": [
                    {
                        "metrics": [
                            {
                                "class_name": "BinaryAccuracy",
                                "per_slice_thresholds": [
                                    {
                                        "slicing_specs": [{}],
                                        "threshold": {
                                            "value_threshold": {"lower_bound": 0.7},
                                            "change_threshold": {"absolute": -1e-10, "direction": "HIGHER_IS_BETTER"},
                                        },
                                    }
                                ],
                            }
                        ]
                    }
                ]
            }
        ),
        "blessed": True,
        "baseline": {"model_artifact_id": 7, "versions": [1699990000], "metrics": {"binary_accuracy": 0.8001}},
        "importance": {
            "metric": "auc",
            "baseline_score": 0.9,
            "rows": 100,
            "repeats": 3,
            "features": [{"feature": "payment_type", "importance": 0.31, "std": 0.02}],
        },
        "lineage": {"run_id": "run-1", "model_artifact_id": 12, "training_examples_artifact_ids": [3, 4]},
    }
    card["limitations"] = model_card.limitations(
        {"overall": card["metrics"]["overall"], **card["metrics"]["slices"]}, card["thresholds"]
    )
    card.update(overrides)
    return card


def test_thresholds_are_read_from_the_eval_config_in_metric_names() -> None:
    thresholds = _card()["thresholds"]
    assert [(t["metric"], t["slice"], t["kind"], t["bound"]) for t in thresholds] == [
        ("binary_accuracy", "overall", "value", 0.7),
        ("binary_accuracy", "overall", "change", -1e-10),
    ]


def test_limitations_name_slices_below_the_threshold_and_small_slices() -> None:
    notes = _card()["limitations"]
    assert any("payment_type=<script>" in n and "0.4200, below the threshold 0.7" in n for n in notes)
    assert any("only 12 eval rows" in n for n in notes)
    assert not any("trip_start_hour=3" in n for n in notes)


def test_markdown_holds_every_section_and_the_metric_values() -> None:
    text = model_card.render_markdown(_card())
    for title in (
        "Intended use",
        "Training data",
        "Hyperparameters",
        "Evaluation metrics",
        "Thresholds",
        "Baseline",
        "Feature importance",
        "Known limitations",
        "Lineage",
    ):
        assert f"## {title}" in text
    assert "| overall | 100 | 0.8123 | 0.9012 |" in text
    assert "version 1699990000" in text
    assert "Chosen by the hyperparameter search" in text


def test_html_is_self_contained_and_escapes_values() -> None:
    page = model_card.render_html(_card())
    assert "<script>" not in page
    assert "payment_type=&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<style>" in page
    assert not re.search(r"src\s*=", page)
    assert all(link.startswith("#") for link in re.findall(r'href="([^"]*)"', page))  # in-page navigation only
    assert "http://" not in page and "https://" not in page
    assert "0.8123" in page and "0.9012" in page
    # Numbers right-aligned, text not, in the run report's table markup.
    assert '<td class="num">0.8123</td>' in page and "<td>train 200, eval 100</td>" in page


def test_a_first_model_says_it_had_no_baseline_and_missing_importance_is_said() -> None:
    text = model_card.render_markdown(_card(baseline=None, importance=None, features=[]))
    assert "None: the first blessed model" in text
    assert "Not recorded for this model." in text


def test_the_card_s_tables_agree_with_themselves() -> None:
    overall = {"binary_accuracy": 0.8804, "binary_accuracy_diff": 0.0060, "example_count": 224.0, "auc": 0.5}
    slices = {f"trip_start_hour={h}": {"binary_accuracy": 0.9, "example_count": 1.0} for h in (10, 2, 0, 1)}
    card = _card(
        metrics={"overall": overall, "slices": slices},
        baseline={"model_artifact_id": 7, "versions": [1], "metrics": {"binary_accuracy": 0.8804 - 0.0060}},
        single_class_slices=["trip_start_hour=2"],
    )

    text = model_card.render_markdown(card)

    assert "_diff" not in text  # metric rows only
    hours = re.findall(r"\| trip_start_hour=(\d+) \|", text)
    assert hours == ["0", "1", "2", "10"]
    assert "| trip_start_hour=0 | 1 | 0.9000 |" in text  # a count is an integer, not 1.0000
    assert "| trip_start_hour=2 | 1 | 0.9000 | n/a |" in text
    assert "| binary_accuracy | 0.8804 | 0.8744 | +0.0060 |" in text  # baseline + change = this model


def test_model_card_toolkit_fields_come_from_the_repo_file_with_defaults(tmp_path: Path) -> None:
    shipped = model_card.card_fields()
    assert shipped["owners"] and shipped["license"] and shipped["ethical_considerations"] and shipped["tradeoffs"]

    partial = tmp_path / "card.yaml"
    partial.write_text("license: MIT\n")
    fields = model_card.card_fields(partial)
    assert fields["license"] == "MIT" and fields["owners"] == model_card.DEFAULT_FIELDS["owners"]

    partial.write_text("licence: MIT\n")
    with pytest.raises(RunError, match=r"card.yaml: unknown model card field\(s\) licence"):
        model_card.card_fields(partial)
    partial.write_text("tradeoffs: one\n")
    with pytest.raises(RunError, match="field tradeoffs must be a list, not str"):
        model_card.card_fields(partial)
