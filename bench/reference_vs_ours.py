"""End to end, side by side: our `taxi-pipeline run` against TFX's taxi_pipeline_native_keras on one CSV.

Both ingest the same 15k-row CSV (the reference's data/simple/data.csv, which is also the source of
our bundled spans) on the same machine, runs alternating, cold (fresh home) then rerun with no
change. Prints wall times, per-component durations from ML Metadata, peak memory of each process
tree, eval accuracy/AUC and the ratios. The reference's code is used from the installed tfx package
and copied into a temp HOME at run time, never into this repository.

    .venv/bin/python bench/reference_vs_ours.py            # 3 repetitions
    .venv/bin/python bench/reference_vs_ours.py --quick    # 1 repetition
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import component_durations, evaluation_metrics, fmt_table, machine, run_measured

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# Cold run time measured on a quiet 2-core machine, for the "this will take" estimate.
EST_COLD_S = {"reference": 180, "ours": 75}
EST_RERUN_S = {"reference": 37, "ours": 1}


def reference_dir() -> Path:
    """The installed TFX taxi example (its pipeline, module file and data)."""
    import importlib.util

    spec = importlib.util.find_spec("tfx")
    if spec is None or spec.origin is None:
        raise SystemExit("tfx is not installed in this Python; run with the project's .venv/bin/python")
    return Path(spec.origin).parent / "examples" / "chicago_taxi_pipeline"


def prepare_reference_home(home: Path, csv: Path) -> None:
    """Lays out $HOME/taxi the way taxi_pipeline_native_keras reads it."""
    ref = reference_dir()
    data = home / "taxi" / "data" / "simple"
    data.mkdir(parents=True)
    shutil.copy(csv, data / "data.csv")
    shutil.copy(ref / "taxi_utils_native_keras.py", home / "taxi" / "taxi_utils_native_keras.py")


def run_reference(home: Path, log: Path) -> dict[str, Any]:
    # The reference's Keras code is Keras 2: with TF 2.16 it needs tf-keras, as the TFX 1.16 docs say.
    env = {**os.environ, "HOME": str(home), "TF_USE_LEGACY_KERAS": "1"}
    script = reference_dir() / "taxi_pipeline_native_keras.py"
    result = run_measured([PYTHON, str(script)], env=env, cwd=str(home), log=log)
    result["metadata"] = home / "tfx" / "metadata" / "chicago_taxi_native_keras" / "metadata.db"
    return result


def run_ours(home: Path, data_root: Path, log: Path, extra: list[str], repo: Path) -> dict[str, Any]:
    command = [PYTHON, "-m", "runners", "run", "--home", str(home), "--data-root", str(data_root), *extra]
    result = run_measured(command, env=dict(os.environ), cwd=str(repo), log=log)
    result["metadata"] = home / "metadata.db"
    return result


def describe(result: dict[str, Any], since: float) -> dict[str, Any]:
    metadata = Path(result["metadata"])
    if metadata.exists():
        result["components"] = component_durations(metadata, since)
        result["metrics"] = evaluation_metrics(metadata)
    else:
        result["components"], result["metrics"] = {}, {}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repetition")
    parser.add_argument("--csv", type=Path, help="the CSV both ingest (default: the reference's data/simple/data.csv)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temp folder, deleted)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout of ours to run (default: this one)")
    parser.add_argument("--ours-args", default="", help="extra flags for `taxi-pipeline run`, space separated")
    args = parser.parse_args(argv)
    repetitions = 1 if args.quick else args.repetitions
    csv = args.csv or reference_dir() / "data" / "simple" / "data.csv"
    estimate = repetitions * (sum(EST_COLD_S.values()) + sum(EST_RERUN_S.values()))
    print(f"machine: {machine()}")
    print(f"csv: {csv}; {repetitions} repetition(s), alternating; expect about {estimate / 60:.0f} min on 2 idle cores")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    data_root = work / "data"
    (data_root / "span-1").mkdir(parents=True, exist_ok=True)
    shutil.copy(csv, data_root / "span-1" / "data.csv")
    results: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("reference cold", "ours cold", "reference rerun", "ours rerun")
    }
    extra = args.ours_args.split()
    try:
        for rep in range(repetitions):
            ref_home, our_home = work / f"ref-{rep}", work / f"ours-{rep}"
            prepare_reference_home(ref_home, csv)
            for name in results:
                print(f"  [{rep + 1}/{repetitions}] {name} ...", end="", flush=True)
                since = time.time()
                if name.startswith("reference"):
                    outcome = run_reference(ref_home, work / f"ref-{rep}.log")
                else:
                    outcome = run_ours(our_home, data_root, work / f"ours-{rep}.log", extra, args.repo)
                result = describe(outcome, since)
                results[name].append(result)
                print(f" {result['wall_s']:.1f}s (exit {result['rc']}, peak {result['peak_mb']:.0f} MiB)", flush=True)
        report(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r["rc"] == 0 for rs in results.values() for r in rs) else 1


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: dict[str, list[dict[str, Any]]]) -> None:
    rows = []
    for name, runs in results.items():
        metrics = runs[-1]["metrics"] if runs else {}
        rows.append(
            [
                name,
                _median([r["wall_s"] for r in runs]),
                " / ".join(f"{r['wall_s']:.1f}" for r in runs),
                _median([r["peak_mb"] for r in runs]),
                metrics.get("binary_accuracy", float("nan")),
                metrics.get("auc", metrics.get("AUC", float("nan"))),
            ]
        )
    print()
    print(fmt_table(["run", "median wall s", "each run s", "peak MiB", "eval binary_accuracy", "eval AUC"], rows))
    med = {name: _median([r["wall_s"] for r in runs]) for name, runs in results.items()}
    print()
    print(f"cold: ours/reference = {med['ours cold'] / med['reference cold']:.2f}x (target <= 0.5x)")
    print(f"rerun: ours/reference = {med['ours rerun'] / med['reference rerun']:.2f}x (target <= 0.25x)")
    for kind in ("cold", "rerun"):
        print()
        print(f"per-component seconds from ML Metadata, {kind} (median over repetitions; C = cached):")
        nodes: dict[str, dict[str, list[str]]] = {}
        for who in ("reference", "ours"):
            for run in results[f"{who} {kind}"]:
                for node, d in run["components"].items():
                    cell = f"{d['seconds']:.1f}" + (" C" if d["cached"] else "")
                    nodes.setdefault(node, {"reference": [], "ours": []})[who].append(cell)
        table = [[node, " / ".join(v["reference"]) or "-", " / ".join(v["ours"]) or "-"] for node, v in nodes.items()]
        print(fmt_table(["component", "reference", "ours"], table))


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"\nbench took {time.monotonic() - started:.0f}s")
    sys.exit(code)
