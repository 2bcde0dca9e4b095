"""Delivery and model KPIs computed from run, push and evaluation records: plain arithmetic, no I/O.

Rates are counted per UTC day and ISO week over the period the records cover, never extrapolated; the
metric's trend follows the Evaluator's candidate-vs-baseline change on each run's own eval rows.

Lead time starts when ML Metadata first recorded a span's Examples (ExampleGen's output), not at the
span folder's mtime: the data root is outside ML Metadata, and copies (cp, gsutil rsync) reset mtimes.
"""

from __future__ import annotations

import datetime
import itertools
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline import ids
from runners.store.lineage import EvaluationRecord, Push, RunRecord

DAY_S = 86400.0


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def _week(at: float) -> str:
    year, week, _ = datetime.datetime.fromtimestamp(at, datetime.timezone.utc).isocalendar()
    return f"{year}-W{week:02d}"


def _calendar(start: float, end: float) -> tuple[list[str], list[str]]:
    """Every UTC day and ISO week from start to end, in order (the observed period's buckets)."""
    days: list[str] = []
    weeks: list[str] = []
    at = start
    while True:
        day, week = _day(at), _week(at)
        if not days or days[-1] != day:
            days.append(day)
        if not weeks or weeks[-1] != week:
            weeks.append(week)
        if at >= end:
            break
        at = min(end, at + DAY_S)
    return days, weeks


def observed_period(runs: Sequence[RunRecord], pushes: Sequence[Push]) -> dict[str, Any]:
    """The period the records cover: from the first run's start to the last run's end or push.

    Rates are counted per calendar day and week inside it, never scaled up from a shorter span of time:
    two pushes 25 s apart are "2 on that day", not 3,456 a day.
    """
    starts = [r.started for r in runs] + [p.pushed_at for p in pushes]
    ends = [t for r in runs for t in (r.started, r.ended) if t is not None] + [p.pushed_at for p in pushes]
    if not starts:
        return {"start": None, "end": None, "seconds": 0.0, "days": [], "weeks": []}
    start, end = min(starts), max(ends)
    days, weeks = _calendar(start, end)
    return {"start": start, "end": end, "seconds": end - start, "days": days, "weeks": weeks}


def deployment_frequency(pushes: Sequence[Push], runs: Sequence[RunRecord], now: float) -> dict[str, Any]:
    """Counts pushes per UTC day and ISO week over the observed period (see observed_period).

    Args:
        pushes: published versions; rollbacks are counted apart, not as deployments.
        runs: pipeline runs; the first one's start opens the period.
        now: when the KPIs are computed (the period does not stretch to it: idle time is not observed).

    Returns:
        deployments, rollbacks, period (start, end, seconds, days, weeks), by_day and by_week (each
        bucket of the period with its deployments), per_day and per_week (deployments over the number
        of calendar days or weeks the period touches; None when it is empty), mean_interval_s between
        consecutive deployments (None with fewer than two); window_start and window_days as before.
    """
    deployed = sorted(p.pushed_at for p in pushes if p.kind == "push")
    period = observed_period(runs, pushes)
    by_day = dict.fromkeys(period["days"], 0)
    by_week = dict.fromkeys(period["weeks"], 0)
    for at in deployed:
        by_day[_day(at)] = by_day.get(_day(at), 0) + 1
        by_week[_week(at)] = by_week.get(_week(at), 0) + 1
    intervals = [b - a for a, b in itertools.pairwise(deployed)]
    return {
        "deployments": len(deployed),
        "rollbacks": sum(1 for p in pushes if p.kind == "rollback"),
        "period": period,
        "by_day": [{"day": day, "deployments": n} for day, n in by_day.items()],
        "by_week": [{"week": week, "deployments": n} for week, n in by_week.items()],
        "per_day": len(deployed) / len(by_day) if by_day else None,
        "per_week": len(deployed) / len(by_week) if by_week else None,
        "mean_interval_s": _mean(intervals),
        "window_start": period["start"],
        "window_days": period["seconds"] / DAY_S,
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
        "by_day": _lead_buckets(per_push, _day, "day"),
        "by_week": _lead_buckets(per_push, _week, "week"),
    }


def _lead_buckets(per_push: Sequence[Mapping[str, Any]], bucket: Any, name: str) -> list[dict[str, Any]]:
    """Lead times grouped by the UTC day or ISO week of the push: pushes and median seconds per bucket."""
    groups: dict[str, list[float]] = {}
    for push in per_push:
        groups.setdefault(bucket(push["pushed_at"]), []).append(push["lead_time_s"])
    return [{name: key, "pushes": len(values), "median_s": statistics.median(values)} for key, values in groups.items()]


def blessing_rate(evaluations: Sequence[EvaluationRecord]) -> dict[str, Any]:
    """Returns evaluated, blessed and rate (None when nothing was evaluated)."""
    decided = [e for e in evaluations if e.blessed is not None]
    blessed = sum(1 for e in decided if e.blessed)
    return {"evaluated": len(decided), "blessed": blessed, "rate": blessed / len(decided) if decided else None}


