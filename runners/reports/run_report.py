"""The run report: one self-contained HTML page per pipeline run, rendered from its ReportData."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

from ml_metadata.metadata_store import metadata_store

from pipeline import ids
from pipeline.config import PipelineConfig
from runners.files import write_atomically
from runners.reports import html as h
from runners.reports import run_data
from runners.reports.run_data import ReportData
from runners.store.evaluations import BASELINE, CANDIDATE
from runners.store.statistics import TOP_VALUES
from runners.text import format_duration, format_spans, format_time, short_path


def _metric_cell(value: float | None, slice_name: str, metric: str, model: str) -> h.Html:
    """A metric's table cell, with the exact value in data attributes for tools and tests."""
    if value is None:
        text = "-"
    elif metric == "example_count":
        text = f"{value:+,.0f}" if model == "diff" else f"{value:,.0f}"
    else:
        text = f"{value:+.4f}" if model == "diff" else f"{value:.4f}"
    return h.td(
        text,
        class_="num",
        data_slice=slice_name,
        data_metric=metric,
        data_model=model,
        data_value=None if value is None else repr(value),
    )


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


def _summary_section(data: ReportData) -> h.Html:
    summary = data.summary
    duration = None if data.ended is None or data.started is None else data.ended - data.started
    facts = [
        ("pipeline", data.pipeline_name),
        ("home", data.home),
        ("started", format_time(data.started, with_zone=True)),
        ("duration", format_duration(duration)),
        ("span ingested", "-" if summary.span is None else str(summary.span)),
        (
            "rows per split",
            ", ".join(f"{split} {rows:,}" for split, rows in summary.rows.items()) or "-",
        ),
        ("training window", format_spans(summary.window_spans)),
        ("rows in the window", "-" if summary.window_rows is None else f"{summary.window_rows:,}"),
    ]
    facts_table = h.table(["", ""], facts, class_="facts-table")
    component_rows = [
        [c.node, h.pill(c.state), format_time(c.started, with_zone=True), format_duration(c.seconds)]
        for c in data.components
    ]
    executed = sum(1 for c in data.components if c.state == "executed")
    cached = sum(1 for c in data.components if c.state == "cached")
    note = h.tag(
        "p",
        f"{executed} component(s) executed, {cached} reused from the cache (a cached component took no time and "
        "repeats an earlier result). Durations are from ML Metadata: registration to completion.",
        class_="muted",
    )
    return h.join(
        [
            facts_table,
            h.tag("h3", "Components"),
            h.table(["component", "state", "started", "duration"], component_rows, numeric=(3,), id="components"),
            note,
        ]
    )


def _statistics_section(data: ReportData) -> h.Html:
    if not data.statistics:
        return h.tag("p", "This run computed no statistics (it stopped before StatisticsGen).")
    split = "train" if "train" in data.statistics else sorted(data.statistics)[0]
    rows = data.statistics[split]
    numeric = [r for r in rows if r.histogram or r.mean is not None]
    categorical = [r for r in rows if r not in numeric]
    intro = h.tag(
        "p",
        f"Span {data.summary.span}, {split} split ({rows[0].present + rows[0].missing if rows else 0:,} examples), "
        f"as TFDV's StatisticsGen computed them. Other splits: "
        + (", ".join(s for s in sorted(data.statistics) if s != split) or "none")
        + ".",
    )
    numeric_table = h.table(
        ["feature", "type", "present", "missing", "mean", "std dev", "min", "median", "max", "zeros", "histogram"],
        [
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
                h.histogram_svg(r.histogram),
            ]
            for r in numeric
        ],
        numeric=(2, 3, 4, 5, 6, 7, 8, 9),
        id="numeric-features",
    )
    categorical_table = h.table(
        ["feature", "type", "present", "missing", "unique", f"top {TOP_VALUES} values"],
        [
            [
                r.name,
                r.type,
                f"{r.present:,}",
                f"{r.missing_share:.1%}",
                "-" if r.unique is None else f"{r.unique:,}",
                h.bars_svg(r.top_values, width=320, label_width=130),
            ]
            for r in categorical
        ],
        numeric=(2, 3, 4),
        id="categorical-features",
    )
    return h.join(
        [
            intro,
            h.tag("h3", "Numeric features"),
            numeric_table,
            h.tag("h3", "Categorical features"),
            categorical_table,
        ]
    )


