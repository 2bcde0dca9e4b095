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
import warnings
from collections.abc import Callable, Iterator, Sequence
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


# Where the libraries' own notices come from: the root logger (module loggers inherit its level), absl's
# (TFX, TFMA and TFDV log through it) and TensorFlow's, which both carry a level of their own.
LIBRARY_LOGGERS = ("", "absl", "tensorflow")


@contextmanager
def quiet_loggers(level: int = logging.ERROR, names: Sequence[str] = LIBRARY_LOGGERS) -> Iterator[None]:
    """Raises the named loggers to at least `level` for the block, then gives each its own level back.

    Unlike logging.disable, which holds for every logger of the process and every thread in it, only
    these loggers are quieter, and only until the block ends.

    Args:
        level: the lowest severity still shown inside the block (default: errors).
        names: the loggers ("" is the root logger).
    """
    loggers = [logging.getLogger(name) for name in names]
    saved = [(logger, logger.level) for logger in loggers]
    # Each one set, not only the root: absl (when its flags are parsed) and TensorFlow (in an interactive
    # session) give their loggers a level of their own.
    for logger in [logger for logger in loggers if logger.getEffectiveLevel() < level]:
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, saved_level in saved:
            logger.setLevel(saved_level)


# Read by TensorFlow's C++ core once, as it loads: 3 keeps its start-up notices off the console.
QUIET_TENSORFLOW_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3"}


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Keeps TensorFlow's, TFMA's and absl's notices and Python warnings off the console for the block.

    For commands that load TensorFlow without a log file to send them to (e.g. `report`). The
    environment variables, logger levels and warning filters are those of before once the block ends;
    a value the user set in the environment is kept.
    """
    saved = {name: os.environ.get(name) for name in QUIET_TENSORFLOW_ENVIRONMENT}
    for name, value in QUIET_TENSORFLOW_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    try:
        with quiet_loggers(), warnings.catch_warnings():
            # The libraries' deprecation notices say nothing about the user's models.
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
