"""A served version's baseline row for :explain is read on first use, kept once found, and looked for
again while ML Metadata does not have it (a push is recorded after its folder appears)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runners.serving.model import LoadedModel
from runners.serving.requests import ServingFeature

ROW = {"fare": 10.0}


def test_the_baseline_is_read_on_first_use_retried_while_missing_and_then_kept() -> None:
    answers: list[tuple[dict[str, Any] | None, str]] = [(None, "ML Metadata does not record version 7"), (ROW, "")]
    asked: list[int] = []

    def find() -> tuple[dict[str, Any] | None, str]:
        asked.append(1)
        return answers[min(len(asked), len(answers)) - 1]

    model = LoadedModel(
        version=7,
        path=Path("7"),
        features=[ServingFeature("fare", "float", True)],
        schema_source="test",
        signatures={},
        loaded_at=0.0,
        find_baseline=find,
    )
    assert asked == []  # loading the version did not read it
    assert model.explain_baseline() == (None, "ML Metadata does not record version 7")
    assert model.explain_baseline() == (ROW, "")
    assert model.explain_baseline() == (ROW, "")
    assert len(asked) == 2
