"""What a command shows on the console and what goes to its log file: a run's progress lines, the log file
under <home>/logs, and the libraries' notices kept off the console, each for the block that needs it.

TFX's LocalDagRunner announces each node through absl logging; a handler turns those records into
progress lines and asks ML Metadata whether the node executed or was served from the cache, and says
every 20 s that a long step is still running.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from absl import logging as absl_logging

from pipeline.config import PipelineConfig
from runners.home.storage import unwritable_home

_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."


@dataclasses.dataclass
class NodeTiming:
    """What the console showed for one node."""

    node_id: str
    started: float
    seconds: float | None = None
    state: str = "running"


# A step quiet for this long gets a line saying it is still running, then one per HEARTBEAT_EVERY:
# enough to tell a slow step from a stuck one, few enough for a log file or CI output.
HEARTBEAT_AFTER = 10.0
HEARTBEAT_EVERY = 20.0


class ProgressHandler(logging.Handler):
    """Turns LocalDagRunner's start/finish records into console lines, with a heartbeat inside long steps.

    The heartbeat says how long the step has run and how long its last execution took (from ML
    Metadata): Keras trains silently (verbose=0) and Beam's DirectRunner logs no stage progress, so
    the elapsed time against the previous duration is what can be read cheaply.
    """

    def __init__(
        self,
        out: TextIO,
        state_of: Callable[[str], str],
        previous_seconds: Callable[[str], float | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(level=logging.INFO)
        self.out = out
        self.state_of = state_of
        self.previous_seconds = previous_seconds
        self.clock = clock
        self.nodes: dict[str, NodeTiming] = {}
        self.current: str | None = None
        self._next_beat = 0.0
        self._previous: float | None = None
        self._write_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self, line: str) -> None:
        with self._write_lock:
            self.out.write(line)
            self.out.flush()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg not in (_RUNNING, _FINISHED) or not record.args:
            return
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        node_id = str(args[0])
        now = self.clock()
        if record.msg == _RUNNING:
            self.nodes[node_id] = NodeTiming(node_id, now)
            self.current = node_id
            self._next_beat = now + HEARTBEAT_AFTER
            self._previous = None
            if self.previous_seconds is not None:
                try:
                    self._previous = self.previous_seconds(node_id)
                except Exception:  # the progress line must never break a run
                    self._previous = None
            self._write(f"  ▶ {node_id} ...\n")
        else:
            timing = self.nodes.setdefault(node_id, NodeTiming(node_id, now))
            timing.seconds = now - timing.started
            try:
                timing.state = self.state_of(node_id)
            except Exception:  # the progress line must never break a run
                timing.state = "finished"
            self.current = None
            self._write(f"  ✔ {node_id:<30} {timing.state:<9} {timing.seconds:6.1f}s\n")

    def heartbeat(self) -> str | None:
        """Writes and returns the still-running line of the current step when one is due, else None."""
        with self._write_lock:  # not between a step's finish and its ✔ line
            node_id = self.current
            timing = self.nodes.get(node_id) if node_id else None
            now = self.clock()
            if timing is None or timing.seconds is not None or now < self._next_beat:
                return None
            self._next_beat = now + HEARTBEAT_EVERY
            took = f", {self._previous:.0f}s last time" if self._previous else ""
            line = f"  … {node_id} still running, {now - timing.started:.0f}s so far{took}\n"
            self._write(line)
            return line

    def start_heartbeat(self, every: float = 1.0) -> None:
        """Checks once per `every` seconds, on a daemon thread, whether a heartbeat line is due."""

        def beat() -> None:
            while not self._stop.wait(every):
                try:
                    self.heartbeat()
                except Exception:  # a closed console, say: the run goes on without heartbeats
                    return

        self._stop.clear()
        self._thread = threading.Thread(target=beat, name="progress-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        """Stops the heartbeat thread (a no-op when none runs)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


