"""Library chatter kept off the console for one block: named loggers raised, warnings ignored, TensorFlow's C++
log level set, each put back as it was when the block ends (never logging.disable for the whole process)."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator, Sequence

# The loggers TensorFlow, absl (which TFX, TFMA and TFDV log through), Beam and TFMA write their notices
# to (deprecations, "an evaluation against a baseline has no plots"): nothing about the user's models.
LIBRARY_LOGGERS = ("tensorflow", "absl", "apache_beam", "tensorflow_model_analysis", "tfx")


@contextlib.contextmanager
def quiet_loggers(level: int = logging.ERROR, names: Sequence[str] = LIBRARY_LOGGERS) -> Iterator[None]:
    """Raises the named loggers to at least `level` for the block, then gives each its own level back.

    Unlike logging.disable, which holds for every logger of the process and every thread in it, only
    these loggers are quieter, and only until the block ends.

    Args:
        level: the lowest severity still shown inside the block (default: errors).
        names: the loggers.
    """
    loggers = [logging.getLogger(name) for name in names]
    saved = [(logger, logger.level) for logger in loggers]
    # Each one set, not a common parent: absl (when its flags are parsed) and TensorFlow (in an interactive
    # session) give their loggers a level of their own, and the root logger stays as the user set it.
    for logger in [logger for logger in loggers if logger.getEffectiveLevel() < level]:
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, saved_level in saved:
            logger.setLevel(saved_level)


# Read by TensorFlow's C++ core once, as it loads: 3 keeps its start-up notices off the console.
QUIET_TENSORFLOW_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3"}


@contextlib.contextmanager
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
