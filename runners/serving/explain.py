"""Per-prediction explanations of a loaded model: each feature's contribution against a baseline row."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline import explanations
from runners.errors import EXIT_USAGE, RunError


def load_model(model_dir: str | Path) -> Any:
    """Loads an exported model folder (the one holding saved_model.pb) with tf.saved_model.load."""
    # Runners never import models/, which sets these for pipeline code: Keras 2 as the model was saved.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return explanations.load_model(str(model_dir))


def explain(model: Any, instances: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any]) -> list[Any]:
    """Explains each instance by feature ablation against the baseline row.

    Args:
        model: a SavedModel loaded with load_model (it must carry the `serving_default` signature).
        instances: raw feature values as in a serving request's "instances"; a feature left out
            takes the baseline's value and so contributes nothing.
        baseline: the typical row (see baseline_for_model).

    Returns:
        One pipeline.explanations.Explanation per instance: prediction, baseline_prediction and
        feature -> contribution (prediction minus the prediction with that feature at its baseline value).

    Raises:
        ValueError: an instance is not an object, names an unknown feature, or has a bad value.
    """
    kinds = explanations.raw_input_spec(model)
    missing = sorted(set(kinds) - set(baseline))
    if missing:
        raise ValueError(f"the baseline row lacks feature(s) {', '.join(missing)} that the model reads")
    full_baseline = {name: baseline[name] for name in kinds}
    rows = explanations.instances_to_rows(instances, kinds, full_baseline)
    return explanations.feature_ablation(explanations.raw_predictor(model), rows, full_baseline)


def explain_instances(
    model: Any, instances: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any]
) -> list[dict[str, float]]:
    """Returns, per instance, feature -> contribution to its predicted probability (see explain)."""
    return [e.contributions for e in explain(model, instances, baseline)]


def parse_instances(text: str, source: str) -> list[dict[str, Any]]:
    """Reads `{"instances": [...]}`, a JSON list of objects, or one object.

    Raises:
        RunError (exit 2): naming the source, when the text is not such JSON.
    """
    try:
        document = json.loads(text.removeprefix("\ufeff"))  # a byte-order mark an editor saved
    except json.JSONDecodeError as err:
        raise RunError(
            f'{source} is not JSON ({err}); expected {{"instances": [{{feature: value}}, ...]}}', EXIT_USAGE
        ) from None
    except RecursionError:  # the json module parses nested arrays and objects recursively
        raise RunError(
            f'{source} nests JSON too deeply; expected {{"instances": [{{feature: value}}, ...]}}', EXIT_USAGE
        ) from None
    if isinstance(document, dict) and "instances" in document:
        document = document["instances"]
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not document:
        raise RunError(f'{source} holds no instances; expected {{"instances": [{{feature: value}}, ...]}}', EXIT_USAGE)
    return document
