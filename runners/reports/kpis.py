"""Delivery and model KPIs computed from run, push and evaluation records: plain arithmetic, no I/O.

Lead time starts when ML Metadata first recorded a span's Examples (ExampleGen's output), not at the
span folder's mtime: the data root is outside ML Metadata, and copies (cp, gsutil rsync) reset mtimes.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from runners.store.lineage import EvaluationRecord, Push, RunRecord

DAY_S = 86400.0


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def deployment_frequency(pushes: Sequence[Push], runs: Sequence[RunRecord], now: float) -> dict[str, Any]:
    """Counts pushes over the window from the first run's start to `now`.

    Args:
        pushes: published versions; rollbacks are counted apart, not as deployments.
        runs: pipeline runs; the first one's start opens the window.
        now: the window's end, seconds since the epoch.

    Returns:
        deployments, rollbacks, window_start, window_days, per_day (None for an empty window) and
        mean_interval_s between consecutive deployments (None with fewer than two).
    """
    deployed = sorted(p.pushed_at for p in pushes if p.kind == "push")
    starts = [r.started for r in runs] + deployed
    window_start = min(starts) if starts else None
    window_days = (now - window_start) / DAY_S if window_start is not None else 0.0
    intervals = [b - a for a, b in itertools.pairwise(deployed)]
    return {
        "deployments": len(deployed),
        "rollbacks": sum(1 for p in pushes if p.kind == "rollback"),
        "window_start": window_start,
        "window_days": window_days,
        "per_day": len(deployed) / window_days if window_days > 0 else None,
        "mean_interval_s": _mean(intervals),
    }


def lead_times(pushes: Sequence[Push], arrivals: Mapping[int, float]) -> dict[str, Any]:
    """Measures, for each push, the time from its newest training span's arrival to the push.

    Args:
        pushes: published versions; rollbacks have no lead time and are skipped.
        arrivals: span -> when ML Metadata first recorded its Examples (lineage.span_arrivals).

    Returns:
        per_push (version, span, arrival, pushed_at, lead_time_s), mean_s, median_s and max_s.
    """
    per_push = []
    for push in pushes:
        if push.kind != "push" or not push.window_spans or push.window_spans[-1] not in arrivals:
            continue
        span = push.window_spans[-1]
        per_push.append(
            {
                "version": push.version,
                "span": span,
                "arrival": arrivals[span],
                "pushed_at": push.pushed_at,
                "lead_time_s": max(0.0, push.pushed_at - arrivals[span]),
            }
        )
    values = [p["lead_time_s"] for p in per_push]
    return {
        "per_push": per_push,
        "mean_s": _mean(values),
        "median_s": statistics.median(values) if values else None,
        "max_s": max(values) if values else None,
    }


def blessing_rate(evaluations: Sequence[EvaluationRecord]) -> dict[str, Any]:
    """Returns evaluated, blessed and rate (None when nothing was evaluated)."""
    decided = [e for e in evaluations if e.blessed is not None]
    blessed = sum(1 for e in decided if e.blessed)
    return {"evaluated": len(decided), "blessed": blessed, "rate": blessed / len(decided) if decided else None}


def run_durations(runs: Sequence[RunRecord]) -> dict[str, Any]:
    """Returns the mean duration of complete runs, and how many runs failed or are unfinished."""
    durations = [d for d in (r.duration_s for r in runs if r.status == "complete") if d is not None]
    return {
        "runs": len(runs),
        "complete": len(durations),
        "failed": sum(1 for r in runs if r.status == "failed"),
        "unfinished": sum(1 for r in runs if r.status == "unfinished"),
        "mean_s": _mean(durations),
    }


def metric_trend(
    evaluations: Sequence[EvaluationRecord], values: Mapping[int, float | None], metric: str
) -> dict[str, Any]:
    """Lists the main metric over the runs that evaluated a model, oldest first, with each change.

    Args:
        evaluations: Evaluator executions that ran.
        values: Evaluator execution id -> the metric's overall value (None or missing if unreadable).
        metric: the metric's name, reported back.

    Returns:
        metric, points (run_id, finished_at, window_spans, value, change, blessed), first, last and
        change (last - first; None with fewer than two values).
    """
    points: list[dict[str, Any]] = []
    previous: float | None = None
    for evaluation in sorted(evaluations, key=lambda e: e.finished_at):
        value = values.get(evaluation.execution_id)
        points.append(
            {
                "run_id": evaluation.run_id,
                "finished_at": evaluation.finished_at,
                "window_spans": evaluation.window_spans,
                "value": value,
                "change": value - previous if value is not None and previous is not None else None,
                "blessed": evaluation.blessed,
            }
        )
        if value is not None:
            previous = value
    known = [p["value"] for p in points if p["value"] is not None]
    return {
        "metric": metric,
        "points": points,
        "first": known[0] if known else None,
        "last": known[-1] if known else None,
        "change": known[-1] - known[0] if len(known) >= 2 else None,
    }


def compute(
    runs: Sequence[RunRecord],
    pushes: Sequence[Push],
    evaluations: Sequence[EvaluationRecord],
    metric_values: Mapping[int, float | None],
    arrivals: Mapping[int, float],
    now: float,
    metric: str,
) -> dict[str, Any]:
    """Computes every KPI; see the functions above for each one's definition.

    Args:
        runs: pipeline runs (lineage.list_runs).
        pushes: published versions (lineage.find_pushes).
        evaluations: Evaluator executions that ran (lineage.list_evaluations).
        metric_values: Evaluator execution id -> the main metric's value.
        arrivals: span -> first recorded arrival (lineage.span_arrivals).
        now: the end of the deployment-frequency window, seconds since the epoch.
        metric: the main metric's name.

    Returns:
        A JSON-able mapping with deployment_frequency, lead_time, blessing_rate, run_duration and trend.
    """
    return {
        "deployment_frequency": deployment_frequency(pushes, runs, now),
        "lead_time": lead_times(pushes, arrivals),
        "blessing_rate": blessing_rate(evaluations),
        "run_duration": run_durations(runs),
        "trend": metric_trend(evaluations, metric_values, metric),
    }
