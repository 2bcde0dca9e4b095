"""scripts/bootstrap.sh installs exactly the lock's set, with uv and, when uv cannot be had, with pip.

Both venvs are built for real from this checkout's runtime lock (caches warm after the first time):
the uv one with the pinned uv installed into a fresh tool folder, the pip one with uv off the PATH
and impossible to install. Each must hold the lock's pins plus the project, nothing more or less.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import tomli

# Two full installs of the lock (the pip one takes minutes even with warm caches): outside `make test`'s
# budget, so it runs on request, `make test-setup` (TAXI_TEST_SETUP=1).
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("TAXI_TEST_SETUP") != "1", reason="set TAXI_TEST_SETUP=1 (make test-setup)"),
]

ROOT = Path(__file__).resolve().parents[2]
LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted({(d.metadata['Name'], d.version) for d in m.distributions()})))"
)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    """The runtime lock's pins and the project itself, name -> version."""
    pins = re.findall(r"^([A-Za-z0-9][\w.-]*)==([^\s\\]+)", (ROOT / "requirements.lock").read_text(), re.M)
    project = tomli.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {**{_normalized(n): v for n, v in pins}, _normalized(project["name"]): project["version"]}


def _installed(venv: Path) -> dict[str, str]:
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", LIST_DISTRIBUTIONS], capture_output=True, text=True, check=True
    )
    return {_normalized(name): version for name, version in json.loads(listed.stdout)}


def _bootstrap(venv: Path, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "TAXI_SETUP_NO_UV")}
    environ.update(TAXI_SETUP_VENV=str(venv), **env)
    done = subprocess.run(
        [str(ROOT / "scripts" / "bootstrap.sh")], env=environ, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def _path_without_uv() -> str:
    return os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if d and not (Path(d) / "uv").exists())


def test_uv_and_the_pip_fallback_install_exactly_the_lock(tmp_path: Path) -> None:
    locked = _locked()

    uv_log = _bootstrap(tmp_path / "uv-venv", PATH=_path_without_uv(), TAXI_SETUP_TOOLS=str(tmp_path / "tools"))
    assert (tmp_path / "tools" / "bin" / "uv").is_file(), uv_log  # the pinned uv, installed from the index
    assert "with " + str(tmp_path / "tools" / "bin" / "uv") in uv_log

    # uv cannot be installed: its tool folder would sit under a regular file.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    pip_log = _bootstrap(tmp_path / "pip-venv", PATH=_path_without_uv(), TAXI_SETUP_TOOLS=str(blocker / "tools"))
    assert "uv could not be installed; installing with pip instead" in pip_log
    assert "with pip" in pip_log

    by_uv, by_pip = _installed(tmp_path / "uv-venv"), _installed(tmp_path / "pip-venv")
    assert by_uv == locked, {k: (by_uv.get(k), locked.get(k)) for k in by_uv.keys() ^ locked.keys()}
    assert by_pip == by_uv, {
        k: (by_pip.get(k), by_uv.get(k)) for k in by_pip.keys() | by_uv.keys() if by_pip.get(k) != by_uv.get(k)
    }

    # Idempotent: a second run with the stamp in place installs nothing and says nothing.
    assert _bootstrap(tmp_path / "uv-venv", PATH=_path_without_uv(), TAXI_SETUP_TOOLS=str(tmp_path / "tools")) == ""
