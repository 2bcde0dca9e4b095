"""The Vertex rehearsal: two runs of the compiled spec, two spans, every step through TFX's Vertex entrypoint.

What a team needs to know before paying for Vertex: the spec it hands over runs from the installed
wheel alone, the second run trains on the window of both accepted spans, measures drift against the
first, evaluates against the first run's model and pushes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SMALL_DATA, make_data_root, run_cli

pytestmark = pytest.mark.e2e

ENTRYPOINT = "python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
DRIVER = "python -m tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"
# Few steps and loose blessing: the test checks the wiring, not the model.
ENV = {"TAXI_PIPELINE_MIN_BINARY_ACCURACY": "0.3", "TAXI_PIPELINE_MAX_ACCURACY_DROP": "1", "TAXI_PIPELINE_HOME": ""}


def _rehearse(workdir: Path, data_root: Path) -> str:
    result = run_cli(
        "rehearse", "--workdir", str(workdir), "--data-root", str(data_root), "--train-steps", "30", env=ENV
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-5000:]}"
    return result.stdout


def _by_task(workdir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """job -> "task/output key" -> artifact, from the rehearsal's stand-in for Vertex ML Metadata."""
    jobs: dict[str, dict[str, dict[str, Any]]] = {}
    for line in (workdir / "metadata" / "artifacts.jsonl").read_text().splitlines():
        artifact = json.loads(line)
        jobs.setdefault(artifact["job"], {})[
            artifact["name"].rsplit("/", 2)[-2] + "/" + artifact["name"].rsplit("/", 1)[-1]
        ] = artifact
    return jobs


def test_two_rehearsal_runs_train_on_the_window_evaluate_against_the_first_model_and_push(tmp_path: Path) -> None:
    data_root = make_data_root(tmp_path)
    workdir = tmp_path / "rehearsal"
    _rehearse(workdir, data_root)
    shutil.copytree(SMALL_DATA / "span-2", data_root / "span-2")
    second_output = _rehearse(workdir, data_root)

    first, second = (
        artifacts
        for _, artifacts in sorted(_by_task(workdir).items(), key=lambda j: min(a["createTime"] for a in j[1].values()))
    )
    # Ingested and gated: each run's span is in the gate's record, under the (mapped) bucket.
    record = sorted(
        p.name.split("-")[1] for p in workdir.glob("gcs/*/taxi-pipeline/pipeline_root/accepted-spans/*.json")
    )
    assert record == ["1", "2"]
    # The second run trained on the window of both spans and measured drift against span 1.
    assert first["span_window/window"]["metadata"]["window_spans"] == "1"
    assert second["span_window/window"]["metadata"]["window_spans"] == "2,1"
    assert first["drift_check/drift_report"]["metadata"]["baseline_span"] == -1
    assert second["drift_check/drift_report"]["metadata"]["baseline_span"] == 1
    # Evaluated against the model the first run pushed (found by the spec's resolver queries), then pushed.
    assert "baseline_model_id" not in first["evaluator/blessing"]["metadata"]
    blessing = second["evaluator/blessing"]["metadata"]
    assert blessing["baseline_model_id"] == first["trainer/model"]["name"]
    assert blessing["blessed"] == 1
    pushed = second["pusher/pushed_model"]["metadata"]
    assert pushed["pushed"] == 1
    assert (Path(pushed["pushed_destination"]) / "saved_model.pb").is_file()
    assert len(list(Path(pushed["pushed_destination"]).parent.iterdir())) == 2

    # Every container step went through the Vertex entrypoint (ExampleGen's driver first), and our code
    # came from the installed wheel.
    site = workdir / "image" / "site"
    (second_logs,) = [p for p in (workdir / "logs").iterdir() if p.name in second_output]
    logs = {log.stem: log.read_text() for log in second_logs.glob("*.log")}
    assert set(logs) == {name.split("/")[0] for name in second} | {"data_gate"}
    for task, text in logs.items():
        launched = [line[2:] for line in text.splitlines() if line.startswith("$ ")]
        assert launched[-1].startswith(ENTRYPOINT), (task, launched)
        loaded = [line for line in text.splitlines() if line.startswith("# package pipeline loaded from")]
        assert loaded and all(str(site) in line for line in loaded), (task, loaded)
    assert logs["example_gen"].count(f"$ {DRIVER}") == 1
