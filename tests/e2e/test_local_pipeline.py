"""The real pipeline, run the way a user would: first span, unchanged reruns, new span.

Assertions read ML Metadata and the serving dir, not just the exit code.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import ids
from runners.home.fastpath import MANIFEST_NAME
from runners.store import metadata as md
from tests.e2e.conftest import SMALL_DATA, CliResult, SavedFirstRun, run_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

UPSTREAM_OF_EVALUATOR = (
    ids.EXAMPLE_GEN,
    ids.STATISTICS_GEN,
    ids.SCHEMA_IMPORTER,
    ids.EXAMPLE_VALIDATOR,
    ids.TRANSFORM,
    ids.TRAINER,
)


@dataclass
class Runs:
    """The home shared by the tests, and what each run printed."""

    home: Path
    data_root: Path
    first: CliResult
    second: CliResult | None = None
    unchanged: CliResult | None = None
    third: CliResult | None = None

    def store(self):
        return md.connect(self.home / "metadata.db")


@pytest.fixture(scope="module")
def runs(span_1_run: SavedFirstRun) -> Iterator[Runs]:
    start = span_1_run.restore()
    yield Runs(home=start.home, data_root=start.data_root, first=start.result)


@pytest.fixture(scope="module")
def rerun(runs: Runs) -> Runs:
    if runs.second is None:
        # Without the first run's manifest the rerun takes the full path, through LocalDagRunner's cache.
        fastpath_manifest(runs.home).unlink()
        runs.second = run_pipeline(runs.home, runs.data_root, "--json")
    return runs


@pytest.fixture(scope="module")
def unchanged(rerun: Runs) -> Runs:
    if rerun.unchanged is None:
        rerun.unchanged = run_pipeline(rerun.home, rerun.data_root, "--json")
    return rerun


@pytest.fixture(scope="module")
def new_span(unchanged: Runs) -> Runs:
    rerun = unchanged
    if rerun.third is None:
        shutil.copytree(SMALL_DATA / "span-2", rerun.data_root / "span-2")
        rerun.third = run_pipeline(rerun.home, rerun.data_root, "--json")
    return rerun


def fastpath_manifest(home: Path) -> Path:
    return home / MANIFEST_NAME


def _summary(result: CliResult) -> dict:
    return json.loads(result.stdout)


def _last_run(store) -> dict:
    return md.run_executions(store, md.run_ids(store, "taxi")[-1])


def test_first_run_pushes_a_blessed_model_and_prints_progress(runs: Runs) -> None:
    summary = _summary(runs.first)
    assert summary["span"] == 1
    assert summary["blessed"] is True
    assert summary["pushed"] is True
    assert (Path(summary["pushed_path"]) / "saved_model.pb").is_file()
    assert Path(summary["pushed_path"]).parent == runs.home / "serving" / "taxi_big_tipper"
    assert 0.0 < summary["metrics"]["binary_accuracy"] <= 1.0
    assert {"overall", "payment_type=Cash"} <= set(summary["slice_metrics"])
    # Progress shows each component as it starts and ends, with its state and duration.
    for component in ids.COMPONENTS:
        assert f"▶ {component}" in runs.first.stderr
    assert "✔ trainer" in runs.first.stderr and "executed" in runs.first.stderr
    # TensorFlow's and Beam's logs went to the log file, not the console.
    assert "tensorflow" not in runs.first.stderr.lower().replace("tensorflow_", "")
    assert list((runs.home / "logs").glob("run-*.log"))


def test_first_run_has_one_execution_per_component(runs: Runs) -> None:
    store = runs.store()
    for component in ids.COMPONENTS:
        executions = md.node_executions(store, "taxi", component)
        assert len(executions) == 1, component
        assert md.state_name(executions[0]) == "executed", component


def test_pushed_model_lineage_reaches_the_ingested_examples(runs: Runs) -> None:
    store = runs.store()
    executions = _last_run(store)
    (pushed,) = md.outputs(store, executions[ids.PUSHER], "pushed_model")
    # push -> model -> trainer -> transformed examples -> transform -> window -> ExampleGen examples
    (model,) = md.inputs(store, executions[ids.PUSHER], "model")
    trainer = md.producer(store, model)
    assert trainer is not None and md.node_id_of(store, trainer) == ids.TRAINER
    transformed = md.inputs(store, trainer, "examples")
    transform = md.producer(store, transformed[0])
    assert transform is not None and md.node_id_of(store, transform) == ids.TRANSFORM
    raw = md.inputs(store, transform, "examples")
    example_gen = md.producer(store, raw[0])
    assert example_gen is not None and md.node_id_of(store, example_gen) == ids.EXAMPLE_GEN
    assert md.prop(raw[0], "span") == 1
    assert md.prop(pushed, "pushed") == 1


def test_unchanged_rerun_executes_nothing_upstream_of_the_evaluator(rerun: Runs) -> None:
    store = rerun.store()
    states = {node: md.state_name(e) for node, e in _last_run(store).items()}
    for component in UPSTREAM_OF_EVALUATOR:
        assert states[component] == "cached", (component, states)
    assert "cached" in rerun.second.stderr


def test_unchanged_rerun_after_a_recorded_run_repeats_its_summary_without_running(unchanged: Runs) -> None:
    store = unchanged.store()
    run_ids = md.run_ids(store, "taxi")
    assert unchanged.second is not None and unchanged.unchanged is not None
    # No LocalDagRunner run: ML Metadata holds the first run and the cached rerun only.
    assert len(run_ids) == 2 and run_ids[-1] == _summary(unchanged.second)["run_id"]
    assert _summary(unchanged.unchanged) == _summary(unchanged.second)
    assert f"Nothing changed since run {run_ids[-1]}" in unchanged.unchanged.stderr
    assert "▶" not in unchanged.unchanged.stderr


def test_new_span_is_ingested_alone_and_trained_with_the_window(new_span: Runs) -> None:
    store = new_span.store()
    # A new span file is a change: the run went through the pipeline.
    assert new_span.third is not None and "Nothing changed" not in new_span.third.stderr
    executions = _last_run(store)
    # ExampleGen ran once more, for span 2 only; span 1 was not read again.
    example_gens = md.node_executions(store, "taxi", ids.EXAMPLE_GEN)
    assert [md.state_name(e) for e in example_gens[-1:]] == ["executed"]
    (ingested,) = md.outputs(store, executions[ids.EXAMPLE_GEN], "examples")
    assert md.prop(ingested, "span") == 2
    # Statistics and validation saw the new span on its own.
    (statistics_input,) = md.inputs(store, executions[ids.STATISTICS_GEN], "examples")
    assert statistics_input.id == ingested.id
    # The Trainer's data comes from a window of both spans.
    window = md.inputs(store, executions[ids.TRANSFORM], "examples")
    assert sorted(md.prop(a, "span") for a in window) == [1, 2]
    assert len(md.inputs(store, executions[ids.TRAINER], "examples")) == 2
    summary = _summary(new_span.third)
    assert summary["span"] == 2 and summary["window_spans"] == [1, 2]
    assert summary["window_rows"] == 600


def _example(row: dict[str, str]) -> bytes:
    import tensorflow as tf

    from models import features

    feature = {}
    for name, text in row.items():
        if text == "" or name == features.TIPS_KEY:
            continue
        kind = features.raw_feature_kind(name)
        if kind == "string":
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
        elif kind == "int":
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(text))]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(text)]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_pushed_model_gives_the_same_answer_to_raw_values_and_tf_examples(runs: Runs) -> None:
    import csv

    import numpy as np
    import tensorflow as tf

    from models import features

    with (SMALL_DATA / "span-1" / "data.csv").open() as handle:
        rows = list(csv.DictReader(handle))[:8]
    # Rows with gaps included: a raw request says "missing" with the fill value (0, 0.0 or "").
    assert any(r[k] == "" for r in rows for k in features.model_input_features())
    model = tf.saved_model.load(_summary(runs.first)["pushed_path"])
    assert {"serving_default", "serving_tf_example", "transform_features"} <= set(model.signatures)

    from_examples = model.signatures["serving_tf_example"](examples=tf.constant([_example(r) for r in rows]))
    dtypes = {"string": tf.string, "int": tf.int64, "float": tf.float32}
    raw_inputs = {}
    for name in features.model_input_features():
        kind = features.raw_feature_kind(name)
        values = [r[name] if kind == "string" else float(r[name] or 0) for r in rows]
        if kind == "int":
            values = [int(v) for v in values]
        raw_inputs[name] = tf.constant(values, dtype=dtypes[kind])
    from_raw = model.signatures["serving_default"](**raw_inputs)

    by_example = from_examples["probability"].numpy().ravel()
    by_raw = from_raw["probability"].numpy().ravel()
    assert by_example.shape == (len(rows),)
    assert np.all((by_example > 0) & (by_example < 1))
    np.testing.assert_allclose(by_raw, by_example, rtol=1e-6)
