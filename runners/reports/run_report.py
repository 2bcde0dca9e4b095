"""The run report: one self-contained HTML page per pipeline run, rendered from its ReportData.

This module turns ReportData into what the template (templates/run_report.html.j2) shows: sentences,
table rows and chart geometry; the template lays them out, escaped by Jinja2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store

from pipeline import ids
from pipeline.config import PipelineConfig
from runners.files import write_atomically
from runners.reports import charts, run_data
from runners.reports import html as h
from runners.reports.run_data import ReportData
from runners.store.evaluations import BASELINE, CANDIDATE, ModelEvaluation, SliceMetrics
from runners.store.plots import SlicePlots
from runners.store.statistics import TOP_VALUES
from runners.text import format_duration, format_spans, format_time, short_path

Cell = dict[str, Any]


def metric_text(value: float | None, metric: str, model: str = CANDIDATE) -> str:
    """A metric as the tables print it: counts as integers, others with four decimals, a change signed."""
    if value is None:
        return "-"
    if metric == "example_count":
        return f"{value:+,.0f}" if model == "diff" else f"{value:,.0f}"
    return f"{value:+.4f}" if model == "diff" else f"{value:.4f}"


def _metric_cell(value: float | None, slice_name: str, metric: str, model: str, undefined: bool = False) -> Cell:
    """A metric's table cell, with the exact value in data attributes for tools and tests.

    Args:
        undefined: the metric has no meaning on this slice (AUC with one class only): shown as n/a.
    """
    return {
        "text": "n/a" if undefined else metric_text(value, metric, model),
        "num": True,
        "class": "na" if undefined else None,
        "attrs": {
            "data-slice": slice_name,
            "data-metric": metric,
            "data-model": model,
            "data-value": None if value is None else repr(value),
            "title": "undefined: every example of this slice has the same label" if undefined else None,
        },
    }


def auc_undefined(metrics: SliceMetrics, plots: Mapping[str, SlicePlots]) -> bool:
    """Whether the slice's AUC means nothing: its eval rows are all one class (TFMA still prints a number)."""
    found = plots.get(metrics.name)
    return found is not None and found.single_class


def _headline(data: ReportData) -> tuple[str, str, list[tuple[str, str]]]:
    """Returns (css class, verdict sentence, key facts) of the headline box."""
    summary = data.summary
    facts: list[tuple[str, str]] = [("run", data.run_id)]
    if summary.span is not None:
        facts.append(("span ingested", f"{summary.span} ({sum(summary.rows.values()):,} rows)"))
    if summary.window_spans:
        facts.append(("trained on spans", format_spans(summary.window_spans)))
    check = next(
        (c for c in (data.evaluation.thresholds if data.evaluation else []) if c.kind == "absolute"),
        None,
    )
    if check is not None and check.candidate is not None:
        facts.append((f"{check.metric} ({check.slice})", f"{check.candidate:.4f} (required {check.bound})"))
    elif summary.metrics.get("binary_accuracy") is not None:
        facts.append(("binary_accuracy", f"{summary.metrics['binary_accuracy']:.4f}"))
    facts.append(("pushed version", str(summary.pushed_version) if summary.pushed else "none"))
    performance = summary.serving_performance
    if performance is not None:
        # The model serving before this run, on this run's span before training (runners/store/performance.py).
        mark = " - DECAY" if summary.performance_decay else ""
        facts.append(
            (
                "serving model on the new span",
                f"version {performance['version']}: binary_accuracy {performance['binary_accuracy']:.4f}{mark}",
            )
        )
    if data.gate_passed is False or (data.gate is not None and data.gate.verdict.stopped and not data.trained):
        span = data.gate.span if data.gate is not None else summary.span
        return "bad", f"Stopped by the data gate: span {span} was not trained on, nothing was pushed.", facts
    if summary.blessed is None:
        if not data.trained:
            return "warn", "Ingest only: this run validated a span and trained no model.", facts
        return "warn", "The run did not finish its evaluation: no blessing decision.", facts
    if summary.blessed and summary.pushed:
        return "ok", f"Blessed and pushed as version {summary.pushed_version}.", facts
    if summary.blessed:
        return "ok", "Blessed; the Pusher published nothing new (its result was reused from the cache).", facts
    return "bad", "NOT blessed: the model failed a threshold and was not pushed.", facts


