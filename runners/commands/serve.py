"""`taxi-pipeline serve`: the pushed model behind TF Serving's REST API, with metrics and request logs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline import serving_dir as sd
from pipeline.config import PipelineConfig
from runners.errors import EXIT_USAGE, RunError
from runners.home.progress import new_log_file, quiet_and_logged
from runners.home.storage import home_write_error
from runners.serving.server import serve

_DESCRIPTION = """\
Serves the pushed model with TF Serving's REST API on this machine:

  GET  /v1/models/NAME            status and version of the model (model_version_status)
  POST /v1/models/NAME:predict    {"instances": [{"fare": 12.5, ...}, ...]} raw feature values, or
                                  {"instances": [{"b64": "<serialized tf.Example>"}, ...]};
                                  also TF Serving's columnar {"inputs": {"fare": [...], ...}}
  POST /v1/models/NAME:explain    {"instances": [...]} raw feature values: per instance, the prediction,
                                  the baseline row's prediction and each feature's contribution
                                  (runners/serving/explain.py; a feature left out takes the baseline's value)
  GET  /metrics                   Prometheus metrics: requests, errors, latency, version, scores

Requests are checked against the schema's SERVING environment (the schema the model was trained
with, from ML Metadata): a missing or mistyped feature gets HTTP 400 naming it. A new pushed version
or a rollback is picked up within a second, without a restart. Sampled requests are appended to
<home>/serving-logs/MODEL/ for `taxi-pipeline skew`. NAME is the config field model_name."""


def configure(parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the flags of `serve`."""
    parser.description = _DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_config_flags(parser)
    parser.add_argument(
        "--host", dest="serve_host", metavar="HOST", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    parser.add_argument(
        "--port",
        dest="serve_port",
        type=int,
        metavar="PORT",
        help="TCP port (default: 8501, TF Serving's; 0: any free)",
    )
    parser.add_argument(
        "--model-version", type=int, metavar="V", help="serve this version only, instead of the highest one"
    )
    parser.add_argument(
        "--max-request-bytes",
        dest="serve_max_request_bytes",
        type=int,
        metavar="BYTES",
        help="larger bodies get HTTP 413 (default: 4 MiB)",
    )
    parser.add_argument(
        "--log-sampling",
        dest="serve_log_sampling",
        type=float,
        metavar="RATE",
        help="share of predict requests logged for `taxi-pipeline skew`, 0 to 1 (default: 0.1)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=None,
        help="show TensorFlow logs and failed requests on the console",
    )
    parser.set_defaults(handler=_cmd_serve)


def _cmd_serve(args: argparse.Namespace, config: PipelineConfig) -> int:
    if "://" in config.home:
        raise RunError(
            f"home {config.home} is a cloud folder: serve a local home (or use a Vertex endpoint)", EXIT_USAGE
        )
    serving_dir = Path(config.serving_dir)
    if args.model_version is not None and not (serving_dir / str(args.model_version) / "saved_model.pb").is_file():
        found = ", ".join(map(str, sd.versions(serving_dir))) or "none"
        raise RunError(
            f"version {args.model_version} is not in {serving_dir} (versions there: {found}); "
            "see `taxi-pipeline models`",
            EXIT_USAGE,
        )
    log_file = new_log_file(config, "serve")
    # TensorFlow logs to stderr as soon as it is imported: into the log file unless --verbose.
    with quiet_and_logged(log_file, bool(config.verbose), sys.stdout) as console:
        console.write(f"Model server log: {log_file}\n")
        try:
            return serve(config, args.model_version, console)
        except OSError as err:  # e.g. the request log folder cannot be created
            failure = home_write_error(err, Path(config.home), "The model server is not running.")
            if failure is None:
                raise
            raise failure from None