def _anomalies_section(data: ReportData) -> h.Html:
    gate = data.gate
    if gate is None:
        return h.tag("p", "This run has no ExampleValidator result (it stopped before validation).")
    anomalies = gate.verdict.anomalies
    if not anomalies:
        return h.tag("p", f"No anomalies: span {gate.span} matches the curated schema in every split.")
    rows = [
        [
            a.feature,
            a.kind,
            " ".join(a.description.split()),
            a.severity,
            ", ".join(a.splits),
            h.pill("stop" if a.blocking else "warn"),
        ]
        for a in anomalies
    ]
    return h.join(
        [
            h.tag(
                "p",
                f"ExampleValidator found {len(anomalies)} anomaly type(s) in span {gate.span}, judged by this "
                "home's gate policy (stop: blocks training; warn: reported only). Anomaly types are TFDV's; "
                "docs/data-validation.md explains how to accept a change.",
            ),
            h.table(["feature", "anomaly", "description", "severity", "splits", "action"], rows, id="anomalies-table"),
        ]
    )


def _drift_section(data: ReportData) -> h.Html:
    gate = data.gate
    if gate is None:
        return h.tag("p", "This run has no drift check result (it stopped before the drift check).")
    drift = gate.verdict.drift
    if gate.baseline_span is None or not drift:
        return h.tag("p", f"Span {gate.span} had no earlier accepted span to compare with: no drift measured.")
    from pipeline import validation

    rows = []
    for row in drift:
        scale = max(v for v in (row.value, row.limit, 1e-9) if v is not None)
        chart = (
            h.bars_svg(
                [("", row.value)],
                width=170,
                label_width=4,
                maximum=scale * 1.1,
                marker=row.limit,
                value_format="{:.3f}",
            )
            if row.value is not None
            else h.esc("—")
        )
        rows.append(
            [
                row.feature + (" (label source)" if row.feature in validation.LABEL_SOURCE_FEATURES else ""),
                validation.MEASURE_NAMES.get(row.measure, row.measure),
                h.number(row.value, 3),
                "-" if row.limit is None else f"{row.limit:g}",
                chart,
                h.pill(row.status),
            ]
        )
    over = [r.feature for r in gate.verdict.drift_over_limit]
    action = gate.verdict.policy.drift_action
    sentence = (
        f"{len(over)} feature(s) over their limit: {', '.join(over)} (drift action: {action})."
        if over
        else "Every feature is within its schema limit."
    )
    return h.join(
        [
            h.tag(
                "p",
                f"Span {gate.span} against span {gate.baseline_span}, the newest earlier span that passed the gate "
                f"({validation.DRIFT_SPLIT} splits; Jensen-Shannon divergence for numbers, L-infinity distance for "
                f"categories; limits from the schema, dashed red line; the label-rate change within a feature's "
                f"categories against label_shift_limit). {sentence}",
            ),
            h.table(
                ["feature", "measure", "value", "limit", "value vs limit", "status"],
                rows,
                numeric=(2, 3),
                id="drift-table",
            ),
        ]
    )


