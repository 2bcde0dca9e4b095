"""One rehearsal run: a compiled Vertex spec executed on this machine task by task, as Vertex AI Pipelines would.

Per task, in dependency order: its input parameters (constants, or the job's parameters) and input
artifacts (what upstream tasks produced) go into an ExecutorInput as Vertex builds it for a
schemaVersion 2.0.0 spec; its container command and arguments come from the spec's deploymentSpec,
their placeholders (`{{$}}`) filled by kfp.local's own placeholder code; the command is launched
(`python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor ...`) with the stand-in
image (runners.rehearsal.image); the executor_output.json it writes says what it produced. Resolver
tasks answer their queries from runners.rehearsal.metadata. gs:// URIs in the spec are mapped to a
local folder, and the image's /pipeline/ to the stand-in's folder.

Not rehearsed: Vertex's step cache (every task runs), concurrent tasks, machine types, and the cloud
services a step may call (the rehearsal compiles with them off: see `rehearsal_config`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kfp.local import placeholder_utils

from pipeline.config import PipelineConfig
from pipeline.ids import DATA_GATE
from runners.errors import EXIT_COMPONENT, EXIT_GATE, EXIT_USAGE, RunError
from runners.rehearsal.image import IMAGE_ROOT, Image
from runners.rehearsal.launch import Launcher
from runners.rehearsal.metadata import ArtifactStore

# Stand-ins for what a rehearsal needs of a Vertex config but never sends anywhere.
STAND_IN_PROJECT = "rehearsal"
STAND_IN_IMAGE = "rehearsal.invalid/taxi-pipeline:rehearsal"
STAND_IN_BUCKET = "gs://rehearsal-bucket"


@dataclasses.dataclass(frozen=True)
class TaskRun:
    """What one task did: its kind (container or resolver), its command as launched, and what it produced."""

    name: str
    kind: str
    command: tuple[str, ...]
    seconds: float
    outputs: Mapping[str, list[dict[str, Any]]]
    log: Path | None


@dataclasses.dataclass(frozen=True)
class RehearsalResult:
    """A finished rehearsal run."""

    job_id: str
    pipeline_root: Path
    tasks: tuple[TaskRun, ...]

    def task(self, name: str) -> TaskRun:
        return next(task for task in self.tasks if task.name == name)


def rehearsal_config(config: PipelineConfig) -> PipelineConfig:
    """The config a rehearsal compiles: the same pipeline with every cloud service a step calls turned off.

    Beam runs in the step instead of on Dataflow, the Trainer trains in its step instead of starting a
    Vertex AI training job, and the Pusher copies into the (mapped) serving folder instead of the Model
    Registry. Project, image and bucket, when the profile leaves them unset, get stand-ins that are
    never contacted.
    """
    home = config.home if config.home.startswith("gs://") and "YOUR_BUCKET" not in config.home else ""
    data_root = (
        config.data_root if config.data_root.startswith("gs://") and "YOUR_BUCKET" not in config.data_root else ""
    )
    tag = config.image.rsplit("/", 1)[-1]
    pinned = ":" in tag and tag.split(":", 1)[1] not in ("", "latest")
    return dataclasses.replace(
        config,
        gcp_project=config.gcp_project or STAND_IN_PROJECT,
        image=config.image if pinned else STAND_IN_IMAGE,
        home=home or f"{STAND_IN_BUCKET}/taxi-pipeline",
        data_root=data_root or f"{STAND_IN_BUCKET}/taxi-data",
        dataflow=False,
        vertex_training=False,
        push_target="filesystem",
        bigquery_query="",
    )


class PathMap:
    """Maps the spec's gs:// URIs to a local folder and the image's /pipeline/ to the stand-in image."""

    def __init__(self, gcs: Path, image: Image) -> None:
        self._gcs = f"{gcs}/"
        self._image = f"{image.root}/"
        # /pipeline/ only where a path starts (after a quote), never inside a bucket path.
        self._pattern = re.compile(r'gs://|(?<=")' + re.escape(IMAGE_ROOT))

    def text(self, text: str) -> str:
        return self._pattern.sub(lambda m: self._gcs if m.group(0) == "gs://" else self._image, text)

    def path(self, value: str) -> str:
        return self.text(f'"{value}')[1:]


def rehearse(
    spec_file: Path,
    workdir: Path,
    image: Image,
    parameters: Mapping[str, str] | None = None,
    *,
    isolated: bool = False,
) -> RehearsalResult:
    """Runs every task of a compiled PipelineJob spec locally; returns what each did.

    Args:
        spec_file: a spec from `compile` (PipelineJob JSON).
        workdir: the rehearsal's folder: gcs/ (the mapped buckets), metadata/ (the artifact record)
            and logs/ (one file per task); it persists across runs, as a project's bucket does.
        image: the stand-in image the steps run from.
        parameters: pipeline parameters overriding the compiled defaults, as `submit --param` does.
        isolated: a fresh process per step, as on Vertex; else one worker process runs every step
            (runners.rehearsal.launch says what that does not show).

    Raises:
        RunError: a task failed (EXIT_GATE for the data gate), or the spec asks for what the rehearsal
            cannot do.
    """
    paths = PathMap(workdir / "gcs", image)
    job_spec = json.loads(paths.text(spec_file.read_text()))
    spec = job_spec["pipelineSpec"]
    runtime = job_spec.get("runtimeConfig", {})
    pipeline_root = Path(runtime["gcsOutputDirectory"])
    job_parameters = dict(runtime.get("parameters", {}))
    for name, value in (parameters or {}).items():
        if name not in job_parameters:
            raise RunError(
                f"--param {name}: the spec has no such parameter ({', '.join(sorted(job_parameters))})", EXIT_USAGE
            )
        job_parameters[name] = {"stringValue": paths.path(value)}
    job_id = f"{spec['pipelineInfo']['name']}-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
    store = ArtifactStore(workdir / "metadata" / "artifacts.jsonl")
    log_dir = workdir / "logs" / job_id
    log_dir.mkdir(parents=True, exist_ok=True)
    image.root.mkdir(parents=True, exist_ok=True)
    tasks = spec["root"]["dag"]["tasks"]
    produced: dict[str, dict[str, list[dict[str, Any]]]] = {}
    runs = []
    launcher = Launcher(image, isolated=isolated)
    try:
        for name in task_order(tasks):
            task = tasks[name]
            component = spec["components"][task["componentRef"]["name"]]
            executor = spec["deploymentSpec"]["executors"][component["executorLabel"]]
            inputs = {
                "parameters": _parameters(name, task, job_parameters),
                "artifacts": _input_artifacts(task, produced),
            }
            started = time.monotonic()
            if "resolver" in executor:
                outputs = _resolve(task, executor["resolver"], inputs, store)
                run = TaskRun(name, "resolver", (), time.monotonic() - started, outputs, None)
            elif "container" in executor:
                job_root = pipeline_root / "rehearsal" / job_id
                run = _launch(name, component, executor["container"], inputs, launcher, job_root, log_dir)
                store.add([a for artifacts in run.outputs.values() for a in artifacts], job=job_id, task=name)
            else:
                raise RunError(
                    f"task {name}: the rehearsal runs container and resolver tasks only, not {sorted(executor)}",
                    EXIT_USAGE,
                )
            produced[name] = dict(run.outputs)
            runs.append(run)
    finally:
        launcher.close()
    return RehearsalResult(job_id, pipeline_root, tuple(runs))


def task_order(tasks: Mapping[str, Any]) -> list[str]:
    """The tasks in an order that runs each after every task it depends on (ties by name, for a stable log)."""
    needs = {
        name: set(task.get("dependentTasks", []))
        | {ref["taskOutputArtifact"]["producerTask"] for ref in task.get("inputs", {}).get("artifacts", {}).values()}
        for name, task in tasks.items()
    }
    order: list[str] = []
    while len(order) < len(needs):
        ready = sorted(name for name, deps in needs.items() if name not in order and deps <= set(order))
        if not ready:
            raise RunError(
                f"the spec's tasks depend on each other in a cycle: {sorted(set(needs) - set(order))}", EXIT_USAGE
            )
        order.append(ready[0])
    return order


def _parameters(name: str, task: Mapping[str, Any], job_parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A task's input parameters as Vertex passes them to a schemaVersion 2.0.0 container: name -> Value."""
    values = {}
    for key, ref in task.get("inputs", {}).get("parameters", {}).items():
        if "runtimeValue" in ref:
            values[key] = ref["runtimeValue"]["constantValue"]
        elif "componentInputParameter" in ref:
            values[key] = job_parameters[ref["componentInputParameter"]]
        else:
            raise RunError(
                f"task {name}: parameter {key} comes from {sorted(ref)}, which the rehearsal cannot pass", EXIT_USAGE
            )
    return values


