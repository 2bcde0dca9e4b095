"""The Dockerfile installs the project the way scripts/bootstrap.sh and the README do, on the pinned TFX."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

import pytest

from pipeline.config import load_config

ROOT = Path(__file__).resolve().parents[2]
# Options that change how pip works, not what ends up installed.
NEUTRAL_OPTIONS = {"--quiet", "-q", "--no-cache-dir", "--upgrade", "-U", "--no-build-isolation", "-e", "--editable"}


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _lock_version(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==([\w.]+)", (ROOT / "requirements.lock").read_text(), re.M)
    assert match, f"{package} is not pinned in requirements.lock"
    return match.group(1)


def _pip_installs(shell: str) -> list[list[str]]:
    """Each `pip install` in a shell text, as its arguments without the neutral options."""
    commands = []
    for command in re.split(r"&&|;|\n", shell):
        if not re.search(r"\bpip install\b", command) or command.lstrip().startswith("#"):
            continue
        words = shlex.split(command, comments=True)
        pip = next(i for i, word in enumerate(words) if word.rsplit("/", 1)[-1] in ("pip", "pip3"))
        args = words[words.index("install", pip) + 1 :]
        commands.append([a for a in args if a not in NEUTRAL_OPTIONS])
    return commands


def _bootstrap_installs() -> list[list[str]]:
    """scripts/bootstrap.sh's installs for the runtime environment (no --dev), its lock list expanded."""
    script = (ROOT / "scripts" / "bootstrap.sh").read_text()
    locks = re.search(r"^locks=\(([^)]*)\)", script, re.M)
    assert locks, "bootstrap.sh no longer lists its lock files as locks=(...)"
    lock_args = " ".join(f"-r {lock}" for lock in locks.group(1).split())
    return _pip_installs(script.replace('"${req_args[@]}"', lock_args))


def _docker_installs() -> list[list[str]]:
    return [args for keyword, rest in _instructions() if keyword == "RUN" for args in _pip_installs(rest)]


def test_image_installs_what_bootstrap_installs_in_the_same_order() -> None:
    # The same pip, the locked dependencies without resolution, then the project without resolution.
    assert (
        _docker_installs()
        == _bootstrap_installs()
        == [
            ["pip==24.2"],
            ["--no-deps", "-r", "requirements.lock"],
            ["--no-deps", "."],
        ]
    )


def test_image_installs_what_the_readme_documents() -> None:
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not written yet; scripts/bootstrap.sh is compared above")
    code = re.findall(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", readme.read_text(), re.S)
    documented = [args for args in _pip_installs("\n".join(b or i for b, i in code)) if "--no-deps" in args]
    assert documented, "the README documents no `pip install --no-deps` of the lock and the project"
    # In the order first shown; the README may repeat a command in its prose.
    first_shown = list(dict.fromkeys(tuple(args) for args in documented))
    assert first_shown == [tuple(args) for args in _docker_installs() if "--no-deps" in args]


def test_base_image_and_beam_boot_match_the_lock() -> None:
    instructions = _instructions()
    assert ("FROM", f"tensorflow/tfx:{_lock_version('tfx')}") in instructions
    beam = f"apache/beam_python3.10_sdk:{_lock_version('apache-beam')}"
    assert ("COPY", f"--from={beam} /opt/apache/beam /opt/apache/beam") in instructions
    # Dataflow starts workers through the entrypoint; Vertex steps and training jobs set their own command.
    assert instructions[-1] == ("ENTRYPOINT", '["/opt/apache/beam/boot"]')


def test_legacy_keras_is_on_in_every_container() -> None:
    env = " ".join(rest for keyword, rest in _instructions() if keyword == "ENV")
    assert "TF_USE_LEGACY_KERAS=1" in env.split()


def test_image_holds_the_schema_where_the_vertex_profile_reads_it() -> None:
    instructions = _instructions()
    workdir = next(rest for keyword, rest in instructions if keyword == "WORKDIR")
    assert ("COPY", ". ./") in instructions
    schema = Path(load_config("vertex", environ={}).schema_path)
    assert schema.parent.parent == Path(workdir)
    relative = schema.relative_to(workdir).as_posix()
    assert (ROOT / relative).is_file()
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    for needed in (relative, "requirements.lock", "pyproject.toml", "models/trainer.py", "pipeline/profiles.yaml"):
        assert not any(
            fnmatch.fnmatch(needed, p) or needed.startswith(p.rstrip("/") + "/")
            for p in ignored
            if not p.startswith("#")
        ), needed
