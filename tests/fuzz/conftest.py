"""Hypothesis settings of the fuzz tests: fast by default, `HYPOTHESIS_PROFILE=long` for a longer local search.

The default profile keeps every test well under a minute on a loaded 2-core CI machine and writes no
example database (nothing under the repository). `long` tries many more inputs and keeps the failing
ones it finds in a database under the system's temporary folder, so a rerun tries them first.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# deadline=None: the first call of a reader imports TensorFlow or TFX, seconds that are not the reader's.
settings.register_profile(
    "default",
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "long",
    max_examples=2000,
    deadline=None,
    database=DirectoryBasedExampleDatabase(str(Path(tempfile.gettempdir()) / "taxi-pipeline-hypothesis")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
