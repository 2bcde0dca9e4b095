"""TFDV statistics and TFMA evaluations read into plain records, for the run report and the notebooks.

`read_model_evaluation` reads an Evaluator's output (metrics per slice for the candidate and the
baseline, the thresholds and TFMA's decision on each); `latest_evaluation` finds the newest one
through ML Metadata; `read_split_statistics` reads a StatisticsGen artifact feature by feature.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store

from runners import lineage as ln
from runners import metadata as md

CANDIDATE = "candidate"
BASELINE = "baseline"
# The metrics the tables show, in this order; others TFMA computed follow.
METRIC_ORDER = ("example_count", "binary_accuracy", "auc", "precision", "recall", "calibration")
TOP_VALUES = 8


# ------------------------------------------------------------------------------------ statistics


@dataclasses.dataclass
class FeatureStatistics:
    """TFDV's statistics of one feature in one split."""

    name: str
    type: str
    present: int
    missing: int
    mean: float | None = None
    std_dev: float | None = None
    minimum: float | None = None
    median: float | None = None
    maximum: float | None = None
    zeros: int | None = None
    unique: int | None = None
    top_values: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    histogram: list[tuple[float, float, float]] = dataclasses.field(default_factory=list)

    @property
    def missing_share(self) -> float:
        """Share of examples without a value."""
        total = self.present + self.missing
        return self.missing / total if total else 0.0


def feature_statistics(statistics: Any) -> list[FeatureStatistics]:
    """Turns a DatasetFeatureStatisticsList (one split) into rows, one per feature, sorted by name.

    Args:
        statistics: a tensorflow_metadata DatasetFeatureStatisticsList.

    Returns:
        One row per feature of the first dataset.
    """
    from tensorflow_metadata.proto.v0 import statistics_pb2

    if not statistics.datasets:
        return []
    rows = []
    for feature in statistics.datasets[0].features:
        name = ".".join(feature.path.step) or feature.name
        kind = statistics_pb2.FeatureNameStatistics.Type.Name(feature.type)
        if feature.HasField("num_stats"):
            numeric = feature.num_stats
            standard = [
                hist for hist in numeric.histograms if hist.type == statistics_pb2.Histogram.HistogramType.STANDARD
            ]
            rows.append(
                FeatureStatistics(
                    name=name,
                    type=kind,
                    present=int(numeric.common_stats.num_non_missing),
                    missing=int(numeric.common_stats.num_missing),
                    mean=numeric.mean,
                    std_dev=numeric.std_dev,
                    minimum=numeric.min,
                    median=numeric.median,
                    maximum=numeric.max,
                    zeros=int(numeric.num_zeros),
                    histogram=[(b.low_value, b.high_value, b.sample_count) for b in standard[0].buckets]
                    if standard
                    else [],
                )
            )
        elif feature.HasField("string_stats"):
            strings = feature.string_stats
            rows.append(
                FeatureStatistics(
                    name=name,
                    type=kind,
                    present=int(strings.common_stats.num_non_missing),
                    missing=int(strings.common_stats.num_missing),
                    unique=int(strings.unique),
                    top_values=[(v.value, v.frequency) for v in strings.top_values[:TOP_VALUES]],
                )
            )
        else:
            rows.append(FeatureStatistics(name=name, type=kind, present=0, missing=0))
    return sorted(rows, key=lambda r: r.name)


def read_split_statistics(statistics_uri: str) -> dict[str, list[FeatureStatistics]]:
    """Reads every split of a StatisticsGen artifact: split name -> feature rows."""
    from pipeline import validation

    splits = sorted(p.name.removeprefix("Split-") for p in Path(statistics_uri).glob("Split-*"))
    return {split: feature_statistics(validation.load_statistics(statistics_uri, split)) for split in splits}


# ------------------------------------------------------------------------------------ evaluation


@dataclasses.dataclass
class SliceMetrics:
    """The metrics of one slice, for the candidate model, the baseline, and their difference."""

    feature: str  # "" for the overall slice
    value: str
    candidate: dict[str, float] = dataclasses.field(default_factory=dict)
    baseline: dict[str, float] = dataclasses.field(default_factory=dict)
    diff: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        """ "overall" or "feature=value", as the console summary names slices."""
        return "overall" if not self.feature else f"{self.feature}={self.value}"


