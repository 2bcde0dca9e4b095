"""Tuning, explanations and model cards on real runs.

One run with tuning on, over fixture span 1 whose `trip_seconds` column is replaced by uniform noise,
answers both "did the Trainer use the tuner's best hyperparameters" and "does the importance ranking put
a feature that drives the label above pure noise". The model card test reuses the shared healthy home.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import ids
from runners.store import metadata as md
from tests.e2e.conftest import FAST_FLAGS, SMALL_DATA, HealthyHome, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOISE_FEATURE = "trip_seconds"
# Cash tips are not recorded, so payment type really decides most labels.
DRIVING_FEATURE = "payment_type"
# Configured values the tuner's must replace: the search space has no 8-unit layer.
CONFIGURED = {"TAXI_PIPELINE_HIDDEN_UNITS": "8", "TAXI_PIPELINE_LEARNING_RATE": "0.05"}


@dataclass
class TunedRun:
    home: Path
    summary: dict

    def store(self):
        return md.connect(self.home / "metadata.db")

    def executions(self) -> dict:
        store = self.store()
        return md.run_executions(store, md.run_ids(store, "taxi")[-1])


def _noisy_span(source: Path, target: Path, column: str, seed: int) -> None:
    """Copies a span's CSV with one column replaced by uniform random integers unrelated to anything."""
    rng = random.Random(seed)
    with (source / "data.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    target.mkdir(parents=True)
    with (target / "data.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, column: str(rng.randint(60, 3600))})


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> TunedRun:
    base = tmp_path_factory.mktemp("tuned")
    _noisy_span(SMALL_DATA / "span-1", base / "data" / "span-1", NOISE_FEATURE, seed=7)
    home = base / "home"
    env = {**CONFIGURED, "TAXI_PIPELINE_TUNER_TRIALS": "2", "TAXI_PIPELINE_TUNER_TRIAL_STEPS": "10"}
    # More steps than FAST_FLAGS' 30 (the later flag wins): the ranking needs a model that has learnt something.
    result = run_cli(
        "run", "--home", str(home), "--data-root", str(base / "data"), *FAST_FLAGS, "--train-steps", "100",
        "--tune", "--json", env=env,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"taxi-pipeline run --tune exited {result.returncode}\n{result.stdout}\n{result.stderr[-5000:]}")
    return TunedRun(home, json.loads(result.stdout))


def test_trainer_trains_with_the_tuners_best_hyperparameters(tuned: TunedRun) -> None:
    store = tuned.store()
    executions = tuned.executions()
    tuner, trainer = executions[ids.TUNER], executions[ids.TRAINER]
    assert md.state_name(tuner) == "executed"
    (best,) = md.outputs(store, tuner, "best_hyperparameters")
    (consumed,) = md.inputs(store, trainer, "hyperparameters")
    assert consumed.id == best.id
    values = json.loads((Path(best.uri) / "best_hyperparameters.txt").read_text())["values"]
    assert tuned.summary["tuned_hyperparameters"] == values
    expected_units = [values[f"units_{i}"] for i in range(values["num_layers"])]

    # What run_fn used, as it recorded it and as the exported model's layers show it.
    (model_run,) = md.outputs(store, trainer, "model_run")
    used = json.loads((Path(model_run.uri) / "hyperparameters.json").read_text())
    assert used["hidden_units"] == expected_units != [8]
    assert used["learning_rate"] == pytest.approx(values["learning_rate"])
    assert tuned.summary["tensorboard_dir"] == model_run.uri
    assert any(p.name.startswith("events.out.tfevents") for p in Path(model_run.uri).rglob("*"))

    import tensorflow as tf

    (model,) = md.outputs(store, trainer, "model")
    loaded = tf.saved_model.load(str(Path(model.uri) / "Format-Serving"))
    kernels = {v.name.split("/")[0]: v.shape for v in loaded.variables if v.name.endswith("kernel:0")}
    dense = [kernels[f"dense_{i}"][1] for i in range(len(expected_units))]
    assert dense == expected_units
    assert f"dense_{len(expected_units)}" not in kernels


def test_importance_ranks_a_feature_that_drives_the_label_above_pure_noise(tuned: TunedRun) -> None:
    store = tuned.store()
    (artifact,) = md.outputs(store, tuned.executions()[ids.FEATURE_IMPORTANCE], "feature_importance")
    assert store.get_artifact_types_by_id([artifact.type_id])[0].name == "pipeline.FeatureImportance"
    document = json.loads((Path(artifact.uri) / "feature_importance.json").read_text())
    importance = {f["feature"]: f["importance"] for f in document["features"]}
    assert importance[DRIVING_FEATURE] > importance[NOISE_FEATURE]
    assert importance[DRIVING_FEATURE] > 0
    # Raw feature names, as a client sends them, sorted largest first.
    assert "payment_type" in importance and "payment_type_xf" not in importance
    assert [f["importance"] for f in document["features"]] == sorted(importance.values(), reverse=True)
    assert document["metric"] == "auc" and document["repeats"] == 3 and document["rows"] > 0
    assert tuned.summary["feature_importance"] == document["features"][:5]


def test_explain_attributes_a_change_to_the_feature_that_changed(tuned: TunedRun) -> None:
    typical_and_credit = json.dumps({"instances": [{}, {DRIVING_FEATURE: "Credit Card"}]})
    result = run_cli("explain", "--home", str(tuned.home), "--instances", typical_and_credit, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    typical, credit = document["explanations"]
    # An instance that is the typical row explains nothing away (up to float noise between batch rows).
    assert typical["prediction"] == pytest.approx(typical["baseline_prediction"], abs=1e-6)
    assert max(abs(v) for v in typical["contributions"].values()) < 1e-6
    assert set(credit["contributions"]) == set(document["baseline"])
    # Only the feature that differs from the typical row can contribute, and it accounts for the whole change.
    if document["baseline"][DRIVING_FEATURE] != "Credit Card":
        others = [v for k, v in credit["contributions"].items() if k != DRIVING_FEATURE]
        assert max(abs(v) for v in others) < 1e-6
        assert credit["contributions"][DRIVING_FEATURE] == pytest.approx(
            credit["prediction"] - credit["baseline_prediction"], abs=1e-6
        )


def test_model_card_holds_the_tfma_metrics_of_the_pushed_model(healthy_home: HealthyHome, tmp_path: Path) -> None:
    import tensorflow_model_analysis as tfma

    home = tmp_path / "home"
    shutil.copytree(healthy_home.home, home)
    summary_line = next(line for line in healthy_home.result.stdout.splitlines() if "model card" in line)
    assert "model_card.html" in summary_line

    result = run_cli("model-card", "--home", str(home), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    card = document["card"]
    folder = Path(document["path"]).parent
    assert folder == home / "model-cards" / str(card["version"])
    assert (folder / "model_card.md").is_file() and (folder / "model_card.html").is_file()

    # TFMA's output, read here independently of the card code.
    store = md.connect(home / "metadata.db")
    (evaluator,) = [e for e in md.node_executions(store, "taxi", ids.EVALUATOR) if md.state_name(e) == "executed"]
    (evaluation,) = md.outputs(store, evaluator, "evaluation")
    tfma_metrics: dict[str, dict[str, float]] = {}
    for slice_key, metrics in tfma.load_eval_result(evaluation.uri).slicing_metrics:
        name = "overall" if not slice_key else ", ".join(f"{k}={v}" for k, v in slice_key)
        values = {}
        for metric, value in metrics[""][""].items():
            number = value.get("doubleValue")
            if isinstance(number, float):
                values[metric] = number
        tfma_metrics[name] = values

    card_metrics = {"overall": card["metrics"]["overall"], **card["metrics"]["slices"]}
    assert set(card_metrics) == set(tfma_metrics)
    for name, values in tfma_metrics.items():
        for metric, value in values.items():
            if value == value:  # NaN (e.g. AUC of a one-class slice) is left out of the card
                assert card_metrics[name][metric] == value, (name, metric)
    markdown = (folder / "model_card.md").read_text()
    assert f"{tfma_metrics['overall']['binary_accuracy']:.4f}" in markdown
    assert card["training"]["spans"] and {s["span"] for s in card["training"]["spans"]} == {1, 2}
    assert card["lineage"]["evaluator_execution_id"] == evaluator.id
    # The blessing threshold the run was given (--min-accuracy 0.5), as the Evaluator recorded it.
    assert {"metric": "binary_accuracy", "slice": "overall", "kind": "value", "bound": 0.5} in [
        {k: t[k] for k in ("metric", "slice", "kind", "bound")} for t in card["thresholds"]
    ]
