"""Files inside artifact folders: a missing file is "not there" (None), a damaged one an error naming it.

A reader never turns a damaged artifact into "not recorded": that would send the user looking for
a step that did run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runners.errors import EXIT_INPUT, RunError


class CorruptArtifactError(RunError):
    """An artifact file that ML Metadata points to exists but is not what its step writes (exit 3).

    Exit 3 is the documented code for unreadable input data; `path` names the file.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(
            f"{path} {problem}: the artifact is damaged (cut short, or edited by hand); run the pipeline again so "
            "the step that writes it runs anew, or restore the file",
            EXIT_INPUT,
        )
        self.path = str(path)


def read_bytes(path: str | Path) -> bytes | None:
    """Returns a file's bytes, or None when it does not exist.

    Raises:
        CorruptArtifactError: the path exists but cannot be read (a folder, no permission).
    """
    file = Path(path)
    if not file.exists():
        return None
    try:
        return file.read_bytes()
    except OSError as err:
        raise CorruptArtifactError(file, f"cannot be read ({err.strerror or err})") from None


def read_json(folder: str | Path, name: str) -> Any:
    """Reads a JSON file of an artifact folder: its value, or None when the folder or file is missing.

    Args:
        folder: the artifact's URI (a local folder).
        name: the file's name inside it, e.g. "baseline.json".

    Raises:
        CorruptArtifactError: the file exists but is not valid UTF-8 JSON.
    """
    path = Path(folder) / name
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise CorruptArtifactError(path, "is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise CorruptArtifactError(
            path, f"is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})"
        ) from None
    except RecursionError:  # the json module parses nested arrays and objects recursively
        raise CorruptArtifactError(path, "nests JSON too deeply to be the file its step writes") from None


def read_json_object(folder: str | Path, name: str, required: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """Reads a JSON file that holds one object, as read_json; None when missing.

    Args:
        folder: the artifact's URI (a local folder).
        name: the file's name inside it.
        required: keys the object must have.

    Raises:
        CorruptArtifactError: the file is not valid JSON, not an object, or lacks a required key.
    """
    document = read_json(folder, name)
    if document is None:
        return None
    path = Path(folder) / name
    if not isinstance(document, dict):
        raise CorruptArtifactError(path, f"holds a JSON {type(document).__name__}, not the object its step writes")
    missing = [key for key in required if key not in document]
    if missing:
        raise CorruptArtifactError(path, f"lacks the field(s) {', '.join(missing)}")
    return document
