"""What the console shows at the end of a run: the run summary and the data gate's findings."""

from __future__ import annotations

from pipeline import validation
from runners.store.gates import GateReport
from runners.store.summary import RunSummary
from runners.text import format_spans

HEADLINE_METRICS = ("binary_accuracy", "auc", "precision", "recall", "calibration", "example_count")


def format_summary(summary: RunSummary) -> str:
    """Renders the summary for the console."""
    lines = [f"Run {summary.run_id}"]
    if summary.span is not None:
        split_rows = ", ".join(f"{k} {v:,}" for k, v in summary.rows.items())
        lines.append(f"  span ingested : {summary.span} ({sum(summary.rows.values()):,} rows: {split_rows})")
    if summary.window_spans:
        # The row count apart from the span list, so "spans 2, 3, 4, 5, 11,814 rows" cannot be misread.
        rows = f" ({summary.window_rows:,} rows in all)" if summary.window_rows is not None else ""
        lines.append(f"  training on   : spans {format_spans(summary.window_spans)}{rows}")
    lines += format_serving_performance(summary)
    if summary.metrics:
        shown = "  ".join(
            f"{name}={summary.metrics[name]:.4f}" if name != "example_count" else f"{name}={int(summary.metrics[name])}"
            for name in HEADLINE_METRICS
            if name in summary.metrics
        )
        lines.append(f"  eval metrics  : {shown}")
    if summary.blessed is not None:
        if summary.blessed:
            lines.append("  blessed       : yes, every threshold passed")
        else:
            lines.append("  blessed       : NO")
            lines.extend(f"                  - {reason}" for reason in summary.blessing_reasons)
    if summary.tuned_hyperparameters is not None:
        shown = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted(summary.tuned_hyperparameters.items())
        )
        lines.append(f"  tuned         : {shown}")
    if summary.feature_importance:
        shown = ", ".join(f"{f['feature']} {f['importance']:+.3f}" for f in summary.feature_importance)
        lines.append(f"  top features  : {shown} ({summary.feature_importance_metric} drop when shuffled)")
    if summary.tensorboard_dir:
        lines.append(f"  tensorboard   : tensorboard --logdir {summary.tensorboard_dir}")
    if summary.pushed:
        lines.append(f"  pushed        : version {summary.pushed_version} -> {summary.pushed_path}")
    elif summary.blessed is not None:
        lines.append("  pushed        : nothing (the model was not blessed)")
        if summary.blessed is False:
            # Only the Evaluator re-runs when a threshold changes: the trained model comes from the cache.
            lines.append(
                "                  to ship it anyway, relax the threshold it failed (--min-accuracy, or "
                "max_accuracy_drop / trusted_max_accuracy_drop / min_slice_binary_accuracy in the profile) "
                "and run again"
            )
    if summary.model_card_path:
        lines.append(f"  model card    : {summary.model_card_path}")
    return "\n".join(lines)


def format_serving_performance(summary: RunSummary) -> list[str]:
    """The serving model's score on the new span, and the decay mark when it fell below a floor."""
    performance = summary.serving_performance
    if performance is None:
        return []
    version = f"version {performance['version']}" if performance.get("version") is not None else "the serving model"
    auc = performance.get("auc")
    shown = f"binary_accuracy={performance['binary_accuracy']:.4f}" + (f"  auc={auc:.4f}" if auc is not None else "")
    reference = performance.get("reference_accuracy")
    own = f" (its own evaluation: {reference:.4f})" if reference is not None else ""
    lines = [f"  serving model : {version} on span {performance['span']}, before training: {shown}{own}"]
    if summary.performance_decay:
        lines.append("  DECAY         : the model serving now does worse on the new data")
        lines.extend(f"                  - {reason}" for reason in performance.get("reasons", []))
        lines.append("                  (a retrain is the cure; `taxi-pipeline monitor` shows the trend)")
    return lines


def format_gate_report(report: GateReport) -> str:
    """Formats a report for the console: the drift table, then anomalies and warnings."""
    verdict = report.verdict
    lines = []
    if report.baseline_span is None or not verdict.drift:
        lines.append(f"  Drift: span {report.span} has no earlier accepted span to compare with.")
    else:
        lines.append(
            f"  Drift of span {report.span} against span {report.baseline_span} "
            f"({validation.DRIFT_SPLIT} split; limits from the schema, the label's from label_shift_limit):"
        )
        lines += ["    " + line for line in validation.drift_table(verdict.drift).splitlines()]
    if verdict.anomalies:
        lines.append(f"  Anomalies in span {report.span} (see {validation.ANOMALIES_REFERENCE}):")
        lines += ["    " + line for line in validation.anomaly_table(verdict.anomalies).splitlines()]
    else:
        lines.append(f"  Anomalies: none in span {report.span}.")
    lines += [f"  warning: {line}" for line in verdict.warnings()]
    return "\n".join(lines)