def dag_chart(data: ReportData) -> dict[str, Any] | None:
    """The run's components as a graph: state colour, state and duration in each box."""
    if not data.components:
        return None
    nodes = [
        {"id": c.node, "label": c.node, "state": c.state, "detail": f"{c.state}, {format_duration(c.seconds)}"}
        for c in data.components
    ]
    return charts.graph("dag", nodes, data.edges)


def _summary(data: ReportData) -> dict[str, Any]:
    summary = data.summary
    duration = None if data.ended is None or data.started is None else data.ended - data.started
    facts = [
        ("pipeline", data.pipeline_name),
        ("home", data.home),
        ("started", format_time(data.started, with_zone=True)),
        ("duration", format_duration(duration)),
        ("span ingested", "-" if summary.span is None else str(summary.span)),
        ("rows per split", ", ".join(f"{split} {rows:,}" for split, rows in summary.rows.items()) or "-"),
        ("training window", format_spans(summary.window_spans)),
        ("rows in the window", "-" if summary.window_rows is None else f"{summary.window_rows:,}"),
    ]
    components = [
        [c.node, {"pill": c.state}, format_time(c.started, with_zone=True), format_duration(c.seconds)]
        for c in data.components
    ]
    executed = sum(1 for c in data.components if c.state == "executed")
    cached = sum(1 for c in data.components if c.state == "cached")
    return {
        "facts": facts,
        "components": components,
        "dag": dag_chart(data),
        "note": f"{executed} component(s) executed, {cached} reused from the cache (a cached component took no "
        "time and repeats an earlier result). Durations are from ML Metadata: registration to completion.",
    }


def _statistics(data: ReportData) -> dict[str, Any] | None:
    if not data.statistics:
        return None
    split = "train" if "train" in data.statistics else sorted(data.statistics)[0]
    rows = data.statistics[split]
    numeric = [r for r in rows if r.histogram or r.mean is not None]
    categorical = [r for r in rows if r not in numeric]
    others = ", ".join(s for s in sorted(data.statistics) if s != split) or "none"
    return {
        "intro": f"Span {data.summary.span}, {split} split ({rows[0].present + rows[0].missing if rows else 0:,} "
        f"examples), as TFDV's StatisticsGen computed them. Other splits: {others}.",
        "numeric": [
            [
                r.name,
                r.type,
                f"{r.present:,}",
                f"{r.missing_share:.1%}",
                h.number(r.mean, 3),
                h.number(r.std_dev, 3),
                h.number(r.minimum, 3),
                h.number(r.median, 3),
                h.number(r.maximum, 3),
                "-" if r.zeros is None else f"{r.zeros:,}",
            ]
            for r in numeric
        ],
        "histograms": [
            chart
            for r in numeric
            if (chart := charts.histogram(f"histogram-{r.name}", r.name, r.histogram, r.quantiles)) is not None
        ],
        "categorical": [
            [
                r.name,
                r.type,
                f"{r.present:,}",
                f"{r.missing_share:.1%}",
                "-" if r.unique is None else f"{r.unique:,}",
                {
                    "chart": charts.bar_rows(
                        f"top-{r.name}",
                        [(v, c) for v, c in r.top_values],
                        max([c for _, c in r.top_values] + [1.0]),
                        value_format="{:,.0f}",
                        width=420,
                        label_width=190,
                        axis_label="rows",
                    )
                    if r.top_values
                    else None,
                    "num": False,
                },
            ]
            for r in categorical
        ],
        "top_values": TOP_VALUES,
    }


def _anomalies(data: ReportData) -> dict[str, Any] | None:
    gate = data.gate
    if gate is None:
        return None
    return {
        "span": gate.span,
        "rows": [
            [
                a.feature,
                a.kind,
                " ".join(a.description.split()),
                a.severity,
                ", ".join(a.splits),
                {"pill": "stop" if a.blocking else "warn"},
            ]
            for a in gate.verdict.anomalies
        ],
    }


# Jensen-Shannon divergence and L-infinity distance both lie in [0, 1]: a bar without a limit uses that scale.
MEASURE_MAXIMUM = 1.0


def drift_bar(feature: str, value: float | None, limit: float | None) -> dict[str, Any] | None:
    """A bar of one drift value, scaled to its limit (the limit at two thirds of the width), or to [0, 1]."""
    if value is None:
        return None
    maximum = limit * 1.5 if limit else MEASURE_MAXIMUM
    return charts.bar_rows(
        f"drift-{feature}",
        [("", value)],
        maximum,
        marker=limit,
        marker_label=f"limit {limit:g}" if limit else "",
        bad_above=True,
        width=260,
        label_width=4,
        row_height=22,
    )


