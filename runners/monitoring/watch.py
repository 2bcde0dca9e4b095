"""`taxi-pipeline watch`'s loop: run the pipeline when a complete new span folder appears, check skew at an interval.

Each step is a child `taxi-pipeline` process (a run, a skew check), so a crash in one cannot stop the
watcher, each run gets a fresh TensorFlow and Beam, and the exit codes are the documented ones. The
loop only decides when to start a step and records how it ended (its log, the metrics textfile).
"""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from runners.errors import EXIT_GATE, EXIT_INPUT, EXIT_OK, EXIT_USAGE

# Exit codes that the same files would produce again: such a span is retried only once its folder
# changes. Any other failure (a crash, a failed component, a locked home) is retried after a backoff.
NEEDS_NEW_FILES = frozenset({EXIT_USAGE, EXIT_INPUT, EXIT_GATE})

Signature = tuple[tuple[str, int, int], ...]

# The data root's layout, as runners.local reads it (a unit test holds the two equal); not imported
# from there because that module loads TensorFlow, which a watcher that sleeps between runs does not need.
SPAN_DIR = re.compile(r"^span-(\d+)$")


def span_folders(data_root: str | Path) -> dict[int, Path]:
    """Returns span number -> folder for every `span-<N>/` folder under data_root (empty when it is missing)."""
    root = Path(data_root)
    if not root.is_dir():
        return {}
    found = {int(m.group(1)): child for child in root.iterdir() if (m := SPAN_DIR.match(child.name)) and child.is_dir()}
    return dict(sorted(found.items()))


def folder_signature(folder: Path) -> Signature:
    """Every file under folder as (relative path, size, mtime in ns), sorted: it changes when a file does."""
    files = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            files.append((str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns))
    return tuple(files)


class SpanReadiness:
    """Decides when a span folder is complete: it holds the marker file, or its files stopped changing.

    A folder's files are "unchanged" once the same signature was seen for settle_seconds of this
    watcher's clock (not the files' own mtimes, which a copy may preserve from long ago).
    """

    def __init__(self, marker: str, settle_seconds: float) -> None:
        self.marker = marker
        self.settle_seconds = settle_seconds
        self._seen: dict[Path, tuple[Signature, float]] = {}

    def check(self, folder: Path, now: float) -> tuple[bool, str]:
        """Returns (complete, why) for one folder at monotonic time now."""
        if (folder / self.marker).is_file():
            return True, f"{self.marker} marker present"
        signature = folder_signature(folder)
        if not signature:
            return False, "empty"
        previous = self._seen.get(folder)
        if previous is None or previous[0] != signature:
            self._seen[folder] = (signature, now)
            return (
                False,
                f"files changing; complete when they stay unchanged {self.settle_seconds:g}s or {self.marker} appears",
            )
        unchanged = now - previous[1]
        if unchanged >= self.settle_seconds:
            return True, f"files unchanged for {unchanged:.0f}s"
        # Worded without the running count, so the watcher logs it once, not at every poll.
        return (
            False,
            f"files unchanged for now; complete after {self.settle_seconds:g}s unchanged or when {self.marker} appears",
        )


def backoff_seconds(failures: int, base: float, cap: float) -> float:
    """The wait before retrying after `failures` failed runs in a row: base, 2*base, 4*base, ... up to cap."""
    return 0.0 if failures <= 0 else min(cap, base * 2 ** (failures - 1))


@dataclasses.dataclass(frozen=True)
class StepResult:
    """How a child step ended."""

    exit_code: int
    stdout: str
    seconds: float


@dataclasses.dataclass(frozen=True)
class WatchOptions:
    """What the watcher does and how often."""

    run_command: Callable[[int], list[str]]  # span -> argv of `taxi-pipeline run ... --span N --json`
    skew_command: list[str] | None  # argv of `taxi-pipeline skew ... --json`; None: no skew checks
    poll_seconds: float = 30.0
    skew_seconds: float = 3600.0
    marker: str = "_SUCCESS"
    settle_seconds: float = 120.0
    backoff_base_seconds: float = 60.0
    backoff_max_seconds: float = 3600.0
    max_runs: int | None = None
    once: bool = False


@dataclasses.dataclass
class _Failure:
    signature: Signature
    exit_code: int


