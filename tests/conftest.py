"""Shared test setup: Keras 2 for TensorFlow, and paths to the committed data."""

from __future__ import annotations

from pathlib import Path

import pytest

import models  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DATA = ROOT / "data" / "taxi"
SMALL_DATA = ROOT / "tests" / "data" / "taxi-small"


# First, so that xdist's own hook sees the groups when it files each test under one.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keeps each e2e module on one xdist worker, and every user of the shared healthy home on one.

    Under `--dist loadgroup` an ungrouped test may land on any worker, and a module- or session-scoped
    pipeline run would then be repeated on each worker that needs it: minutes, not seconds.
    """
    for item in items:
        if item.get_closest_marker("e2e") is None:
            continue
        fixtures = getattr(item, "fixturenames", ())
        group = "healthy_home" if "healthy_home" in fixtures else item.module.__name__ if item.module else item.nodeid
        item.add_marker(pytest.mark.xdist_group(group))
