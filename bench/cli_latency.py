"""Read commands and the unchanged rerun, side by side: this checkout against another one (e.g. the previous main).

Each tree gets its own home with one real run on the small fixture (the unchanged-rerun check digests
the code, so a home is only "unchanged" for the tree that ran it); then `runs`, `models` and the
unchanged `run` are timed alternately, tree against tree, and the medians and ratios printed.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/cli_latency.py --other /tmp/before            # 5 repetitions
    .venv/bin/python bench/cli_latency.py --other /tmp/before --repeat 9
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
RUN_FLAGS = ("--train-steps", "30", "--min-accuracy", "0.5")


def cli(tree: Path, home: Path, data_root: Path, *args: str) -> float:
    """Runs `python -m runners ARGS` from tree; returns its wall time, failing loudly on a non-zero exit."""
    command = [sys.executable, "-m", "runners", *args, "--home", str(home)]
    if args[0] == "run":
        command += ["--data-root", str(data_root), *RUN_FLAGS]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, env={**os.environ})
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} from {tree} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--other", type=Path, required=True, help="the other checkout (a git worktree)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per command and tree (default 5)")
    args = parser.parse_args()
    trees = {"this": REPO, "other": args.other.resolve()}
    print(f"# CLI latency: {REPO} vs {trees['other']}\n{machine()}\n")
    base = Path(tempfile.mkdtemp(prefix="cli-latency-"))
    try:
        data_root = base / "data"
        for span in ("span-1", "span-2"):
            shutil.copytree(FIXTURE / span, data_root / span)
        homes = {name: base / f"home-{name}" for name in trees}
        for name, tree in trees.items():
            print(f"preparing: one real run from {name} ({cli(tree, homes[name], data_root, 'run'):.0f} s)")
        commands = {"runs": ("runs",), "models": ("models",), "unchanged run": ("run",)}
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeat):
            for label, command in commands.items():
                for name, tree in trees.items():
                    times.setdefault((label, name), []).append(cli(tree, homes[name], data_root, *command))
        rows = []
        for label in commands:
            this, other = (statistics.median(times[(label, n)]) for n in ("this", "other"))
            rows.append([label, this, other, this / other])
        print()
        print(fmt_table(["command", "this (s, median)", "other (s, median)", "this / other"], rows))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
