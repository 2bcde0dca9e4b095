"""cloudbuild.yaml: Cloud Build's own Build type accepts it, its steps run in the stated order, what it names
exists in the repo, and it submits (and waits) only from main or when asked."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import tomli
import yaml

from pipeline.config import ENV_PREFIX, FIELDS, check_vertex, load_config
from runners.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
# The stated order: unit tests, local end-to-end on tiny data, image, compile, upload, submit.
STAGES = ["unit-tests", "e2e-tiny", "build-image", "push-image", "compile", "upload-spec", "submit"]
# (first, then): `then` may start only after `first` finished.
MUST_PRECEDE = [
    ("unit-tests", "e2e-tiny"),
    ("unit-tests", "build-image"),
    ("unit-tests", "compile"),
    ("e2e-tiny", "push-image"),
    ("build-image", "push-image"),
    ("push-image", "upload-spec"),
    ("compile", "upload-spec"),
    ("upload-spec", "submit"),
]
# Steps that need nothing from each other and so run side by side.
PARALLEL = [("e2e-tiny", "build-image"), ("e2e-tiny", "compile"), ("build-image", "compile")]
# Built-in substitutions Cloud Build provides; made-up values for checking the config they produce.
BUILT_INS = {"PROJECT_ID": "test-project", "SHORT_SHA": "3f2a9c1", "BRANCH_NAME": "main"}


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def steps(build: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in build["steps"]}


def _waits_for(steps: dict[str, dict[str, Any]], step_id: str) -> set[str]:
    """Every step that must finish before `step_id` starts, following waitFor transitively.

    Cloud Build starts a step without waitFor after all the steps listed before it.
    """
    order = list(steps)
    direct = steps[step_id].get("waitFor", order[: order.index(step_id)])
    found: set[str] = set()
    for other in direct:
        if other != "-":
            found |= {other} | _waits_for(steps, other)
    return found


def _substitute(text: str, build: dict[str, Any], **given: str) -> str:
    """Expands ${NAME} the way Cloud Build would, with made-up values for the built-ins (and `given` ones)."""
    values = dict(BUILT_INS)
    for _ in range(3):  # substitutions may refer to built-ins
        values.update(
            {k: re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], v) for k, v in build["substitutions"].items()}
        )
        values.update(given)
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)


def test_steps_run_in_the_stated_order(steps: dict[str, dict[str, Any]]) -> None:
    assert list(steps) == STAGES
    for first, then in MUST_PRECEDE:
        assert first in _waits_for(steps, then), f"{then} does not wait for {first}"


def test_independent_steps_run_side_by_side(steps: dict[str, dict[str, Any]]) -> None:
    for one, other in PARALLEL:
        assert one not in _waits_for(steps, other) and other not in _waits_for(steps, one), (one, other)
    for position, step_id in enumerate(STAGES[1:], start=1):
        # Explicit everywhere, and only on earlier steps (Cloud Build rejects forward references).
        assert set(steps[step_id]["waitFor"]) <= set(STAGES[:position]), step_id


def test_substitutions_are_declared_and_used(build: dict[str, Any]) -> None:
    text = (ROOT / "cloudbuild.yaml").read_text()
    used = set(re.findall(r"\$\{(_\w+)\}", text))
    assert used == set(build["substitutions"])
    assert {"_PROJECT", "_REGION", "_BUCKET", "_IMAGE_TAG"} <= used
    # Defaults that refer to PROJECT_ID or SHORT_SHA need dynamic substitutions.
    assert build["options"]["dynamicSubstitutions"] is True


def test_one_image_name_from_build_to_submit(build: dict[str, Any], steps: dict[str, dict[str, Any]]) -> None:
    build_args = steps["build-image"]["args"]
    image = build_args[build_args.index("--tag") + 1]
    assert steps["push-image"]["args"] == ["push", image]
    assert build["images"] == [image]
    for step_id in ("compile", "submit"):
        assert f"TAXI_PIPELINE_IMAGE={image}" in steps[step_id]["env"]


def test_commands_and_files_it_names_exist(steps: dict[str, dict[str, Any]]) -> None:
    makefile = (ROOT / "Makefile").read_text()
    pyproject = tomli.loads((ROOT / "pyproject.toml").read_text())
    subcommands = next(a for a in build_parser()._actions if a.dest == "command").choices

    # make test-fast: a Makefile target that builds .venv with scripts/bootstrap.sh first.
    assert steps["unit-tests"]["entrypoint"] == "make"
    for target in steps["unit-tests"]["args"]:
        assert re.search(rf"^{target}:.*\bsetup-dev\b", makefile, re.M), target
    assert re.search(r"^setup-dev:\n\t@scripts/bootstrap\.sh --dev", makefile, re.M)
    assert re.search(r"^venv=\$\{TAXI_SETUP_VENV:-\.venv\}$", (ROOT / "scripts" / "bootstrap.sh").read_text(), re.M)

    # .venv/bin/python -m pytest -m e2e: pytest is locked, the marker declared and used by some test.
    e2e = steps["e2e-tiny"]
    assert e2e["entrypoint"] == ".venv/bin/python" and e2e["args"] == ["-m", "pytest", "-m", "e2e"]
    assert re.search(r"^pytest==", (ROOT / "requirements-dev.lock").read_text(), re.M)
    assert any(m.startswith("e2e:") for m in pyproject["tool"]["pytest"]["ini_options"]["markers"])
    assert any("pytest.mark.e2e" in p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))

    # docker build . uses the Dockerfile at the root.
    assert steps["build-image"]["args"][-1] == "." and (ROOT / "Dockerfile").is_file()

    # .venv/bin/taxi-pipeline compile|submit --profile vertex: the console script, its subcommands, the profile.
    assert pyproject["project"]["scripts"]["taxi-pipeline"] == "runners.cli:entry_point"
    profiles = yaml.safe_load((ROOT / "pipeline" / "profiles.yaml").read_text())
    for step_id, command in (
        ("compile", [steps["compile"]["entrypoint"], *steps["compile"]["args"]]),
        ("submit", _submit_command(steps)),
    ):
        assert command[0] == ".venv/bin/taxi-pipeline"
        assert command[1] == step_id and step_id in subcommands
        assert command[command.index("--profile") + 1] in profiles

    # The spec that is uploaded is the file compile wrote, and submit runs the uploaded copy.
    compile_args, upload_args = steps["compile"]["args"], steps["upload-spec"]["args"]
    assert upload_args[:3] == ["storage", "cp", compile_args[compile_args.index("--output") + 1]]
    submit = _submit_command(steps)
    assert submit[submit.index("--template") + 1] == upload_args[3]


def _submit_command(steps: dict[str, dict[str, Any]]) -> list[str]:
    """The taxi-pipeline command the submit step's script runs."""
    step = steps["submit"]
    assert step["entrypoint"] == "bash" and step["args"][0] == "-c"
    line = next(line for line in step["args"][1].splitlines() if "taxi-pipeline submit" in line)
    words = shlex.split(line)
    return words[words.index("exec") + 1 :]