@contextmanager
def quiet_and_logged(log_file: Path, verbose: bool, console: TextIO) -> Iterator[TextIO]:
    """Sends every log record and all stderr output of the run to log_file.

    Unless verbose, the console shows only what the caller writes to the stream this yields:
    TensorFlow's C++ logs, Python warnings and the handlers that TFX, Beam or absl install while
    running write to file descriptor 2, which points at the log file for the duration.

    Args:
        log_file: where the full log of the run goes (appended).
        verbose: leave stderr alone, so the logs also reach the console.
        console: where the caller's progress lines should go.

    Yields:
        The stream to write progress to.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(log_file)
    file_handler.setLevel(logging.INFO)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    absl_logger = logging.getLogger("absl")
    saved_levels = {logger: logger.level for logger in (root, absl_logger)}
    root.addHandler(file_handler)
    root.setLevel(logging.INFO)
    # Through the verbosity flag, not just the logger level: components that parse absl flags
    # mid-run (Transform does) reset the logger to the flag's value.
    saved_verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.INFO)
    logging.captureWarnings(True)

    saved_stderr_fd = None
    stream = console
    if not verbose:
        sys.stderr.flush()
        saved_stderr_fd = os.dup(2)
        if console is sys.stderr:
            stream = os.fdopen(os.dup(saved_stderr_fd), "w", buffering=1)
        log_fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log_fd, 2)
        os.close(log_fd)
    try:
        yield stream
    finally:
        stream.flush()
        if saved_stderr_fd is not None:
            sys.stderr.flush()
            os.dup2(saved_stderr_fd, 2)
            os.close(saved_stderr_fd)
            if stream is not console:
                stream.close()
        logging.captureWarnings(False)
        root.removeHandler(file_handler)
        file_handler.close()
        absl_logging.set_verbosity(saved_verbosity)
        for logger, level in saved_levels.items():
            logger.setLevel(level)


def new_log_file(config: PipelineConfig, command: str) -> Path:
    """Creates this command's log file, <home>/logs/<command>-<time>.log, and returns its path.

    Raises:
        RunError: EXIT_STORAGE, as for every command, when the logs folder or file cannot be written
            (see runners.home.storage.unwritable_home).
    """
    log_file = Path(config.logs_dir).resolve() / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.touch()
    except OSError as err:
        raise unwritable_home(Path(config.home).resolve(), err) from None
    return log_file


@contextmanager
def command_console(config: PipelineConfig, command: str) -> Iterator[TextIO]:
    """Sends TensorFlow's and Beam's logs to <home>/logs, as `run` does, and yields the console.

    Raises:
        RunError: EXIT_STORAGE when the log file cannot be written (see new_log_file).
    """
    with quiet_and_logged(new_log_file(config, command), bool(config.verbose), sys.stdout) as console:
        yield console


class ReadOnlyConsole:
    """What a read-only command writes: its output (stdout) and status lines while it works (the real stderr)."""

    def __init__(self, out: TextIO, status_stream: TextIO) -> None:
        self.out = out
        self._status = status_stream
        self._started = time.monotonic()

    def write(self, text: str) -> int:
        """Writes the command's output."""
        return self.out.write(text)

    def status(self, text: str) -> None:
        """Says what the command is doing now, with the seconds so far, on the console's stderr."""
        self._status.write(f"taxi-pipeline: {text} ({time.monotonic() - self._started:.0f} s so far)\n")
        self._status.flush()


@contextmanager
def read_only_console(config: PipelineConfig, command: str) -> Iterator[ReadOnlyConsole]:
    """As command_console, for commands that only read: nothing is written into the home.

    The libraries' logs go to a temporary file outside it, removed when the command succeeds and named
    on stderr when it does not, so a failure can still be looked into.
    """
    import tempfile

    handle, name = tempfile.mkstemp(prefix=f"taxi-pipeline-{command.replace(' ', '-')}-", suffix=".log")
    os.close(handle)
    log_file = Path(name)
    sys.stderr.flush()
    # The console's stderr as it is now: inside the block, file descriptor 2 points at the log file.
    status_stream = os.fdopen(os.dup(2), "w", buffering=1)
    succeeded = False
    try:
        with quiet_and_logged(log_file, bool(config.verbose), sys.stdout) as console:
            yield ReadOnlyConsole(console, status_stream)
        succeeded = True
    finally:
        status_stream.close()
        if succeeded:
            log_file.unlink(missing_ok=True)
        else:
            print(f"taxi-pipeline: the libraries' log of this {command} is kept in {log_file}", file=sys.stderr)
