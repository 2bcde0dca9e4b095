"""Operations commands over one real history: a run on span 1, a run on span 2, then a rollback.

Every command's answer is checked against ML Metadata and the serving dir read here independently,
and the model TF Serving would pick after the rollback is loaded and compared with the rolled-back one.
"""

from __future__ import annotations

import csv
import filecmp
import json
import shutil
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runners.store import metadata as md
from tests.e2e.conftest import SMALL_DATA, CliResult, SavedFirstRun, run_cli, run_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PIPELINE = "taxi"
MODEL_NAME = "taxi_big_tipper"


@dataclass
class History:
    """The shared home, what each pipeline run reported, and the operations commands' answers."""

    home: Path
    first: dict[str, Any]
    second: dict[str, Any]
    rollback: dict[str, Any]
    rollback_again: dict[str, Any]
    answers: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    @property
    def serving(self) -> Path:
        return self.home / "serving" / MODEL_NAME

    def store(self) -> Any:
        return md.connect(self.home / "metadata.db")


def _ok(result: CliResult) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _json(home: Path, *args: str) -> Any:
    return json.loads(_ok(run_cli(*args, "--home", str(home), "--json")))


@pytest.fixture(scope="module")
def history(span_1_run: SavedFirstRun) -> Iterator[History]:
    start = span_1_run.restore()
    home, data_root, first = start.home, start.data_root, start.summary
    with pytest.MonkeyPatch.context() as env:
        # Blessing on the absolute accuracy bar only: a 30-step model on spans 1-2 may score below the
        # span-1 model, and this history needs a second push to roll back from. (The first run, shared,
        # ran without it: with no baseline yet, the change bar did not apply to it either way.)
        env.setenv("TAXI_PIPELINE_MAX_ACCURACY_DROP", "1.0")
        shutil.copytree(SMALL_DATA / "span-2", data_root / "span-2")
        second = json.loads(run_pipeline(home, data_root, "--json").stdout)
    assert first["pushed"] and second["pushed"], "both runs must push for this history"

    rollback = _json(home, "rollback", "--reason", "e2e drill")
    rollback_again = _json(home, "rollback", "--to", first["pushed_version"])
    found = History(home=home, first=first, second=second, rollback=rollback, rollback_again=rollback_again)
    for name, args in {
        "runs": ("runs",),
        "models": ("models",),
        "kpis": ("kpis",),
        "lineage_serving": ("lineage", "--serving"),
        "lineage_second": ("lineage", "--version", second["pushed_version"]),
        "report_second": ("report", "--run", second["run_id"]),
    }.items():
        found.answers[name] = _json(home, *args)
    for name, args in {"runs": ("runs",), "lineage": ("lineage",), "models": ("models",), "kpis": ("kpis",)}.items():
        found.texts[name] = _ok(run_cli(*args, "--home", str(home)))
    yield found


def _versions_on_disk(serving: Path) -> list[int]:
    # TF Serving's rule, written out here rather than taken from pipeline.serving_dir.
    return sorted(int(p.name) for p in serving.iterdir() if p.is_dir() and p.name.isdigit())


def _pusher_output(store: Any, run_id: str) -> md.Artifact:
    (pushed,) = md.outputs(store, md.run_executions(store, run_id)["pusher"], "pushed_model")
    return pushed


def test_runs_match_the_pipeline_runs_in_ml_metadata(history: History) -> None:
    store = history.store()
    runs = history.answers["runs"]["runs"]
    assert (
        [r["run_id"] for r in runs]
        == md.run_ids(store, PIPELINE)
        == [history.first["run_id"], history.second["run_id"]]
    )
    for run, summary in zip(runs, (history.first, history.second), strict=True):
        executions = md.run_executions(store, run["run_id"])
        expected = {
            node: md.state_name(e)
            for node, e in executions.items()
            if md.execution_type_name(store, e) != "tfx.dsl.components.common.resolver.Resolver"
        }
        assert run["components"] == expected
        assert run["status"] == "complete" and run["duration_s"] > 0
        assert run["span"] == summary["span"] and run["window_spans"] == summary["window_spans"]
        assert (
            str(run["pushed_version"])
            == summary["pushed_version"]
            == md.prop(_pusher_output(store, run["run_id"]), "pushed_version")
        )
        assert run["blessed"] is True
    # The second run reused the imported schema and trained on both spans.
    assert runs[1]["components"]["schema_importer"] == "cached" and runs[1]["window_spans"] == [1, 2]
    text = history.texts["runs"]
    assert history.second["run_id"] in text and history.second["pushed_version"] in text
    assert all(len(line) <= 100 for line in text.splitlines())