def test_cloud_builds_own_build_type_accepts_the_file(build: dict[str, Any]) -> None:
    # Parsing into the API's Build message rejects unknown fields, misspelt options and bad enum values.
    from google.cloud.devtools import cloudbuild_v1
    from google.protobuf import json_format

    parsed = cloudbuild_v1.Build.pb(cloudbuild_v1.Build())
    json_format.ParseDict(build, parsed)
    assert parsed.options.logging == cloudbuild_v1.BuildOptions.LoggingMode.CLOUD_LOGGING_ONLY
    assert [s.id for s in parsed.steps] == STAGES
    with pytest.raises(json_format.ParseError):
        json_format.ParseDict(
            {**build, "options": {**build["options"], "loging": "NONE"}}, cloudbuild_v1.Build.pb(cloudbuild_v1.Build())
        )


def test_the_submit_step_waits_for_the_run() -> None:
    submit_flags = next(a for a in build_parser()._actions if a.dest == "command").choices["submit"]
    assert "--wait" in submit_flags._option_string_actions


@pytest.mark.parametrize(
    ("branch", "submit", "runs"),
    [
        ("main", "auto", True),
        ("feature-x", "auto", False),
        ("feature-x", "true", True),
        ("main", "false", False),
        ("", "auto", False),
    ],
)
def test_submits_only_from_main_or_when_asked(
    build: dict[str, Any], steps: dict[str, dict[str, Any]], tmp_path: Path, branch: str, submit: str, runs: bool
) -> None:
    # The step's script as Cloud Build would run it, with a stand-in taxi-pipeline that records its arguments.
    script = _substitute(steps["submit"]["args"][1], build, BRANCH_NAME=branch, _SUBMIT=submit)
    fake = tmp_path / ".venv" / "bin" / "taxi-pipeline"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho "$@" > called\n')
    fake.chmod(0o755)
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert (tmp_path / "called").exists() == runs, done.stdout
    if runs:
        called = (tmp_path / "called").read_text().split()
        assert called[0] == "submit" and "--wait" in called
    else:
        assert "not submitting" in done.stdout


def test_compile_and_submit_get_a_config_vertex_accepts(
    build: dict[str, Any], steps: dict[str, dict[str, Any]]
) -> None:
    assert steps["compile"]["env"] == steps["submit"]["env"]
    environ = dict(_substitute(item, build).split("=", 1) for item in steps["compile"]["env"])
    for name in environ:
        assert name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :].lower() in FIELDS, name
    config = load_config("vertex", environ=environ)
    check_vertex(config)
    assert config.image.endswith(":3f2a9c1")
    assert config.home == "gs://test-project-taxi-pipeline/taxi-pipeline"
