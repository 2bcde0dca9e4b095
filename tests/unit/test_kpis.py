"""KPI arithmetic on fabricated run, push and evaluation records."""

from __future__ import annotations

import pytest

from runners.reports import kpis
from runners.store.lineage import EvaluationRecord, Push, RunRecord

HOUR = 3600.0


def _run(run_id: str, started: float, ended: float | None, status: str = "complete", trained: bool = True) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        started=started,
        ended=ended,
        status=status,
        span=1,
        window_spans=[1],
        components={"example_gen": "executed", **({"trainer": "executed"} if trained else {})},
        failed_components=[],
        blessed=None,
        pushed_version=None,
    )


def _push(version: int, pushed_at: float, spans: list[int], kind: str = "push") -> Push:
    return Push(
        version=version,
        kind=kind,
        pushed_at=pushed_at,
        execution_id=version,
        run_id=f"run-{version}",
        pushed_model_id=version,
        pushed_model_uri="",
        destination="",
        model_id=version,
        model_uri="",
        window_spans=spans,
        rollback_of=1 if kind == "rollback" else None,
    )


def _evaluation(
    execution_id: int, finished_at: float, blessed: bool | None, baseline: int | None = None
) -> EvaluationRecord:
    return EvaluationRecord(
        run_id=f"run-{execution_id}",
        execution_id=execution_id,
        finished_at=finished_at,
        blessed=blessed,
        evaluation_uri=f"/eval/{execution_id}",
        model_id=execution_id,
        window_spans=[1, 2],
        baseline_model_id=baseline,
    )


def test_deployment_frequency_counts_pushes_over_the_window_and_rollbacks_apart() -> None:
    runs = [_run("a", 0.0, HOUR), _run("b", 24 * HOUR, 25 * HOUR)]
    pushes = [_push(1, HOUR, [1]), _push(2, 25 * HOUR, [2]), _push(3, 30 * HOUR, [1], kind="rollback")]
    result = kpis.deployment_frequency(pushes, runs, now=48 * HOUR)
    assert result["deployments"] == 2
    assert result["rollbacks"] == 1
    # The period the records cover: first run start to the last event (the rollback), not to `now`.
    assert (result["period"]["start"], result["period"]["end"]) == (0.0, 30 * HOUR)
    assert result["period"]["days"] == ["1970-01-01", "1970-01-02"]
    assert result["by_day"] == [{"day": "1970-01-01", "deployments": 1}, {"day": "1970-01-02", "deployments": 1}]
    assert result["per_day"] == pytest.approx(1.0)
    assert result["by_week"] == [{"week": "1970-W01", "deployments": 2}] and result["per_week"] == 2.0
    assert result["mean_interval_s"] == pytest.approx(24 * HOUR)


def test_deployment_frequency_is_not_extrapolated_from_minutes() -> None:
    # Two pushes 25 s apart: "2 on that day", not 3,456 per day.
    runs = [_run("a", 0.0, 10.0), _run("b", 15.0, 35.0)]
    result = kpis.deployment_frequency([_push(1, 10.0, [1]), _push(2, 35.0, [2])], runs, now=10 * HOUR)
    assert result["period"]["seconds"] == 35.0
    assert result["by_day"] == [{"day": "1970-01-01", "deployments": 2}]
    assert result["per_day"] == 2.0


def test_deployment_frequency_without_pushes_or_runs() -> None:
    result = kpis.deployment_frequency([], [], now=10.0)
    assert result["deployments"] == 0
    assert result["per_day"] is None
    assert result["mean_interval_s"] is None


def test_lead_time_runs_from_the_newest_training_span_arrival_to_the_push() -> None:
    arrivals = {1: 0.0, 2: 10 * HOUR}
    pushes = [
        _push(1, 2 * HOUR, [1]),
        _push(2, 14 * HOUR, [1, 2]),  # span 2 arrived at 10h: 4h lead time, not 14h
        _push(3, 20 * HOUR, [1], kind="rollback"),  # a rollback is not a delivery of new data
        _push(4, 30 * HOUR, [3]),  # no recorded arrival for span 3: left out
    ]
    result = kpis.lead_times(pushes, arrivals)
    assert [(p["version"], p["span"], p["lead_time_s"]) for p in result["per_push"]] == [
        (1, 1, 2 * HOUR),
        (2, 2, 4 * HOUR),
    ]
    assert result["mean_s"] == pytest.approx(3 * HOUR)
    assert result["median_s"] == pytest.approx(3 * HOUR)
    assert result["max_s"] == pytest.approx(4 * HOUR)


def test_blessing_rate_counts_decided_evaluations_only() -> None:
    evaluations = [_evaluation(1, 1.0, True), _evaluation(2, 2.0, False), _evaluation(3, 3.0, True)]
    evaluations.append(_evaluation(4, 4.0, None))
    result = kpis.blessing_rate(evaluations)
    assert result == {"evaluated": 3, "blessed": 2, "rate": pytest.approx(2 / 3)}
    assert kpis.blessing_rate([])["rate"] is None


def test_run_durations_are_by_kind_of_complete_run() -> None:
    runs = [
        _run("a", 0.0, 100.0),
        _run("b", 0.0, 300.0),
        _run("i", 0.0, 12.0, trained=False),
        _run("c", 0.0, 5.0, status="failed"),
        _run("d", 0.0, None, status="unfinished"),
    ]
    result = kpis.run_durations(runs)
    assert (result["runs"], result["complete"], result["failed"], result["unfinished"]) == (5, 3, 1, 1)
    assert result["by_kind"]["training"] == {"complete": 2, "mean_s": 200.0, "median_s": 200.0, "max_s": 300.0}
    assert result["by_kind"]["ingest-only"] == {"complete": 1, "mean_s": 12.0, "median_s": 12.0, "max_s": 12.0}


def test_metric_trend_reports_the_change_on_the_same_rows_not_across_eval_sets() -> None:
    evaluations = [_evaluation(2, 20.0, False, baseline=1), _evaluation(1, 10.0, True), _evaluation(3, 30.0, True, 1)]
    values = {
        1: {"binary_accuracy": 0.70},
        # Run 3's own eval set is harder: its value is lower than run 1's, yet on the same rows it beat model 1.
        3: {"binary_accuracy": 0.68, "binary_accuracy_diff": 0.006},
    }
    # Model 1 was published as version 1, then again by a rollback (version 9) after run 3's evaluation.
    result = kpis.metric_trend(evaluations, values, "binary_accuracy", {1: [(1, 5.0), (9, 40.0)], 3: [(2, 31.0)]})
    assert [p["run_id"] for p in result["points"]] == ["run-1", "run-2", "run-3"]
    assert [p["value"] for p in result["points"]] == [0.70, None, 0.68]
    assert [p["change"] for p in result["points"]] == [None, None, 0.006]
    assert result["points"][2]["baseline_value"] == pytest.approx(0.674)
    assert result["points"][2]["baseline_versions"] == [1]
    assert result["change"] == 0.006 and result["changes"] == [0.006]
    assert "same rows" in result["comparison"]


def test_compute_bundles_every_kpi() -> None:
    result = kpis.compute([], [], [], {}, {}, now=0.0, metric="auc")
    assert set(result) == {"deployment_frequency", "lead_time", "blessing_rate", "run_duration", "trend"}
    assert result["trend"]["metric"] == "auc"
