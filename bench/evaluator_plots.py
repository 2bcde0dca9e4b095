"""What the Evaluator's plots cost: TFX's Evaluator run on a home's first evaluation, with and without them.

Takes the inputs and the eval config of a home's first Evaluator execution (the small fixture's span 1
in a home `bench/read_commands.py` or `run` built) and runs TFX's Evaluator executor on them, as the
pipeline does (Beam DirectRunner, in memory, one worker), alternating the config as it is and the config
without ConfusionMatrixPlot (and without both plots), each a fresh process, --repeat times. Prints each
variant's median and the ratio to the config as it is: the machine's load slows all of them alike.

    .venv/bin/python bench/evaluator_plots.py --home HOME --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fmt_table, machine

REPO = Path(__file__).resolve().parent.parent
VARIANTS = {
    "as configured": (),
    "without ConfusionMatrixPlot": ("ConfusionMatrixPlot",),
    "without both plots": ("ConfusionMatrixPlot", "CalibrationPlot"),
}
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _inputs(home: Path) -> dict[str, object]:
    """The first Evaluator execution's examples, model, schema and eval config, from ML Metadata."""
    from runners.store import metadata as md

    store = md.connect(home / "metadata.db")
    (pipeline,) = [c.name for c in store.get_contexts_by_type("pipeline")]
    execution = md.node_executions(store, pipeline, "evaluator")[0]
    (examples,) = md.inputs(store, execution, "examples")
    return {
        "examples": examples.uri,
        "split_names": md.prop(examples, "split_names"),
        "model": md.inputs(store, execution, "model")[0].uri,
        "schema": md.inputs(store, execution, "schema")[0].uri,
        "eval_config": md.prop(execution, "eval_config"),
    }


def evaluate(inputs: dict[str, object], drop: list[str], output: Path) -> float:
    """Runs TFX's Evaluator executor once (this process); returns its wall time in seconds."""
    from tfx.components.evaluator import executor
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as spec

    config = json.loads(str(inputs["eval_config"]))
    for metrics_spec in config.get("metrics_specs", config.get("metricsSpecs", [])):
        metrics_spec["metrics"] = [
            m for m in metrics_spec["metrics"] if m.get("class_name", m.get("className")) not in drop
        ]
    examples = standard_artifacts.Examples()
    examples.uri, examples.split_names = str(inputs["examples"]), str(inputs["split_names"])
    model = standard_artifacts.Model()
    model.uri = str(inputs["model"])
    schema = standard_artifacts.Schema()
    schema.uri = str(inputs["schema"])
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(output / "evaluation"), str(output / "blessing")
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=BEAM_ARGS, tmp_dir=str(output / "tmp"))
    started = time.perf_counter()
    executor.Executor(context).Do(
        {spec.EXAMPLES_KEY: [examples], spec.MODEL_KEY: [model], spec.SCHEMA_KEY: [schema]},
        {spec.EVALUATION_KEY: [evaluation], spec.BLESSING_KEY: [blessing]},
        {spec.EVAL_CONFIG_KEY: json.dumps(config), spec.EXAMPLE_SPLITS_KEY: json.dumps(["eval"])},
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="a home with at least one Evaluator execution")
    parser.add_argument("--repeat", type=int, default=2, help="runs per variant, alternating (default 2)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one timed run in this fresh process: inputs, variant, output folder as JSON
        job = json.loads(args.child)
        print(json.dumps({"seconds": evaluate(job["inputs"], job["drop"], Path(job["output"]))}))
        return
    print(f"# Evaluator plots\n{machine()}\n", flush=True)
    inputs = _inputs(args.home.resolve())
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="evaluator-plots-") as scratch:
        for round_ in range(args.repeat):
            for index, (name, drop) in enumerate(VARIANTS.items()):
                job = {"inputs": inputs, "drop": list(drop), "output": f"{scratch}/{round_}-{index}"}
                load = os.getloadavg()[0]
                done = subprocess.run(
                    [sys.executable, __file__, "--home", str(args.home), "--child", json.dumps(job)],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=REPO,
                )
                if done.returncode != 0:
                    raise SystemExit(f"{name}: exited {done.returncode}\n{done.stderr[-3000:]}")
                seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
                times[name].append(seconds)
                print(f"  {name}: {seconds:.1f} s (load {load:.1f} before)", flush=True)
    reference = statistics.median(times["as configured"])
    rows = [
        [name, f"{statistics.median(found):.1f}", f"{statistics.median(found) / reference:.2f}"]
        for name, found in times.items()
    ]
    print()
    print(fmt_table(["eval config", "median s", "ratio to as configured"], rows))


if __name__ == "__main__":
    main()
