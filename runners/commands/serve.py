"""`taxi-pipeline serve`: the pushed model behind TF Serving's REST API, with metrics and request logs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline import serving_dir as sd
from pipeline.config import PipelineConfig
from runners.errors import EXIT_USAGE, RunError
from runners.home.progress import new_log_file, quiet_and_logged
from runners.home.storage import home_write_error
from runners.serving.server import serve
from runners.serving.settings import ServeSettings, load_model_config, parse_labels

_DESCRIPTION = """\
Serves the pushed model with TF Serving's REST API (and its gRPC API on --grpc-port) on this machine:

  GET  /v1/models/NAME[/versions/V|/labels/L]            status of every loaded version (model_version_status)
  GET  /v1/models/NAME[/versions/V|/labels/L]/metadata   the signatures (TF Serving's signature_def JSON)
  POST /v1/models/NAME[/versions/V|/labels/L]:predict    {"instances": [{"fare": 12.5, ...}, ...]} raw feature
                                  values (serving_default), or with "signature_name": "serving_tf_example"
                                  {"instances": [{"b64": "<serialized tf.Example>"}, ...]};
                                  also TF Serving's columnar {"inputs": {"fare": [...], ...}}
  POST /v1/models/NAME:explain    {"instances": [...]} raw feature values: per instance, the prediction,
                                  the baseline row's prediction and each feature's contribution
                                  (runners/serving/explain.py; a feature left out takes the baseline's value)
  GET  /metrics                   Prometheus metrics: requests, errors, latency, version, scores

Requests are checked against the schema's SERVING environment (the schema the model was trained
with, from ML Metadata): a missing, mistyped or unrepresentable value gets HTTP 400 naming it; values
outside the schema's domains are counted (taxi_serving_out_of_domain_values_total) or, with
--strict-domains, refused. A new pushed version or a rollback is loaded within seconds, without a
restart. Sampled requests are appended to
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
    versions = parser.add_argument_group("versions (TF Serving's version policy and labels)")
    versions.add_argument("--model-version", type=int, metavar="V", help="serve this version only")
    versions.add_argument(
        "--versions",
        metavar="V,V",
        help="serve these versions (policy 'specific'); a request naming none gets the highest",
    )
    versions.add_argument("--latest", type=int, metavar="N", help="serve the N highest versions (default: 1)")
    versions.add_argument("--all-versions", action="store_true", help="serve every version in the serving dir")
    versions.add_argument(
        "--labels", metavar="L=V,...", help="version labels, e.g. stable=3,canary=4 (/labels/L routes)"
    )
    versions.add_argument(
        "--model-config",
        metavar="FILE",
        help='JSON: {"policy": "latest|specific|all", "latest": N, "versions": [..], "labels": {"stable": 3}}',
    )
    versions.add_argument(
        "--poll-seconds", type=float, metavar="S", help="check the serving dir this often (default: 1)"
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-rows", type=int, metavar="N", help="instances per request at most; 413 beyond (default: 2000)"
    )
    limits.add_argument(
        "--strict-domains", action="store_true", default=None, help="refuse values outside the schema's domains"
    )
    limits.add_argument(
        "--body-timeout", type=float, metavar="S", help="408 for a body not received in time (default: 10)"
    )
    limits.add_argument(
        "--header-timeout", type=float, metavar="S", help="close a connection whose headers are late (default: 10)"
    )
    limits.add_argument(
        "--keep-alive", type=float, metavar="S", help="close idle keep-alive connections after (default: 5)"
    )
    limits.add_argument("--max-connections", type=int, metavar="N", help="open connections at most (default: 1000)")
    limits.add_argument("--backlog", type=int, metavar="N", help="listen queue length (default: 2048)")
    limits.add_argument("--batch-max-rows", type=int, metavar="N", help="rows per batched model call (default: 256)")
    limits.add_argument(
        "--batch-timeout-ms",
        type=float,
        metavar="MS",
        help="wait for a batch to fill while other requests are in flight (default: 2)",
    )
    access = parser.add_argument_group("access")
    access.add_argument(
        "--grpc-port", type=int, metavar="PORT", help="TF Serving's gRPC API (default: 8500; 0: any free; -1: off)"
    )
    access.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="Host header name accepted (repeatable; default: loopback names)",
    )
    access.add_argument(
        "--cors-origin", action="append", metavar="ORIGIN", help="browser origin allowed (repeatable; default: none)"
    )
    logs = parser.add_argument_group("request log")
    logs.add_argument("--log-exclude", action="append", metavar="FEATURE", help="never log this feature (repeatable)")
    logs.add_argument("--log-max-bytes", type=int, metavar="BYTES", help="request log kept at most (default: 256 MiB)")
    logs.add_argument(
        "--log-max-age-days", type=float, metavar="DAYS", help="request log files kept at most (default: 30)"
    )
    logs.add_argument("--log-max-string", type=int, metavar="CHARS", help="logged strings cut to (default: 256)")
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


def settings_of(args: argparse.Namespace) -> ServeSettings:
    """The server's settings from the flags (and the --model-config file); unset flags keep the defaults."""
    values: dict[str, Any] = {}
    if args.model_config:
        values.update(load_model_config(args.model_config))
    if args.model_version is not None:
        values.update(policy="specific", versions=(args.model_version,))
    if args.versions:
        try:
            values.update(policy="specific", versions=tuple(int(v) for v in args.versions.split(",") if v.strip()))
        except ValueError:
            raise RunError(f"--versions {args.versions!r}: expected integers, e.g. 3,4", EXIT_USAGE) from None
    if args.latest is not None:
        values.update(policy="latest", latest=args.latest)
    if args.all_versions:
        values["policy"] = "all"
    if args.labels:
        values["labels"] = parse_labels(args.labels)
    flags = {
        "poll_seconds": args.poll_seconds,
        "max_rows": args.max_rows,
        "strict_domains": args.strict_domains,
        "body_timeout_seconds": args.body_timeout,
        "header_timeout_seconds": args.header_timeout,
        "keep_alive_seconds": args.keep_alive,
        "max_connections": args.max_connections,
        "backlog": args.backlog,
        "batch_max_rows": args.batch_max_rows,
        "batch_timeout_ms": args.batch_timeout_ms,
        "grpc_port": args.grpc_port,
        "allowed_hosts": tuple(args.allowed_host) if args.allowed_host else None,
        "cors_origins": tuple(args.cors_origin) if args.cors_origin else None,
        "log_exclude": tuple(args.log_exclude) if args.log_exclude else None,
        "log_max_bytes": args.log_max_bytes,
        "log_max_age_days": args.log_max_age_days,
        "log_max_string": args.log_max_string,
    }
    values.update({k: v for k, v in flags.items() if v is not None})
    return ServeSettings(**values)


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
            return serve(config, settings_of(args), console)
        except OSError as err:  # e.g. the request log folder cannot be created
            failure = home_write_error(err, Path(config.home), "The model server is not running.")
            if failure is None:
                raise
            raise failure from None
