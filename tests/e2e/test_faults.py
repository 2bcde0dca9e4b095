"""Faults a real run meets: killed mid-Trainer, a second run on the same home, an unwritable or full disk.

One killed run, one refused run and one recovering run share a home (module fixture); the disk
tests use small tmpfs mounts (the tests run as root) and are skipped where mounting is not allowed.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import ids
from runners.errors import EXIT_LOCKED, EXIT_STORAGE
from runners.home import lock as home_lock
from runners.home import recovery
from runners.store import metadata as md
from tests.e2e.conftest import FAST_FLAGS, ROOT, CliResult, make_data_root, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# These tests are about crashes, locks and disks, not data quality: anomalies only warn, so a data
# gate tuned for real data cannot stop a run before the step a test needs to reach.
ENV = {"TAXI_PIPELINE_BLOCKING_ANOMALIES": ""}
STEP_TIMEOUT_S = 900


@dataclass
class Crash:
    """A home whose first run was killed while training, with what each process saw."""

    home: Path
    killed_pid: int
    contender: CliResult
    contender_seconds: float
    holder_ran_on: bool
    unfinished_after_kill: list[str]
    killed_trainer: int
    partial_after_kill: list[Path]
    serving_existed_after_kill: bool
    rerun: CliResult


def _start_run(home: Path, data_root: Path, stderr: Path) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    """Starts `python -m runners run` as a user would; its console lines arrive on the queue."""
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "runners", "run", "--home", str(home), "--data-root", str(data_root), *FAST_FLAGS],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env={**os.environ, **ENV},
            # Its own process group, so the teardown can reap anything it left behind.
            start_new_session=True,
        )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return process, lines


def _wait_for_line(process: subprocess.Popen[str], lines: queue.Queue[str], text: str, seen: list[str]) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=1))
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if text in seen[-1]:
            return
    pytest.fail(f"the run never printed {text!r}; exit code {process.poll()}\n{''.join(seen)}")


def _trainer_outputs(home: Path, execution_id: int | None = None) -> list[Path]:
    pattern = f"*/{execution_id}" if execution_id is not None else "*/[0-9]*"
    return sorted((home / "pipeline_root" / ids.TRAINER).glob(pattern))


def _run_to_completion(home: Path, data_root: Path) -> CliResult:
    result = run_cli(
        "run",
        "--home",
        str(home),
        "--data-root",
        str(data_root),
        *FAST_FLAGS,
        "--json",
        timeout=STEP_TIMEOUT_S,
        env=ENV,
    )
    if result.returncode != 0:
        pytest.fail(f"taxi-pipeline run exited {result.returncode}\n{result.stdout}\n{result.stderr[-5000:]}")
    return result


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    base = tmp_path_factory.mktemp("faults")
    data_root = make_data_root(base)
    home = base / "home"
    process, lines = _start_run(home, data_root, base / "killed-run.stderr")
    try:
        seen: list[str] = []
        # The first component has started, so the run holds the home's lock: start a second run now.
        _wait_for_line(process, lines, f"▶ {ids.EXAMPLE_GEN}", seen)
        started = time.monotonic()
        contender = run_cli("run", "--home", str(home), "--data-root", str(data_root), *FAST_FLAGS, env=ENV)
        contender_seconds = time.monotonic() - started
        holder_ran_on = process.poll() is None

        # Kill it once the Trainer's executor is writing: its output folders exist only from then on.
        _wait_for_line(process, lines, f"▶ {ids.TRAINER}", seen)
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while not _trainer_outputs(home) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)
        assert process.poll() is None, f"the run ended before it could be killed:\n{''.join(seen)}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)

        store = md.connect(home / "metadata.db")
        unfinished = recovery.unfinished_executions(store, "taxi")
        killed_trainer = [e.id for e in unfinished if md.node_id_of(store, e) == ids.TRAINER]
        yield Crash(
            home=home,
            killed_pid=process.pid,
            contender=contender,
            contender_seconds=contender_seconds,
            holder_ran_on=holder_ran_on,
            unfinished_after_kill=[md.node_id_of(store, e) for e in unfinished],
            killed_trainer=killed_trainer[0] if killed_trainer else -1,
            partial_after_kill=_trainer_outputs(home, killed_trainer[0]) if killed_trainer else [],
            serving_existed_after_kill=(home / "serving").exists(),
            rerun=_run_to_completion(home, data_root),
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def test_a_second_run_on_a_busy_home_is_refused_at_once_naming_the_holder(crash: Crash) -> None:
    result = crash.contender
    assert result.returncode == EXIT_LOCKED, result.stderr[-3000:]
    assert f"another run holds the home folder {crash.home} (pid {crash.killed_pid}" in result.stderr
    assert "python -m runners run --home" in result.stderr
    assert "Traceback" not in result.stderr
    # Refused while the first run went on: it did not queue behind it, and ran no component.
    assert crash.holder_ran_on
    assert crash.contender_seconds < 60
    assert "▶" not in result.stdout
    # Nor did it write into the home: the only logs are those of the killed run and the rerun.
    assert len(list((crash.home / "logs").glob("run-*.log"))) == 2


def test_the_killed_run_left_its_trainer_running_and_never_touched_the_serving_dir(crash: Crash) -> None:
    assert crash.unfinished_after_kill == [ids.TRAINER]
    assert crash.partial_after_kill, "the killed Trainer should have started writing its outputs"
    assert not crash.serving_existed_after_kill


def test_the_next_run_recovers_and_reuses_every_finished_step_from_the_cache(crash: Crash) -> None:
    assert f"recovered: {ids.TRAINER} (execution {crash.killed_trainer}" in crash.rerun.stderr
    store = md.connect(crash.home / "metadata.db")
    last_run = md.run_executions(store, md.run_ids(store, "taxi")[-1])
    states = {node: md.state_name(execution) for node, execution in last_run.items()}
    for node in (*ids.INGEST_COMPONENTS, ids.TRANSFORM):
        assert states[node] == "cached", (node, states)
    for node in (ids.TRAINER, ids.EVALUATOR, ids.PUSHER):
        assert states[node] == "executed", (node, states)


def test_ml_metadata_is_consistent_after_the_crash(crash: Crash) -> None:
    store = md.connect(crash.home / "metadata.db")
    active = (md.Execution.NEW, md.Execution.RUNNING)
    assert [e.id for e in store.get_executions() if e.last_known_state in active] == []
    (killed,) = store.get_executions_by_id([crash.killed_trainer])
    assert killed.last_known_state == md.Execution.FAILED
    assert "stopped before it finished" in str(md.prop(killed, "__execution_result__"))
    # The killed Trainer's half-written folders are gone; every artifact ML Metadata records exists.
    assert not any(p.exists() for p in crash.partial_after_kill)
    missing = [a.uri for a in store.get_artifacts() if a.state == md.Artifact.LIVE and not Path(a.uri).exists()]
    assert missing == []
    trainers = md.node_executions(store, "taxi", ids.TRAINER)
    assert [md.state_name(e) for e in trainers] == ["failed", "executed"]
    # The lock went with the processes that held it.
    assert home_lock.read_holder(crash.home) == {}


def test_the_push_after_the_crash_is_one_complete_version(crash: Crash) -> None:
    summary = json.loads(crash.rerun.stdout)
    pushed = Path(summary["pushed_path"])
    serving = crash.home / "serving" / "taxi_big_tipper"
    assert [p.name for p in serving.iterdir()] == [pushed.name] and pushed.name.isdigit()
    assert (pushed / "saved_model.pb").is_file()
    assert list((pushed / "variables").glob("variables.data-*"))


def _mount_tmpfs(target: Path, options: str) -> None:
    """Mounts a small tmpfs at target, or skips the test where this machine does not allow it."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small or read-only disk with")
    target.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}); needs root or CAP_SYS_ADMIN")


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    mounted: list[Path] = []
    yield mounted
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_a_home_under_a_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    # Honest for root too, unlike chmod: nothing can create a folder inside a regular file (ENOTDIR).
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder")
    data_root = make_data_root(tmp_path)
    result = run_cli("run", "--home", str(blocker / "home"), "--data-root", str(data_root), *FAST_FLAGS, env=ENV)
    assert result.returncode == EXIT_STORAGE, result.stderr[-3000:]
    assert f"cannot write to the home folder {blocker / 'home'} (Not a directory)" in result.stderr
    assert f"{blocker} is a file, not a folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert blocker.read_text() == "not a folder"


