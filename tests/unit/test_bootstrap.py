"""scripts/bootstrap.sh's stamps: a venv set up for development also counts as set up for running."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stamp(*locks: str) -> str:
    """The stamp name bootstrap.sh gives a venv holding these locks (sha256 of them and pyproject.toml)."""
    digest = hashlib.sha256(b"".join((ROOT / name).read_bytes() for name in (*locks, "pyproject.toml")))
    return ".installed-" + digest.hexdigest()[:16]


def _bootstrap(venv: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # PYTHON names no interpreter: any run that gets as far as creating the venv fails, so exit 0 means
    # the stamp alone answered.
    env = dict(os.environ, TAXI_SETUP_VENV=str(venv), TAXI_SETUP_TOOLS=str(tmp_path / "tools"))
    env["PYTHON"] = str(tmp_path / "no-python")
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_dev_venv_needs_nothing_more_for_the_runtime_setup(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / _stamp("requirements.lock", "requirements-dev.lock")).touch()

    done = _bootstrap(venv, tmp_path)

    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in venv.iterdir()) == [_stamp("requirements.lock", "requirements-dev.lock")]


def test_a_runtime_venv_is_not_taken_for_a_dev_one(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / _stamp("requirements.lock")).touch()

    done = _bootstrap(venv, tmp_path, "--dev")

    assert done.returncode == 2 and "is not a working Python 3.10" in done.stderr
