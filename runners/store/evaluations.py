"""TFMA evaluations read into plain records: metrics per slice for the candidate and the baseline,
the thresholds and TFMA's decision on each; `latest_evaluation` finds the newest through ML Metadata.

The files are read as protos (store.tfma_files, no TensorFlow import); TFMA's own readers take over
for anything that reader does not interpret.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ml_metadata.metadata_store import metadata_store

from pipeline.trusted_set import TRUSTED_FILE
from runners.quiet import quiet_libraries
from runners.store import lineage as ln
from runners.store import metadata as md
from runners.store import tfma_files
from runners.store.artifacts import CorruptArtifactError, read_json_object

_T = TypeVar("_T")

CANDIDATE = "candidate"
BASELINE = "baseline"
_TRUSTED_FIELDS = ("spans", "rows", "change", "max_drop", "passed")


# The metrics the tables show, in this order; others TFMA computed follow.
METRIC_ORDER = ("example_count", "binary_accuracy", "auc", "precision", "recall", "calibration")


@dataclasses.dataclass
class SliceMetrics:
    """The metrics of one slice, for the candidate model, the baseline, and their difference."""

    feature: str  # "" for the overall slice
    value: str
    candidate: dict[str, float] = dataclasses.field(default_factory=dict)
    baseline: dict[str, float] = dataclasses.field(default_factory=dict)
    diff: dict[str, float] = dataclasses.field(default_factory=dict)
    # TFMA's slice key, e.g. (("trip_start_hour", 3),); () for the overall slice.
    key: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        """ "overall" or "feature=value", as the console summary names slices."""
        return slice_name(self.key) if self.key else ("overall" if not self.feature else f"{self.feature}={self.value}")

    def summary_values(self) -> dict[str, float]:
        """The candidate's metrics as TFMA's own views list them: a change vs the baseline as `<metric>_diff`."""
        return {**self.candidate, **{f"{name}_diff": value for name, value in self.diff.items()}}


def _bound_number(value: float, kind: str) -> str:
    """A threshold as a reviewer reads it: TFMA's "no worse than" change bounds are tiny epsilons
    (-1e-10), which say "at least the baseline's value" rather than a number worth printing."""
    if kind != "absolute" and abs(value) < 1e-6:
        return "0 (no worse than the baseline)" if value <= 0 else "0 (better than the baseline)"
    return f"{value:+.4f}" if kind != "absolute" else f"{value:.4f}"


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
            parts.append(f">= {_bound_number(self.lower, self.kind)}")
        if self.upper is not None and not math.isinf(self.upper):
            parts.append(f"<= {_bound_number(self.upper, self.kind)}")
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


def _baseline_names(eval_config: Any) -> set[str]:
    return {spec.name for spec in eval_config.model_specs if spec.is_baseline}


@dataclasses.dataclass(frozen=True)
class _Reader:
    """How an evaluation's files are read: as protos (tfma_files, no TensorFlow) or by TFMA itself."""

    eval_config: Callable[[str], Any]
    parse_config: Callable[[str], Any]
    metrics: Callable[[str], Iterable[Any]]
    slice_key: Callable[[Any], tuple[tuple[str, Any], ...]]
    validation: Callable[[str], Any]
    # (eval config, baseline model names) -> (metric, is a change threshold, SlicingSpec or None, bound)
    thresholds: Callable[[Any, set[str]], list[tuple[str, bool, Any, Any]]]
    slice_applies: Callable[[Any, tuple[tuple[str, Any], ...]], bool]
    # Whether metric names of thresholds are inferred, so must be found among the computed ones.
    names_inferred: bool


_FILES = _Reader(
    eval_config=tfma_files.load_eval_config,
    parse_config=tfma_files.parse_eval_config,
    metrics=tfma_files.load_metrics,
    slice_key=tfma_files.slice_key,
    validation=tfma_files.load_validation_result,
    thresholds=tfma_files.metric_thresholds,
    slice_applies=tfma_files.slice_spec_applies,
    names_inferred=True,
)


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:160]}" if lines else type(err).__name__


def _tfma_eval_config(uri: str) -> Any:
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tensorflow_model_analysis.writers import eval_config_writer

    # Not JSON, not UTF-8, nested too deep: named by read_json_object; a missing file is TFMA's default.
    read_json_object(uri, tfma_files.EVAL_CONFIG_FILE)
    try:
        return eval_config_writer.load_eval_run(uri)[0] or tfma.EvalConfig()
    except (json_format.ParseError, ValueError) as err:  # fields an EvalRun lacks, no TFMA version
        path = Path(uri) / tfma_files.EVAL_CONFIG_FILE
        raise CorruptArtifactError(path, f"is not the EvalRun TFMA writes ({_first_line(err)})") from None