def _input_artifacts(task: Mapping[str, Any], produced: Mapping[str, Mapping[str, list[Any]]]) -> dict[str, Any]:
    """The upstream artifacts of a task; an input a resolver found nothing for is left out, as on Vertex."""
    artifacts = {}
    for key, ref in task.get("inputs", {}).get("artifacts", {}).items():
        source = ref["taskOutputArtifact"]
        found = produced[source["producerTask"]].get(source["outputArtifactKey"], [])
        if found:
            artifacts[key] = {"artifacts": found}
    return artifacts


def _resolve(
    task: Mapping[str, Any], resolver: Mapping[str, Any], inputs: Mapping[str, Any], store: ArtifactStore
) -> dict[str, list[Any]]:
    """A resolver task: each output is the newest stored artifact its filter matches (none if an input is missing)."""
    if set(task.get("inputs", {}).get("artifacts", {})) - set(inputs["artifacts"]):
        return {key: [] for key in resolver["outputArtifactQueries"]}
    executor_input = {"inputs": {"artifacts": inputs["artifacts"]}}
    return {
        key: store.query(placeholder_utils.resolve_io_placeholders(executor_input, query["filter"]))
        for key, query in resolver["outputArtifactQueries"].items()
    }


def _launch(
    name: str,
    component: Mapping[str, Any],
    container: Mapping[str, Any],
    inputs: Mapping[str, Any],
    launcher: Launcher,
    job_root: Path,
    log_dir: Path,
) -> TaskRun:
    """A container task: the spec's command through the Vertex entrypoint, with the ExecutorInput Vertex would give."""
    task_root = job_root / f"{name}_{uuid.uuid4().hex[:8]}"
    outputs = {
        key: {
            "artifacts": [
                {
                    "name": f"rehearsal/{job_root.name}/{name}/{key}",
                    "type": definition["artifactType"],
                    "uri": str(task_root / key),
                    "metadata": {},
                }
            ]
        }
        for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items()
    }
    # A bucket has no folders: on Vertex a step writes under its output URIs without creating them.
    for artifacts in outputs.values():
        for artifact in artifacts["artifacts"]:
            Path(artifact["uri"]).mkdir(parents=True, exist_ok=True)
    output_file = task_root / "executor_output.json"
    executor_input = {"inputs": dict(inputs), "outputs": {"artifacts": outputs, "outputFile": str(output_file)}}
    log = log_dir / f"{name}.log"
    started = time.monotonic()
    pre_cache_check = container.get("lifecycle", {}).get("preCacheCheck")
    if pre_cache_check:
        # ExampleGen's driver: resolves the span and fingerprints its files. Vertex then updates the task's
        # output artifacts from what it wrote, and leaves the file for the executor to read its new
        # execution properties from.
        _run(name, pre_cache_check, executor_input, launcher, job_root, log)
        for key, found in _written(output_file).items():
            for given, returned in zip(outputs.get(key, {}).get("artifacts", []), found, strict=False):
                given["metadata"] = {**given["metadata"], **returned.get("metadata", {})}
        # The service passes the driver's execution properties (the resolved span's file pattern, the
        # span, the fingerprint) to the executor as the task's parameters.
        driven = json.loads(output_file.read_text()).get("parameterValues", {})
        executor_input["inputs"] = {
            **executor_input["inputs"],
            "parameters": {**inputs["parameters"], **{k: _value(v) for k, v in driven.items()}},
        }
    launched = _run(name, container, executor_input, launcher, job_root, log)
    seconds = time.monotonic() - started
    written = _written(output_file)
    results: dict[str, list[dict[str, Any]]] = {}
    for key, given in outputs.items():
        listed = written.get(key, [])
        results[key] = [
            {
                **artifact,
                "metadata": {**artifact["metadata"], **(listed[i].get("metadata", {}) if i < len(listed) else {})},
            }
            for i, artifact in enumerate(given["artifacts"])
        ]
    # The executor input is long JSON: the log keeps it, the record keeps the command around it.
    shown = tuple("{{$}}" if arg.startswith('{"inputs"') else arg for arg in launched)
    return TaskRun(name, "container", shown, seconds, results, log)


