"""How a rehearsal starts a step's command: a fresh process per step (as Vertex does), or one worker process for all.

Both run the command the spec names under the stand-in image (runners.rehearsal.image): `python` is
this interpreter with -S and the installed wheel first on the path, the working folder is the
stand-in for the image's /pipeline. The worker (runners.rehearsal.worker) skips the 10-30 s each fresh
process spends importing TensorFlow, Beam and TFX; it shares the process between steps as
LocalDagRunner does, so a step that depends on state another step left behind would pass here and
fail on Vertex. `isolated=True` gives every step its own process, exactly as Vertex's containers.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import IO, Any

from runners.errors import EXIT_INTERNAL, RunError
from runners.rehearsal.image import Image

WORKER_MODULE = "runners.rehearsal.worker"


class Launcher:
    """Runs step commands (`python -m MODULE ARGS`) under the stand-in image; close() when done."""

    def __init__(self, image: Image, *, isolated: bool) -> None:
        self.image = image
        self.isolated = isolated
        self._worker: subprocess.Popen[str] | None = None

    def run(self, command: list[str], log: Path) -> int:
        """Runs one command with its output appended to `log`; returns its exit code."""
        if command[0] != "python":
            raise RunError(f"the rehearsal runs `python ...` commands only, not {command[0]!r}", EXIT_INTERNAL)
        if self.isolated:
            with log.open("a") as out:
                done = subprocess.run(
                    [*self.image.python(), *command[1:]],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.image.root,
                    env=self.image.environment(),
                )
            return done.returncode
        worker = self._start()
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(json.dumps({"argv": command[1:], "log": str(log)}) + "\n")
        worker.stdin.flush()
        reply = worker.stdout.readline()
        if not reply:
            raise RunError(f"the rehearsal's step worker died (exit {worker.wait()}); see {log}", EXIT_INTERNAL)
        code: Any = json.loads(reply)["code"]
        return int(code)

    def _start(self) -> subprocess.Popen[str]:
        if self._worker is None or self._worker.poll() is not None:
            self._worker = subprocess.Popen(
                [*self.image.python(), "-m", WORKER_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=self.image.root,
                env=self.image.environment(),
            )
        return self._worker

    def close(self) -> None:
        """Stops the worker, if one runs."""
        if self._worker is not None:
            stdin: IO[str] | None = self._worker.stdin
            if stdin is not None:
                stdin.close()
            self._worker.wait()
            self._worker = None
