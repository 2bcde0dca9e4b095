"""A model's feature-importance artifact and the baseline row it records, read through ML Metadata."""

from __future__ import annotations

from typing import Any

from pipeline import explanations, ids
from runners.store import artifacts
from runners.store import metadata as md

# What FeatureImportanceComponent writes in feature_importance.json; a file without them is damaged.
IMPORTANCE_FIELDS = ("metric", "baseline_score", "features")


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

    Raises:
        runners.store.artifacts.CorruptArtifactError: the file is there but damaged.
    """
    return artifacts.read_json_object(uri, explanations.IMPORTANCE_FILE, IMPORTANCE_FIELDS)


def read_baseline(uri: str) -> dict[str, Any] | None:
    """Reads a FeatureImportance artifact's baseline.json (training medians and modes), or None when missing.

    Raises:
        runners.store.artifacts.CorruptArtifactError: the file is there but damaged.
    """
    return artifacts.read_json_object(uri, explanations.BASELINE_FILE)


def baseline_for_model(store: Any, model_id: int) -> dict[str, Any] | None:
    """Returns the baseline row recorded with a model's feature importance, or None when none was recorded
    (no feature_importance step, or its artifact folder was removed).

    Raises:
        runners.store.artifacts.CorruptArtifactError: baseline.json is there but damaged.
    """
    artifact = feature_importance_of(store, model_id)
    return read_baseline(artifact.uri) if artifact is not None else None
