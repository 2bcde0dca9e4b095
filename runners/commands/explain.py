"""`taxi-pipeline explain`: per-feature contributions to a pushed model's predictions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline import explanations, ids
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
    _check_json_types(instances, explanations.raw_input_spec(model))
    try:
        found = explain(model, instances, baseline)
    except ValueError as err:
        raise RunError(f"bad instance: {err}", EXIT_USAGE) from None
    if args.json:
        document = {
            "version": push.version,
            "baseline": baseline,
            "explanations": [
                {**e.to_dict(), "sent": sorted(instance), "top": [list(item) for item in _top(e, instance, args.top)]}
                for e, instance in zip(found, instances, strict=True)
            ],
        }
        print(json.dumps(document, indent=2, default=str))
        return EXIT_OK
    out = sys.stdout
    out.write(f"Model version {push.version} ({push.destination})\n")
    for i, explanation in enumerate(found):
        out.write(
            f"instance {i}: probability {explanation.prediction:.4f} "
            f"(typical row: {explanation.baseline_prediction:.4f})\n"
        )
        shown = _top(explanation, instances[i], args.top)
        for name, value in shown:
            out.write(f"  {value:+.4f}  {name} = {instances[i][name]!r}\n")
        if not shown:
            out.write("  (the instance sends no feature the model reads)\n")
    return EXIT_OK


def _top(explanation: Any, instance: Mapping[str, Any], count: int) -> list[tuple[str, float]]:
    """The largest contributions among the features the instance sent: the others took the baseline's
    value, contribute exactly nothing, and must not be shown as if they were the instance's."""
    return [(name, value) for name, value in explanation.top(len(explanation.contributions)) if name in instance][
        :count
    ]


_JSON_KINDS = {"string": (str,), "int": (int,), "float": (int, float)}
_KIND_WORDS = {"string": "a string", "int": "an integer", "float": "a number"}


def _check_json_types(instances: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]) -> None:
    """Rejects a JSON value of the wrong type ("fare": "9.25"), which the lenient reader would convert.

    Raises:
        RunError (exit 2): naming the instance, the feature, the value and the type expected.
    """
    for i, instance in enumerate(instances):
        if not isinstance(instance, Mapping):
            continue  # explain() names it
        for name, value in instance.items():
            kind = kinds.get(name)
            if kind is None or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, _JSON_KINDS[kind]):
                raise RunError(
                    f"bad instance: instance {i}, feature '{name}' is {json.dumps(value)} "
                    f"({type(value).__name__}); expected {_KIND_WORDS[kind]} in JSON"
                    + (f", e.g. {value}" if kind != "string" and isinstance(value, str) else ""),
                    EXIT_USAGE,
                )