def _read_with_tfma(uri: str, prefix: str, message: Any, read: Callable[[], _T], one: bool = False) -> _T:
    """Runs one of TFMA's readers of an evaluation's `prefix`* files; when it fails, names the damaged file.

    TFMA's own errors name no file ("DataLossError: corrupted record at 12"), and a validations file
    without its one record is an AssertionError.

    Args:
        uri: the evaluation folder.
        prefix: "metrics", "plots" or "validations".
        message: the protobuf class of the files' records.
        read: the TFMA call.
        one: the files hold exactly one record (the validation result).

    Raises:
        CorruptArtifactError: a file is missing, cut short, holds other records or fails its checksum (exit 3).
    """
    try:
        return read()
    except Exception as err:  # the call reads only these files: whatever stops it is the files' damage
        files = tfma_files.output_files(Path(uri), prefix)
        where = files[0] if len(files) == 1 else Path(uri) / f"{prefix}*"
        if not files:
            raise CorruptArtifactError(where, "is missing from the evaluation") from None
        count = sum(len(tfma_files.records_of(path, message)) for path in files)
        if one and count != 1:
            raise CorruptArtifactError(where, f"holds {count} records, not the one {message.DESCRIPTOR.name}") from None
        raise CorruptArtifactError(where, f"fails TFMA's checks ({_first_line(err)}; a changed byte?)") from None


def _tfma_parse_config(text: str) -> Any:
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format

    return json_format.Parse(text, tfma.EvalConfig())


def _tfma_metrics(uri: str) -> Iterable[Any]:
    import tensorflow_model_analysis as tfma

    message = tfma_files.metrics_proto().MetricsForSlice
    return _read_with_tfma(uri, "metrics", message, lambda: list(tfma.load_metrics(uri)))


def _tfma_slice_key(proto: Any) -> tuple[tuple[str, Any], ...]:
    from tensorflow_model_analysis.slicer import slicer_lib

    return tuple(slicer_lib.deserialize_slice_key(proto))


def _tfma_validation(uri: str) -> Any:
    import tensorflow_model_analysis as tfma

    message = tfma_files.validation_proto().ValidationResult
    return _read_with_tfma(uri, "validations", message, lambda: tfma.load_validation_result(uri), one=True)


def _tfma_thresholds(config: Any, baseline_names: set[str]) -> list[tuple[str, bool, Any, Any]]:
    import tensorflow_model_analysis as tfma

    thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(config.metrics_specs, eval_config=config)
    return [
        (key.name, key.is_diff, slice_spec, threshold)
        for key, specs_and_thresholds in thresholds.items()
        if key.model_name not in baseline_names
        for slice_spec, threshold in specs_and_thresholds
    ]


def _tfma_slice_applies(slice_spec: Any, key: tuple[tuple[str, Any], ...]) -> bool:
    from tensorflow_model_analysis.slicer import slicer_lib

    return bool(slicer_lib.SingleSliceSpec(spec=slice_spec).is_slice_applicable(key))


# TFMA's own readers: for what the proto reader does not interpret (it raises), and the reference in tests.
_TFMA = _Reader(
    eval_config=_tfma_eval_config,
    parse_config=_tfma_parse_config,
    metrics=_tfma_metrics,
    slice_key=_tfma_slice_key,
    validation=_tfma_validation,
    thresholds=_tfma_thresholds,
    slice_applies=_tfma_slice_applies,
    names_inferred=False,
)


def _with_fallback(read: Callable[[_Reader], _T]) -> _T:
    """Reads with the protos alone (milliseconds); anything unusual is read by TFMA (TensorFlow loads first)."""
    try:
        return read(_FILES)
    except tfma_files.DamagedRecordsError:
        # Broken TFRecord framing, a failed checksum or a record that does not parse: TFMA's readers
        # stop on the same bytes, after seconds of loading TensorFlow, and name no file.
        raise
    except Exception:  # anything else unusual: TFMA itself reads it, or raises why it cannot
        with quiet_libraries():
            return read(_TFMA)


