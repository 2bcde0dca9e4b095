"""What the Vertex tests (test_vertex_compile.py, test_vertex_submit.py) set up alike, offline.

One fake project, image and bucket; the vertex-profile config built from them with a test's
overrides and no environment; the spec compiled to a file; google-cloud-aiplatform's PipelineJob
built from it with anonymous credentials. The fixtures that keep them off the network and clear of
the caller's TAXI_PIPELINE_* variables (no_network, clean_env) are in conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.auth.credentials import AnonymousCredentials

from pipeline.config import PipelineConfig, load_config
from runners import vertex

PROJECT = "test-project"
IMAGE = "us-central1-docker.pkg.dev/test-project/taxi/taxi-pipeline:3f2a9c1"
HOME = "gs://test-bucket/taxi-pipeline"
DATA_ROOT = "gs://test-bucket/taxi-data"
# The flags `compile` and `submit` need on the command line for the same values.
CLI_FLAGS = ["--gcp-project", PROJECT, "--image", IMAGE, "--home", HOME, "--data-root", DATA_ROOT]


def vertex_config(**overrides: Any) -> PipelineConfig:
    """The vertex profile with the fake project, image, home and data root, then `overrides`; no environment."""
    values: dict[str, Any] = {"gcp_project": PROJECT, "image": IMAGE, "home": HOME, "data_root": DATA_ROOT}
    values.update(overrides)
    return load_config("vertex", overrides=values, environ={})


def compile_spec(config: PipelineConfig, path: Path) -> dict[str, Any]:
    """Compiles the pipeline for Vertex into `path` and returns the spec as JSON."""
    vertex.compile_pipeline(config, str(path))
    spec: dict[str, Any] = json.loads(path.read_text())
    return spec


def build_job(config: PipelineConfig, spec_file: Path, parameters: dict[str, str] | None = None) -> Any:
    """aiplatform's PipelineJob for a compiled spec, as `submit` builds it, with anonymous credentials."""
    return vertex.build_job(config, str(spec_file), parameters or {}, AnonymousCredentials())
