"""KPI arithmetic on fabricated run, push and evaluation records."""

from __future__ import annotations

import pytest

from runners.reports import kpis
from runners.store.lineage import EvaluationRecord, Push, RunRecord

HOUR = 3600.0


def _run(run_id: str, started: float, ended: float | None, status: str = "complete") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        started=started,
        ended=ended,
        status=status,
        span=1,
        window_spans=[1],
        components={},
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


def _evaluation(execution_id: int, finished_at: float, blessed: bool | None) -> EvaluationRecord:
    return EvaluationRecord(
        run_id=f"run-{execution_id}",
        execution_id=execution_id,
        finished_at=finished_at,
        blessed=blessed,
        evaluation_uri=f"/eval/{execution_id}",
        model_id=execution_id,
        window_spans=[1, 2],
    )


def test_deployment_frequency_counts_pushes_over_the_window_and_rollbacks_apart() -> None:
    runs = [_run("a", 0.0, HOUR), _run("b", 24 * HOUR, 25 * HOUR)]
    pushes = [_push(1, HOUR, [1]), _push(2, 25 * HOUR, [2]), _push(3, 30 * HOUR, [1], kind="rollback")]
    result = kpis.deployment_frequency(pushes, runs, now=48 * HOUR)
    assert result["deployments"] == 2
    assert result["rollbacks"] == 1
    assert result["window_start"] == 0.0
    assert result["window_days"] == pytest.approx(2.0)
    assert result["per_day"] == pytest.approx(1.0)
    assert result["mean_interval_s"] == pytest.approx(24 * HOUR)


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


def test_mean_run_duration_uses_complete_runs_only() -> None:
    runs = [
        _run("a", 0.0, 100.0),
        _run("b", 0.0, 300.0),
        _run("c", 0.0, 5.0, status="failed"),
        _run("d", 0.0, None, status="unfinished"),
    ]
    result = kpis.run_durations(runs)
    assert result == {"runs": 4, "complete": 2, "failed": 1, "unfinished": 1, "mean_s": pytest.approx(200.0)}


def test_metric_trend_orders_by_time_and_reports_each_change() -> None:
    evaluations = [_evaluation(2, 20.0, False), _evaluation(1, 10.0, True), _evaluation(3, 30.0, True)]
    result = kpis.metric_trend(evaluations, {1: 0.70, 2: None, 3: 0.75}, "binary_accuracy")
    assert [p["run_id"] for p in result["points"]] == ["run-1", "run-2", "run-3"]
    assert [p["value"] for p in result["points"]] == [0.70, None, 0.75]
    # The change skips an unreadable evaluation and compares with the last known value.
    assert result["points"][0]["change"] is None
    assert result["points"][1]["change"] is None
    assert result["points"][2]["change"] == pytest.approx(0.05)
    assert result["first"] == 0.70 and result["last"] == 0.75
    assert result["change"] == pytest.approx(0.05)


def test_compute_bundles_every_kpi() -> None:
    result = kpis.compute([], [], [], {}, {}, now=0.0, metric="auc")
    assert set(result) == {"deployment_frequency", "lead_time", "blessing_rate", "run_duration", "trend"}
    assert result["trend"]["metric"] == "auc"
