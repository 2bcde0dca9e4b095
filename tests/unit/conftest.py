"""Unit-test fixtures shared by more than one module: a recorder of what os.fsync flushes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The path of every file or folder os.fsync is called on during the test, in call order."""
    synced: list[Path] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        # Resolved at call time: a staged file is renamed afterwards, and the name it had then is the point.
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced
