"""Keeps the libraries' start-up chatter off the console while a reader loads TensorFlow or TFMA, for that
reader's duration only: named loggers are raised to ERROR and put back, nothing else is silenced."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator

# The loggers TensorFlow, absl (which TFMA and TFX log through), Beam and TFMA write their deprecation
# notices and notes to (e.g. "an evaluation against a baseline has no plots"): nothing about the user's models.
LIBRARY_LOGGERS = ("tensorflow", "absl", "apache_beam", "tensorflow_model_analysis", "tfx")


def prepare_tensorflow_environment() -> None:
    """Sets what must be set before TensorFlow loads: Keras 2 as the pipeline uses it, C++ logs off.

    runners never import models/, which sets these for pipeline code; a variable the user set wins.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def quiet_libraries(level: int = logging.ERROR) -> Iterator[None]:
    """Raises the library loggers to `level` and ignores Python warnings inside the block, then restores both.

    Args:
        level: the lowest severity still shown; errors stay visible.
    """
    prepare_tensorflow_environment()
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(level, logger.getEffectiveLevel()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, previous in zip(loggers, before, strict=True):
            logger.setLevel(previous)
