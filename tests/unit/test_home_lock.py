"""The home lock: one run per home at a time, refused with the holder named, never left stale by a crash."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runners.errors import EXIT_LOCKED, EXIT_STORAGE, RunError
from runners.home import lock as home_lock

ROOT = Path(__file__).resolve().parents[2]

# Another process, as a second `taxi-pipeline run` would be: takes the lock of argv[1], says so,
# then holds it until stdin closes or it is killed.
_HOLDER = textwrap.dedent(
    """
    import sys
    from runners.home import lock as home_lock

    with home_lock.hold(sys.argv[1]):
        print("held", flush=True)
        sys.stdin.read()
    """
)
# Tries the lock of argv[1] and prints the exit code and message it is refused with.
_CONTENDER = textwrap.dedent(
    """
    import sys
    from runners.home import lock as home_lock
    from runners.errors import RunError

    try:
        with home_lock.hold(sys.argv[1]):
            print("0")
    except RunError as err:
        print(err.exit_code)
        print(err)
    """
)


def _start_holder(home: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(home)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def _contend(home: Path) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-c", _CONTENDER, str(home)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    code, _, message = result.stdout.partition("\n")
    return int(code), message


def test_a_second_process_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    home = tmp_path / "home"
    holder = _start_holder(home)
    try:
        code, message = _contend(home)
    finally:
        holder.communicate("", timeout=60)
    assert code == EXIT_LOCKED
    assert f"another run holds the home folder {home}" in message
    assert f"pid {holder.pid}" in message and "started " in message
    assert "Wait for it to finish, or run with another --home" in message


def test_the_lock_is_free_again_once_the_holder_exits(tmp_path: Path) -> None:
    home = tmp_path / "home"
    holder = _start_holder(home)
    holder.communicate("", timeout=60)
    assert _contend(home)[0] == 0
    # An empty lock file tells a reader nobody holds it.
    assert home_lock.read_holder(home) == {}


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    holder = _start_holder(home)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=60)
    # The lock file is still there with the dead holder's record, but the kernel dropped the lock.
    assert home_lock.read_holder(home)["pid"] == str(holder.pid)
    with home_lock.hold(home) as held:
        assert held == home
        assert home_lock.read_holder(home)["pid"] == str(os.getpid())


def test_nested_holds_in_one_process_share_one_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with home_lock.hold(home):
        # The CLI takes the lock, then runners.local.run takes it again: that must not refuse itself.
        with home_lock.hold(str(home) + "/."):
            assert home_lock.is_held_here(home)
        assert home_lock.is_held_here(home)
        assert _contend(home)[0] == EXIT_LOCKED
    assert not home_lock.is_held_here(home)
    assert _contend(home)[0] == 0


def test_the_lock_creates_the_home_folder(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    with home_lock.hold(home):
        assert (home / ".lock").is_file()


def test_a_home_under_a_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder")
    with pytest.raises(RunError) as refused, home_lock.hold(blocker / "home"):
        pass
    assert refused.value.exit_code == EXIT_STORAGE
    message = str(refused.value)
    assert f"cannot write to the home folder {blocker / 'home'}" in message
    assert f"{blocker} is a file, not a folder" in message
    assert blocker.read_text() == "not a folder"


def test_a_home_that_is_a_file_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("")
    with pytest.raises(RunError) as refused, home_lock.hold(home):
        pass
    assert refused.value.exit_code == EXIT_STORAGE
    assert f"{home} is a file, not a folder" in str(refused.value)


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes into a chmod 0o555 folder anyway; see tests/e2e/test_faults.py"
)
def test_a_read_only_home_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o555)
    try:
        with pytest.raises(RunError) as refused, home_lock.hold(home):
            pass
    finally:
        home.chmod(0o755)
    assert refused.value.exit_code == EXIT_STORAGE
    assert "Permission denied" in str(refused.value) and str(home) in str(refused.value)


def test_a_full_disk_when_writing_the_lock_record_is_refused_and_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulated at the write layer: the lock file opens, but the record finds no room on the disk.
    home = tmp_path / "home"

    def no_space(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(home_lock.os, "pwrite", no_space)
        with pytest.raises(RunError) as refused, home_lock.hold(home):
            pass
    assert refused.value.exit_code == EXIT_STORAGE
    assert f"cannot write to the home folder {home}" in str(refused.value)
    assert "No space left on device" in str(refused.value) and "the disk is full" in str(refused.value)
    assert not home_lock.is_held_here(home)
    assert _contend(home)[0] == 0
