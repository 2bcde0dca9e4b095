"""`taxi-pipeline model-card`: writes the model card of a pushed version."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.config import PipelineConfig
from runners.errors import EXIT_OK
from runners.home.storage import home_write_error
from runners.reports.model_card import generate


def configure(parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the flags of `model-card`."""
    parser.description = (
        "Write the model card of a published version (default: the serving one) under "
        "<home>/model-cards/<version>/, from ML Metadata and the TFMA evaluation."
    )
    add_config_flags(parser)
    parser.add_argument("--version", type=int, metavar="V", help="a published version (see `taxi-pipeline models`)")
    parser.add_argument("--json", action="store_true", help="print the card's facts as JSON on stdout (writes no file)")
    parser.set_defaults(handler=_cmd_model_card)


def _cmd_model_card(args: argparse.Namespace, config: PipelineConfig) -> int:
    # Usually a second; an evaluation the proto reader does not interpret is read by TFMA (TensorFlow, longer).
    print(
        "taxi-pipeline: reading the version's lineage from ML Metadata and its TFMA evaluation...",
        file=sys.stderr,
        flush=True,
    )
    try:
        path, card = generate(config, args.version, write=not args.json)
    except OSError as err:
        failure = home_write_error(err, Path(config.home), "No model card was written.")
        if failure is None:
            raise
        raise failure from None
    if args.json:
        print(json.dumps({"path": str(path), "written": False, "card": card}, indent=2, default=str))
    else:
        sys.stdout.write(f"model card of version {card['version']}: {path} (and {path.with_suffix('.md').name})\n")
    return EXIT_OK
