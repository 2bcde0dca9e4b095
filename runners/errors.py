"""Errors that stop a command with a documented exit code (see the README's exit-code table)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_GATE = 4
EXIT_COMPONENT = 5
EXIT_LOCKED = 6
# The home folder cannot be written: not a folder, not writable, or its disk is full. Not a usage
# error: the flags may be right and the machine needs fixing (free space, permissions).
EXIT_STORAGE = 7

# The exit codes as `--help` lists them; the README's table says the same.
EXIT_CODES_HELP = """exit codes:
  0  the run completed (a model was pushed, or it was not blessed: the summary says which)
  1  unexpected internal error (a bug: please report it with the log file)
  2  bad usage or configuration
  3  unreadable or missing input data, or a damaged artifact in the home
  4  stopped by a data gate (anomalies or drift)
  5  a pipeline component failed
  6  another run holds this home folder
  7  cannot write to the home folder: not a folder, not writable, or its disk is full
"""


class RunError(Exception):
    """A command stopped for a reason the user can act on; `exit_code` says which kind."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
