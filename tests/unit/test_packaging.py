"""The wheel `pip install .` builds (and a Vertex image or Dataflow worker gets) holds every package of the project.

"Installed into a clean environment" is a folder here, not a `python -m venv`: a venv without system
site-packages would have to install TensorFlow, TFX and Beam (minutes, and the network), and one with
them inherits this checkout's editable install, whose finder answers for any module the wheel lacks.
`pip install --target` plus `python -S` with only that folder and the locked libraries on the path is
the environment the image gives a step, minus the editable finder: the same imports succeed or fail.
The Vertex rehearsal (tests/e2e/test_vertex_rehearsal.py) runs every step from such a folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "models", "runners")
VERTEX_ENV = {
    "TAXI_PIPELINE_GCP_PROJECT": "test-project",
    "TAXI_PIPELINE_IMAGE": "us-central1-docker.pkg.dev/test-project/taxi/taxi-pipeline:3f2a9c1",
    "TAXI_PIPELINE_HOME": "gs://test-bucket/taxi-pipeline",
    "TAXI_PIPELINE_DATA_ROOT": "gs://test-bucket/taxi-data",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of the sources alone.

    setuptools reuses a build/ folder left in the checkout, which would hide a package the
    configuration leaves out.
    """
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "outputs", "__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(base), str(source)],
        capture_output=True,
        text=True,
        cwd=base,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = base.glob("taxi_pipeline-*.whl")
    return found


def test_the_wheel_holds_every_module_and_the_profiles(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert expected - names == set()
    assert "pipeline/profiles.yaml" in names
    # The reports' templates and the model card's fields are data files the wheel must carry too.
    templates = {str(p.relative_to(ROOT)) for p in (ROOT / "runners" / "reports" / "templates").glob("*.j2")}
    assert templates and templates <= names
    assert "models/model_card.yaml" in names
    assert not any(name.startswith("tests/") for name in names)


def test_the_installed_wheel_alone_imports_every_class_the_vertex_spec_names(wheel: Path, tmp_path: Path) -> None:
    # What a Vertex step does: the image's installed package, not the repository, provides our executors,
    # custom artifact types and model code, found by the names the compiled spec holds.
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    spec = tmp_path / "spec.json"
    compiled = subprocess.run(
        [sys.executable, "-m", "runners", "compile", "--output", str(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **VERTEX_ENV},
    )
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    text = spec.read_text()
    executors = set(re.findall(r'"--executor_class_path", "([\w.]+)"', text.replace('\\"', '"')))
    artifact_types = set(re.findall(r"\bpipeline\.[A-Z]\w+\b", text))
    model_code = set(re.findall(r"\bmodels\.[a-z_]+\.[a-z_]+\b", text))
    ours = sorted(n for n in executors | artifact_types | model_code if n.split(".")[0] in PACKAGES)
    assert {"pipeline.components.data_gate.DataGate_Executor", "pipeline.DriftReport", "models.trainer.run_fn"} <= set(
        ours
    ), ours
    check = (
        "import importlib, sys\n"
        "assert not any('editable' in type(f).__name__.lower() for f in sys.meta_path), sys.meta_path\n"
        "import pipeline\n"
        f"assert pipeline.__file__.startswith({str(site)!r}), pipeline.__file__\n"
        f"for name in {ours!r}:\n"
        "    module, _, attribute = name.rpartition('.')\n"
        "    getattr(importlib.import_module(module), attribute)\n"
        "print('imported', len(sys.argv))\n"
    )
    # From a folder with no repository in it, the installed copy first on the path, and without the
    # virtualenv's .pth files: the development install's editable finder would answer for any module
    # missing from the wheel with the repository's copy.
    libraries = sysconfig.get_paths()["purelib"]
    imported = subprocess.run(
        [sys.executable, "-S", "-c", check],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site), libraries]), "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert imported.returncode == 0, imported.stderr[-3000:]
