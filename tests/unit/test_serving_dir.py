"""The serving dir's version rules and atomic publication, on a fake serving dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline import serving_dir as sd


def _model(folder: Path, payload: str) -> Path:
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_text(payload)
    (folder / "variables" / "variables.index").write_text(payload + "-index")
    return folder


def test_versions_are_integer_folders_and_the_highest_serves(tmp_path: Path) -> None:
    for name in ("100", "20", "300x", ".rollback-400-1", "-5"):
        (tmp_path / name).mkdir()
    (tmp_path / "500").write_text("a file, not a version folder")
    (tmp_path / sd.ROLLBACK_MANIFEST).write_text("")
    assert sd.versions(tmp_path) == [20, 100]
    assert sd.serving_version(tmp_path) == 100


def test_a_missing_serving_dir_has_no_versions(tmp_path: Path) -> None:
    assert sd.versions(tmp_path / "nowhere") == []
    assert sd.serving_version(tmp_path / "nowhere") is None


def test_next_version_is_a_timestamp_above_every_existing_one() -> None:
    assert sd.next_version([100, 200], now=1000.7) == 1000
    assert sd.next_version([100, 1000], now=1000.7) == 1001
    # A clock behind the newest version still yields a higher one.
    assert sd.next_version([5000], now=1000.0) == 5001
    assert sd.next_version([], now=42.0) == 42


def test_publish_copies_the_model_under_the_new_version_and_leaves_no_staging(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    source = _model(serving / "100", "model-a")
    folder = sd.publish(serving, source, 300)
    assert folder == serving / "300"
    assert (folder / "saved_model.pb").read_text() == "model-a"
    assert (folder / "variables" / "variables.index").read_text() == "model-a-index"
    assert sorted(os.listdir(serving)) == ["100", "300"]
    assert sd.serving_version(serving) == 300


def test_publish_never_overwrites_an_existing_version(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    source = _model(serving / "100", "model-a")
    _model(serving / "300", "model-b")
    with pytest.raises(FileExistsError):
        sd.publish(serving, source, 300)
    assert (serving / "300" / "saved_model.pb").read_text() == "model-b"
    assert sorted(os.listdir(serving)) == ["100", "300"]


def test_publish_refuses_a_folder_without_a_saved_model(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError):
        sd.publish(tmp_path / "serving", tmp_path / "empty", 1)


def test_rollback_manifest_appends_json_lines_and_skips_garbage(tmp_path: Path) -> None:
    sd.append_rollback(tmp_path, {"version": 3, "rollback_of": 1})
    with open(tmp_path / sd.ROLLBACK_MANIFEST, "a") as handle:
        handle.write("not json\n")
    sd.append_rollback(tmp_path, {"version": 4, "rollback_of": 2})
    assert sd.read_rollbacks(tmp_path) == [{"version": 3, "rollback_of": 1}, {"version": 4, "rollback_of": 2}]
    assert sd.read_rollbacks(tmp_path / "nowhere") == []


def test_remove_staging_clears_the_leftovers_of_both_publishers_old_and_new(tmp_path: Path) -> None:
    # A dead Pusher's copy, a rollback's from before publishing was shared, and one of today's publish.
    leftovers = [".rollback-300-42", ".tmp-200", f"{sd.STAGING_PREFIX}400-7"]
    for name in (*leftovers, "100", ".hidden"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "saved_model.pb").write_text("part of a model")
    (tmp_path / sd.ROLLBACK_MANIFEST).write_text("")
    assert sd.remove_staging(tmp_path) == sorted(tmp_path / name for name in leftovers)
    # Versions, the manifest and hidden folders of no publisher stay.
    assert sorted(os.listdir(tmp_path)) == [".hidden", "100", sd.ROLLBACK_MANIFEST]
    assert sd.remove_staging(tmp_path / "nowhere") == []


def test_publish_flushes_every_staged_file_and_folder_before_the_rename(tmp_path: Path, fsynced: list[Path]) -> None:
    serving = tmp_path / "serving"
    source = _model(tmp_path / "model", "model-a")
    sd.publish(serving, source, 300)
    # Flushed under the staging name, i.e. before the rename made the version visible.
    (staging,) = {p.relative_to(serving).parts[0] for p in fsynced if p != serving}
    assert sd.is_leftover(staging)
    staged = {p.relative_to(serving / staging).as_posix() for p in fsynced if p != serving}
    assert staged == {".", "saved_model.pb", "variables", "variables/variables.index"}
    # And the serving dir last, so the rename itself is on the disk.
    assert fsynced[-1] == serving
