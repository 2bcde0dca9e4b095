"""A model's feature-importance artifact and the baseline row it records, read through ML Metadata."""

from __future__ import annotations

import math
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
    document = artifacts.read_json_object(uri, explanations.IMPORTANCE_FILE, IMPORTANCE_FIELDS)
    if document is None:
        return None
    # The summary, report and card format every entry as a number: a damaged one must not reach them.
    path = f"{uri.rstrip('/')}/{explanations.IMPORTANCE_FILE}"
    if not isinstance(document["metric"], str) or not _is_number(document["baseline_score"]):
        raise artifacts.CorruptArtifactError(path, "holds a metric or baseline_score of the wrong type")
    features = document["features"]
    if not isinstance(features, list):
        raise artifacts.CorruptArtifactError(path, "holds 'features' that is not a list")
    for i, entry in enumerate(features):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("feature"), str)
            and _is_number(entry.get("importance"))
            and _is_number(entry.get("std"))
        ):
            raise artifacts.CorruptArtifactError(
                path, f"holds features[{i}] that is not {{feature: name, importance: number, std: number}}"
            )
    return document


def _fits_model_input(value: Any) -> bool:
    """A number the model's int64 or float input can take."""
    if isinstance(value, int):
        return not isinstance(value, bool) and -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_baseline(uri: str) -> dict[str, Any] | None:
    """Reads a FeatureImportance artifact's baseline.json (training medians and modes), or None when missing.

    Raises:
        runners.store.artifacts.CorruptArtifactError: the file is there but damaged.
    """
    document = artifacts.read_json_object(uri, explanations.BASELINE_FILE)
    if document is None:
        return None
    for name, value in document.items():
        # What explanations.baseline_row writes: one finite number or string per feature, which explain feeds the model.
        if not (isinstance(value, str) or _fits_model_input(value)):
            raise artifacts.CorruptArtifactError(
                f"{uri.rstrip('/')}/{explanations.BASELINE_FILE}",
                f"holds {value!r:.60} for feature '{name}', not one number or string",
            )
    return document


def baseline_for_model(store: Any, model_id: int) -> dict[str, Any] | None:
    """Returns the baseline row recorded with a model's feature importance, or None when none was recorded
    (no feature_importance step, or its artifact folder was removed).

    Raises:
        runners.store.artifacts.CorruptArtifactError: baseline.json is there but damaged.
    """
    artifact = feature_importance_of(store, model_id)
    return read_baseline(artifact.uri) if artifact is not None else None