TRAINING = "training"
INGEST_ONLY = "ingest-only"


def run_kind(run: RunRecord) -> str:
    """TRAINING when the run's Trainer executed; INGEST_ONLY otherwise (stopped at a gate, or training reused)."""
    return TRAINING if run.components.get(ids.TRAINER) == "executed" else INGEST_ONLY


def run_durations(runs: Sequence[RunRecord]) -> dict[str, Any]:
    """Durations of complete runs by kind (training or ingest-only), and how many runs failed or are unfinished.

    Returns:
        runs, complete, failed, unfinished, by_kind (kind -> complete, mean_s, median_s, max_s) and
        mean_s over every complete run (mixing kinds: by_kind is the one to read).
    """
    complete = [r for r in runs if r.status == "complete" and r.duration_s is not None]
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in (TRAINING, INGEST_ONLY):
        durations = [float(r.duration_s) for r in complete if run_kind(r) == kind and r.duration_s is not None]
        by_kind[kind] = {
            "complete": len(durations),
            "mean_s": _mean(durations),
            "median_s": statistics.median(durations) if durations else None,
            "max_s": max(durations) if durations else None,
        }
    return {
        "runs": len(runs),
        "complete": len(complete),
        "failed": sum(1 for r in runs if r.status == "failed"),
        "unfinished": sum(1 for r in runs if r.status == "unfinished"),
        "by_kind": by_kind,
        "mean_s": _mean([float(r.duration_s) for r in complete if r.duration_s is not None]),
    }


# What the trend's changes are, in the words `kpis` prints and writes.
SAME_ROWS = (
    "change = the Evaluator's candidate minus baseline (the newest blessed model) on the same rows, that "
    "run's eval split; each value is the candidate on its own eval split, not comparable across runs"
)


def metric_trend(
    evaluations: Sequence[EvaluationRecord],
    values: Mapping[int, Mapping[str, float]],
    metric: str,
    versions_of_model: Mapping[int, Sequence[tuple[int, float]]] | None = None,
) -> dict[str, Any]:
    """Lists the main metric over the runs that evaluated a model, oldest first, with the change on the same rows.

    Args:
        evaluations: Evaluator executions that ran.
        values: Evaluator execution id -> its overall metrics as TFMA's views list them (`<metric>` for
            the candidate, `<metric>_diff` for candidate - baseline); missing when unreadable.
        metric: the metric's name.
        versions_of_model: model artifact id -> (version, pushed_at) of each publication of it, to name
            the baseline by the versions it had when the evaluation ran (a later rollback is not one).

    Returns:
        metric, comparison (SAME_ROWS), points (run_id, finished_at, window_spans, value, baseline_value,
        change, baseline_versions, blessed), first and last (candidate values), changes (every known
        change, oldest first) and change (the newest one; None before any evaluation had a baseline).
    """
    points: list[dict[str, Any]] = []
    published = versions_of_model or {}
    for evaluation in sorted(evaluations, key=lambda e: e.finished_at):
        found = values.get(evaluation.execution_id) or {}
        value, change = found.get(metric), found.get(f"{metric}_diff")
        baseline = evaluation.baseline_model_id
        points.append(
            {
                "run_id": evaluation.run_id,
                "finished_at": evaluation.finished_at,
                "window_spans": evaluation.window_spans,
                "value": value,
                "baseline_value": value - change if value is not None and change is not None else None,
                "change": change,
                "baseline_versions": sorted(
                    version for version, at in published.get(baseline, []) if at <= evaluation.finished_at
                )
                if baseline is not None
                else [],
                "blessed": evaluation.blessed,
            }
        )
    known = [p["value"] for p in points if p["value"] is not None]
    changes = [p["change"] for p in points if p["change"] is not None]
    return {
        "metric": metric,
        "comparison": SAME_ROWS,
        "points": points,
        "first": known[0] if known else None,
        "last": known[-1] if known else None,
        "changes": changes,
        "change": changes[-1] if changes else None,
    }


def compute(
    runs: Sequence[RunRecord],
    pushes: Sequence[Push],
    evaluations: Sequence[EvaluationRecord],
    metric_values: Mapping[int, Mapping[str, float]],
    arrivals: Mapping[int, float],
    now: float,
    metric: str,
) -> dict[str, Any]:
    """Computes every KPI; see the functions above for each one's definition.

    Args:
        runs: pipeline runs (lineage.list_runs).
        pushes: published versions (lineage.find_pushes).
        evaluations: Evaluator executions that ran (lineage.list_evaluations).
        metric_values: Evaluator execution id -> its overall metrics (see metric_trend).
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
        "trend": metric_trend(evaluations, metric_values, metric, _versions_of_model(pushes)),
    }


def _versions_of_model(pushes: Sequence[Push]) -> dict[int, list[tuple[int, float]]]:
    found: dict[int, list[tuple[int, float]]] = {}
    for push in pushes:
        found.setdefault(push.model_id, []).append((push.version, push.pushed_at))
    return found
