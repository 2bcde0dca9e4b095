"""Writing a file whole: a reader (a browser, the next run, ImportSchemaGen) sees the old content or the
new, never half a file, and a failed write leaves no temporary file behind."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_atomically(path: str | Path, data: str | bytes) -> Path:
    """Writes data to path through a temporary file beside it, flushed to disk, then renamed over it.

    Args:
        path: the file to write; its folder is created if needed.
        data: the content; text is written as UTF-8.

    Returns:
        path, as a Path.

    Raises:
        OSError: the folder or file could not be written; the error names `path` (a write that finds
            the disk full says so without a file name otherwise).
    """
    target = Path(path)
    content = data.encode("utf-8") if isinstance(data, str) else data
    # A unique name, so two processes writing the same file never write into one temporary file.
    partial = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # 0o666 less the umask, as open() would give the file itself (mkstemp's files are private).
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise _naming(err, partial, target) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            partial.unlink()
        if isinstance(err, OSError):
            raise _naming(err, partial, target) from err
        raise
    return target


def _naming(err: OSError, partial: Path, target: Path) -> OSError:
    """The same error naming the target: write() names no file, and the temporary name means nothing to a user."""
    if err.filename is not None and Path(os.fsdecode(err.filename)) != partial:
        return err  # a folder on the way, e.g. a file where the folder should be: its own name says more
    return type(err)(err.errno, err.strerror or str(err), str(target))
