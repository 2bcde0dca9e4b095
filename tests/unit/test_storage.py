"""Full disks and unwritable homes are recognised through TFX's, Beam's and SQLite's wrappers and named clearly,
the same way (exit 7) by every command that writes into the home."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pipeline import serving_dir as sd
from runners.cli import main
from runners.errors import EXIT_OK, EXIT_STORAGE
from runners.home.storage import describe_bytes, home_write_error, storage_failure, unwritable_home
from tests.unit.fake_home import FakeHome

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


def test_a_write_into_the_home_is_recognised_and_others_are_not(tmp_path: Path) -> None:
    inside = OSError(errno.ENOTDIR, "Not a directory", str(tmp_path / "reports" / "run-1.html"))
    failure = home_write_error(inside, tmp_path, "No report was written.")
    assert failure is not None and failure.exit_code == EXIT_STORAGE
    assert str(failure).endswith("No report was written.")
    # A full disk that write() reports without a file name; and through a wrapper, as a rollback raises it.
    assert home_write_error(RuntimeError("wrapped"), tmp_path, "-") is None
    wrapped = _raised_from(OSError(errno.ENOSPC, "No space left on device"), RuntimeError("could not publish"))
    assert "the disk is full" in str(home_write_error(wrapped, tmp_path, "-"))
    # Outside the home (an --output elsewhere), or a file that could not be read, is not the home's problem.
    assert home_write_error(OSError(errno.EACCES, "Permission denied", "/elsewhere/report.html"), tmp_path, "-") is None
    assert home_write_error(FileNotFoundError(errno.ENOENT, "No such file", str(tmp_path / "x")), tmp_path, "-") is None


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_a_read_only_command_needs_no_writable_home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    # `drift` writes nothing into the home (its libraries' log goes to a temporary file), so a home
    # that is a file does not stop it; commands that write there exit 7 (see the model card below).
    small = Path(__file__).resolve().parents[1] / "data" / "taxi-small"
    code, err = _cli(capsys, "drift", "--home", str(home), "--span", "2", "--against", "1", "--data-root", str(small))
    assert code == EXIT_OK, err[-2000:]
    assert "cannot write to the home folder" not in err and "Traceback" not in err
    assert home.read_text() == "not a folder"


def test_model_card_into_a_blocked_home_exits_7_naming_what_is_in_the_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeHome(tmp_path, sqlite=True).run("run-1", span=1, version=100)
    (tmp_path / "model-cards").write_text("a file where the model cards go")
    code, err = _cli(capsys, "model-card", "--home", str(tmp_path))
    assert code == EXIT_STORAGE
    assert f"cannot write to the home folder {tmp_path} (Not a directory at {tmp_path / 'model-cards' / '100'})" in err
    assert f"{tmp_path / 'model-cards'} is a file, not a folder" in err
    assert err.rstrip().endswith("No model card was written.") and "Traceback" not in err


def test_rollback_on_a_full_disk_exits_7_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = FakeHome(tmp_path, sqlite=True)
    home.run("run-1", span=1, version=100)
    home.run("run-2", span=2, version=200)

    def full_disk(root: Path, source: Path, version: int) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(root) / f".staging-{version}"))

    monkeypatch.setattr(sd, "publish", full_disk)
    code, err = _cli(capsys, "rollback", "--home", str(tmp_path))
    assert code == EXIT_STORAGE
    assert f"cannot write to the home folder {tmp_path} (No space left on device at {home.serving}" in err
    assert "the disk is full" in err and "Nothing was rolled back" in err
    assert sd.versions(home.serving) == [100, 200]
