"""`taxi-pipeline monitor`: accuracy and AUC of the serving model and its predecessors on each new span."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from pipeline import serving_dir as sd
from pipeline.config import PipelineConfig
from runners.errors import EXIT_OK
from runners.monitoring.performance import format_monitor, monitor_document
from runners.store.metadata import open_store
from runners.store.performance import list_performance

_DESCRIPTION = """\
Each time a span arrives, the pipeline scores the model serving then (the latest blessed one) on the
whole span before training on it: its accuracy on data it has never seen, with labels that arrived
later. This lists those scores oldest first, with the model's own evaluation and whether the drop
counts as decay (decay_min_binary_accuracy, decay_max_accuracy_drop). Read-only; exits 0."""


def configure(parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the flags of `monitor`."""
    parser.description = _DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_config_flags(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout instead")
    parser.set_defaults(handler=_cmd_monitor)


def _cmd_monitor(args: argparse.Namespace, config: PipelineConfig) -> int:
    records = list_performance(open_store(config), config.pipeline_name)
    document = monitor_document(config.pipeline_name, records, max(sd.versions(config.serving_dir), default=None))
    print(json.dumps(document, indent=2) if args.json else format_monitor(document))
    return EXIT_OK
