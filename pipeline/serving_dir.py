"""The serving dir as TF Serving reads it: integer-named version folders, and the highest one serves.

Both publishers, the Pusher and a rollback, add a version here with `publish` (staged, flushed, renamed);
a rollback republishes an older model under a new, higher version and appends to the rollback manifest.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROLLBACK_MANIFEST = "rollbacks.jsonl"
# Staging folders start with a dot and are not integers, so TF Serving, which only loads children
# whose names parse as integers, never sees a half-copied model.
STAGING_PREFIX = ".tmp-"
# Rollbacks staged under their own prefix before publishing was shared: homes may still hold such leftovers.
LEFTOVER_PREFIXES = (STAGING_PREFIX, ".rollback-")


def is_version_name(name: str) -> bool:
    """Returns True for a folder name TF Serving reads as a version: ASCII digits only."""
    return name.isascii() and name.isdigit()


def versions(serving_dir: str | Path) -> list[int]:
    """Returns the integer version folders under a serving dir, lowest first (none if it is missing)."""
    root = Path(serving_dir)
    if not root.is_dir():
        return []
    return sorted(int(child.name) for child in root.iterdir() if child.is_dir() and is_version_name(child.name))


def serving_version(serving_dir: str | Path) -> int | None:
    """Returns the version TF Serving's default "latest" policy serves: the highest integer folder.

    Args:
        serving_dir: the model's base path (<home>/serving/<model_name>).

    Returns:
        The highest integer version, or None when there is none.
    """
    found = versions(serving_dir)
    return found[-1] if found else None


def next_version(existing: Iterable[int], now: float) -> int:
    """Returns the version a new publication gets: a Unix timestamp like the Pusher's, and above every other.

    Args:
        existing: versions already in the serving dir.
        now: the current time in seconds since the epoch.

    Returns:
        max(int(now), highest existing + 1): ordered after everything already published even when two
        publications fall in the same second or the clock is behind.
    """
    highest = max(existing, default=-1)
    return max(int(now), highest + 1)


def copy_file(source: str, target: str) -> None:
    """Copies one file and flushes it to the disk, so a renamed version survives a power cut too."""
    shutil.copyfile(source, target)
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(serving_dir: str | Path, source: str | Path, version: int) -> Path:
    """Copies a SavedModel folder into the serving dir as `version`, atomically and durably.

    The copy goes to a hidden staging folder inside the serving dir first, its files and folders are
    flushed to the disk, and it is then renamed to its integer name with os.replace: on one
    filesystem a rename is atomic, so a server polling the folder sees either no new version or the
    complete model, never part of it, and after a power cut the version is whole or absent.

    Args:
        serving_dir: the model's base path (created if missing).
        source: the SavedModel folder to publish.
        version: the new version; its folder must not exist yet.

    Returns:
        The new version folder.

    Raises:
        FileExistsError: the version folder already exists (nothing is changed).
        FileNotFoundError: the source has no saved_model.pb.
        OSError: the copy failed (e.g. a full disk); no version and no staging folder are left.
    """
    root = Path(serving_dir)
    target = root / str(version)
    if not (Path(source) / "saved_model.pb").is_file():
        raise FileNotFoundError(f"{source} holds no saved_model.pb")
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    root.mkdir(parents=True, exist_ok=True)
    # The pid keeps two processes that pick the same version from sharing a staging folder.
    staging = root / f"{STAGING_PREFIX}{version}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(source, staging, copy_function=copy_file)
        # Each folder's entries too, deepest first: a flushed file is lost if its folder entry is not.
        for folder, _, _ in os.walk(staging, topdown=False):
            _fsync_dir(folder)
        # os.replace does not overwrite a non-empty folder: a version published meanwhile by another
        # process makes this fail instead of being clobbered.
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _fsync_dir(root)
    return target


def is_leftover(name: str) -> bool:
    """Returns True for the name of a staging folder, which only an interrupted publication leaves behind."""
    return name.startswith(LEFTOVER_PREFIXES)


def remove_staging(serving_dir: str | Path) -> list[Path]:
    """Removes staging folders left by publications that died mid-copy; call it holding the home lock.

    Only one publication runs per serving dir at a time under the lock (a run's Pusher or a rollback),
    so any staging folder found before one starts belongs to a dead one.

    Args:
        serving_dir: the model's base path.

    Returns:
        The folders removed.
    """
    root = Path(serving_dir)
    if not root.is_dir():
        return []
    leftovers = sorted(child for child in root.iterdir() if is_leftover(child.name))
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)
    return leftovers


def append_rollback(serving_dir: str | Path, record: dict[str, Any]) -> None:
    """Appends one rollback record to the serving dir's manifest (one JSON object per line).

    Args:
        serving_dir: the model's base path.
        record: JSON-able description of the rollback.
    """
    line = json.dumps(record, sort_keys=True) + "\n"
    # One short write in append mode: lines from two writers do not interleave.
    with open(Path(serving_dir) / ROLLBACK_MANIFEST, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_rollbacks(serving_dir: str | Path) -> list[dict[str, Any]]:
    """Returns the manifest's rollback records, oldest first; lines that are not JSON objects are skipped."""
    path = Path(serving_dir) / ROLLBACK_MANIFEST
    if not path.is_file():
        return []
    records = []
    for line in path.read_bytes().splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply: not a record
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
