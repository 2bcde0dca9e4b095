"""`taxi-pipeline explain`: per-feature contributions to a pushed model's predictions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline import ids
from pipeline.config import PipelineConfig
from runners.errors import EXIT_OK, EXIT_USAGE, RunError
from runners.serving.explain import explain, load_model, parse_instances
from runners.store import lineage, metadata
from runners.store.importance import baseline_for_model

# The CLI imports this module to build its parser, before the run silences TensorFlow's start-up logs,
# and the model server calls it: neither imports pipeline.pipeline (TFX) for a node id, see runners.store.lineage.

TOP_DEFAULT = 5


def configure(parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the flags of `explain`."""
    parser.description = (
        "Explain predictions of a pushed model by feature ablation: each feature's contribution is the "
        "prediction minus the prediction with that feature set to a typical value (training median or most "
        "frequent value)."
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
    if args.file:
        try:
            text = Path(args.file).read_bytes().decode("utf-8")
        except OSError as err:
            raise RunError(f"cannot read instances file {args.file}: {err.strerror}", EXIT_USAGE) from None
        except UnicodeDecodeError as err:
            raise RunError(
                f"instances file {args.file} is not UTF-8 text (byte {err.start}); save it as UTF-8 JSON", EXIT_USAGE
            ) from None
        instances = parse_instances(text, args.file)
    else:
        instances = parse_instances(args.instances, "--instances")
    store = metadata.open_store(config)
    push = lineage.resolve_version(lineage.find_pushes(store, config.pipeline_name), config.serving_dir, args.version)
    baseline = baseline_for_model(store, push.model_id)
    if baseline is None:
        raise RunError(
            f"version {push.version} has no recorded baseline row (its run had no {ids.FEATURE_IMPORTANCE} "
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
