"""`taxi-pipeline compile` and `submit`: the pipeline spec for Vertex AI, and a run or schedule of it."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig, check_vertex
from runners.errors import EXIT_COMPONENT, EXIT_OK, EXIT_USAGE, RunError
from runners.vertex import (
    CONSOLE,
    build_job,
    check_bucket,
    check_cron,
    compile_pipeline,
    create_request,
    parse_params,
    request_summary,
    run_link,
    schedule_client,
    schedule_request,
    schedule_summary,
    send_schedule,
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
    parser.add_argument(
        "--schedule",
        metavar="CRON",
        help="schedule runs with this cron ('0 3 * * 1') instead of one run; updates this pipeline's schedule "
        "if it has one",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait for the run to finish and exit 5 unless it succeeded (Cloud Build gates on this)",
    )
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
    if args.schedule:
        check_cron(args.schedule)  # a usage error before anything is compiled or sent
        if args.wait:
            raise RunError("--wait waits for one run; it cannot be combined with --schedule", EXIT_USAGE)
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
            if args.schedule:
                summary = schedule_summary(schedule_request(config, job, args.schedule))
            else:
                summary = request_summary(create_request(config, job))
            print(json.dumps(summary, indent=2))
            return EXIT_OK
        return _send(job, config, args.schedule, args.wait)


def _send(job: Any, config: PipelineConfig, schedule: str | None, wait: bool) -> int:
    from google.api_core import exceptions
    from google.auth import exceptions as auth_exceptions
    from google.cloud import storage  # type: ignore[attr-defined]

    try:
        check_bucket(config, storage.Client(project=config.gcp_project, credentials=job.credentials))
        if schedule:
            name, updated = send_schedule(schedule_client(config, job.credentials), config, job, schedule)
            print(f"taxi-pipeline: {'updated' if updated else 'created'} schedule {name} ({schedule})")
            print(f"  {CONSOLE}/pipelines/schedules?project={config.gcp_project}")
            return EXIT_OK
        # The request itself, not job.submit(): submit() would create a missing bucket on the side.
        job._gca_resource = job.api_client.create_pipeline_job(request=create_request(config, job))
        print(f"taxi-pipeline: submitted {job.job_id}")
        print(f"  {run_link(config, job.job_id)}")
        if wait:
            try:
                job.wait()
            except RuntimeError as err:  # aiplatform's way of saying the run failed or was cancelled
                raise RunError(f"pipeline run {job.job_id} did not succeed: {err}", EXIT_COMPONENT) from None
            print(f"taxi-pipeline: {job.job_id} succeeded")
    except auth_exceptions.DefaultCredentialsError:
        raise RunError(
            "no Google Cloud credentials: run `gcloud auth application-default login` (or use --dry-run)", EXIT_USAGE
        ) from None
    except exceptions.GoogleAPICallError as err:
        raise RunError(f"Vertex AI refused the request: {err.message}", EXIT_USAGE) from None
    return EXIT_OK
