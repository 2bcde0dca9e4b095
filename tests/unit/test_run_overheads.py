"""What keeps a local run's fixed costs down: imports, TFX's package staging, training length."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runners.local import no_tfx_package_staging, runs_beam_locally

ROOT = Path(__file__).resolve().parents[2]


def test_the_local_run_path_never_imports_tfx_v1_or_the_vertex_client() -> None:
    # tfx.v1 imports every extension, Vertex AI's client library included: seconds on every run.
    code = """
import json, sys
from pipeline.config import PipelineConfig
from runners import local
import models.trainer, models.tuning, pipeline.components
local.build(PipelineConfig(home="/nonexistent-home"), 1, (1,), "schema/schema.pbtxt", False, "x")
heavy = ("tfx.v1.", "google.cloud.aiplatform")
print(json.dumps(sorted(m for m in sys.modules if m == "tfx.v1" or m.startswith(heavy))))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_tfx_package_staging_is_skipped_only_inside_the_context() -> None:
    from tfx.utils import dependency_utils

    original = dependency_utils.make_beam_dependency_flags
    with no_tfx_package_staging():
        # What a Beam executor calls: the arguments come back as they are, no sdist is built.
        assert dependency_utils.make_beam_dependency_flags(["--direct_num_workers=1"]) == ["--direct_num_workers=1"]
    assert dependency_utils.make_beam_dependency_flags is original
    with pytest.raises(RuntimeError), no_tfx_package_staging():
        raise RuntimeError("a failing run")
    assert dependency_utils.make_beam_dependency_flags is original


@pytest.mark.parametrize(
    ("args", "local"),
    [
        ([], True),
        (["--direct_running_mode=in_memory"], True),
        (["--runner=DirectRunner"], True),
        (["--runner=DataflowRunner", "--project=p"], False),
        (["--runner=DataflowRunner", "--runner=DirectRunner"], True),
        # A space-separated TAXI_PIPELINE_BEAM_ARGS gives the flag and its value as two items.
        (["--runner", "DataflowRunner"], False),
        (["--runner", "direct"], True),
        (["--runner=FlinkRunner"], False),
    ],
)
def test_runs_beam_locally(args: list[str], local: bool) -> None:
    assert runs_beam_locally(args) is local


@pytest.mark.parametrize(
    ("steps", "expected"), [(300, (3, 100)), (30, (1, 30)), (250, (2, 125)), (1000, (10, 100)), (1, (1, 1))]
)
def test_training_is_split_into_validation_epochs_never_above_the_steps(steps: int, expected: tuple[int, int]) -> None:
    from models.trainer import epochs_for

    epochs, per_epoch = epochs_for(steps)
    assert (epochs, per_epoch) == expected
    assert epochs * per_epoch <= steps