def test_rollback_publishes_the_first_model_as_a_new_highest_version(history: History) -> None:
    first, second = int(history.first["pushed_version"]), int(history.second["pushed_version"])
    result = history.rollback
    assert result["changed"] is True
    assert (result["target_version"], result["serving_before"]) == (first, second)
    new = result["published_version"]
    assert new > second and _versions_on_disk(history.serving) == [first, second, new]
    # Byte for byte the first version's model.
    comparison = filecmp.dircmp(history.serving / str(first), history.serving / str(new))
    assert not comparison.left_only and not comparison.right_only and not comparison.diff_files
    (record,) = [json.loads(line) for line in (history.serving / "rollbacks.jsonl").read_text().splitlines()]
    assert (record["version"], record["rollback_of"], record["replaced_version"]) == (new, first, second)
    assert record["reason"] == "e2e drill"
    # Recorded in ML Metadata: a Rollback execution from the first push to a new PushedModel.
    store = history.store()
    (execution,) = store.get_executions_by_type("Rollback")
    assert execution.id == result["execution_id"] and md.state_name(execution) == "executed"
    (source,) = md.inputs(store, execution, "pushed_model")
    assert source.id == _pusher_output(store, history.first["run_id"]).id
    (published,) = md.outputs(store, execution, "pushed_model")
    assert md.prop(published, "pushed_version") == str(new) and published.uri == str(history.serving / str(new))


def test_second_rollback_to_the_same_model_changes_nothing(history: History) -> None:
    again = history.rollback_again
    assert again["changed"] is False and again["published_version"] is None
    assert again["serving_now"] == history.rollback["published_version"]
    assert len(_versions_on_disk(history.serving)) == 3
    assert len((history.serving / "rollbacks.jsonl").read_text().splitlines()) == 1
    assert len(history.store().get_executions_by_type("Rollback")) == 1


def test_models_lists_every_version_with_its_metrics_and_the_serving_one(history: History) -> None:
    document = history.answers["models"]
    first, second = int(history.first["pushed_version"]), int(history.second["pushed_version"])
    new = history.rollback["published_version"]
    versions = {v["version"]: v for v in document["versions"]}
    assert sorted(versions) == [first, second, new]
    assert document["serving_version"] == max(_versions_on_disk(history.serving)) == new
    assert [v for v, d in versions.items() if d["serving"]] == [new]
    assert (versions[new]["kind"], versions[new]["rollback_of"]) == ("rollback", first)
    assert (
        versions[new]["model_artifact_id"]
        == versions[first]["model_artifact_id"]
        != versions[second]["model_artifact_id"]
    )
    store = history.store()
    (model,) = md.inputs(store, md.run_executions(store, history.first["run_id"])["pusher"], "model")
    assert versions[first]["model_artifact_id"] == model.id
    for version, summary in ((first, history.first), (second, history.second), (new, history.first)):
        metrics = versions[version]["metrics"]
        assert metrics["binary_accuracy"] == pytest.approx(summary["metrics"]["binary_accuracy"])
        assert metrics["auc"] == pytest.approx(summary["metrics"]["auc"])
    assert document["unrecorded_versions"] == []


def test_lineage_of_the_serving_version_follows_the_rollback_to_span_1(history: History) -> None:
    chain = history.answers["lineage_serving"]
    store = history.store()
    first_run = md.run_executions(store, history.first["run_id"])
    assert chain["version"] == history.rollback["published_version"] and chain["serving"] is True
    assert chain["rollback"]["republishes"] == int(history.first["pushed_version"])
    assert chain["push"]["run_id"] == history.first["run_id"]
    (model,) = md.outputs(store, first_run["trainer"], "model")
    assert chain["model"] == {"id": model.id, "uri": model.uri}
    trainer_config = json.loads(md.prop(first_run["trainer"], "custom_config"))
    assert chain["trainer"]["execution_id"] == first_run["trainer"].id
    assert chain["trainer"]["hyperparameters"] == trainer_config["hyperparameters"]
    assert chain["trainer"]["code_fingerprint"] == trainer_config["code_fingerprint"] != ""
    assert chain["trainer"]["train_steps"] == 30
    (graph,) = md.outputs(store, first_run["transform"], "transform_graph")
    assert chain["transform_graph"]["id"] == graph.id
    (schema,) = md.outputs(store, first_run["schema_importer"], "schema")
    assert chain["schema"]["uri"] == schema.uri
    (examples,) = md.outputs(store, first_run["example_gen"], "examples")
    (link,) = chain["examples"]
    assert (link["id"], link["uri"], link["span"]) == (examples.id, examples.uri, 1)
    assert link["input_fingerprint"] == md.prop(examples, "input_fingerprint") != ""
    (stats,) = md.outputs(store, first_run["statistics_gen"], "statistics")
    assert link["statistics"]["uri"] == stats.uri
    for uri in (model.uri, graph.uri, schema.uri, examples.uri, stats.uri):
        assert Path(uri).exists(), uri
    text = history.texts["lineage"]
    assert f"republishes version {history.first['pushed_version']}" in text and "span 1:" in text


def test_lineage_of_the_second_push_reaches_both_spans(history: History) -> None:
    chain = history.answers["lineage_second"]
    assert chain["rollback"] is None and chain["serving"] is False
    assert chain["push"]["run_id"] == history.second["run_id"]
    assert [e["span"] for e in chain["examples"]] == [1, 2]


