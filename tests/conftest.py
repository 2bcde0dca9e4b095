"""Shared test setup: Keras 2 for TensorFlow, and paths to the committed data."""

from __future__ import annotations

from pathlib import Path

import models  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

# The xdist controller loads only this conftest: make test's work units are defined with the e2e fixtures.
from tests.e2e.conftest import pytest_xdist_make_scheduler  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DATA = ROOT / "data" / "taxi"
SMALL_DATA = ROOT / "tests" / "data" / "taxi-small"