def _read_slices(
    uri: str, baseline_names: set[str], reader: _Reader
) -> tuple[dict[tuple[Any, ...], SliceMetrics], set[str]]:
    """The one parse of an Evaluator's metrics: (slice key -> candidate, baseline, diff; every metric name).

    Plain metrics only: values under a sub key (top-k, class id) or a named output are left out, as the
    pipeline's eval config computes none, and so are undefined (NaN) and non-numeric values.
    """
    by_slice: dict[tuple[Any, ...], SliceMetrics] = {}
    names: set[str] = set()
    for record in reader.metrics(uri):
        key = reader.slice_key(record.slice_key)
        feature, value = _slice_parts(key)
        metrics = by_slice.setdefault(key, SliceMetrics(feature, value, key=tuple(key)))
        for item in record.metric_keys_and_values:
            names.add(item.key.name)
            number = _double(item.value)
            if number is None or item.key.sub_key.ByteSize() or item.key.output_name:
                continue
            if item.key.is_diff:
                metrics.diff[item.key.name] = number
            elif item.key.model_name in baseline_names:
                metrics.baseline[item.key.name] = number
            else:
                metrics.candidate[item.key.name] = number
    return by_slice, names


def _ordered(by_slice: dict[tuple[Any, ...], SliceMetrics]) -> list[SliceMetrics]:
    """Overall first, then by feature, values in natural order."""
    return sorted(by_slice.values(), key=lambda s: (s.feature != "", s.feature, _natural(s.value)))


def read_model_evaluation(uri: str, configured: str | None = None) -> ModelEvaluation:
    """Reads an Evaluator's output: metrics, eval config, validation result (as protos, without TensorFlow).

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
    return _with_fallback(lambda reader: _model_evaluation(uri, configured, reader))


def _model_evaluation(uri: str, configured: str | None, reader: _Reader) -> ModelEvaluation:
    eval_config = reader.eval_config(uri)
    baseline_names = _baseline_names(eval_config)
    by_slice, computed = _read_slices(uri, baseline_names, reader)
    slices = _ordered(by_slice)

    validation = reader.validation(uri)
    failed: set[tuple[tuple[Any, ...], str, bool]] = set()
    failed_values: dict[tuple[tuple[Any, ...], str, bool], float] = {}
    for per_slice in validation.metric_validations_per_slice:
        key = reader.slice_key(per_slice.slice_key)
        for failure in per_slice.failures:
            marker = (key, failure.metric_key.name, failure.metric_key.is_diff)
            failed.add(marker)
            failed_values[marker] = failure.metric_value.double_value.value

    checks: list[ThresholdCheck] = []
    threshold_config = reader.parse_config(configured) if configured else eval_config
    thresholds = reader.thresholds(threshold_config, baseline_names)
    if reader.names_inferred and {name for name, *_ in thresholds} - computed:
        # A name inferred from a class name that the evaluation does not carry: TFMA knows better.
        raise tfma_files.UnsupportedConfig("a threshold's metric name is not among the computed metrics")
    for name, is_diff, slice_spec, threshold in thresholds:
        for key, metrics in by_slice.items():
            if slice_spec is None and key:
                continue
            if slice_spec is not None and not reader.slice_applies(slice_spec, key):
                continue
            candidate = metrics.candidate.get(name)
            baseline = metrics.baseline.get(name)
            marker = (key, name, is_diff)
            if is_diff:
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
            checks.append(ThresholdCheck(metrics.name, name, kind, lower, upper, candidate, baseline, compared, status))
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
    if not threshold.HasField("absolute"):
        return None, None
    bound = threshold.absolute.value
    if threshold.direction == tfma_files.config_proto().MetricDirection.HIGHER_IS_BETTER:
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


def read_evaluation(uri: str) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Reads the candidate's metrics of an evaluation: (overall metrics, slice name -> metrics).

    Derived from the same parse as read_model_evaluation; a change vs the baseline is `<metric>_diff`.
    """

    def read(reader: _Reader) -> list[SliceMetrics]:
        return _ordered(_read_slices(uri, _baseline_names(reader.eval_config(uri)), reader)[0])

    per_slice = {s.name: s.summary_values() for s in _with_fallback(read)}
    return per_slice.get("overall", {}), per_slice