def _run(
    name: str,
    container: Mapping[str, Any],
    executor_input: Mapping[str, Any],
    launcher: Launcher,
    job_root: Path,
    log: Path,
) -> list[str]:
    """Launches one container command of a task with its placeholders filled; returns it as launched.

    Raises:
        RunError: the command failed (EXIT_GATE when it is the data gate stopping a span).
    """
    command = placeholder_utils.replace_placeholders(
        [*container["command"], *container.get("args", [])],
        dict(executor_input),
        pipeline_resource_name=job_root.name,
        task_resource_name=name,
        pipeline_root=str(job_root.parent.parent),
    )
    with log.open("a") as out:
        out.write(f"$ {' '.join(command[:3])} ...\n")
    returncode = launcher.run(command, log)
    if returncode != 0:
        text = log.read_text(errors="replace")
        gate = name == DATA_GATE and "DataGateError" in text
        last = [line for line in text.splitlines() if line.strip()][-12:]
        raise RunError(
            f"task {name} failed (exit {returncode}); full log: {log}\n  " + "\n  ".join(last),
            EXIT_GATE if gate else EXIT_COMPONENT,
        )
    return command


def _written(output_file: Path) -> dict[str, list[dict[str, Any]]]:
    """The output artifacts an executor_output.json lists, key -> RuntimeArtifact dicts."""
    if not output_file.exists():
        return {}
    artifacts = json.loads(output_file.read_text()).get("artifacts", {})
    return {key: value.get("artifacts", []) for key, value in artifacts.items()}


def _value(value: Any) -> dict[str, Any]:
    """A JSON value as a schemaVersion 2.0.0 parameter Value (whole numbers as integers)."""
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, int | float) and float(value).is_integer():
        return {"intValue": str(int(value))}
    if isinstance(value, int | float):
        return {"doubleValue": value}
    raise RunError(f"a driver returned the parameter value {value!r}, which the rehearsal cannot pass on", EXIT_USAGE)
