"""A model's feature-importance artifact and the baseline row it records, read through ML Metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline import explanations, ids
from runners.store import metadata as md


def feature_importance_of(store: Any, model_id: int) -> md.Artifact | None:
    """Returns the FeatureImportance artifact computed for a Model artifact, if any."""

    models = store.get_artifacts_by_id([model_id])
    if not models:
        return None
    for execution in reversed(md.consumers(store, models[0])):
        if md.node_id_of(store, execution) == ids.FEATURE_IMPORTANCE:
            found = md.outputs(store, execution, "feature_importance")
            if found:
                return found[0]
    return None


def read_feature_importance(uri: str) -> dict[str, Any] | None:
    """Reads a FeatureImportance artifact's feature_importance.json.

    Args:
        uri: the artifact's folder.

    Returns:
        {"metric", "baseline_score", "rows", "repeats", "features": [{"feature", "importance", "std"}, ...]},
        features largest first; None when the folder holds no such file (e.g. it was removed).
    """
    path = Path(uri) / explanations.IMPORTANCE_FILE
    if not path.is_file():
        return None
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def baseline_for_model(store: Any, model_id: int) -> dict[str, Any] | None:
    """Returns the baseline row recorded with a model's feature importance (training medians and modes)."""
    artifact = feature_importance_of(store, model_id)
    if artifact is None:
        return None
    try:
        baseline: dict[str, Any] = explanations.read_json(artifact.uri, explanations.BASELINE_FILE)
    except Exception:  # a removed artifact folder: the caller says what to do
        return None
    return baseline
