"""The stand-in for the pipeline image: the project's wheel installed into a folder, and the files the image adds.

The Dockerfile installs the wheel (`pip install .`) and keeps the repository at /pipeline for the schema.
Here the wheel is built from a clean copy of the sources (a stale build/ folder could hide a package
the configuration leaves out), installed with `pip install --target`, and only schema/ is copied into
the folder that stands in for /pipeline, so a step can import nothing of ours that the wheel lacks.
Steps then run with `python -S` and this folder first on the path: without site's .pth files, the
development install's editable finder cannot answer for a module the wheel misses (the same check as
tests/unit/test_packaging.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from runners.errors import EXIT_USAGE, RunError

# The image's WORKDIR, where the Dockerfile puts the repository (and so the schema the spec names).
IMAGE_ROOT = "/pipeline/"
# The packages pyproject.toml puts in the wheel.
PACKAGES = ("pipeline", "models", "runners")
SOURCE_IGNORE = shutil.ignore_patterns(".*", "build", "*.egg-info", "outputs", "__pycache__", "tests", "notebooks")


@dataclasses.dataclass(frozen=True)
class Image:
    """A built stand-in image: `site` holds the installed wheel, `root` stands in for /pipeline."""

    site: Path
    root: Path

    def python(self) -> list[str]:
        """The interpreter a step's `python` means: this one, without site-packages' .pth files."""
        return [sys.executable, "-S"]

    def environment(self) -> dict[str, str]:
        """The step's environment: the installed wheel first, then the libraries the image has."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = os.pathsep.join([str(self.site), sysconfig.get_paths()["purelib"]])
        # As the Dockerfile's ENV sets them.
        env["TF_USE_LEGACY_KERAS"] = "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env


def project_source() -> Path:
    """The source tree this package was loaded from (the folder holding pyproject.toml, in a checkout)."""
    return Path(__file__).resolve().parents[2]


def build_image(source: Path, folder: Path, *, rebuild: bool = False) -> Image:
    """Builds the wheel of the project at `source` and installs it under `folder` (reused unless `rebuild`).

    Raises:
        RunError: `source` is not the project's source tree, or the build or install fails.
    """
    image = Image(site=folder / "site", root=folder / "pipeline")
    if not (source / "pyproject.toml").exists():
        raise RunError(
            f"{source} is not the project's source tree (no pyproject.toml): cannot build the wheel", EXIT_USAGE
        )
    stamp = folder / "sources.sha256"
    digest = source_digest(source)
    if stamp.exists() and stamp.read_text() == digest and not rebuild:
        return image
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="taxi-rehearsal-build-") as scratch:
        copy = Path(scratch) / "source"
        shutil.copytree(source, copy, ignore=SOURCE_IGNORE)
        _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", scratch, str(copy), cwd=scratch)
        (wheel,) = Path(scratch).glob("taxi_pipeline-*.whl")
        _pip("install", "--no-deps", "--no-compile", "-q", "--target", str(image.site), str(wheel), cwd=scratch)
    shutil.copytree(source / "schema", image.root / "schema")
    stamp.write_text(digest)
    return image


def source_digest(source: Path) -> str:
    """A digest of what goes into the wheel and the image folder: an unchanged tree reuses the built image."""
    digest = hashlib.sha256()
    files = [
        source / "pyproject.toml",
        *sorted(
            path
            for folder in (*PACKAGES, "schema")
            for path in (source / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        ),
    ]
    for path in files:
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _pip(*args: str, cwd: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        raise RunError(f"pip {args[0]} failed: {done.stderr.strip()[-2000:]}", EXIT_USAGE)
