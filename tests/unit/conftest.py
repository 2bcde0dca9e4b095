"""Unit-test fixtures shared by more than one module: a recorder of what os.fsync flushes, and for the
Vertex tests a network that refuses every connection and an environment without TAXI_PIPELINE_*."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="module")
def no_network() -> Iterator[None]:
    """Fails any Python-level connection or name lookup: compiling, building and submitting stay offline.

    Module-scoped; the Vertex test modules ask for it with `pytestmark = pytest.mark.usefixtures(...)`.
    """

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args[:2]}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads TAXI_PIPELINE_* from the environment; tests give their values as flags."""
    for name in [n for n in os.environ if n.startswith("TAXI_PIPELINE_")]:
        monkeypatch.delenv(name)
