"""Pushes, runs, lineage and rollback on a fabricated ML Metadata store and a fake serving dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import serving_dir as sd
from runners.serving.rollback import RollbackError, choose_target, rollback
from runners.store import lineage as ln
from tests.unit.fake_home import PIPELINE, FakeHome


@pytest.fixture
def home(tmp_path: Path) -> FakeHome:
    return FakeHome(tmp_path)


@pytest.fixture
def two_pushes(home: FakeHome) -> FakeHome:
    first = home.run("run-1", span=1, version=100)
    home.cached_rerun("run-1b", first)
    home.run("run-2", span=2, version=200)
    return home


def _serving_payload(home: FakeHome) -> str:
    return (home.serving / str(sd.serving_version(home.serving)) / "saved_model.pb").read_text()


def test_find_pushes_lists_each_push_once_with_its_model_and_window(two_pushes: FakeHome) -> None:
    pushes = ln.find_pushes(two_pushes.store, PIPELINE)
    assert [(p.version, p.kind, p.run_id) for p in pushes] == [(100, "push", "run-1"), (200, "push", "run-2")]
    assert pushes[0].window_spans == [1]
    assert pushes[1].window_spans == [1, 2]
    assert pushes[1].evaluation_uri == f"{two_pushes.root}/evaluation/run-2"
    assert pushes[0].model_id != pushes[1].model_id


def test_list_runs_reports_states_spans_and_what_each_run_pushed(two_pushes: FakeHome) -> None:
    runs = {r.run_id: r for r in ln.list_runs(two_pushes.store, PIPELINE)}
    assert list(runs) == ["run-1", "run-1b", "run-2"]
    assert runs["run-1"].pushed_version == 100 and runs["run-1"].status == "complete"
    assert runs["run-2"].span == 2 and runs["run-2"].window_spans == [1, 2]
    # Resolvers are not components; a cached Pusher did not push again.
    assert "span_window_resolver" not in runs["run-2"].components
    assert runs["run-1b"].components == {"pusher": "cached"} and runs["run-1b"].pushed_version is None


def test_unblessed_run_pushes_nothing(home: FakeHome) -> None:
    home.run("run-1", span=1, version=100)
    home.run("run-2", span=2, version=None, blessed=False)
    runs = ln.list_runs(home.store, PIPELINE)
    assert runs[-1].blessed is False and runs[-1].pushed_version is None
    assert [p.version for p in ln.find_pushes(home.store, PIPELINE)] == [100]


def test_rollback_republishes_the_previous_model_as_a_new_highest_version(two_pushes: FakeHome) -> None:
    result = rollback(two_pushes.store, PIPELINE, two_pushes.serving, reason="bad tips", now=150.0)
    assert result.changed and result.target_version == 100 and result.serving_before == 200
    # Higher than every version, even with a clock behind them.
    assert result.published_version == 201 == sd.serving_version(two_pushes.serving)
    assert _serving_payload(two_pushes) == "model-run-1"
    assert sd.versions(two_pushes.serving) == [100, 200, 201]
    (record,) = sd.read_rollbacks(two_pushes.serving)
    assert record["version"] == 201 and record["rollback_of"] == 100 and record["replaced_version"] == 200
    assert record["reason"] == "bad tips"

    pushes = ln.find_pushes(two_pushes.store, PIPELINE)
    latest = pushes[-1]
    assert (latest.version, latest.kind, latest.rollback_of, latest.reason) == (201, "rollback", 100, "bad tips")
    assert latest.model_id == pushes[0].model_id
    assert ln.original(latest, pushes).version == 100


def test_rollback_twice_is_a_no_op(two_pushes: FakeHome) -> None:
    rollback(two_pushes.store, PIPELINE, two_pushes.serving, now=300.0)
    again = rollback(two_pushes.store, PIPELINE, two_pushes.serving, now=400.0)
    same_target = rollback(two_pushes.store, PIPELINE, two_pushes.serving, to=100, now=500.0)
    for result in (again, same_target):
        assert not result.changed and result.published_version is None and result.serving_now == 300
    assert sd.versions(two_pushes.serving) == [100, 200, 300]
    assert len(sd.read_rollbacks(two_pushes.serving)) == 1
    assert [p.kind for p in ln.find_pushes(two_pushes.store, PIPELINE)] == ["push", "push", "rollback"]


def test_rollback_to_the_newest_push_rolls_forward(two_pushes: FakeHome) -> None:
    rollback(two_pushes.store, PIPELINE, two_pushes.serving, now=300.0)
    result = rollback(two_pushes.store, PIPELINE, two_pushes.serving, to=200, now=400.0)
    assert result.changed and result.published_version == 400 and result.target_version == 200
    assert _serving_payload(two_pushes) == "model-run-2"


def test_rollback_uses_the_pushers_archive_when_the_version_folder_is_gone(two_pushes: FakeHome) -> None:
    import shutil

    shutil.rmtree(two_pushes.serving / "100")
    result = rollback(two_pushes.store, PIPELINE, two_pushes.serving, now=300.0)
    assert result.changed and _serving_payload(two_pushes) == "model-run-1"


def test_rollback_to_an_unknown_version_names_the_known_ones(two_pushes: FakeHome) -> None:
    with pytest.raises(RollbackError, match=r"version 999 is not a version this home published .*100, 200"):
        rollback(two_pushes.store, PIPELINE, two_pushes.serving, to=999)
    assert sd.versions(two_pushes.serving) == [100, 200]


def test_rollback_with_a_single_push_has_nothing_to_go_back_to(home: FakeHome) -> None:
    home.run("run-1", span=1, version=100)
    with pytest.raises(RollbackError, match="nothing blessed to roll back to: version 100 is the only model"):
        rollback(home.store, PIPELINE, home.serving)


def test_rollback_without_any_push_says_so(home: FakeHome) -> None:
    with pytest.raises(RollbackError, match="no blessed, pushed model"):
        choose_target([], None)


def test_lineage_of_a_rollback_follows_it_to_the_original_models_data(two_pushes: FakeHome) -> None:
    rollback(two_pushes.store, PIPELINE, two_pushes.serving, now=300.0)
    pushes = ln.find_pushes(two_pushes.store, PIPELINE)
    chain = ln.lineage(two_pushes.store, pushes[-1], pushes)
    assert chain["version"] == 300
    assert chain["rollback"]["republishes"] == 100
    assert chain["push"]["version"] == 100 and chain["push"]["run_id"] == "run-1"
    assert chain["blessing"]["blessed"] is True
    assert chain["model"]["uri"] == f"{two_pushes.root}/model/run-1"
    assert chain["trainer"]["hyperparameters"] == {"batch_size": 8}
    assert (chain["trainer"]["train_steps"], chain["trainer"]["eval_steps"]) == (30, 5)
    assert chain["trainer"]["code_fingerprint"] == "code-run-1"
    assert chain["transform_graph"]["uri"] == f"{two_pushes.root}/graph/run-1"
    assert chain["schema"]["source_file"] == "/repo/schema.pbtxt"
    assert [(e["span"], e["input_fingerprint"], e["run_id"]) for e in chain["examples"]] == [(1, "fp-1", "run-1")]
    assert chain["examples"][0]["statistics"]["uri"] == f"{two_pushes.root}/statistics/1"


def test_lineage_of_a_later_push_reaches_every_span_of_its_window(two_pushes: FakeHome) -> None:
    pushes = ln.find_pushes(two_pushes.store, PIPELINE)
    chain = ln.lineage(two_pushes.store, pushes[-1], pushes)
    assert chain["rollback"] is None
    assert [e["span"] for e in chain["examples"]] == [1, 2]
    assert all(e["statistics"] is not None for e in chain["examples"])


def test_span_arrivals_and_evaluations_come_from_the_store(two_pushes: FakeHome) -> None:
    arrivals = ln.span_arrivals(two_pushes.store, PIPELINE)
    assert set(arrivals) == {1, 2} and arrivals[1] <= arrivals[2]
    evaluations = ln.list_evaluations(two_pushes.store, PIPELINE)
    assert [(e.run_id, e.blessed) for e in evaluations] == [("run-1", True), ("run-2", True)]


def test_a_failed_copy_leaves_serving_unchanged_and_a_failed_record(
    two_pushes: FakeHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sd, "publish", full_disk)
    with pytest.raises(RollbackError, match=r"could not publish version 300 in .*No space left on device"):
        rollback(two_pushes.store, "taxi", two_pushes.serving, now=300.0)
    assert sd.versions(two_pushes.serving) == [100, 200] and sd.read_rollbacks(two_pushes.serving) == []
    (execution,) = two_pushes.store.get_executions_by_type(ln.ROLLBACK_TYPE)
    assert execution.last_known_state == execution.FAILED
    assert [p.kind for p in ln.find_pushes(two_pushes.store, "taxi")] == ["push", "push"]


def test_a_rollback_flushes_the_republished_model_to_the_disk_before_it_serves(
    two_pushes: FakeHome, fsynced: list[Path]
) -> None:
    rollback(two_pushes.store, PIPELINE, two_pushes.serving, now=300.0)
    serving = two_pushes.serving
    inside = [p.relative_to(serving) for p in fsynced if p.is_relative_to(serving) and p != serving]
    # Every file of the model was flushed while still under its hidden staging name, i.e. before it could serve.
    staged = {p.relative_to(p.parts[0]).as_posix() for p in inside if sd.is_leftover(p.parts[0])}
    published = {p.relative_to(serving / "300").as_posix() for p in (serving / "300").rglob("*") if p.is_file()}
    assert published and published <= staged
    # Then the serving dir itself, so the rename is on the disk, and the manifest line.
    assert serving in fsynced and Path(sd.ROLLBACK_MANIFEST) in inside


def test_a_rollback_first_removes_what_dead_publications_left(two_pushes: FakeHome) -> None:
    # A Pusher killed mid-copy, and a rollback killed mid-copy before publishing was shared.
    for leftover in (".tmp-250", ".rollback-260-4242"):
        (two_pushes.serving / leftover).mkdir()
    rollback(two_pushes.store, PIPELINE, two_pushes.serving, now=300.0)
    assert sorted(p.name for p in two_pushes.serving.iterdir() if p.is_dir()) == ["100", "200", "300"]
