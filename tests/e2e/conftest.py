"""Helpers for end-to-end tests: data roots built from the committed fixture, the real CLI, shared runs.

The pipeline runs as a user runs it, `python -m runners run ...` in a subprocess, so each run
gets a fresh TensorFlow and Beam and the exit code and console output are the real ones.

Two real runs are shared by the modules that start from them (`healthy_home`, `span_1_run`), and the
hook at the end orders the suite for `make test` so that the longest modules go out first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    Under `make test` the two xdist workers share it too: the first to need it builds it in the
    session's temporary folder, holding a file lock; the other waits for the lock and reads the result.
    """
    basetemp = tmp_path_factory.getbasetemp()
    # A worker's basetemp is <session basetemp>/popen-gwN; without xdist the session's is basetemp itself.
    shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    base = shared / "healthy"
    finished = base / "result.json"
    with _exclusive(shared / "healthy.lock"):
        if finished.is_file():
            result = CliResult(**json.loads(finished.read_text()))
        else:
            shutil.rmtree(base, ignore_errors=True)  # what a failed attempt left
            data_root = make_data_root(base, {1: SMALL_DATA / "span-1", 2: SMALL_DATA / "span-2"})
            result = run_pipeline(base / "home", data_root)
            finished.write_text(json.dumps(dataclasses.asdict(result)))
    return HealthyHome(base / "home", base / "data", result)


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Holds an exclusive lock on lock_file (flock: released by the kernel if the process dies)."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class FirstRun:
    """A home right after one run over fixture span 1 (trained, blessed, pushed), and that run's output."""

    home: Path
    data_root: Path
    result: CliResult

    @property
    def summary(self) -> dict[str, Any]:
        """The run's --json summary."""
        summary: dict[str, Any] = json.loads(self.result.stdout)
        return summary


@dataclass
class SavedFirstRun:
    """One `run --json` over fixture span 1, saved so that each module can start its own history from it.

    ML Metadata, the fast-path manifest and TFX's cache keys hold absolute paths (home, data root, schema
    snapshot), so a copy elsewhere would not be the same home: `restore` puts the saved folder back at
    the path the run was made at, with the files' modification times. Modules using it run one after
    another on one worker, each starting from the same bytes the first run left.
    """

    live: Path
    saved: Path
    result: CliResult

    def restore(self) -> FirstRun:
        """Resets the home and data root to their state right after the first run and returns them."""
        shutil.rmtree(self.live, ignore_errors=True)
        shutil.copytree(self.saved, self.live, symlinks=True)
        return FirstRun(self.live / "home", self.live / "data", self.result)


@pytest.fixture(scope="session")
def span_1_run(tmp_path_factory: pytest.TempPathFactory) -> SavedFirstRun:
    """The first run of the modules whose history starts with span 1 alone; they call `restore()` first."""
    live = tmp_path_factory.getbasetemp() / "span-1-run"
    data_root = make_data_root(live)
    result = run_pipeline(live / "home", data_root, "--json")
    saved = tmp_path_factory.mktemp("span-1-run-saved") / "copy"
    shutil.copytree(live, saved, symlinks=True)
    return SavedFirstRun(live, saved, result)


# Modules whose histories start from span_1_run. Under `make test` they form one work unit, which one
# worker runs module after module, so the run is made once (restore() relies on them not overlapping).
SPAN_1_MODULES = (
    "tests/e2e/test_ops.py",
    "tests/e2e/test_not_blessed.py",
    "tests/e2e/test_label_shift.py",
    "tests/e2e/test_local_pipeline.py",
    "tests/e2e/test_new_data.py",
)
# Seconds each module takes on the 2-core CI machine (/tmp/ci-b.log's durations; the SPAN_1_MODULES from
# their run together, scaled to CI by test_ops' own before/after ratio), rounded: `make test`
# (--no-loadscope-reorder) hands the longest work unit out first, so no long one starts last while the
# other worker idles. An e2e module not listed counts as UNLISTED_E2E_SECONDS, so a new one starts early
# too; other modules keep their collection order.
EXPECTED_SECONDS = {
    "tests/e2e/test_new_data.py": 370,
    "tests/e2e/test_ops.py": 220,
    "tests/e2e/test_local_pipeline.py": 70,
    "tests/e2e/test_not_blessed.py": 90,
    "tests/e2e/test_label_shift.py": 80,
    "tests/e2e/test_data_gates.py": 200,
    "tests/e2e/test_vertex_rehearsal.py": 220,
    "tests/e2e/test_faults.py": 200,
    "tests/e2e/test_monitoring.py": 200,
    "tests/e2e/test_serving.py": 150,
    "tests/e2e/test_trust.py": 130,
    "tests/e2e/test_report.py": 130,
    "tests/unit/test_preprocessing.py": 130,
    "tests/unit/test_model.py": 90,
    "tests/unit/test_packaging.py": 60,
}
UNLISTED_E2E_SECONDS = 60


def work_unit(module: str) -> str:
    """The work unit (what one xdist worker runs from start to end) a test module belongs to."""
    return "span_1_run" if module in SPAN_1_MODULES else module


def _expected_seconds(module: str, items: list[pytest.Item]) -> int:
    if module in EXPECTED_SECONDS:
        return EXPECTED_SECONDS[module]
    return UNLISTED_E2E_SECONDS if any(item.get_closest_marker("e2e") for item in items) else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Puts the longest work units first; a unit's modules, and each module's tests, stay together in order.

    With `--dist loadfile --no-loadscope-reorder` (make test) xdist hands each free worker the next
    unit in this order, the longest one left; its own default order, by number of tests, put one-test
    modules such as the Vertex rehearsal last.
    """
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    units: dict[str, list[str]] = {}
    for module in modules:
        units.setdefault(work_unit(module), []).append(module)
    seconds = {unit: sum(_expected_seconds(m, modules[m]) for m in members) for unit, members in units.items()}
    order = sorted(units, key=lambda unit: -seconds[unit])
    items[:] = [item for unit in order for module in units[unit] for item in modules[module]]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` with work_unit() as its unit: the SPAN_1_MODULES go to one worker together.

    xdist's own grouping (`--dist loadgroup`, xdist_group marks) renames node ids, which pytest 9 no
    longer lets it do, so it silently falls back to one test per unit. The xdist controller reads only
    tests/conftest.py, which imports this hook from here.
    """
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class WorkUnitScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(super()._split_scope(nodeid))

    return WorkUnitScheduling(config, log)