@dataclasses.dataclass
class ThresholdCheck:
    """One threshold of the evaluation config on one slice, and what TFMA decided."""

    slice: str
    metric: str
    kind: str  # "absolute" or "change vs baseline"
    lower: float | None
    upper: float | None
    candidate: float | None
    baseline: float | None
    compared: float | None  # the candidate's value, or candidate - baseline for a change threshold
    status: str  # "passed", "failed threshold" or "not applied"

    @property
    def bound(self) -> str:
        """The allowed range in words, e.g. ">= 0.5000"."""
        parts = []
        if self.lower is not None and not math.isinf(self.lower):
            parts.append(f">= {self.lower:.4g}" if self.kind != "absolute" else f">= {self.lower:.4f}")
        if self.upper is not None and not math.isinf(self.upper):
            parts.append(f"<= {self.upper:.4g}" if self.kind != "absolute" else f"<= {self.upper:.4f}")
        return " and ".join(parts) or "any value"

    def sentence(self) -> str:
        """Explains the check in words."""
        where = "on all eval examples" if self.slice == "overall" else f"on slice {self.slice}"
        if self.kind == "absolute":
            value = "no value" if self.candidate is None else f"{self.candidate:.4f}"
            verdict = {"passed": "passed", "failed threshold": "FAILED"}.get(self.status, self.status)
            return f"{self.metric} {where}: candidate {value}, required {self.bound}: {verdict}."
        if self.status == "not applied":
            return (
                f"{self.metric} {where}, change vs baseline (required {self.bound}): not applied, because no "
                "blessed baseline model existed yet; the first model is judged on the absolute threshold alone."
            )
        candidate = "-" if self.candidate is None else f"{self.candidate:.4f}"
        baseline = "-" if self.baseline is None else f"{self.baseline:.4f}"
        change = "-" if self.compared is None else f"{self.compared:+.4f}"
        verdict = "passed" if self.status == "passed" else "FAILED"
        return (
            f"{self.metric} {where}, change vs baseline: candidate {candidate} - baseline {baseline} = {change}, "
            f"allowed {self.bound}: {verdict}."
        )


@dataclasses.dataclass
class ModelEvaluation:
    """A TFMA evaluation: metrics per slice and model, thresholds and TFMA's validation decision."""

    uri: str
    slices: list[SliceMetrics]
    thresholds: list[ThresholdCheck]
    validation_ok: bool | None
    has_baseline: bool

    @property
    def overall(self) -> SliceMetrics | None:
        """The overall slice."""
        return next((s for s in self.slices if not s.feature), None)

    def slice_features(self) -> list[str]:
        """The features the evaluation sliced by, in order of appearance."""
        seen: list[str] = []
        for metrics in self.slices:
            if metrics.feature and metrics.feature not in seen:
                seen.append(metrics.feature)
        return seen

    def metric_names(self) -> list[str]:
        """Every metric with a value, the headline ones first."""
        names = {n for s in self.slices for n in s.candidate}
        return [m for m in METRIC_ORDER if m in names] + sorted(names - set(METRIC_ORDER))

    def rows(self) -> list[dict[str, Any]]:
        """One flat record per slice, model and metric (what a DataFrame wants)."""
        records = []
        for metrics in self.slices:
            for model, values in ((CANDIDATE, metrics.candidate), (BASELINE, metrics.baseline)):
                for metric, value in values.items():
                    records.append(
                        {
                            "slice": metrics.name,
                            "slice_feature": metrics.feature or "overall",
                            "slice_value": metrics.value,
                            "model": model,
                            "metric": metric,
                            "value": value,
                        }
                    )
        return records


def _slice_parts(slice_key: Sequence[tuple[str, Any]]) -> tuple[str, str]:
    if not slice_key:
        return "", ""
    features = ", ".join(str(k) for k, _ in slice_key)
    values = ", ".join(v.decode() if isinstance(v, bytes) else str(v) for _, v in slice_key)
    return features, values


def _double(value: Any) -> float | None:
    if value.WhichOneof("type") != "double_value":
        return None
    number = float(value.double_value.value)
    return None if math.isnan(number) else number


def _bounds(threshold: Any) -> tuple[float | None, float | None]:
    lower = threshold.lower_bound.value if threshold.HasField("lower_bound") else None
    upper = threshold.upper_bound.value if threshold.HasField("upper_bound") else None
    return lower, upper


