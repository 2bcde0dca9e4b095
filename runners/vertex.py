"""Vertex AI Pipelines: `compile` writes the pipeline spec with KubeflowV2DagRunner, `submit` runs or schedules it.

Nothing here reaches Google Cloud until `submit` (without --dry-run) sends its request.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig, check_vertex
from runners.errors import EXIT_OK, EXIT_USAGE, RunError

CONSOLE = "https://console.cloud.google.com/vertex-ai"


def register(commands: Any, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the `compile` and `submit` subcommands.

    Args:
        commands: the CLI's subparsers.
        add_config_flags: adds the flags every subcommand shares (--profile, --config, --home).
    """
    compile_parser = commands.add_parser(
        "compile", help="compile the pipeline for Vertex AI Pipelines into a JSON spec (no cloud access)"
    )
    _add_vertex_flags(compile_parser, add_config_flags)
    compile_parser.add_argument("--output", required=True, metavar="FILE.json", help="where to write the spec")
    compile_parser.set_defaults(handler=_cmd_compile, default_profile="vertex")

    submit = commands.add_parser("submit", help="run (or schedule) the pipeline on Vertex AI Pipelines")
    _add_vertex_flags(submit, add_config_flags)
    submit.add_argument(
        "--template", metavar="SPEC", help="a spec from `compile`, local or gs:// (default: compile one now)"
    )
    submit.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a pipeline parameter: data_root=gs://... or train_args='{\"num_steps\": 500}' (repeatable)",
    )
    submit.add_argument("--schedule", metavar="CRON", help="create a schedule with this cron instead of one run")
    submit.add_argument(
        "--no-cache", dest="enable_cache", action="store_false", default=None, help="re-execute every step"
    )
    submit.add_argument(
        "--dry-run", action="store_true", help="print the request instead of sending it (no credentials needed)"
    )
    submit.set_defaults(handler=_cmd_submit, default_profile="vertex")


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


def beam_args(config: PipelineConfig) -> list[str]:
    """Returns the Beam options of the data components: Dataflow's when `dataflow` is on.

    Args:
        config: the run's configuration; its own beam_args come last, so they can override.

    Returns:
        Beam command-line options.
    """
    args: list[str] = []
    if config.dataflow:
        args = [
            "--runner=DataflowRunner",
            f"--project={config.gcp_project}",
            f"--region={config.region}",
            f"--temp_location={config.temp_dir}",
            f"--machine_type={config.dataflow_machine_type}",
            f"--max_num_workers={config.dataflow_max_workers}",
            # Workers run the pipeline image: the Python, Beam, TFX and model code of the step itself,
            # so nothing is pickled across versions and no wheel has to be staged.
            f"--sdk_container_image={config.image}",
            "--sdk_location=container",
            "--experiments=use_runner_v2",
        ]
        if config.service_account:
            args.append(f"--service_account_email={config.service_account}")
    elif config.bigquery_query:
        # BigQueryExampleGen exports through GCS and bills the query to a project, even on DirectRunner.
        args = [f"--project={config.gcp_project}", f"--temp_location={config.temp_dir}"]
    return args + list(config.beam_args)


def build_pipeline(config: PipelineConfig) -> Any:
    """Builds the pipeline object for Vertex from the configuration.

    The span-window resolver is left out (KubeflowV2DagRunner compiles only TFX's own latest-artifact
    and latest-blessed-model resolvers): Transform, Trainer and Evaluator use what this run ingests.

    Args:
        config: a configuration that passed check_vertex.

    Returns:
        A tfx Pipeline.
    """
    from pipeline import pipeline as taxi_pipeline
    from pipeline.cloud import VertexServing, VertexTraining
    from runners.local import code_fingerprint

    training = None
    if config.vertex_training:
        training = VertexTraining(
            project=config.gcp_project,
            region=config.region,
            image=config.image,
            machine_type=config.training_machine_type,
            accelerator_type=config.training_accelerator_type,
            accelerator_count=config.training_accelerator_count,
            service_account=config.service_account,
        )
    serving = None
    if config.push_target == "vertex":
        serving = VertexServing(
            project=config.gcp_project,
            region=config.region,
            model_id=config.model_name,
            serving_image=config.serving_image,
            endpoint_name=config.endpoint_name,
            traffic_percentage=config.traffic_percentage,
            machine_type=config.serving_machine_type,
            service_account=config.service_account,
        )
    return taxi_pipeline.create_pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        data_root=config.data_root,
        schema_path=config.schema_path,
        serving_dir=config.serving_dir,
        span=config.span,
        window_spans=config.window_spans,
        train_steps=config.train_steps,
        eval_steps=config.eval_steps,
        hyperparameters=config.hyperparameters,
        tune=config.tune,
        tuner_trials=config.tuner_trials,
        tuner_time_budget_s=config.tuner_time_budget_s,
        tuner_trial_steps=config.tuner_trial_steps,
        tuner_parallel_trials=config.tuner_parallel_trials,
        importance_rows=config.importance_rows,
        code_fingerprint=code_fingerprint(),
        min_binary_accuracy=config.min_binary_accuracy,
        max_accuracy_drop=config.max_accuracy_drop,
        min_slice_binary_accuracy=config.min_slice_binary_accuracy,
        enable_cache=config.enable_cache,
        # Vertex AI keeps its own ML Metadata.
        metadata_connection_config=None,
        beam_pipeline_args=beam_args(config),
        bigquery_query=config.bigquery_query,
        use_span_window=False,
        runtime_parameters=True,
        vertex_training=training,
        vertex_serving=serving,
    )


