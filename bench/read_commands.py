"""Timings of every read command on a home with three runs, printed as a table.

Without --home, builds one in a temporary folder from the small fixture: a run on span 1, a run on
spans 1-2, and a retrain on spans 1-2 with more steps (all three train, are evaluated and push; an
unchanged third run would not be a run at all, since `run` answers it from its fast path); or pass a
home that already has runs.
Each command is a fresh `python -m runners ...` process (what a user waits for), run --repeat times;
the median and the slowest are printed, with the machine's load, since a busy machine slows all of them.

    .venv/bin/python bench/read_commands.py                 # builds the home (several minutes), 3 calls each
    .venv/bin/python bench/read_commands.py --home outputs --repeat 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fmt_table, machine

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "data" / "taxi-small"
RUN_FLAGS = ("--min-accuracy", "0.5")
# Every read command the issue names, text and --json, with the arguments it needs; `report` and
# `model-card` also write their file (that is their job), `compare` writes its page only with --html;
# the --json forms write nothing.
COMMANDS: dict[str, tuple[str, ...]] = {
    "runs": ("runs",),
    "runs --json": ("runs", "--json"),
    "models": ("models",),
    "models --json": ("models", "--json"),
    "lineage": ("lineage",),
    "lineage --json": ("lineage", "--json"),
    "kpis": ("kpis",),
    "kpis --json": ("kpis", "--json"),
    "report": ("report",),
    "report --json": ("report", "--json"),
    "model-card": ("model-card",),
    "model-card --json": ("model-card", "--json"),
    "compare": ("compare",),
    "compare --json": ("compare", "--json"),
}


def cli(home: Path, *args: str, data_root: Path | None = None, steps: int = 30) -> float:
    """Runs `python -m runners ARGS --home HOME`; returns its wall time, failing loudly on an error exit."""
    command = [sys.executable, "-m", "runners", *args, "--home", str(home)]
    if data_root is not None:
        command += ["--data-root", str(data_root), "--train-steps", str(steps), *RUN_FLAGS]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TAXI_PIPELINE_MAX_ACCURACY_DROP": "1.0"}
    # An installed package has its bytecode compiled; a development shell that turns writing it off
    # would time compiling every module of the project on every call instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return elapsed


def build_home(base: Path, runs: int) -> Path:
    """Up to three runs: span 1, then spans 1-2, then spans 1-2 again with more training steps."""
    data_root, home = base / "data", base / "home"
    shutil.copytree(FIXTURE / "span-1", data_root / "span-1")
    print(f"preparing: run 1 on span 1 ({cli(home, 'run', data_root=data_root):.0f} s)", flush=True)
    if runs >= 2:
        shutil.copytree(FIXTURE / "span-2", data_root / "span-2")
        print(f"preparing: run 2 on spans 1-2 ({cli(home, 'run', data_root=data_root):.0f} s)", flush=True)
    if runs >= 3:
        seconds = cli(home, "run", data_root=data_root, steps=40)
        print(f"preparing: run 3 on spans 1-2, retrained with 40 steps ({seconds:.0f} s)", flush=True)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="a home with runs (default: build one with three runs)")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per command (default 3)")
    parser.add_argument("--runs", type=int, default=3, choices=(1, 2, 3), help="runs in the built home (default 3)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="build the home in DIR (new) and keep it")
    parser.add_argument("--only", nargs="+", choices=sorted(COMMANDS), metavar="NAME", help="time these commands only")
    args = parser.parse_args()
    print(f"# Read commands\n{machine()}\n", flush=True)
    base = None if args.home or args.keep else Path(tempfile.mkdtemp(prefix="read-commands-"))
    try:
        home = args.home.resolve() if args.home else build_home(args.keep or base, args.runs)  # type: ignore[arg-type]
        print(f"home: {home}", flush=True)
        rows = []
        for name, command in COMMANDS.items():
            if args.only and name not in args.only:
                continue
            load = os.getloadavg()[0]
            times = [cli(home, *command) for _ in range(args.repeat)]
            rows.append([name, f"{statistics.median(times):.2f}", f"{max(times):.2f}", f"{load:.1f}"])
            print(f"  {name}: {', '.join(f'{t:.2f}' for t in times)} s", flush=True)
        print()
        print(fmt_table(["command", "median s", "slowest s", "load (1 min) before"], rows))
    finally:
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
