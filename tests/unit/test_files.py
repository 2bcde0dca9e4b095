"""Whole-file writes: the old content or the new, never half a file, and no temporary file left behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from runners import files


def test_text_and_bytes_replace_the_file_and_create_its_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "card.md"
    assert files.write_atomically(target, "héllo") == target
    assert target.read_bytes() == "héllo".encode()
    files.write_atomically(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    assert sorted(p.name for p in target.parent.iterdir()) == ["card.md"]


def test_the_file_gets_the_permissions_open_would_give_it(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    target = files.write_atomically(tmp_path / "report.html", "x")
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_full_disk_keeps_the_old_file_names_the_target_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "last_run.json"
    target.write_text("old")

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", no_space)
    with pytest.raises(OSError) as failed:
        files.write_atomically(target, "new")
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["last_run.json"]


def test_a_file_where_the_folder_should_be_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("a file")
    with pytest.raises(OSError) as failed:
        files.write_atomically(blocker / "run-1.html", "x")
    assert failed.value.errno in (errno.EEXIST, errno.ENOTDIR)
    assert failed.value.filename == str(blocker)
    assert blocker.read_text() == "a file"
