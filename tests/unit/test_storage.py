"""Full disks and unwritable homes are recognised through TFX's, Beam's and SQLite's wrappers and named clearly."""

from __future__ import annotations

import errno
from pathlib import Path

from runners.errors import EXIT_STORAGE
from runners.home.storage import describe_bytes, storage_failure, unwritable_home

HOME = Path("/data/home")


def _raised_from(inner: BaseException, outer: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as err:
            raise outer from err
    except BaseException as err:
        return err


def test_an_os_error_wrapped_by_the_runner_is_a_full_disk_naming_the_file() -> None:
    target = f"{HOME}/pipeline_root/trainer/model/12/variables.data"
    err = _raised_from(OSError(errno.ENOSPC, "No space left on device", target), RuntimeError("executor failed"))
    failure = storage_failure(err, "trainer", HOME)
    assert failure is not None and failure.exit_code == EXIT_STORAGE
    message = str(failure)
    assert message.startswith(f"no space left on the disk: trainer could not write {target}")
    assert f"the home folder {HOME}" in message and "run again" in message


def test_tensorflows_message_is_a_full_disk_naming_the_file() -> None:
    # How Transform's failure reached the runner on a full tmpfs (Beam re-raises it as text).
    target = f"{HOME}/pipeline_root/transform/transform_graph/10/.temp_path/saved_model.pb.tmpa55c"
    err = RuntimeError(
        f"tensorflow.python.framework.errors_impl.ResourceExhaustedError: {target}; No space left on device "
        "[while running 'Analyze/CreateSavedModel[tf_v2_only]/CreateSavedModel']"
    )
    failure = storage_failure(err, "transform", HOME)
    assert failure is not None and f"transform could not write {target} (" in str(failure)


def test_sqlite_full_is_a_full_disk() -> None:
    failure = storage_failure(RuntimeError("Error when executing query: database or disk is full"), "pusher", HOME)
    assert failure is not None and "pusher could not write its outputs" in str(failure)


def test_a_read_only_home_mid_run_names_the_path() -> None:
    target = f"{HOME}/serving/taxi/.tmp-17"
    failure = storage_failure(OSError(errno.EROFS, "Read-only file system", target), "pusher", HOME)
    assert failure is not None and failure.exit_code == EXIT_STORAGE
    assert f"pusher could not write {target}: Read-only file system" in str(failure)


def test_other_failures_are_not_storage_failures() -> None:
    assert storage_failure(ValueError("bad feature"), "transform", HOME) is None
    # Permission denied outside the home is about the input, not the home.
    outside = OSError(errno.EACCES, "Permission denied", "/data/raw/span-1/data.csv")
    assert storage_failure(outside, "example_gen", HOME) is None


def test_an_unwritable_home_says_what_to_do_for_each_cause(tmp_path: Path) -> None:
    full = unwritable_home(tmp_path, OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".lock")))
    assert full.exit_code == EXIT_STORAGE
    assert f"cannot write to the home folder {tmp_path} (No space left on device at {tmp_path / '.lock'})" in str(full)
    assert "the disk is full" in str(full)
    read_only = unwritable_home(tmp_path, OSError(errno.EROFS, "Read-only file system", str(tmp_path)))
    assert "mounted read-only" in str(read_only)
    denied = unwritable_home(tmp_path / "home", OSError(errno.EACCES, "Permission denied", str(tmp_path / "home")))
    assert f"make {tmp_path} writable" in str(denied)


def test_sizes_read_well() -> None:
    assert describe_bytes(512) == "512 bytes"
    assert describe_bytes(3 * 1024 * 1024 + 200 * 1024) == "3.2 MB"
