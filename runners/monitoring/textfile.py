"""The pipeline's metrics textfile (<home>/metrics/pipeline.prom) that monitoring/alerts.yml reads.

Prometheus text format, for node_exporter's textfile collector (or any scraper of a file). Each
writer updates only its own gauges and keeps the others, so the outcome of the last run and of the
last skew check live side by side; the file is replaced atomically (prometheus_client's
write_to_textfile renames a complete temporary file over it), so a scrape never sees half a file.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

TEXTFILE_NAME = "pipeline.prom"

# Every gauge the file can hold: name -> (help, label names). Absent means "not known": a run that
# never reached the data gate says nothing about drift, so it leaves no drift gauge behind it.
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "taxi_pipeline_last_run_timestamp_seconds": ("When the last pipeline run ended (Unix time).", ()),
    "taxi_pipeline_last_run_exit_code": ("Exit code of the last pipeline run (0: completed).", ()),
    "taxi_pipeline_last_run_success": ("1 when the last pipeline run completed, 0 when it stopped or crashed.", ()),
    "taxi_pipeline_last_run_span": ("The span the last pipeline run ingested.", ()),
    "taxi_pipeline_last_success_timestamp_seconds": ("When a pipeline run last completed (Unix time).", ()),
    "taxi_pipeline_drift_features_over_limit": (
        "Features whose drift exceeded their schema limit in the last run's data gate.",
        (),
    ),
    "taxi_pipeline_performance_decay": (
        "1 when the last run found the serving model decayed on the new span (run summary performance_decay).",
        (),
    ),
    "taxi_pipeline_model_eval_mean_score": (
        "Mean predicted score of the version serving now on its evaluation split, by model version.",
        ("version",),
    ),
    "taxi_pipeline_skew_features_over_threshold": (
        "SERVING features over their skew threshold in the last skew check of the request log.",
        (),
    ),
    "taxi_pipeline_last_skew_check_timestamp_seconds": ("When the request log's skew was last measured.", ()),
}

Sample = tuple[tuple[tuple[str, str], ...], float]  # (sorted labels, value)


def textfile_path(home: str | Path) -> Path:
    """Returns <home>/metrics/pipeline.prom, the one place the pipeline's metrics file lives."""
    return Path(home) / "metrics" / TEXTFILE_NAME


def read_textfile(path: str | Path) -> dict[str, list[Sample]]:
    """Returns gauge name -> samples of the file (empty when it does not exist); unknown names are left out."""
    file = Path(path)
    if not file.exists():
        return {}
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(file.read_text()):
        for sample in family.samples:
            if sample.name in GAUGES:
                found.setdefault(sample.name, []).append((tuple(sorted(sample.labels.items())), float(sample.value)))
    return found


def update_textfile(path: str | Path, changes: Mapping[str, list[Sample] | None]) -> None:
    """Replaces the given gauges in the file (None removes one) and keeps every other gauge.

    Args:
        path: the textfile; its folder is created.
        changes: gauge name -> its new samples, or None to drop the gauge.
    """
    current = read_textfile(path)
    for name, samples in changes.items():
        if name not in GAUGES:
            raise ValueError(f"{name} is not a pipeline gauge (known: {', '.join(GAUGES)})")
        if samples is None:
            current.pop(name, None)
        else:
            current[name] = list(samples)
    registry = CollectorRegistry()
    for name, samples in current.items():
        help_text, label_names = GAUGES[name]
        gauge = Gauge(name, help_text, label_names, registry=registry)
        for labels, value in samples:
            (gauge.labels(**dict(labels)) if label_names else gauge).set(value)
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(file), registry)


def _decayed(value: Any) -> bool | None:
    """The summary's `performance_decay`: a bool, or a mapping whose `decayed` is one; anything else is unknown."""
    if isinstance(value, Mapping):
        value = value.get("decayed")
    return value if isinstance(value, bool) else None


def _one(value: float | None) -> list[Sample] | None:
    return None if value is None else [((), float(value))]


def record_run(
    home: str | Path,
    exit_code: int,
    summary: Mapping[str, Any] | None = None,
    drift_features_over_limit: int | None = None,
    now: float | None = None,
) -> Path:
    """Records how a pipeline run ended; call it once per run, whether it completed or not.

    Args:
        home: the run's home.
        exit_code: the run's exit code (0 completed; see runners.errors).
        summary: the run summary (`run --json`), when the run completed. Its `performance_decay` (a bool,
            or a mapping with a bool `decayed`) sets taxi_pipeline_performance_decay; without one the
            gauge is dropped.
        drift_features_over_limit: features over their drift limit in the run's data gate, None when
            the run did not reach the gate (the gauge is then dropped: unknown, not zero).
        now: the time of the run's end (default: now).

    Returns:
        The textfile's path.
    """
    ended = time.time() if now is None else now
    summary = summary or {}
    changes: dict[str, list[Sample] | None] = {
        "taxi_pipeline_last_run_timestamp_seconds": _one(ended),
        "taxi_pipeline_last_run_exit_code": _one(exit_code),
        "taxi_pipeline_last_run_success": _one(1 if exit_code == 0 else 0),
        "taxi_pipeline_last_run_span": _one(summary["span"]) if isinstance(summary.get("span"), int) else None,
        "taxi_pipeline_drift_features_over_limit": _one(drift_features_over_limit),
    }
    decay = _decayed(summary.get("performance_decay"))
    changes["taxi_pipeline_performance_decay"] = None if decay is None else _one(1 if decay else 0)
    if exit_code == 0:
        changes["taxi_pipeline_last_success_timestamp_seconds"] = _one(ended)
    path = textfile_path(home)
    update_textfile(path, changes)
    return path


def record_serving_score(home: str | Path, version: int | None, mean_score: float | None) -> Path:
    """Records the training-time score level of the version serving now, replacing any other version's.

    Args:
        home: the home.
        version: the version serving (the highest folder of the serving dir).
        mean_score: its mean predicted score on its evaluation split; None (or no version) drops the
            gauge: an older version's level must not stand in for the one serving.

    Returns:
        The textfile's path.
    """
    samples: list[Sample] | None = None
    if version is not None and mean_score is not None:
        samples = [((("version", str(version)),), mean_score)]
    path = textfile_path(home)
    update_textfile(path, {"taxi_pipeline_model_eval_mean_score": samples})
    return path


def record_skew(home: str | Path, features_over_threshold: int | None, now: float | None = None) -> Path:
    """Records a skew check of the request log; None when it could not measure (the gauge is dropped).

    Returns:
        The textfile's path.
    """
    checked = time.time() if now is None else now
    path = textfile_path(home)
    update_textfile(
        path,
        {
            "taxi_pipeline_skew_features_over_threshold": _one(features_over_threshold),
            "taxi_pipeline_last_skew_check_timestamp_seconds": _one(checked),
        },
    )
    return path