def _drift(data: ReportData) -> dict[str, Any] | None:
    gate = data.gate
    if gate is None:
        return None
    from pipeline import validation

    drift = gate.verdict.drift
    if gate.baseline_span is None or not drift:
        return {"span": gate.span, "rows": []}
    rows = [
        [
            row.feature + (" (label source)" if row.feature in validation.LABEL_SOURCE_FEATURES else ""),
            validation.MEASURE_NAMES.get(row.measure, row.measure),
            h.number(row.value, 3),
            "-" if row.limit is None else f"{row.limit:g}",
            {"chart": drift_bar(row.feature, row.value, row.limit), "num": False},
            {"pill": row.status},
        ]
        for row in drift
    ]
    over = [r.feature for r in gate.verdict.drift_over_limit]
    sentence = (
        f"{len(over)} feature(s) over their limit: {', '.join(over)} "
        f"(drift action: {gate.verdict.policy.drift_action})."
        if over
        else "Every feature is within its schema limit."
    )
    return {
        "span": gate.span,
        "rows": rows,
        "intro": f"Span {gate.span} against span {gate.baseline_span}, the newest earlier span that passed the gate "
        f"({validation.DRIFT_SPLIT} splits; Jensen-Shannon divergence for numbers, L-infinity distance for "
        f"categories; limits from the schema: each bar is scaled to its feature's limit, the dashed red line, "
        f"at two thirds of its width; a bar without a limit spans 0 to 1; the label-rate change within a "
        f"feature's categories against label_shift_limit). {sentence}",
    }


def curve_charts(plots: Mapping[str, SlicePlots], name: str = "overall", prefix: str = "") -> list[dict[str, Any]]:
    """ROC, precision-recall and calibration charts of one slice from TFMA's plots (empty without plots)."""
    found = plots.get(name)
    if found is None:
        return []
    shown: list[dict[str, Any]] = []
    if found.curve:
        roc = sorted((p.false_positive_rate, p.true_positive_rate) for p in found.curve)
        shown.append(
            charts.line_chart(
                f"{prefix}roc",
                "ROC curve",
                [("candidate", [(0.0, 0.0), *roc, (1.0, 1.0)])],
                "false positive rate",
                "true positive rate (recall)",
                (0.0, 1.0),
                (0.0, 1.0),
                diagonal=True,
                note="TFMA's confusion matrices at 1,000 thresholds; dashed: a classifier that guesses.",
            )
        )
        pr = sorted(
            ((p.true_positive_rate, p.precision) for p in found.curve if p.true_positive_rate > 0),
            key=lambda point: point[0],
        )
        shown.append(
            charts.line_chart(
                f"{prefix}pr",
                "Precision-recall curve",
                [("candidate", pr)],
                "recall",
                "precision",
                (0.0, 1.0),
                (0.0, 1.0),
                note="Precision against recall as the decision threshold moves from 1 down to 0.",
            )
        )
    if found.calibration:
        points = charts.calibration_points(found.calibration)
        shown.append(
            charts.line_chart(
                f"{prefix}calibration",
                "Calibration (reliability)",
                [("candidate", points)],
                "mean predicted probability",
                "observed big-tipper rate",
                (0.0, 1.0),
                (0.0, 1.0),
                diagonal=True,
                note=f"TFMA's calibration plot in {len(points)} bins of the predicted probability (tenths "
                "holding examples); on the dashed line predictions match outcomes.",
            )
        )
    return shown


def loss_chart(history: Mapping[str, Sequence[float]] | None) -> dict[str, Any] | None:
    """Training and validation loss per epoch from the Trainer's history."""
    if not history or not history.get("loss"):
        return None
    series = [("training loss", [(float(i + 1), v) for i, v in enumerate(history["loss"])])]
    if history.get("val_loss"):
        series.append(("validation loss", [(float(i + 1), v) for i, v in enumerate(history["val_loss"])]))
    epochs = len(history["loss"])
    return charts.line_chart(
        "loss",
        "Loss per epoch",
        series,
        "epoch",
        "binary cross-entropy",
        (0.5, epochs + 0.5),
        x_ticks=[float(e) for e in range(1, epochs + 1)],
        note=f"{epochs} epoch(s), from the history the Trainer wrote beside its TensorBoard logs.",
    )


def _slice_rows(evaluation: ModelEvaluation, feature: str, plots: Mapping[str, SlicePlots]) -> list[SliceMetrics]:
    return [s for s in evaluation.slices if s.feature == feature]