def read_metrics(evaluation_uris: Sequence[str]) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Reads the overall metrics of each evaluation, with the libraries' chatter kept off the console.

    Args:
        evaluation_uris: Evaluator "evaluation" artifact URIs.

    Returns:
        (uri -> metric name -> value, uri -> why it could not be read); an unreadable evaluation (a
        deleted or partial artifact) maps to {} in the first, so the other versions still show.
    """
    found: dict[str, dict[str, float]] = {}
    unreadable: dict[str, str] = {}
    wanted = sorted(set(evaluation_uris))
    if not wanted:
        return found, unreadable
    slow: list[str] = []
    for uri in wanted:
        try:
            # TFMA's files read as protos: no TensorFlow import for `models` and `kpis`.
            found[uri] = tfma_files.overall_metrics(uri)
        except Exception:  # anything unusual: TFMA itself reads it, or says why it cannot
            slow.append(uri)
    if not slow:
        return found, unreadable
    with quiet_libraries():
        for uri in slow:
            try:
                found[uri] = read_evaluation(uri)[0]
            except Exception as err:  # a deleted or partial artifact: the caller names it, keeps the others
                # A damaged file's own message names it and says what to do.
                unreadable[uri] = str(err) if isinstance(err, CorruptArtifactError) else type(err).__name__
                found[uri] = {}
    return found, unreadable


def slice_name(slice_key: Any) -> str:
    """Returns "overall" or "feature=value" for a TFMA slice key."""
    if not slice_key:
        return "overall"
    return ", ".join(f"{k}={v.decode() if isinstance(v, bytes) else v}" for k, v in slice_key)


def read_trusted_reason(uri: str) -> str | None:
    """Explains a failed trusted-set comparison (trusted.json, pipeline/trusted_evaluator.py), else None.

    Args:
        uri: the Evaluator's "evaluation" artifact URI.

    Raises:
        CorruptArtifactError: trusted.json exists but is not the object the Evaluator writes.
    """
    document = read_json_object(uri, TRUSTED_FILE, required=_TRUSTED_FIELDS)
    if document is None:
        return None
    # What pipeline/trusted_set.py writes; the sentence below formats these as numbers.
    numbers = [document[key] for key in ("rows", "change", "max_drop")]
    if not (
        isinstance(document["passed"], bool)
        and isinstance(document["spans"], list)
        and all(isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) for n in numbers)
    ):
        raise CorruptArtifactError(
            Path(uri) / TRUSTED_FILE, "is not {spans: [...], rows, change, max_drop: number, passed: true or false}"
        )
    if document["passed"]:
        return None
    spans = ", ".join(str(span) for span in document["spans"])
    # Files written before the significance test have no p-value.
    p_value = document.get("p_value")
    evidence = (
        f", p = {p_value:.2g} that the models are equal"
        if isinstance(p_value, int | float) and not isinstance(p_value, bool)
        else ""
    )
    return (
        f"earlier span{'s' if len(document['spans']) != 1 else ''} {spans} ({document['rows']} rows): "
        f"binary_accuracy (change vs baseline) = {document['change']:+.4f}, beyond the allowed change "
        f"{-document['max_drop']:+.4g}{evidence} (the new span may have bad labels)"
    )


def read_blessing_reasons(uri: str) -> list[str]:
    """Explains why the Evaluator did not bless: each failed TFMA threshold, then a failed trusted-set comparison."""
    trusted = read_trusted_reason(uri)
    return _tfma_reasons(uri) + ([trusted] if trusted else [])


def _tfma_reasons(uri: str) -> list[str]:
    """Explains TFMA's validation result in words, one line per failed threshold."""
    return _with_fallback(lambda reader: _validation_reasons(reader.validation(uri), reader))


def _validation_reasons(result: Any, reader: _Reader) -> list[str]:
    if result.validation_ok:
        return []
    reasons = []
    for per_slice in result.metric_validations_per_slice:
        where = slice_name(reader.slice_key(per_slice.slice_key))
        for failure in per_slice.failures:
            metric = failure.metric_key.name
            if failure.metric_key.is_diff:
                metric += " (change vs baseline)"
            value = failure.metric_value.double_value.value
            threshold = failure.metric_threshold
            if threshold.HasField("value_threshold"):
                bound = threshold.value_threshold.lower_bound.value
                reasons.append(f"{where}: {metric} = {value:.4f}, below the required {bound:.4f}")
            else:
                bound = threshold.change_threshold.absolute.value
                reasons.append(f"{where}: {metric} = {value:+.4f}, beyond the allowed change {bound:+.4g}")
    for spec in result.missing_slices:
        keys = ", ".join(spec.feature_keys) or "overall"
        reasons.append(f"slice {keys}: no examples to evaluate, so its thresholds could not be checked")
    # A bool in TFMA 0.47's proto3 (no presence to test): a threshold whose metric was not computed.
    if result.missing_thresholds:
        reasons.append("a threshold names a metric the evaluation did not compute (see the eval config)")
    if not reasons:
        reasons.append("TFMA's validation did not pass (see the evaluation output for details)")
    return reasons
