"""The Dockerfile installs the project the way scripts/bootstrap.sh and the README do, on the pinned TFX."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

import pytest

from pipeline.config import load_config

ROOT = Path(__file__).resolve().parents[2]
# Options that change how an installer works or where it writes, not what ends up installed.
NEUTRAL_OPTIONS = {
    "--quiet",
    "-q",
    "--no-cache-dir",
    "--no-cache",
    "--disable-pip-version-check",
    "--root-user-action=ignore",
    "--upgrade",
    "-U",
    "--no-build-isolation",
    "-e",
    "--editable",
}
# ... and those among them that take a value (the interpreter or folder installed into).
NEUTRAL_WITH_VALUE = {"--python", "--target"}


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _lock_version(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==([\w.]+)", (ROOT / "requirements.lock").read_text(), re.M)
    assert match, f"{package} is not pinned in requirements.lock"
    return match.group(1)


def _installs(shell: str) -> list[tuple[str, ...]]:
    """Each `pip install` / `uv pip install|sync` in a shell text: (tool, verb, arguments without neutral options)."""
    commands = []
    for command in re.split(r"&&|;|\n|\|\|", re.sub(r"\\\n", " ", shell)):
        if not re.search(r"\bpip (install|sync)\b", command) or command.lstrip().startswith("#"):
            continue
        words = shlex.split(command, comments=True)
        pip = next(i for i, word in enumerate(words) if word.rsplit("/", 1)[-1] in ("pip", "pip3"))
        tool = "uv" if pip > 0 and words[pip - 1].rsplit("/", 1)[-1] in ("uv", "$uv") else "pip"
        verb = words[pip + 1]
        args, skip = [], False
        for word in words[pip + 2 :]:
            if skip:
                skip = False
            elif word in NEUTRAL_WITH_VALUE:
                skip = True
            elif re.match(r"\d*>", word):  # a redirection of the installer's output
                continue
            elif word not in NEUTRAL_OPTIONS and word.split("=", 1)[0] not in NEUTRAL_WITH_VALUE:
                args.append(word)
        commands.append((tool, verb, *args))
    return commands


def _bootstrap_installs() -> list[tuple[str, ...]]:
    """scripts/bootstrap.sh's installs for the runtime environment (no --dev), its lock lists expanded."""
    script = (ROOT / "scripts" / "bootstrap.sh").read_text()
    locks = re.search(r"^locks=\(([^)]*)\)", script, re.M)
    assert locks, "bootstrap.sh no longer lists its lock files as locks=(...)"
    lock_args = " ".join(f"-r {lock}" for lock in locks.group(1).split())
    script = script.replace('"${req_args[@]}"', lock_args).replace('"${locks[@]}"', locks.group(1))
    return _installs(script.replace('"$1" -m pip', "python -m pip"))


def _docker_installs() -> list[tuple[str, ...]]:
    return [args for keyword, rest in _instructions() if keyword == "RUN" for args in _installs(rest)]


UV_FROM_ITS_LOCK = (
    "pip",
    "install",
    "--no-deps",
    "--only-binary",
    ":all:",
    "--require-hashes",
    "-r",
    "requirements-uv.lock",
)


def test_image_installs_what_bootstrap_installs_with_uv_in_the_same_order() -> None:
    # The pinned uv from its hashed lock, the locked dependencies hash-checked without resolution, the project.
    assert _docker_installs() == [
        UV_FROM_ITS_LOCK,
        ("uv", "install", "--require-hashes", "--no-deps", "-r", "requirements.lock"),
        ("uv", "install", "--no-deps", "."),
    ]
    # bootstrap syncs its own fresh venv (the image installs over the base image's packages, keeping them):
    # the same lock, the same hash check; then the project; the pip fallback installs the same lock.
    assert _bootstrap_installs() == [
        UV_FROM_ITS_LOCK,
        ("uv", "sync", "--require-hashes", "requirements.lock"),
        ("uv", "install", "--no-deps", "."),
        ("pip", "install", "--no-deps", "--require-hashes", "-r", "requirements.lock"),
        ("pip", "install", "--no-deps", "."),
    ]


def test_image_installs_what_the_readme_documents() -> None:
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not written yet; scripts/bootstrap.sh is compared above")
    code = re.findall(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", readme.read_text(), re.S)
    documented = _installs("\n".join(b or i for b, i in code))
    assert documented, "the README documents no install of the lock and the project"
    # In the order first shown; the README may repeat a command in its prose and show the pip fallback after.
    first_shown = list(dict.fromkeys(documented))
    assert first_shown[:3] == _docker_installs()


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