def parameter_defaults(pipeline_obj: Any) -> dict[str, Any]:
    """Returns name -> default of every runtime parameter in the pipeline's components."""
    from tfx.orchestration import data_types

    return {
        value.name: value.default
        for component in pipeline_obj.components
        for value in component.exec_properties.values()
        if isinstance(value, data_types.RuntimeParameter)
    }


def compile_pipeline(config: PipelineConfig, output: str) -> dict[str, Any]:
    """Compiles the pipeline into a Vertex AI PipelineJob spec file.

    Args:
        config: the run's configuration; checked with check_vertex first.
        output: the .json file to write (a local path or gs:// URI).

    Returns:
        The spec as written: a PipelineJob with pipelineSpec and runtimeConfig (parameter defaults).

    Raises:
        ConfigError: the configuration cannot run on Vertex.
        RunError: the output is not a .json file.
    """
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    check_vertex(config)
    if not output.endswith(".json"):
        # TFX writes YAML as the bare PipelineSpec, which drops the parameter defaults.
        raise RunError(f"--output {output}: expected a .json file", EXIT_USAGE)
    pipeline_obj = build_pipeline(config)
    folder, name = posixpath.split(output)
    runner = v2.KubeflowV2DagRunner(
        config=v2.KubeflowV2DagRunnerConfig(default_image=config.image), output_dir=folder or ".", output_filename=name
    )
    spec: dict[str, Any] = runner.run(pipeline_obj, parameter_values=parameter_defaults(pipeline_obj))
    return spec


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """Parses repeated NAME=VALUE options.

    Raises:
        RunError: an item has no '=' or no name.
    """
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise RunError(f"--param {item!r}: expected NAME=VALUE, e.g. data_root=gs://bucket/taxi-data", EXIT_USAGE)
        values[name.strip()] = value
    return values


def build_job(
    config: PipelineConfig, template: str, parameter_values: Mapping[str, Any], credentials: Any = None
) -> Any:
    """Builds the Vertex PipelineJob for a compiled spec, without sending anything.

    Args:
        config: the run's configuration (project, region, pipeline root, service account, labels, cache).
        template: the compiled spec, a local path or gs:// URI.
        parameter_values: pipeline parameters overriding the compiled defaults.
        credentials: Google credentials; None uses Application Default Credentials.

    Returns:
        A google.cloud.aiplatform.PipelineJob; create_request shows what submitting it sends.

    Raises:
        RunError: aiplatform rejects the spec or the parameters (e.g. a parameter the spec lacks).
    """
    from google.cloud import aiplatform

    try:
        job = aiplatform.PipelineJob(
            display_name=config.pipeline_name,
            template_path=template,
            pipeline_root=config.pipeline_root,
            parameter_values=dict(parameter_values),
            enable_caching=config.enable_cache,
            labels=config.label_map or None,
            project=config.gcp_project,
            location=config.region,
            credentials=credentials,
        )
    except (ValueError, TypeError) as err:
        raise RunError(f"cannot prepare a Vertex job from {template}: {err}", EXIT_USAGE) from None
    return job


def create_request(config: PipelineConfig, job: Any) -> Any:
    """Returns the CreatePipelineJobRequest that `job.submit(service_account=...)` sends, without sending it.

    Args:
        config: the run's configuration (project, region, service account).
        job: a PipelineJob from build_job.

    Returns:
        A google.cloud.aiplatform CreatePipelineJobRequest.
    """
    from google.cloud.aiplatform_v1.types import pipeline_service

    # Until the job exists, aiplatform keeps the resource it will send in _gca_resource (the public
    # gca_resource refuses to answer); submit() sets the service account on it the same way.
    pipeline_job = type(job._gca_resource)(job._gca_resource)
    if config.service_account:
        pipeline_job.service_account = config.service_account
    return pipeline_service.CreatePipelineJobRequest(
        parent=f"projects/{config.gcp_project}/locations/{config.region}",
        pipeline_job=pipeline_job,
        pipeline_job_id=job.job_id,
    )


def run_link(config: PipelineConfig, job_id: str) -> str:
    """The Cloud console page of one pipeline run."""
    return f"{CONSOLE}/locations/{config.region}/pipelines/runs/{job_id}?project={config.gcp_project}"


def _request_summary(request: Any) -> dict[str, Any]:
    job = request.pipeline_job
    runtime = type(job.runtime_config).to_dict(job.runtime_config)
    return {
        "parent": request.parent,
        "pipeline_job_id": request.pipeline_job_id,
        "display_name": job.display_name,
        "service_account": job.service_account,
        "labels": dict(job.labels),
        "pipeline_root": runtime.get("gcs_output_directory"),
        "parameters": {k: v.get("string_value", v) for k, v in runtime.get("parameters", {}).items()},
        "tasks": sorted(job.pipeline_spec["root"]["dag"]["tasks"]),
    }


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
            print(json.dumps(_request_summary(create_request(config, job)), indent=2))
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
