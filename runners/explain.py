"""Per-prediction explanations of a pushed model, and the `taxi-pipeline explain` command.

explain_instances needs only a loaded SavedModel and a baseline row, so a server can call it
without any pipeline orchestration; the command finds both through ML Metadata.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline import explanations
from pipeline.config import PipelineConfig
from runners import metadata as md
from runners.errors import EXIT_OK, EXIT_USAGE, RunError

# The CLI imports this module to build its parser, before the run silences TensorFlow's start-up logs,
# and the model server calls it: neither imports pipeline.pipeline (TFX) for a node id, see runners.lineage.

TOP_DEFAULT = 5


def load_model(model_dir: str | Path) -> Any:
    """Loads an exported model folder (the one holding saved_model.pb) with tf.saved_model.load."""
    # Runners never import models/, which sets these for pipeline code: Keras 2 as the model was saved.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return explanations.load_model(str(model_dir))


def explain(model: Any, instances: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any]) -> list[Any]:
    """Explains each instance by feature ablation against the baseline row.

    Args:
        model: a SavedModel loaded with load_model (it must carry the `serving_raw` signature).
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


def feature_importance_of(store: Any, model_id: int) -> md.Artifact | None:
    """Returns the FeatureImportance artifact computed for a Model artifact, if any."""
    from runners import lineage as ln

    models = store.get_artifacts_by_id([model_id])
    if not models:
        return None
    for execution in reversed(md.consumers(store, models[0])):
        if md.node_id_of(store, execution) == ln.FEATURE_IMPORTANCE:
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


def parse_instances(text: str, source: str) -> list[dict[str, Any]]:
    """Reads `{"instances": [...]}`, a JSON list of objects, or one object.

    Raises:
        RunError (exit 2): naming the source, when the text is not such JSON.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise RunError(
            f'{source} is not JSON ({err}); expected {{"instances": [{{feature: value}}, ...]}}', EXIT_USAGE
        ) from None
    if isinstance(document, dict) and "instances" in document:
        document = document["instances"]
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not document:
        raise RunError(f'{source} holds no instances; expected {{"instances": [{{feature: value}}, ...]}}', EXIT_USAGE)
    return document


def register(commands: Any, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the `explain` subcommand."""
    parser = commands.add_parser(
        "explain",
        help="explain predictions of a pushed model: which raw features pushed each probability up or down",
        description="Explain predictions of a pushed model by feature ablation: each feature's contribution is the "
        "prediction minus the prediction with that feature set to a typical value (training median or most "
        "frequent value).",
    )
    add_config_flags(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--instances", metavar="JSON", help='{"instances": [{feature: value, ...}, ...]}')
    source.add_argument("--file", metavar="PATH", help="a file holding that JSON")
    parser.add_argument("--version", type=int, metavar="V", help="a published version (default: the serving one)")
    parser.add_argument("--top", type=int, default=TOP_DEFAULT, help=f"contributions shown (default {TOP_DEFAULT})")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout instead")
    parser.set_defaults(handler=_cmd_explain)


def _cmd_explain(args: argparse.Namespace, config: PipelineConfig) -> int:
    from runners import lineage as ln
    from runners import ops

    if args.file:
        try:
            text = Path(args.file).read_text()
        except OSError as err:
            raise RunError(f"cannot read instances file {args.file}: {err.strerror}", EXIT_USAGE) from None
        instances = parse_instances(text, args.file)
    else:
        instances = parse_instances(args.instances, "--instances")
    store = ops.open_store(config)
    push = ops.resolve_version(ln.find_pushes(store, config.pipeline_name), config.serving_dir, args.version)
    baseline = baseline_for_model(store, push.model_id)
    if baseline is None:
        raise RunError(
            f"version {push.version} has no recorded baseline row (its run had no {ln.FEATURE_IMPORTANCE} "
            "step, or the artifact folder was removed); run the pipeline to train and push a new version",
            EXIT_USAGE,
        )
    model = load_model(push.destination)
    try:
        found = explain(model, instances, baseline)
    except ValueError as err:
        raise RunError(f"bad instance: {err}", EXIT_USAGE) from None
    if args.json:
        document = {"version": push.version, "baseline": baseline, "explanations": [e.to_dict() for e in found]}
        print(json.dumps(document, indent=2, default=str))
        return EXIT_OK
    out = sys.stdout
    out.write(f"Model version {push.version} ({push.destination})\n")
    for i, explanation in enumerate(found):
        out.write(
            f"instance {i}: probability {explanation.prediction:.4f} "
            f"(typical row: {explanation.baseline_prediction:.4f})\n"
        )
        for name, value in explanation.top(args.top):
            out.write(f"  {value:+.4f}  {name} = {instances[i].get(name, baseline[name])!r}\n")
    return EXIT_OK
