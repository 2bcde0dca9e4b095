"""Finds the Prometheus binaries (`promtool`, `prometheus`) the alert tests run: Debian's `prometheus` package.

Without one a test fails in CI (CI=true: .ci/run installs the package) and is skipped elsewhere, as
tests/browser.py does for Chromium.
"""

from __future__ import annotations

import os
import shutil


def require_tool(name: str) -> str:
    """Returns the path of `name` on the PATH; without it, fails the test under CI=true and skips it elsewhere."""
    import pytest

    found = shutil.which(name)
    if found is not None:
        return found
    reason = f"no `{name}` on the PATH; install Debian's `prometheus` package (.ci/run does)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)