def _metrics(data: ReportData) -> dict[str, Any] | None:
    evaluation = data.evaluation
    if evaluation is None:
        return None
    metrics = evaluation.metric_names()
    plots = data.plots
    overall_rows: list[list[object]] = []
    overall = evaluation.overall
    if overall is not None:
        for metric in metrics:
            row: list[object] = [metric, _metric_cell(overall.candidate.get(metric), "overall", metric, CANDIDATE)]
            if evaluation.has_baseline:
                row += [
                    _metric_cell(overall.baseline.get(metric), "overall", metric, BASELINE),
                    _metric_cell(overall.diff.get(metric), "overall", metric, "diff"),
                ]
            overall_rows.append(row)
    gated = next((c for c in evaluation.thresholds if c.kind == "absolute" and c.lower is not None), None)
    chart_metric = gated.metric if gated is not None else "binary_accuracy"
    by_feature = []
    for feature in evaluation.slice_features():
        slices = _slice_rows(evaluation, feature, plots)
        headers = [feature, *metrics]
        rows = []
        for s in slices:
            row = [s.value]
            for m in metrics:
                row.append(
                    _metric_cell(s.candidate.get(m), s.name, m, CANDIDATE, m == "auc" and auc_undefined(s, plots))
                )
            if evaluation.has_baseline:
                row.append(_metric_cell(s.baseline.get(chart_metric), s.name, chart_metric, BASELINE))
                row.append(_metric_cell(s.diff.get(chart_metric), s.name, chart_metric, "diff"))
            rows.append(row)
        if evaluation.has_baseline:
            headers += [f"baseline {chart_metric}", "change"]
        marker_text = (
            f"; dashed line: the overall threshold {gated.lower:.4f}" if gated is not None and gated.lower else ""
        )
        by_feature.append(
            {
                "feature": feature,
                "headers": headers,
                "rows": rows,
                "caption": f"{chart_metric} per {feature} value{marker_text}. Small slices are noisy.",
                "chart": charts.bar_rows(
                    f"slices-{feature}",
                    [(s.value, s.candidate.get(chart_metric)) for s in slices],
                    1.0,
                    marker=gated.lower if gated is not None else None,
                    marker_label="threshold",
                    bad_above=False,
                    width=520,
                    label_width=150,
                    axis_label=chart_metric,
                ),
            }
        )
    return {
        "intro": "TFMA metrics of the candidate model on the eval split of the training window"
        + (", with the blessed baseline model's values and the change." if evaluation.has_baseline else ".")
        + " Only the thresholds below decide the blessing; slices without one are reported, not gated."
        + " AUC reads n/a on a slice whose eval rows all have the same label.",
        "overall_headers": ["metric", "candidate"] + (["baseline", "change"] if evaluation.has_baseline else []),
        "overall": overall_rows,
        "curves": curve_charts(plots),
        "by_feature": by_feature,
    }


def _importance(data: ReportData) -> dict[str, Any]:
    importance = data.importance
    if importance is None or not importance.get("features"):
        if data.gate_passed is False:
            reason = "the data gate stopped the span, so no model was trained"
        elif not data.trained:
            reason = "this run trained no model"
        else:
            reason = (
                f"the run recorded no {ids.FEATURE_IMPORTANCE} output for its model (the step did not finish, "
                "or its artifact folder was removed)"
            )
        return {"missing": f"No feature importance: {reason}."}
    metric = str(importance["metric"])
    features = importance["features"]
    worse = "drops" if metric == "auc" else "rises"
    top = max([float(f["importance"]) for f in features] + [1e-12])
    rows = [
        [
            str(rank),
            str(f["feature"]),
            {
                "text": f"{f['importance']:+.4f}",
                "num": True,
                "attrs": {
                    "data-feature": f["feature"],
                    "data-importance": repr(float(f["importance"])),
                    "data-std": repr(float(f["std"])),
                },
            },
            f"{f['std']:.4f}",
            {
                "chart": charts.bar_rows(
                    f"importance-{rank}",
                    [("", float(f["importance"]))],
                    top,
                    value_format="{:+.4f}",
                    width=300,
                    label_width=4,
                    show_axis=False,
                ),
                "num": False,
            },
        ]
        for rank, f in enumerate(features, start=1)
    ]
    return {
        "metric": metric,
        "worse": worse,
        "rows": rows,
        "intro": f"Permutation importance of the trained model, in the raw feature names a client sends: how much "
        f"its {metric} {worse} when one feature's values are shuffled across {importance['rows']:,} eval "
        f"rows ({importance['repeats']} shuffles per feature; importance is their mean, std dev their spread). "
        f"Unshuffled, its {metric} on those rows is {float(importance['baseline_score']):.4f}. Near zero: "
        "the model barely uses the feature; below zero: shuffling it happened to help, which is noise.",
    }


