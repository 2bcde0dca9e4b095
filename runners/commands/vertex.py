"""`taxi-pipeline compile` and `submit`: the pipeline spec for Vertex AI, and a run or schedule of it."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig, check_vertex
from runners.errors import EXIT_OK, EXIT_USAGE, RunError
from runners.vertex import (
    CONSOLE,
    build_job,
    compile_pipeline,
    create_request,
    parse_params,
    request_summary,
    run_link,
)


def configure_compile(
    parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Adds the flags of `compile`."""
    _add_vertex_flags(parser, add_config_flags)
    parser.add_argument("--output", required=True, metavar="FILE.json", help="where to write the spec")
    parser.set_defaults(handler=_cmd_compile, default_profile="vertex")


def configure_submit(
    parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Adds the flags of `submit`."""
    _add_vertex_flags(parser, add_config_flags)
    parser.add_argument(
        "--template", metavar="SPEC", help="a spec from `compile`, local or gs:// (default: compile one now)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a pipeline parameter: data_root=gs://... or train_args='{\"num_steps\": 500}' (repeatable)",
    )
    parser.add_argument("--schedule", metavar="CRON", help="create a schedule with this cron instead of one run")
    parser.add_argument(
        "--no-cache", dest="enable_cache", action="store_false", default=None, help="re-execute every step"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the request instead of sending it (no credentials needed)"
    )
    parser.set_defaults(handler=_cmd_submit, default_profile="vertex")


def _add_vertex_flags(
    parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    add_config_flags(parser)
    for action in parser._actions:  # argparse has no public way to reword a shared flag's help
        if action.dest == "profile":
            action.help = "config profile (default: $TAXI_PIPELINE_PROFILE or 'vertex')"
    parser.add_argument("--gcp-project", help="Google Cloud project id")
    parser.add_argument("--region", help="Vertex AI and Dataflow region (default: us-central1)")
    parser.add_argument("--image", help="pipeline image with an immutable tag (see Dockerfile)")
    parser.add_argument("--service-account", help="service account the pipeline runs as")
    parser.add_argument("--data-root", help="gs:// folder of span-<N>/ folders of CSV files")
    parser.add_argument(
        "--tune",
        action="store_true",
        default=None,
        help="add the hyperparameter search; trials run as Vertex AI jobs, tuner_parallel_trials at a time",
    )


def _cmd_compile(args: argparse.Namespace, config: PipelineConfig) -> int:
    spec = compile_pipeline(config, args.output)
    defaults = spec.get("runtimeConfig", {}).get("parameters", {})
    print(f"taxi-pipeline: wrote {args.output} for Vertex AI Pipelines")
    print(f"  image {config.image}; {len(spec['pipelineSpec']['root']['dag']['tasks'])} tasks")
    for name, value in sorted(defaults.items()):
        print(f"  parameter {name} (default {next(iter(value.values()))!r})")
    return EXIT_OK


def _cmd_submit(args: argparse.Namespace, config: PipelineConfig) -> int:
    check_vertex(config)
    values = parse_params(args.param)
    with tempfile.TemporaryDirectory(prefix="taxi-pipeline-") as scratch:
        template = args.template
        if not template:
            template = str(Path(scratch) / "pipeline.json")
            compile_pipeline(config, template)
        credentials = None
        if args.dry_run:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        job = build_job(config, template, values, credentials=credentials)
        if args.dry_run:
            print(json.dumps(request_summary(create_request(config, job)), indent=2))
            return EXIT_OK
        return _send(job, config, args.schedule)


def _send(job: Any, config: PipelineConfig, schedule: str | None) -> int:
    from google.api_core import exceptions
    from google.auth import exceptions as auth_exceptions

    try:
        if schedule:
            created = job.create_schedule(
                cron=schedule,
                display_name=f"{config.pipeline_name}-schedule",
                service_account=config.service_account or None,
            )
            print(f"taxi-pipeline: created schedule {created.resource_name} ({schedule})")
            print(f"  {CONSOLE}/pipelines/schedules?project={config.gcp_project}")
        else:
            job.submit(service_account=config.service_account or None)
            print(f"taxi-pipeline: submitted {job.job_id}")
            print(f"  {run_link(config, job.job_id)}")
    except auth_exceptions.DefaultCredentialsError:
        raise RunError(
            "no Google Cloud credentials: run `gcloud auth application-default login` (or use --dry-run)", EXIT_USAGE
        ) from None
    except exceptions.GoogleAPICallError as err:
        raise RunError(f"Vertex AI refused the request: {err.message}", EXIT_USAGE) from None
    return EXIT_OK
