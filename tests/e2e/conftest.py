"""Helpers for end-to-end tests: data roots built from the committed fixture, and the real CLI.

The pipeline runs as a user runs it, `python -m runners run ...` in a subprocess, so each run
gets a fresh TensorFlow and Beam and the exit code and console output are the real ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL_DATA = ROOT / "tests" / "data" / "taxi-small"
# Few steps: these tests check wiring and behaviour, not model quality.
FAST_FLAGS = ("--train-steps", "30", "--min-accuracy", "0.5")


@dataclass
class CliResult:
    """What a CLI run returned."""

    returncode: int
    stdout: str
    stderr: str


def make_data_root(base: Path, spans: dict[int, Path] | None = None) -> Path:
    """Creates a data root under base holding copies of the given span folders (default: fixture span 1)."""
    spans = spans if spans is not None else {1: SMALL_DATA / "span-1"}
    root = base / "data"
    for number, source in spans.items():
        shutil.copytree(source, root / f"span-{number}")
    return root


def run_cli(*args: str, timeout: int = 900, env: dict[str, str] | None = None) -> CliResult:
    """Runs `python -m runners ARGS` from the project root and returns its result."""
    completed = subprocess.run(
        [sys.executable, "-m", "runners", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def run_pipeline(home: Path, data_root: Path, *extra: str) -> CliResult:
    """Runs the pipeline with the fast test flags and fails the test with the console output if it fails."""
    result = run_cli("run", "--home", str(home), "--data-root", str(data_root), *FAST_FLAGS, *extra)
    if result.returncode != 0:
        pytest.fail(f"taxi-pipeline run exited {result.returncode}\n{result.stdout}\n{result.stderr[-5000:]}")
    return result


@dataclass
class HealthyHome:
    """A home after one healthy run over fixture spans 1 and 2: span 2 trained, blessed and pushed."""

    home: Path
    data_root: Path
    result: CliResult


@pytest.fixture(scope="session")
def healthy_home(tmp_path_factory: pytest.TempPathFactory) -> HealthyHome:
    """One real run shared by every module that reads a trained home; they copy it before changing it.

    Under `make test` (xdist, --dist loadfile) each worker that runs such a module builds its own.
    """
    base = tmp_path_factory.mktemp("healthy")
    data_root = make_data_root(base, {1: SMALL_DATA / "span-1", 2: SMALL_DATA / "span-2"})
    home = base / "home"
    return HealthyHome(home, data_root, run_pipeline(home, data_root))