def _blessing(data: ReportData, links: Mapping[str, str]) -> dict[str, Any] | None:
    evaluation = data.evaluation
    summary = data.summary
    if evaluation is None or summary.blessed is None:
        return None
    baseline = data.baseline_model
    if baseline is not None:
        versions = ", ".join(map(str, baseline["versions"])) or "not in the serving dir"
        baseline_text = (
            f"Baseline: the latest blessed model (ML Metadata artifact {baseline['id']}, pushed as version "
            f"{versions}), evaluated on the same examples."
        )
    else:
        baseline_text = "Baseline: none; no model had been blessed in this home before this run."
    rows = [
        [
            c.slice,
            c.metric,
            c.kind,
            c.bound,
            _metric_cell(c.candidate, c.slice, c.metric, CANDIDATE) if c.candidate is not None else "-",
            "-" if c.baseline is None else f"{c.baseline:.4f}",
            "-" if c.compared is None else (f"{c.compared:+.4f}" if c.kind != "absolute" else f"{c.compared:.4f}"),
            {"pill": c.status},
        ]
        for c in evaluation.thresholds
    ]
    if summary.pushed:
        pushed = f"Pushed as version {summary.pushed_version} to {summary.pushed_path}."
    elif summary.blessed:
        pushed = "Nothing new was pushed: the Pusher's result was reused from the cache."
    else:
        pushed = "Not pushed: the Pusher only publishes blessed models; the serving dir keeps its version."
    return {
        "blessed": summary.blessed,
        "sentences": [c.sentence() for c in evaluation.thresholds],
        "baseline": baseline_text,
        "rows": rows,
        "pushed": pushed,
        "show_card": summary.pushed,
        "version": summary.pushed_version,
        "card": data.model_card,
        "card_link": links.get("model_card"),
    }


def lineage_chart(lineage: Mapping[str, Any], pushed_version: str | None) -> dict[str, Any]:
    """The served model's lineage as a graph: examples and schema -> transform graph -> model -> pushed version."""
    nodes: list[dict[str, Any]] = []
    edges: list[tuple[str, str]] = []
    model = lineage["model"]
    for examples in lineage.get("examples", []):
        node = f"examples-{examples['id']}"
        nodes.append(
            {
                "id": node,
                "label": f"examples, span {examples['span']}",
                "detail": f"run {examples['run_id']}",
                "state": "",
            }
        )
        edges.append((node, "transform"))
    schema = lineage.get("schema")
    if schema:
        nodes.append({"id": "schema", "label": "schema", "detail": f"artifact {schema['id']}", "state": ""})
        edges.append(("schema", "transform"))
    graph = lineage.get("transform_graph")
    if graph:
        nodes.append({"id": "transform", "label": "transform graph", "detail": f"run {graph['run_id']}", "state": ""})
        edges.append(("transform", "model"))
    trainer = lineage.get("trainer") or {}
    steps = f"{trainer.get('train_steps')} steps" if trainer.get("train_steps") else f"artifact {model['id']}"
    nodes.append({"id": "model", "label": f"model {model['id']}", "detail": steps, "state": "executed"})
    if pushed_version is not None:
        nodes.append({"id": "pushed", "label": "serving", "detail": f"version {pushed_version}", "state": "executed"})
        edges.append(("model", "pushed"))
    return charts.graph("lineage-graph", nodes, edges, box_width=190)


