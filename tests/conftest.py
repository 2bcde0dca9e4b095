"""Shared test setup: Keras 2 for TensorFlow, and paths to the committed data."""

from __future__ import annotations

from pathlib import Path

import models  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DATA = ROOT / "data" / "taxi"
SMALL_DATA = ROOT / "tests" / "data" / "taxi-small"