def _metrics_section(data: ReportData) -> h.Html:
    evaluation = data.evaluation
    if evaluation is None:
        reason = (
            "the data gate stopped the span, so nothing was trained or evaluated"
            if data.gate_passed is False
            else "this run did not train or evaluate a model"
        )
        return h.tag("p", f"No evaluation: {reason}.")
    metrics = evaluation.metric_names()
    parts: list[str] = [
        h.tag(
            "p",
            "TFMA metrics of the candidate model on the eval split of the training window"
            + (", with the blessed baseline model's values and the change." if evaluation.has_baseline else ".")
            + " Only the thresholds below decide the blessing; slices without one are reported, not gated.",
        )
    ]
    overall = evaluation.overall
    if overall is not None:
        rows: list[list[object]] = []
        for metric in metrics:
            row: list[object] = [metric, _metric_cell(overall.candidate.get(metric), "overall", metric, CANDIDATE)]
            if evaluation.has_baseline:
                row += [
                    _metric_cell(overall.baseline.get(metric), "overall", metric, BASELINE),
                    _metric_cell(overall.diff.get(metric), "overall", metric, "diff"),
                ]
            rows.append(row)
        headers = ["metric", "candidate"] + (["baseline", "change"] if evaluation.has_baseline else [])
        parts += [
            h.tag("h3", "Overall"),
            h.table(headers, rows, numeric=tuple(range(1, len(headers))), id="metrics-overall"),
        ]
    gated = next((c for c in evaluation.thresholds if c.kind == "absolute" and c.lower is not None), None)
    for feature in evaluation.slice_features():
        slices = [s for s in evaluation.slices if s.feature == feature]
        rows = [[s.value, *(_metric_cell(s.candidate.get(m), s.name, m, CANDIDATE) for m in metrics)] for s in slices]
        chart_metric = gated.metric if gated is not None else "binary_accuracy"
        chart = h.bars_svg(
            [(s.value, s.candidate.get(chart_metric, math.nan)) for s in slices],
            width=420,
            label_width=120,
            maximum=1.0,
            marker=gated.lower if gated is not None else None,
            value_format="{:.3f}",
        )
        parts += [
            h.tag("h3", f"By {feature}"),
            h.table([feature, *metrics], rows, numeric=tuple(range(1, len(metrics) + 1)), id=f"metrics-{feature}"),
            h.tag(
                "p",
                f"{chart_metric} per {feature} value"
                + (
                    f"; dashed line: the overall threshold {gated.lower:.4f}"
                    if gated is not None and gated.lower is not None
                    else ""
                )
                + ". Small slices are noisy.",
                class_="muted",
            ),
            chart,
        ]
    return h.join(parts)


def _importance_section(data: ReportData) -> h.Html:
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
        return h.tag("p", f"No feature importance: {reason}.")
    metric = str(importance["metric"])
    features = importance["features"]
    worse = "drops" if metric == "auc" else "rises"
    top = max([float(f["importance"]) for f in features] + [1e-12])
    rows = [
        [
            str(rank),
            str(f["feature"]),
            h.td(
                f"{f['importance']:+.4f}",
                class_="num",
                data_feature=f["feature"],
                data_importance=repr(float(f["importance"])),
                data_std=repr(float(f["std"])),
            ),
            f"{f['std']:.4f}",
            h.bars_svg([("", float(f["importance"]))], width=240, label_width=4, maximum=top, value_format="{:+.4f}"),
        ]
        for rank, f in enumerate(features, start=1)
    ]
    return h.join(
        [
            h.tag(
                "p",
                f"Permutation importance of the trained model, in the raw feature names a client sends: how much "
                f"its {metric} {worse} when one feature's values are shuffled across {importance['rows']:,} eval "
                f"rows ({importance['repeats']} shuffles per feature; importance is their mean, std dev their spread). "
                f"Unshuffled, its {metric} on those rows is {float(importance['baseline_score']):.4f}. Near zero: "
                "the model barely uses the feature; below zero: shuffling it happened to help, which is noise.",
            ),
            h.table(
                ["rank", "feature", "importance", "std dev", f"{metric} {worse} by"],
                rows,
                numeric=(0, 2, 3),
                id="importance-table",
            ),
        ]
    )


