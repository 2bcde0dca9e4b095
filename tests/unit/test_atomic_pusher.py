"""The atomic Pusher: a serving dir holds complete versions only, even when a push dies mid-copy."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tfx import types
from tfx.types import standard_artifacts

from pipeline import ids
from pipeline import pipeline as taxi_pipeline
from pipeline import serving_dir as sd
from pipeline.atomic_pusher import AtomicFilesystemPusher, Executor, push_atomically

ROOT = Path(__file__).resolve().parents[2]
# A SavedModel's shape: the graph, variables and assets in sub-folders.
FAKE_MODEL = {
    "saved_model.pb": b"graph",
    "fingerprint.pb": b"fingerprint",
    "variables/variables.index": b"index",
    "variables/variables.data-00000-of-00001": b"weights" * 1000,
    "assets/vocabulary.txt": b"Cash\nCredit Card\n",
}


def _fake_saved_model(folder: Path) -> Path:
    for name, content in FAKE_MODEL.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _push(tmp_path: Path, blessed: bool = True) -> Any:
    """Runs the executor as TFX would, on a Trainer-shaped model artifact."""
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    _fake_saved_model(tmp_path / "model" / "Format-Serving")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed_model")
    component = AtomicFilesystemPusher(
        model=types.Channel(type=standard_artifacts.Model),
        model_blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        serving_dir=str(tmp_path / "serving"),
    )
    Executor().Do(
        {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]}, component.exec_properties
    )
    return pushed


def test_blessed_model_becomes_one_complete_integer_version(tmp_path: Path) -> None:
    pushed = _push(tmp_path)
    serving = tmp_path / "serving"
    (version,) = sd.versions(serving)
    # Only the version folder: no staging folder left for anyone to trip over.
    assert [p.name for p in serving.iterdir()] == [str(version)]
    assert _files(serving / str(version)) == FAKE_MODEL
    # Recorded as TFX's own Pusher records it: the summary and the e2e tests read these.
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_version") == str(version)
    assert pushed.get_string_custom_property("pushed_destination") == str(serving / str(version))
    assert _files(tmp_path / "pushed_model") == FAKE_MODEL


def test_unblessed_model_is_not_pushed(tmp_path: Path) -> None:
    pushed = _push(tmp_path, blessed=False)
    assert pushed.get_int_custom_property("pushed") == 0
    assert sd.versions(tmp_path / "serving") == []
    assert not (tmp_path / "pushed_model").exists()


def test_a_new_push_gets_a_higher_version_than_any_existing_one(tmp_path: Path) -> None:
    model = _fake_saved_model(tmp_path / "model")
    serving = tmp_path / "serving"
    (serving / "2000000000").mkdir(parents=True)
    version, target = push_atomically(model, serving, now=lambda: 1_700_000_000.5)
    # TF Serving serves the highest number, so a clock behind the newest version must not hide the push.
    assert version == "2000000001"
    assert target == serving / "2000000001"
    version, _ = push_atomically(model, serving, now=lambda: 2_100_000_000.0)
    assert version == "2100000000"
    assert sd.versions(serving) == [2000000000, 2000000001, 2100000000]


def test_a_push_first_removes_what_dead_pushes_and_rollbacks_left(tmp_path: Path) -> None:
    model = _fake_saved_model(tmp_path / "model")
    serving = tmp_path / "serving"
    for leftover in (".tmp-150", ".rollback-160-4242"):
        _fake_saved_model(serving / leftover)
    version, _ = push_atomically(model, serving, now=lambda: 200.0)
    assert [p.name for p in serving.iterdir()] == [version] == ["200"]


def test_a_copy_that_fails_midway_leaves_no_version_and_no_staging_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _fake_saved_model(tmp_path / "model")
    serving = tmp_path / "serving"
    copied: list[str] = []

    def copy_then_fill_the_disk(source: str, target: str) -> None:
        if copied:
            raise OSError(errno.ENOSPC, "No space left on device", target)
        copied.append(target)
        sd.shutil.copyfile(source, target)

    monkeypatch.setattr(sd, "copy_file", copy_then_fill_the_disk)
    with pytest.raises(OSError, match="No space left"):
        push_atomically(model, serving)
    assert copied, "the copy should have started before the disk filled up"
    assert list(serving.iterdir()) == []


# Copies one file of the model, then dies the way a SIGKILLed or OOM-killed process does: no
# exception, no cleanup, no finally.
_KILLED_PUSH = textwrap.dedent(
    """
    import os, signal, sys
    from pipeline import atomic_pusher, serving_dir

    real_copy = serving_dir.copy_file
    copied = []

    def copy_then_die(source, target):
        if copied:
            os.kill(os.getpid(), signal.SIGKILL)
        real_copy(source, target)
        copied.append(target)

    serving_dir.copy_file = copy_then_die
    atomic_pusher.push_atomically(sys.argv[1], sys.argv[2])
    """
)


@pytest.mark.slow  # the killed push runs in a fresh Python that imports TFX
def test_a_push_killed_mid_copy_leaves_no_version_and_the_next_push_cleans_up(tmp_path: Path) -> None:
    model = _fake_saved_model(tmp_path / "model")
    serving = tmp_path / "serving"
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_PUSH, str(model), str(serving)], cwd=ROOT, capture_output=True, timeout=300
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    # What the dead push left: a hidden, partly written staging folder, and no version TF Serving would load.
    (leftover,) = serving.iterdir()
    assert leftover.name.startswith(sd.STAGING_PREFIX) and not leftover.name.isdigit()
    assert 0 < len(_files(leftover)) < len(FAKE_MODEL)
    assert sd.versions(serving) == []

    version, target = push_atomically(model, serving)
    assert [p.name for p in serving.iterdir()] == [version]
    assert _files(target) == FAKE_MODEL


def test_local_serving_dirs_get_the_atomic_pusher_and_buckets_tfxs_own(tmp_path: Path) -> None:
    def pusher(serving_dir: str) -> Any:
        built = taxi_pipeline.create_pipeline(
            pipeline_name="taxi",
            pipeline_root=str(tmp_path / "root"),
            data_root=str(tmp_path / "data"),
            schema_path=str(tmp_path / "schema.pbtxt"),
            serving_dir=serving_dir,
            span=1,
        )
        return {c.id: c for c in built.components}[ids.PUSHER]

    local = pusher(str(tmp_path / "serving"))
    assert isinstance(local, AtomicFilesystemPusher)
    assert local.executor_spec.executor_class is Executor
    assert local.inputs["model_blessing"].producer_component_id == ids.EVALUATOR
    # A bucket cannot rename a folder atomically; TFX's executor writes saved_model.pb last instead.
    remote = pusher("gs://bucket/serving/taxi")
    assert not isinstance(remote, AtomicFilesystemPusher)
    assert remote.executor_spec.executor_class.__module__ == "tfx.components.pusher.executor"