def read_model_evaluation(uri: str, configured: str | None = None) -> ModelEvaluation:
    """Reads an Evaluator's output: metrics (tfma.load_metrics), eval config, validation result.

    Args:
        uri: the Evaluator's "evaluation" artifact URI.
        configured: the eval config the pipeline gave the Evaluator, as JSON (its `eval_config` exec
            property). The Evaluator drops change thresholds from the config it writes when there is
            no baseline; with this they are listed as "not applied" instead of vanishing.

    Returns:
        The evaluation; a threshold is "failed threshold" exactly when TFMA's validation result lists
        it as a failure, "not applied" when TFMA had nothing to compare (a change threshold without
        a baseline), else "passed".
    """
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.slicer import slicer_lib
    from tensorflow_model_analysis.writers import eval_config_writer

    eval_config = eval_config_writer.load_eval_run(uri)[0] or tfma.EvalConfig()
    baseline_names = {spec.name for spec in eval_config.model_specs if spec.is_baseline}
    by_slice: dict[tuple[Any, ...], SliceMetrics] = {}
    for record in tfma.load_metrics(uri):
        key = slicer_lib.deserialize_slice_key(record.slice_key)
        feature, value = _slice_parts(key)
        metrics = by_slice.setdefault(key, SliceMetrics(feature, value))
        for item in record.metric_keys_and_values:
            number = _double(item.value)
            if number is None or item.key.sub_key.ByteSize() or item.key.output_name:
                continue
            if item.key.is_diff:
                metrics.diff[item.key.name] = number
            elif item.key.model_name in baseline_names:
                metrics.baseline[item.key.name] = number
            else:
                metrics.candidate[item.key.name] = number
    slices = sorted(by_slice.values(), key=lambda s: (s.feature != "", s.feature, _natural(s.value)))

    validation = tfma.load_validation_result(uri)
    failed: set[tuple[tuple[Any, ...], str, bool]] = set()
    failed_values: dict[tuple[tuple[Any, ...], str, bool], float] = {}
    for per_slice in validation.metric_validations_per_slice:
        key = slicer_lib.deserialize_slice_key(per_slice.slice_key)
        for failure in per_slice.failures:
            marker = (key, failure.metric_key.name, failure.metric_key.is_diff)
            failed.add(marker)
            failed_values[marker] = failure.metric_value.double_value.value

    checks: list[ThresholdCheck] = []
    threshold_config = eval_config
    if configured:
        from google.protobuf import json_format

        threshold_config = json_format.Parse(configured, tfma.EvalConfig())
    thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(
        threshold_config.metrics_specs, eval_config=threshold_config
    )
    for metric_key, specs_and_thresholds in thresholds.items():
        if metric_key.model_name in baseline_names:
            continue
        for slice_spec, threshold in specs_and_thresholds:
            spec = slicer_lib.SingleSliceSpec(spec=slice_spec) if slice_spec is not None else None
            for key, metrics in by_slice.items():
                if spec is None and key:
                    continue
                if spec is not None and not spec.is_slice_applicable(key):
                    continue
                name = metric_key.name
                candidate = metrics.candidate.get(name)
                baseline = metrics.baseline.get(name)
                marker = (key, name, metric_key.is_diff)
                if metric_key.is_diff:
                    lower, upper = _change_bounds(threshold)
                    compared = metrics.diff.get(name, failed_values.get(marker))
                    kind = "change vs baseline"
                else:
                    lower, upper = _bounds(threshold)
                    compared = candidate
                    kind = "absolute"
                if marker in failed:
                    status = "failed threshold"
                elif compared is None:
                    status = "not applied"
                else:
                    status = "passed"
                checks.append(
                    ThresholdCheck(metrics.name, name, kind, lower, upper, candidate, baseline, compared, status)
                )
    checks.sort(key=lambda c: (c.slice != "overall", c.slice, c.metric, c.kind))
    return ModelEvaluation(
        uri=uri,
        slices=slices,
        thresholds=checks,
        validation_ok=bool(validation.validation_ok) if validation.ByteSize() else None,
        has_baseline=bool(baseline_names) and any(s.baseline for s in slices),
    )


def _change_bounds(threshold: Any) -> tuple[float | None, float | None]:
    """(lower, upper) bounds on candidate - baseline that a GenericChangeThreshold allows."""
    from tensorflow_model_analysis.proto import config_pb2

    if not threshold.HasField("absolute"):
        return None, None
    bound = threshold.absolute.value
    if threshold.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER:
        return bound, None
    return None, bound


def _natural(text: str) -> tuple[float, str]:
    """Sorts slice values numerically when they are numbers (hours 2 before 10)."""
    try:
        return float(text), ""
    except ValueError:
        return math.inf, text


def latest_evaluation(
    store: metadata_store.MetadataStore, pipeline_name: str
) -> tuple[ln.EvaluationRecord, ModelEvaluation] | None:
    """Finds the newest Evaluator execution that ran (not a cached one) in ML Metadata, and reads it.

    Args:
        store: the home's ML Metadata.
        pipeline_name: the pipeline's name.

    Returns:
        (the execution's record: run, blessing, window spans; the evaluation), or None before any evaluation.
    """
    evaluations = [e for e in ln.list_evaluations(store, pipeline_name) if e.evaluation_uri]
    if not evaluations:
        return None
    record = evaluations[-1]
    (execution,) = store.get_executions_by_id([record.execution_id])
    configured = md.prop(execution, "eval_config")
    return record, read_model_evaluation(
        str(record.evaluation_uri), configured if isinstance(configured, str) else None
    )