def test_kpis_agree_with_the_runs_and_pushes(history: History) -> None:
    document = history.answers["kpis"]
    runs = history.answers["runs"]["runs"]
    frequency = document["deployment_frequency"]
    assert (frequency["deployments"], frequency["rollbacks"]) == (2, 1)
    store = history.store()
    lead = {p["version"]: p for p in document["lead_time"]["per_push"]}
    for summary in (history.first, history.second):
        executions = md.run_executions(store, summary["run_id"])
        (examples,) = md.outputs(store, executions["example_gen"], "examples")
        expected = (executions["pusher"].last_update_time_since_epoch - examples.create_time_since_epoch) / 1000
        assert lead[int(summary["pushed_version"])]["lead_time_s"] == pytest.approx(expected, abs=0.01)
        assert expected > 0
    assert document["blessing_rate"] == {"evaluated": 2, "blessed": 2, "rate": 1.0}
    assert document["run_duration"]["mean_s"] == pytest.approx(statistics.fmean(r["duration_s"] for r in runs))
    assert document["run_duration"]["by_kind"]["training"]["complete"] == 2
    period = frequency["period"]
    assert period["start"] == min(r["started"] for r in runs) and period["seconds"] < 86400
    assert sum(b["deployments"] for b in frequency["by_day"]) == 2
    assert frequency["per_day"] == 2 / len(frequency["by_day"])  # counted per calendar day, not extrapolated
    trend = document["trend"]
    values = [history.first["metrics"]["binary_accuracy"], history.second["metrics"]["binary_accuracy"]]
    assert [p["value"] for p in trend["points"]] == pytest.approx(values)
    # The change is the Evaluator's, candidate minus baseline on the second run's own eval rows.
    change = history.second["metrics"]["binary_accuracy_diff"]
    assert trend["change"] == pytest.approx(change) and trend["points"][0]["change"] is None
    assert trend["points"][1]["baseline_versions"] == [int(history.first["pushed_version"])]
    assert trend["points"][1]["baseline_value"] == pytest.approx(values[1] - change)
    assert "same rows" in trend["comparison"] and "same rows" in " ".join(history.texts["kpis"].split())


def test_models_compare_on_the_same_rows_and_mark_the_rolled_back_version(history: History) -> None:
    first, second = int(history.first["pushed_version"]), int(history.second["pushed_version"])
    new = history.rollback["published_version"]
    versions = {v["version"]: v for v in history.answers["models"]["versions"]}
    assert versions[second]["status"] == f"rolled back by {new}"
    assert versions[first]["status"] == f"superseded by {second}" and versions[new]["status"] == "serving"
    against = versions[second]["vs_baseline"]
    assert against["change"] == pytest.approx(history.second["metrics"]["binary_accuracy_diff"])
    assert against["baseline_versions"] == [first]
    assert versions[first]["vs_baseline"]["change"] is None
    text = history.texts["models"]
    assert f"rolled back by {new}" in text and f"vs version {first}" in text


def test_report_missing_share_matches_a_pandas_count_of_the_span_csv(history: History) -> None:
    import pandas as pd

    document = history.answers["report_second"]
    span = document["summary"]["span"]
    frame = pd.read_csv(SMALL_DATA / f"span-{span}" / "data.csv")
    totals: dict[str, list[int]] = {}
    for rows in document["statistics"].values():
        for row in rows:
            present, missing = totals.setdefault(row["name"], [0, 0])
            totals[row["name"]] = [present + row["present"], missing + row["missing"]]
    assert set(totals) == set(frame.columns)
    empty = frame.isna().sum()
    assert empty["company"] > 0 and empty["dropoff_census_tract"] > 0  # the cells TFDV's num_missing misses
    for name, (present, missing) in totals.items():
        assert present + missing == len(frame), name
        assert missing == empty[name], name
    types = {row["name"]: row["type"] for rows in document["statistics"].values() for row in rows}
    assert types["pickup_census_tract"] == "INT" and types["payment_type"] == "STRING"


def _predict(model_dir: Path, examples: list[bytes]) -> Any:
    import tensorflow as tf

    model = tf.saved_model.load(str(model_dir))
    return model.signatures["serving_tf_example"](examples=tf.constant(examples))["probability"].numpy().ravel()


def _examples(rows: list[dict[str, str]]) -> list[bytes]:
    import tensorflow as tf

    from models import features

    serialized = []
    for row in rows:
        feature = {}
        for name in features.model_input_features():
            text, kind = row[name], features.raw_feature_kind(name)
            if text == "":
                continue
            if kind == "string":
                feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
            elif kind == "int":
                feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(text))]))
            else:
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(text)]))
        serialized.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return serialized


def test_the_version_tf_serving_would_load_is_the_rolled_back_model(history: History) -> None:
    import numpy as np

    with (SMALL_DATA / "span-2" / "data.csv").open() as handle:
        examples = _examples(list(csv.DictReader(handle))[:16])
    latest = history.serving / str(max(_versions_on_disk(history.serving)))
    served = _predict(latest, examples)
    np.testing.assert_allclose(served, _predict(history.serving / history.first["pushed_version"], examples))
    assert not np.allclose(served, _predict(history.serving / history.second["pushed_version"], examples))
