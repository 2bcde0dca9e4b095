"""A step runner that stays up: each request runs one container command's `python -m MODULE ARGS` in this process.

Started by runners.rehearsal.launch under the stand-in image's interpreter (`python -S`, the wheel first
on the path). Each request (one JSON line on stdin: argv and log file) runs the module as `python -m`
would, with sys.argv set and stdout and stderr sent to the log; the exit code goes back as one JSON line
on the original stdout. TensorFlow, Beam and TFX are imported once instead of once per step, the way
LocalDagRunner runs every component in one process. Standard library only.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback


def _run(argv: list[str], log: str) -> int:
    if argv[:1] != ["-m"] or len(argv) < 2:
        print(f"the worker runs `python -m MODULE ...` commands only, not {argv[:2]}", file=sys.stderr)
        return 2
    module = argv[1]
    saved = os.dup(1), os.dup(2)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(log, "a") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        sys.argv = [module, *argv[2:]]
        code = 0
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except BaseException:  # the step's failure, reported as a process would: traceback and exit 1
            traceback.print_exc()
            code = 1
        finally:
            # Where our code came from, for the log: the installed wheel, never a checkout.
            if "pipeline" in sys.modules:
                print(f"# package pipeline loaded from {sys.modules['pipeline'].__file__}", file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
    return code


def main() -> None:
    """Serves requests until stdin closes."""
    replies = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        request = json.loads(line)
        replies.write(json.dumps({"code": _run(request["argv"], request["log"])}) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