class Watcher:
    """The polling loop; see WatchOptions and `taxi-pipeline watch --help`."""

    def __init__(
        self,
        options: WatchOptions,
        list_spans: Callable[[], dict[int, Path]],
        accepted_spans: Callable[[], set[int]],
        after_run: Callable[[int, int, dict[str, Any] | None], None],
        after_skew: Callable[[int | None], None],
        log: TextIO,
        echo: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Sets the watcher up.

        Args:
            options: what to do and how often.
            list_spans: span number -> folder under the data root, now.
            accepted_spans: the spans this home's data gate accepted, now.
            after_run: called with (span, exit code, run summary or None) after each run.
            after_skew: called with the number of skewed features (None: not measured) after each check.
            log: where the watcher's own lines and its children's progress go (a file).
            echo: where the watcher's own lines go too (the console), if anywhere.
            clock: monotonic seconds.
        """
        self.options = options
        self.list_spans = list_spans
        self.accepted_spans = accepted_spans
        self.after_run = after_run
        self.after_skew = after_skew
        self.log = log
        self.echo = echo
        self.clock = clock
        self.readiness = SpanReadiness(options.marker, options.settle_seconds)
        self.runs = 0
        self.failures_in_a_row = 0
        self._failed: dict[int, _Failure] = {}
        self._completed: set[int] = set()  # never run twice, even if ML Metadata were to disagree
        self._retry_at = 0.0
        self._next_skew = 0.0
        self._waiting: dict[int, str] = {}
        self._stop = threading.Event()
        self._child: subprocess.Popen[str] | None = None

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT stop the loop after the current step; a second one ends that step's process too."""

        def on_signal(number: int, frame: FrameType | None) -> None:
            if self._stop.is_set() and self._child is not None and self._child.poll() is None:
                self.say(f"second {signal.Signals(number).name}: terminating the running step")
                self._child.terminate()
            self._stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def stop(self) -> None:
        """Asks the loop to stop after the current step."""
        self._stop.set()

    def say(self, line: str) -> None:
        """Writes one timestamped line to the watcher's log."""
        text = f"{time.strftime('%Y-%m-%d %H:%M:%S')} watch: {line}\n"
        for stream in (self.log, self.echo):
            if stream is not None:
                stream.write(text)
                stream.flush()

    def run_forever(self) -> int:
        """Polls until stopped, --once's single pass, or --max-runs runs; returns the exit code (0)."""
        self.say(
            f"watching for span folders (poll every {self.options.poll_seconds:g}s; complete: {self.options.marker} "
            f"or unchanged {self.options.settle_seconds:g}s; skew every "
            + (f"{self.options.skew_seconds:g}s)" if self.options.skew_command else "never)")
        )
        while not self._stop.is_set():
            if self.options.skew_command and self.clock() >= self._next_skew:
                self._check_skew()
                self._next_skew = self.clock() + self.options.skew_seconds
                if self._stop.is_set():
                    break
            span = self._ready_span()
            if span is not None:
                self._run(span)
                if self.options.max_runs is not None and self.runs >= self.options.max_runs:
                    self.say(f"stopping: {self.runs} run(s) done (--max-runs)")
                    break
                if not self.options.once:
                    continue  # look again at once: another span may be waiting
            if self.options.once:
                break
            self._stop.wait(self.options.poll_seconds)
        if self._stop.is_set():
            self.say("stopped by a signal between steps")
        return EXIT_OK

    def _ready_span(self) -> int | None:
        """The newest complete span newer than every accepted one, unless it must wait (backoff, same failed files)."""
        try:
            spans = self.list_spans()
        except Exception as err:  # a missing or empty data root: wait for it
            self._note(-1, f"data root not readable yet: {err}")
            return None
        newest_accepted = max(self.accepted_spans(), default=0)
        now = self.clock()
        for span in sorted((s for s in spans if s > newest_accepted and s not in self._completed), reverse=True):
            complete, why = self.readiness.check(spans[span], now)
            if not complete:
                self._note(span, f"span {span} not complete yet: {why}")
                continue
            failure = self._failed.get(span)
            if (
                failure is not None
                and failure.exit_code in NEEDS_NEW_FILES
                and folder_signature(spans[span]) == failure.signature
            ):
                self._note(
                    span, f"span {span} unchanged since its run exited {failure.exit_code}; waiting for new files"
                )
                continue
            if now < self._retry_at:
                self._note(span, f"span {span} ready; backing off {self._retry_at - now:.1f}s more after a failed run")
                return None
            return span
        return None

    def _note(self, key: int, line: str) -> None:
        # A waiting state is logged when it changes, not at every poll.
        if self._waiting.get(key) != line:
            self._waiting[key] = line
            self.say(line)

    def _step(self, argv: Sequence[str]) -> StepResult:
        started = self.clock()
        self.log.flush()
        self._child = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=self.log, text=True)
        stdout, _ = self._child.communicate()
        code = self._child.returncode
        self._child = None
        return StepResult(code, stdout, self.clock() - started)

    def _run(self, span: int) -> None:
        self._waiting.clear()
        self.say(f"span {span} is complete: running the pipeline on it")
        signature = folder_signature(self.list_spans()[span])
        result = self._step(self.options.run_command(span))
        self.runs += 1
        summary = None
        if result.exit_code == EXIT_OK:
            try:
                summary = json.loads(result.stdout)
            except ValueError:
                summary = None
        self.after_run(span, result.exit_code, summary)
        if result.exit_code == EXIT_OK:
            self.failures_in_a_row = 0
            self._failed.pop(span, None)
            self._completed.add(span)
            pushed = summary.get("pushed_version") if summary and summary.get("pushed") else None
            window = ", ".join(map(str, summary.get("window_spans") or [])) if summary else ""
            self.say(
                f"run {self.runs} on span {span} completed in {result.seconds:.0f}s"
                + (f"; trained on spans {window}" if window else "")
                + (f"; pushed version {pushed}" if pushed else "; nothing pushed")
            )
            return
        self.failures_in_a_row += 1
        self._failed[span] = _Failure(signature, result.exit_code)
        wait = backoff_seconds(
            self.failures_in_a_row, self.options.backoff_base_seconds, self.options.backoff_max_seconds
        )
        self._retry_at = self.clock() + wait
        retry = "retried when its files change" if result.exit_code in NEEDS_NEW_FILES else f"retried after {wait:.0f}s"
        self.say(
            f"run {self.runs} on span {span} failed with exit code {result.exit_code} after {result.seconds:.0f}s "
            f"(its log is under the home's logs/); span {span} will be {retry}; next run not before {wait:.0f}s"
        )

    def _check_skew(self) -> None:
        assert self.options.skew_command is not None
        self.say("checking the request log's skew")
        result = self._step(self.options.skew_command)
        skewed: int | None = None
        if result.exit_code in (EXIT_OK, EXIT_GATE):
            try:
                skewed = len(json.loads(result.stdout)["skewed"])
            except (ValueError, KeyError, TypeError):
                skewed = None
        self.after_skew(skewed)
        if skewed is None:
            self.say(f"skew not measured (exit code {result.exit_code}; its message is in this log)")
        else:
            self.say(f"skew: {skewed} feature(s) over their threshold")