def test_a_read_only_home_is_refused_naming_it(tmp_path: Path, mounts: list[Path]) -> None:
    home = tmp_path / "read-only"
    _mount_tmpfs(home, "ro,size=1m")
    mounts.append(home)
    data_root = make_data_root(tmp_path)
    result = run_cli("run", "--home", str(home), "--data-root", str(data_root), *FAST_FLAGS, env=ENV)
    assert result.returncode == EXIT_STORAGE, result.stderr[-3000:]
    assert f"cannot write to the home folder {home} (Read-only file system at {home / '.lock'})" in result.stderr
    assert "mounted read-only" in result.stderr and "Traceback" not in result.stderr


def test_a_disk_that_fills_up_mid_run_stops_cleanly_with_nothing_half_written(
    tmp_path: Path, mounts: list[Path]
) -> None:
    disk = tmp_path / "small-disk"
    # Room for ingesting and validating the fixture span, not for Transform's output (measured: the
    # run fills it during Transform).
    _mount_tmpfs(disk, "size=1m")
    mounts.append(disk)
    home = disk / "home"
    data_root = make_data_root(tmp_path)
    result = run_cli(
        "run", "--home", str(home), "--data-root", str(data_root), *FAST_FLAGS, timeout=STEP_TIMEOUT_S, env=ENV
    )
    assert result.returncode == EXIT_STORAGE, result.stdout + result.stderr[-3000:]
    assert "taxi-pipeline: stopped: no space left on the disk: " in result.stderr
    assert f"the home folder {home}" in result.stderr and "Traceback" not in result.stderr
    assert "unrecorded, partial output folder(s) of the stopped step" in result.stdout

    store = md.connect(home / "metadata.db")
    executions = store.get_executions()
    # It stopped mid-run, after some steps had finished, and none is left looking unfinished.
    assert any(md.state_name(e) == "executed" for e in executions)
    failed = [e for e in executions if md.state_name(e) == "failed"]
    assert len(failed) == 1
    assert recovery.unfinished_executions(store, "taxi") == []
    # Nothing half-written is left as if it were valid: the failed step's folders are gone, every
    # recorded artifact exists, and no model reached the serving dir.
    node = md.node_id_of(store, failed[0])
    assert list((home / "pipeline_root" / node).glob(f"*/{failed[0].id}")) == []
    assert [a.uri for a in store.get_artifacts() if a.state == md.Artifact.LIVE and not Path(a.uri).exists()] == []
    assert not (home / "serving").exists()
    assert home_lock.read_holder(home) == {}
