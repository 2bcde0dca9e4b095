"""What a command shows on the console and what goes to its log file: a run's progress lines, the log file
under <home>/logs, and the libraries' notices kept off the console, each for the block that needs it.

TFX's LocalDagRunner announces each node through absl logging; a handler turns those records into
progress lines and asks ML Metadata whether the node executed or was served from the cache.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
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


class ProgressHandler(logging.Handler):
    """Turns LocalDagRunner's start/finish records into console lines."""

    def __init__(self, out: TextIO, state_of: Callable[[str], str]) -> None:
        super().__init__(level=logging.INFO)
        self.out = out
        self.state_of = state_of
        self.nodes: dict[str, NodeTiming] = {}
        self.current: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg not in (_RUNNING, _FINISHED) or not record.args:
            return
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        node_id = str(args[0])
        now = time.monotonic()
        if record.msg == _RUNNING:
            self.nodes[node_id] = NodeTiming(node_id, now)
            self.current = node_id
            self.out.write(f"  ▶ {node_id} ...\n")
        else:
            timing = self.nodes.setdefault(node_id, NodeTiming(node_id, now))
            timing.seconds = now - timing.started
            try:
                timing.state = self.state_of(node_id)
            except Exception:  # the progress line must never break a run
                timing.state = "finished"
            self.current = None
            self.out.write(f"  ✔ {node_id:<30} {timing.state:<9} {timing.seconds:6.1f}s\n")
        self.out.flush()


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