def _blessing_section(data: ReportData) -> h.Html:
    evaluation = data.evaluation
    summary = data.summary
    if evaluation is None or summary.blessed is None:
        return h.tag("p", "No blessing decision: the run evaluated no model.")
    checks = evaluation.thresholds
    if summary.blessed:
        verdict = h.tag(
            "p",
            h.join(
                [
                    h.pill("blessed", "ok"),
                    h.esc(" The Evaluator blessed the model: every threshold that applied passed."),
                ]
            ),
        )
    else:
        verdict = h.tag("p", h.join([h.pill("not blessed", "bad"), h.esc(" The Evaluator did not bless the model:")]))
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
            h.pill(c.status),
        ]
        for c in checks
    ]
    card: list[str] = []
    if summary.pushed:
        pushed = f"Pushed as version {summary.pushed_version} to {summary.pushed_path}."
        # The path as text, not a link: the report links nothing outside itself (see report_html).
        card_text: list[str] = (
            [h.esc("Model card: "), h.tag("code", data.model_card), h.esc(" (model_card.md beside it).")]
            if data.model_card is not None
            else [
                h.esc(f"No model card was written for version {summary.pushed_version}; "),
                h.tag("code", f"taxi-pipeline model-card --version {summary.pushed_version}"),
                h.esc(" writes one."),
            ]
        )
        card = [h.tag("p", h.join(card_text), id="model-card")]
    elif summary.blessed:
        pushed = "Nothing new was pushed: the Pusher's result was reused from the cache."
    else:
        pushed = "Not pushed: the Pusher only publishes blessed models; the serving dir keeps its version."
    return h.join(
        [
            verdict,
            h.tag("ul", h.join(h.tag("li", c.sentence()) for c in checks), class_="reasons"),
            h.tag("p", baseline_text),
            h.table(
                ["slice", "metric", "threshold", "required", "candidate", "baseline", "compared", "result"],
                rows,
                numeric=(4, 5, 6),
                id="thresholds",
            ),
            h.tag("p", h.join([h.tag("strong", "Pushed version: "), h.esc(pushed)]), id="pushed"),
            *card,
        ]
    )


def _lineage_section(data: ReportData) -> h.Html:
    lineage = data.lineage
    if lineage is None or lineage.get("model") is None:
        return h.tag("p", "No model: this run trained nothing, so there is no lineage to show.")
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
    return h.join(
        [
            h.tag(
                "p",
                h.join(
                    [
                        h.esc(
                            f"From ML Metadata: the model this run trained (or reused from the cache), back to the "
                            f"data, schema and code that made it. <home> is {home}. "
                        ),
                        h.tag("code", "taxi-pipeline lineage --version V"),
                        h.esc(" gives the same chain for any published version."),
                    ]
                ),
            ),
            h.table(["link", "ML Metadata", "where / what"], rows, id="lineage-table"),
        ]
    )


SECTIONS: tuple[tuple[str, str, Callable[[ReportData], h.Html]], ...] = (
    ("summary", "Run summary", _summary_section),
    ("statistics", "Data statistics", _statistics_section),
    ("anomalies", "Anomalies", _anomalies_section),
    ("drift", "Drift against the previous span", _drift_section),
    ("metrics", "Model metrics (TFMA)", _metrics_section),
    ("importance", "Feature importance", _importance_section),
    ("blessing", "Blessing decision", _blessing_section),
    ("lineage", "Lineage", _lineage_section),
)


def render(data: ReportData) -> str:
    """Renders the report as one self-contained HTML document."""
    css, verdict, facts = _headline(data)
    header = h.join(
        [
            h.tag("h1", f"Pipeline run report: {data.pipeline_name}"),
            h.tag(
                "p",
                f"Run {data.run_id}, started {format_time(data.started, with_zone=True)}; "
                f"generated {format_time(data.generated, with_zone=True)}.",
                class_="muted",
            ),
            h.tag(
                "div",
                h.join(
                    [
                        h.tag("div", verdict, class_="verdict"),
                        h.tag(
                            "div",
                            h.join(h.tag("div", h.join([h.tag("span", k), h.esc(v)])) for k, v in facts),
                            class_="facts",
                        ),
                    ]
                ),
                class_=f"headline {css}",
                id="headline",
            ),
        ]
    )
    return h.page(
        f"Run {data.run_id} - {data.pipeline_name}",
        header,
        [(sid, title, build(data)) for sid, title, build in SECTIONS],
    )


def report_path(reports_dir: str | Path, run_id: str) -> Path:
    """Where a run's report goes by default: <reports dir>/run-<run id, file-name safe>.html."""
    return Path(reports_dir) / f"run-{re.sub(r'[^0-9A-Za-z_.-]', '-', run_id)}.html"


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
    document = render(run_data.gather(store, config, run_id))
    return write_atomically(path, document).resolve()
