"""`watch`'s loop: when a span folder is complete, what a failed run leads to, how it stops."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from runners.errors import EXIT_COMPONENT, EXIT_GATE
from runners.monitoring import watch as w

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _span(root: Path, number: int, text: str = "a,b\n1,2\n") -> Path:
    folder = root / f"span-{number}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.csv").write_text(text)
    return folder


def test_a_folder_with_the_marker_is_complete_at_once(tmp_path: Path) -> None:
    folder = _span(tmp_path, 1)
    (folder / "_SUCCESS").touch()
    assert w.SpanReadiness("_SUCCESS", 3600).check(folder, 0.0) == (True, "_SUCCESS marker present")


def test_without_the_marker_a_folder_is_complete_once_unchanged_for_the_settle_time(tmp_path: Path) -> None:
    folder = _span(tmp_path, 1)
    readiness = w.SpanReadiness("_SUCCESS", 60)
    assert not readiness.check(folder, 0.0)[0]
    assert not readiness.check(folder, 59.0)[0]
    (folder / "data.csv").write_text("a,b\n1,2\n3,4\n")  # still being written: the clock starts again
    assert not readiness.check(folder, 61.0)[0]
    assert not readiness.check(folder, 120.0)[0]
    complete, why = readiness.check(folder, 121.0)
    assert complete and "unchanged for 60s" in why


def test_an_empty_folder_is_never_complete(tmp_path: Path) -> None:
    folder = tmp_path / "span-1"
    folder.mkdir()
    readiness = w.SpanReadiness("_SUCCESS", 0)
    assert readiness.check(folder, 0.0) == (False, "empty")
    assert readiness.check(folder, 1e9) == (False, "empty")


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [w.backoff_seconds(n, 10, 45) for n in range(5)] == [0, 10, 20, 40, 45]


def test_span_folders_read_the_layout_runners_local_reads(tmp_path: Path) -> None:
    # runners.local loads TensorFlow; its pattern is compared as source text.
    local = (ROOT / "runners" / "local.py").read_text()
    assert f'SPAN_DIR = re.compile(r"{w.SPAN_DIR.pattern}")' in local
    _span(tmp_path, 2)
    _span(tmp_path, 10)
    (tmp_path / "span-x").mkdir()
    (tmp_path / "span-3").write_text("a file, not a folder")
    assert list(w.span_folders(tmp_path)) == [2, 10]
    assert w.span_folders(tmp_path / "missing") == {}


def _step(code: int, document: dict[str, Any] | None = None) -> list[str]:
    """A real child process that prints a document and exits with a code, as `run --json` does."""
    printed = json.dumps(document or {})
    return [sys.executable, "-c", f"import sys; print({printed!r}); sys.exit({code})"]


class Harness:
    """A Watcher over a real data root, whose runs are real child processes with scripted exit codes."""

    def __init__(self, root: Path, codes: list[int], **options: Any) -> None:
        self.root = root
        self.codes = codes
        self.accepted: set[int] = set()
        self.runs: list[tuple[int, int, dict[str, Any] | None]] = []
        self.skews: list[int | None] = []
        self.clock = Clock()
        # Children write their stderr to it, so a real file; closed when the harness is collected.
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115
        defaults: dict[str, Any] = {"poll_seconds": 0.0, "settle_seconds": 3600, "backoff_base_seconds": 0.0}
        self.watcher = w.Watcher(
            w.WatchOptions(run_command=self._command, skew_command=None, **{**defaults, **options}),
            list_spans=lambda: w.span_folders(root),
            accepted_spans=lambda: self.accepted,
            after_run=self._after_run,
            after_skew=self.skews.append,
            log=self.log,
            clock=self.clock,
        )

    def text(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def _command(self, span: int) -> list[str]:
        code = self.codes.pop(0)
        return _step(code, {"span": span, "pushed": code == 0, "pushed_version": "9"})

    def _after_run(self, span: int, code: int, summary: dict[str, Any] | None) -> None:
        self.runs.append((span, code, summary))
        if code == 0:
            self.accepted.add(span)


def test_a_gate_stop_is_not_retried_until_the_span_changes_and_the_next_span_still_runs(tmp_path: Path) -> None:
    for span in (1, 2):
        (_span(tmp_path, span) / "_SUCCESS").touch()
    harness = Harness(tmp_path, [EXIT_GATE, 0], once=True)
    harness.accepted = {1}
    assert harness.watcher.run_forever() == 0
    assert [(s, c) for s, c, _ in harness.runs] == [(2, EXIT_GATE)]
    harness.watcher.run_forever()  # same files: nothing to do
    assert len(harness.runs) == 1
    assert "span 2 unchanged since its run exited 4; waiting for new files" in harness.text()
    _span(tmp_path, 2, "a,b\n5,6\n")  # fixed files
    harness.watcher.run_forever()
    assert [(s, c) for s, c, _ in harness.runs] == [(2, EXIT_GATE), (2, 0)]
    assert harness.runs[-1][2] == {"span": 2, "pushed": True, "pushed_version": "9"}
    assert "pushed version 9" in harness.text()


def test_a_crash_is_retried_after_the_backoff_and_max_runs_stops_the_loop(tmp_path: Path) -> None:
    (_span(tmp_path, 1) / "_SUCCESS").touch()
    harness = Harness(tmp_path, [EXIT_COMPONENT, 1, 0], backoff_base_seconds=30.0, max_runs=3, once=True)
    harness.watcher.run_forever()
    harness.watcher.run_forever()  # within the backoff: waits
    assert len(harness.runs) == 1
    assert "backing off 30.0s more after a failed run" in harness.text()
    harness.clock.now += 30
    harness.watcher.run_forever()
    assert len(harness.runs) == 2  # retried; failed again: 60 s now
    harness.clock.now += 59
    harness.watcher.run_forever()
    assert len(harness.runs) == 2
    harness.clock.now += 1
    harness.watcher.run_forever()
    assert [c for _, c, _ in harness.runs] == [EXIT_COMPONENT, 1, 0]
    assert harness.watcher.failures_in_a_row == 0
    assert "stopping: 3 run(s) done (--max-runs)" in harness.text()


def test_an_incomplete_span_waits_while_an_older_complete_one_runs(tmp_path: Path) -> None:
    (_span(tmp_path, 2) / "_SUCCESS").touch()
    _span(tmp_path, 3)  # no marker, settle time not passed
    harness = Harness(tmp_path, [0], once=True)
    harness.watcher.run_forever()
    assert [s for s, _, _ in harness.runs] == [2]
    assert "span 3 not complete yet" in harness.text()
    harness.watcher.run_forever()
    assert len(harness.runs) == 1


def test_stop_ends_the_loop_after_the_current_step(tmp_path: Path) -> None:
    for span in (1, 2, 3):
        (_span(tmp_path, span) / "_SUCCESS").touch()
    harness = Harness(tmp_path, [0, 0, 0])
    harness.watcher.after_run = lambda span, code, summary: harness.watcher.stop()
    assert harness.watcher.run_forever() == 0
    assert harness.codes == [0, 0]  # one run started, then the loop stopped
    assert "stopped by a signal between steps" in harness.text()


def test_the_watch_command_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    command = [sys.executable, "-m", "runners", "watch", "--home", str(tmp_path / "home")]
    command += ["--data-root", str(tmp_path / "data"), "--poll-seconds", "0.2", "--skew-seconds", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "watching for span folders" in line:
            break
    time.sleep(0.5)  # a few polls of the empty data root
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "stopped by a signal between steps" in output
    (log,) = (tmp_path / "home" / "logs").glob("watch-*.log")
    assert re.search(r"watch: stopped by a signal", log.read_text())