def _lineage(data: ReportData) -> dict[str, Any] | None:
    lineage = data.lineage
    if lineage is None or lineage.get("model") is None:
        return None
    home = data.home
    rows: list[list[object]] = []
    if data.summary.pushed:
        rows.append(["pushed model", f"version {data.summary.pushed_version}", data.summary.pushed_path or "-"])
    model = lineage["model"]
    rows.append(["model", f"artifact {model['id']}", short_path(model["uri"], home)])
    trainer = lineage.get("trainer")
    if trainer:
        hyperparameters = ", ".join(f"{k}={v}" for k, v in sorted(trainer["hyperparameters"].items())) or "-"
        rows.append(
            [
                "trainer",
                f"execution {trainer['execution_id']} (run {trainer['run_id']})",
                f"steps {trainer['train_steps']} (eval {trainer['eval_steps']}); hyperparameters {hyperparameters}; "
                f"code fingerprint {trainer['code_fingerprint'] or '-'}",
            ]
        )
    graph = lineage.get("transform_graph")
    if graph:
        rows.append(
            [
                "transform graph",
                f"artifact {graph.get('id', '-')} (run {graph['run_id']})",
                short_path(graph.get("uri", "-"), home),
            ]
        )
    schema = lineage.get("schema")
    if schema:
        rows.append(["schema", f"artifact {schema['id']}", short_path(schema["source_file"] or schema["uri"], home)])
    for examples in lineage.get("examples", []):
        statistics = examples.get("statistics")
        rows.append(
            [
                f"examples, span {examples['span']}",
                f"artifact {examples['id']} (ingested by run {examples['run_id']})",
                short_path(examples["uri"], home) + (f"; statistics artifact {statistics['id']}" if statistics else ""),
            ]
        )
    pushed = data.summary.pushed_version if data.summary.pushed else None
    return {"home": home, "rows": rows, "chart": lineage_chart(lineage, pushed)}


SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Run summary"),
    ("statistics", "Data statistics"),
    ("anomalies", "Anomalies"),
    ("drift", "Drift against the previous span"),
    ("metrics", "Model metrics (TFMA)"),
    ("training", "Training curves"),
    ("importance", "Feature importance"),
    ("blessing", "Blessing decision"),
    ("lineage", "Lineage"),
)


def render(data: ReportData, links: Mapping[str, str] | None = None) -> str:
    """Renders the report as one self-contained HTML document.

    Args:
        data: what the report shows.
        links: relative links to other local pages: "previous" (the previous run's report), "model_card".
    """
    links = dict(links or {})
    css, verdict, facts = _headline(data)
    return h.render(
        "run_report.html.j2",
        title=f"Run {data.run_id} - {data.pipeline_name}",
        sections=[{"id": sid, "title": title} for sid, title in SECTIONS],
        data=data,
        subtitle=f"Run {data.run_id}, started {format_time(data.started, with_zone=True)}; "
        f"generated {format_time(data.generated, with_zone=True)}.",
        headline={"class": css, "verdict": verdict, "facts": facts},
        links=links,
        summary=_summary(data),
        statistics=_statistics(data),
        anomalies=_anomalies(data),
        drift=_drift(data),
        metrics=_metrics(data),
        loss=loss_chart(data.history),
        importance=_importance(data),
        blessing=_blessing(data, links),
        lineage=_lineage(data),
    )


def report_path(reports_dir: str | Path, run_id: str) -> Path:
    """Where a run's report goes by default: <reports dir>/run-<run id, file-name safe>.html."""
    return Path(reports_dir) / f"run-{re.sub(r'[^0-9A-Za-z_.-]', '-', run_id)}.html"


def relative_link(target: str | Path, page: Path) -> str:
    """A link from `page` to a local file, relative (no scheme, no //), so the pair can move together."""
    return Path(os.path.relpath(Path(target).resolve(), page.resolve().parent)).as_posix()


def page_links(
    store: metadata_store.MetadataStore, config: PipelineConfig, data: ReportData, path: Path
) -> dict[str, str]:
    """Links of a report at `path`: the previous run's report and the pushed version's model card, if written."""
    from runners.store import metadata as md

    links: dict[str, str] = {}
    runs = md.run_ids(store, config.pipeline_name)
    if data.run_id in runs and runs.index(data.run_id) > 0:
        previous = report_path(config.reports_dir, runs[runs.index(data.run_id) - 1])
        if previous.is_file():
            links["previous"] = relative_link(previous, path)
    if data.model_card is not None:
        links["model_card"] = relative_link(data.model_card, path)
    return links


def write_report(
    store: metadata_store.MetadataStore, config: PipelineConfig, run_id: str, output: str | Path | None = None
) -> Path:
    """Gathers, renders and writes one run's report, atomically (a reader never sees half a file).

    Args:
        store: the home's ML Metadata.
        config: the configuration.
        run_id: the pipeline run.
        output: the HTML file to write (default: report_path in the home's reports dir).

    Returns:
        The file written.
    """
    path = Path(output) if output is not None else report_path(config.reports_dir, run_id)
    data = run_data.gather(store, config, run_id)
    document = render(data, page_links(store, config, data, path))
    return write_atomically(path, document).resolve()
