"""Operations commands: `runs`, `lineage`, `models`, `rollback` and `kpis`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline import ids
from pipeline import serving_dir as sd
from pipeline.config import PipelineConfig
from runners.errors import EXIT_OK, EXIT_USAGE, RunError
from runners.home import lock as home_lock
from runners.home.storage import home_write_error
from runners.monitoring import outcome
from runners.reports import kpis as kpi
from runners.serving.rollback import RollbackError, rollback
from runners.store import lineage as ln
from runners.store.evaluations import read_metrics
from runners.store.lineage import resolve_version
from runners.store.metadata import open_store
from runners.store.performance import SpanPerformance, list_performance
from runners.text import (
    WIDTH,
    format_duration,
    format_number,
    format_spans,
    format_time,
    render_table,
    short_path,
    wrap,
)

# The blessing metric (see pipeline/eval_config.py), followed over runs by `kpis`.
MAIN_METRIC = "binary_accuracy"


MODEL_METRICS = (MAIN_METRIC, "auc")


SERVING_RULE = "the highest integer version folder, which TF Serving's default 'latest' version policy serves"


ROLLBACK_HELP = (
    "How: the chosen model is copied into a hidden staging folder inside the serving dir and renamed "
    "to a new integer version above every other (atomic on one filesystem). TF Serving's default "
    "'latest' policy, and any server that loads the highest integer folder, switch to it by themselves. "
    "The rollback is recorded in <serving dir>/rollbacks.jsonl and as a 'Rollback' execution in ML "
    "Metadata, so `models` and `lineage --serving` show it. Without --to, the target is the push before "
    "the newest one; when the target's model already serves, nothing changes, so running it twice is safe. "
    "A newer push serves again after its run, as the new highest version."
)


STATE_LETTERS = {"executed": "E", "cached": "c", "failed": "F", "running": "R", "new": "R", "canceled": "x"}


def _configure(
    parser: argparse.ArgumentParser,
    add_config_flags: Callable[[argparse.ArgumentParser], None],
    handler: Callable[[argparse.Namespace, PipelineConfig], int],
) -> None:
    add_config_flags(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout instead")
    parser.set_defaults(handler=handler)


def configure_runs(
    parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Adds the flags of `runs`."""
    _configure(parser, add_config_flags, _cmd_runs)


def configure_lineage(
    parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Adds the flags of `lineage`."""
    _configure(parser, add_config_flags, _cmd_lineage)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, metavar="V", help="a published version (see `taxi-pipeline models`)")
    which.add_argument("--serving", action="store_true", help="the version serving now (the default)")


def configure_models(
    parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Adds the flags of `models`."""
    _configure(parser, add_config_flags, _cmd_models)


def configure_rollback(
    parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Adds the flags of `rollback`."""
    _configure(parser, add_config_flags, _cmd_rollback)
    parser.epilog = ROLLBACK_HELP
    parser.add_argument("--to", type=int, metavar="VERSION", help="the published version to serve again")
    parser.add_argument("--reason", default="", help="why, kept in ML Metadata and rollbacks.jsonl")


def configure_kpis(
    parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Adds the flags of `kpis`."""
    _configure(parser, add_config_flags, _cmd_kpis)


def _emit(args: argparse.Namespace, document: Mapping[str, Any], human: Callable[[], str]) -> int:
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    else:
        print(human())
    return EXIT_OK


def runs_document(records: Sequence[ln.RunRecord], config: PipelineConfig) -> dict[str, Any]:
    """Returns the `runs --json` document."""
    return {
        "pipeline": config.pipeline_name,
        "metadata": str(Path(config.metadata_path).resolve()),
        "runs": [{**dataclasses.asdict(r), "duration_s": r.duration_s} for r in records],
    }


def component_order(records: Sequence[ln.RunRecord]) -> list[str]:
    """Returns the components seen in the runs in the order they first ran (pipeline order)."""
    order: list[str] = []
    for record in records:
        for component in record.components:
            if component not in order:
                order.append(component)
    return order


def format_runs(records: Sequence[ln.RunRecord], config: PipelineConfig) -> str:
    """Renders `runs` for the console: one line per run, then the legend of the component letters."""
    if not records:
        return f"No runs of pipeline '{config.pipeline_name}' in {config.metadata_path}."
    order = component_order(records)
    rows = []
    for r in records:
        letters = "".join(STATE_LETTERS.get(r.components[c], "?") if c in r.components else "." for c in order)
        if r.pushed_version is not None:
            pushed = str(r.pushed_version)
        elif r.components.get(ids.PUSHER) == "cached":
            pushed = "cached"
        elif r.blessed is False:
            pushed = "not blessed"
        else:
            pushed = "-"
        rows.append(
            [
                r.run_id,
                format_time(r.started),
                format_spans(r.window_spans or ([r.span] if r.span is not None else [])),
                r.status,
                format_duration(r.duration_s),
                letters,
                pushed,
            ]
        )
    table = render_table(
        ["RUN ID", "STARTED (UTC)", "SPANS", "STATUS", "TIME", "COMPONENTS", "PUSHED"], rows, right=(4,)
    )
    legend = (
        "SPANS: the training window (the ingested span for ingest-only runs). COMPONENTS: one letter per "
        f"component, in this order: {', '.join(order)}. E executed, c cached (reused an earlier result), "
        "F failed, R running or stopped, . not in that run."
    )
    return f"Runs of pipeline '{config.pipeline_name}' in {config.metadata_path}\n\n{table}\n\n{wrap(legend)}"


def _cmd_runs(args: argparse.Namespace, config: PipelineConfig) -> int:
    records = ln.list_runs(open_store(config), config.pipeline_name)
    return _emit(args, runs_document(records, config), lambda: format_runs(records, config))


def _steps_text(trainer: Mapping[str, Any]) -> str:
    """The steps the Trainer ran, and the configured number when it differs (early stopping) or is all we know."""
    run, configured = trainer.get("steps_run"), trainer.get("train_steps")
    if run is None:
        return f"{configured if configured is not None else '-'} configured (steps run not recorded)"
    if configured is not None and configured != run:
        return f"{run} run (of {configured} configured: stopped early)"
    return f"{run} run"


def format_lineage(document: Mapping[str, Any], home: str) -> str:
    """Renders `lineage` for the console: one block per link, newest first, paths relative to the home."""
    lines = []
    serving = "serving now" if document["serving"] else f"not serving; version {document['serving_version']} serves"
    lines.append(f"Lineage of version {document['version']} ({serving})")
    lines.append(f"<home> is {Path(home).resolve()}")

    def row(label: str, text: str, *more: str) -> None:
        lines.append(f"  {label:<11}{text}")
        lines.extend(f"  {'':<11}{m}" for m in more)

    rollback = document.get("rollback")
    if rollback:
        row(
            "rollback",
            f"version {rollback['version']} republishes version {rollback['republishes']} "
            f"(execution {rollback['execution_id']}, {format_time(rollback['at'], with_zone=True)})",
            *([f"reason: {rollback['reason']}"] if rollback["reason"] else []),
            f"folder {short_path(rollback['destination'], home)}",
        )
    push = document["push"]
    row(
        "push",
        f"version {push['version']} by run {push['run_id']} (execution {push['execution_id']}, "
        f"{format_time(push['at'], with_zone=True)})",
        f"folder {short_path(push['destination'], home)}",
        f"artifact {push['artifact']['id']}: {short_path(push['artifact']['uri'], home)}",
    )
    blessing = document.get("blessing")
    if blessing:
        row(
            "blessing",
            f"artifact {blessing['id']}: {'blessed' if blessing['blessed'] else 'NOT blessed'}",
            f"evaluation {short_path(blessing['evaluation_uri'] or '-', home)}",
        )
    model = document.get("model")
    if model:
        row("model", f"artifact {model['id']}: {short_path(model['uri'], home)}")
    trainer = document.get("trainer")
    if trainer:
        hyperparameters = ", ".join(f"{k}={v}" for k, v in sorted(trainer["hyperparameters"].items())) or "-"
        row(
            "trainer",
            f"execution {trainer['execution_id']} in run {trainer['run_id']}",
            f"steps {_steps_text(trainer)} "
            f"(eval {trainer['eval_steps'] if trainer['eval_steps'] is not None else '-'}), "
            f"code fingerprint {trainer['code_fingerprint'] or '-'}",
            f"hyperparameters {hyperparameters}",
        )
    graph = document.get("transform_graph")
    if graph:
        row(
            "transform",
            f"graph artifact {graph['id']} (execution {graph['execution_id']}): {short_path(graph['uri'], home)}",
        )
    schema = document.get("schema")
    if schema:
        row(
            "schema",
            f"artifact {schema['id']}: {short_path(schema['uri'], home)}",
            *([f"imported from {short_path(schema['source_file'], home)}"] if schema["source_file"] else []),
        )
    for examples in document.get("examples", []):
        statistics = examples.get("statistics")
        if statistics:
            row(
                "statistics",
                f"span {examples['span']}: artifact {statistics['id']}: {short_path(statistics['uri'], home)}",
            )
    for examples in document.get("examples", []):
        row(
            "examples",
            f"span {examples['span']}: artifact {examples['id']}: {short_path(examples['uri'], home)}",
            f"ingested by run {examples['run_id']}",
            # ExampleGen joins the fingerprint's parts with bare commas; spaced, it wraps between them.
            *textwrap.wrap(f"input fingerprint {examples['input_fingerprint'].replace(',', ', ') or '-'}", WIDTH - 13),
        )
    return "\n".join(lines)


def _cmd_lineage(args: argparse.Namespace, config: PipelineConfig) -> int:
    store = open_store(config)
    pushes = ln.find_pushes(store, config.pipeline_name)
    push = resolve_version(pushes, config.serving_dir, args.version)
    serving_version = sd.serving_version(config.serving_dir)
    document = {
        "serving_dir": str(Path(config.serving_dir).resolve()),
        "serving_version": serving_version,
        "serving": push.version == serving_version,
        **ln.lineage(store, push, pushes),
    }
    return _emit(args, document, lambda: format_lineage(document, config.home))


def version_statuses(pushes: Sequence[ln.Push]) -> dict[int, str]:
    """What became of each published version, in publishing order: 'serving' is left to the serving dir.

    A version the next publication replaced is "superseded by N" when N was a push and "rolled back
    by N" when N was a rollback; the newest one is "newest".
    """
    statuses: dict[int, str] = {}
    current: int | None = None
    for push in sorted(pushes, key=lambda p: p.version):
        if current is not None:
            how = "rolled back by" if push.kind == "rollback" else "superseded by"
            statuses[current] = f"{how} {push.version}"
        current = push.version
    if current is not None:
        statuses[current] = "newest"
    return statuses


COMPARISON = (
    "change on the same rows = the Evaluator's candidate minus baseline (the newest blessed model when it "
    "ran), both scored on that version's eval split"
)


def models_document(
    pushes: Sequence[ln.Push],
    on_disk: Sequence[int],
    metrics: Mapping[str, Mapping[str, float]],
    serving_dir: str,
    baselines: Mapping[str, int | None] | None = None,
    performance: Sequence[SpanPerformance] = (),
) -> dict[str, Any]:
    """Returns the `models --json` document: every published version, and which one serves.

    Args:
        pushes: published versions (lineage.find_pushes).
        on_disk: integer version folders in the serving dir.
        metrics: evaluation URI -> overall metrics (`<metric>_diff` is candidate - baseline on the same rows).
        serving_dir: the model's base path.
        baselines: evaluation URI -> the model artifact id the Evaluator compared with (None: no baseline).
        performance: each model's scores on spans that arrived after it (store.performance.list_performance).

    Returns:
        serving_dir, serving_version, serving_rule, comparison, versions (one mapping per push or
        rollback: status, vs_baseline, `new_data` (the model's scores on later spans, each {"span",
        "binary_accuracy", "auc", "decayed"}) and the rest) and unrecorded_versions (folders ML Metadata
        knows nothing about).
    """
    serving = max(on_disk, default=None)
    present = set(on_disk)
    statuses = version_statuses(pushes)
    versions_of_model: dict[int, list[int]] = {}
    for push in pushes:
        versions_of_model.setdefault(push.model_id, []).append(push.version)
    versions = []
    for push in pushes:
        found = metrics.get(push.evaluation_uri or "", {})
        baseline = (baselines or {}).get(push.evaluation_uri or "")
        change = found.get(f"{MAIN_METRIC}_diff")
        status = "serving" if push.version == serving else statuses.get(push.version, "")
        if push.version != serving and status == "newest":
            status = "not serving"
        versions.append(
            {
                "version": push.version,
                "kind": push.kind,
                "rollback_of": push.rollback_of,
                "pushed_at": push.pushed_at,
                "run_id": push.run_id,
                "window_spans": push.window_spans,
                "model_artifact_id": push.model_id,
                "model_uri": push.model_uri,
                "pushed_model_artifact_id": push.pushed_model_id,
                "destination": push.destination,
                "evaluation_uri": push.evaluation_uri,
                "metrics": {k: v for k, v in found.items() if not k.endswith("_diff")},
                "vs_baseline": {
                    "metric": MAIN_METRIC,
                    "change": change,
                    "baseline_model_artifact_id": baseline,
                    "baseline_versions": sorted(v for v in versions_of_model.get(baseline, []) if v < push.version)
                    if baseline is not None
                    else [],
                },
                "status": status,
                "on_disk": push.version in present,
                "serving": push.version == serving,
                "reason": push.reason,
                "new_data": [
                    {"span": r.span, "binary_accuracy": r.binary_accuracy, "auc": r.auc, "decayed": r.decayed}
                    for r in performance
                    if r.model_id == push.model_id
                ],
            }
        )
    recorded = {p.version for p in pushes}
    return {
        "serving_dir": serving_dir,
        "serving_version": serving,
        "serving_rule": SERVING_RULE,
        "comparison": COMPARISON,
        "versions": versions,
        "unrecorded_versions": sorted(present - recorded),
    }


def format_models(document: Mapping[str, Any]) -> str:
    """Renders `models` for the console: newest version first, the serving one marked with '*'."""
    headers = [
        "",
        "VERSION",
        "PUSHED (UTC)",
        "RUN OR ROLLBACK",
        "SPANS",
        *(m.upper() for m in MODEL_METRICS),
        "MODEL",
    ]
    rows: list[tuple[int, list[str]]] = []
    fates: list[tuple[int, list[str]]] = []
    for v in document["versions"]:
        marker = "*" if v["serving"] else ("!" if not v["on_disk"] else "")
        source = f"rollback to {v['rollback_of']}" if v["kind"] == "rollback" else v["run_id"]
        cells = [marker, str(v["version"]), format_time(v["pushed_at"]), source, format_spans(v["window_spans"])]
        cells += [*(format_number(v["metrics"].get(m)) for m in MODEL_METRICS), str(v["model_artifact_id"])]
        rows.append((v["version"], cells))
        against = v["vs_baseline"]
        if against["change"] is not None:
            named = ",".join(map(str, against["baseline_versions"])) or f"model {against['baseline_model_artifact_id']}"
            change = f"{against['change']:+.4f} vs version {named}"
        elif v["kind"] == "rollback":
            change = f"(the evaluation of version {v['rollback_of']})"
        else:
            change = "- (no baseline: judged on the absolute threshold)"
        fates.append((v["version"], [marker, str(v["version"]), v["status"], change]))
    for version in document["unrecorded_versions"]:
        cells = ["*" if version == document["serving_version"] else "", str(version), "-", "not in ML Metadata"]
        rows.append((version, cells + ["-"] * (len(headers) - len(cells))))
    head = f"Model versions in {document['serving_dir']}"
    if not rows:
        return f"{head}\n\nNo version was published yet."
    serving = document["serving_version"]
    if serving is None:
        status = "Nothing serves: the folder has no integer version folder."
    else:
        status = f"* serves now: version {serving}, {document['serving_rule']}."
    notes = [
        wrap(status),
        wrap(
            "A rollback republishes an earlier model under a new version; its metrics are those of that model's "
            "evaluation. MODEL is the ML Metadata id of the trained model. ! marks a version whose folder is gone."
        ),
        wrap(f"{MAIN_METRIC.upper()} and AUC: each model on its own eval split, not comparable across versions."),
    ]
    notes += [
        wrap(
            f"DECAY: version {v['version']} scored {p['binary_accuracy']:.4f} on span {p['span']}, which arrived "
            "after it (`taxi-pipeline monitor`)."
        )
        for v in document["versions"]
        for p in v.get("new_data", [])[-1:]
        if p["decayed"]
    ]
    table = render_table(headers, [cells for _, cells in sorted(rows, key=lambda r: r[0], reverse=True)], (5, 6, 7))
    fate_table = render_table(
        ["", "VERSION", "STATUS", f"{MAIN_METRIC.upper()} CHANGE ON THE SAME ROWS"],
        [cells for _, cells in sorted(fates, key=lambda r: r[0], reverse=True)],
    )
    comparison = wrap(document["comparison"][0].upper() + document["comparison"][1:] + ".")
    return f"{head}\n\n{table}\n\n" + "\n".join(notes) + f"\n\n{fate_table}\n\n{comparison}"


def _overall_metrics(evaluation_uris: Sequence[str]) -> dict[str, dict[str, float]]:
    """Reads each evaluation's overall metrics; one that cannot be read is named on stderr and shows none."""
    metrics, unreadable = read_metrics(evaluation_uris)
    for uri, problem in unreadable.items():
        print(f"taxi-pipeline: cannot read the evaluation at {uri}: {problem}", file=sys.stderr)
    return metrics


def _cmd_models(args: argparse.Namespace, config: PipelineConfig) -> int:
    store = open_store(config)
    pushes = ln.find_pushes(store, config.pipeline_name)
    metrics = _overall_metrics([p.evaluation_uri for p in pushes if p.evaluation_uri])
    baselines = {e.evaluation_uri: e.baseline_model_id for e in ln.list_evaluations(store, config.pipeline_name)}
    document = models_document(
        pushes,
        sd.versions(config.serving_dir),
        metrics,
        str(Path(config.serving_dir).resolve()),
        {uri: model for uri, model in baselines.items() if uri},
        list_performance(store, config.pipeline_name),
    )
    return _emit(args, document, lambda: format_models(document))


def _cmd_rollback(args: argparse.Namespace, config: PipelineConfig) -> int:
    store = open_store(config, writable=True)  # the rollback records itself in ML Metadata
    # The home lock keeps a run's Pusher and this rollback from publishing into the serving dir at once.
    with home_lock.hold(config.home) as home:
        try:
            result = rollback(store, config.pipeline_name, config.serving_dir, to=args.to, reason=args.reason)
        except (RollbackError, OSError) as err:
            # A serving dir or rollbacks.jsonl that cannot be written is the home's problem, as for every command.
            failure = home_write_error(err, home, "Nothing was rolled back; the same version serves.")
            if failure is not None:
                raise failure from None
            if isinstance(err, OSError):
                raise
            raise RunError(str(err), EXIT_USAGE) from None
    if result.changed:  # the score-shift alert compares the version now serving with its own level
        outcome.record_serving_score(config)
    document = {**result.to_dict(), "serving_dir": str(Path(config.serving_dir).resolve())}
    return _emit(args, document, lambda: wrap(result.message))


def _period_text(period: Mapping[str, Any]) -> str:
    if period["start"] is None:
        return "no run recorded"
    days, weeks = len(period["days"]), len(period["weeks"])
    return (
        f"observed {format_time(period['start'])} to {format_time(period['end'])} "
        f"({format_duration(period['seconds'])}: {days} day(s), {weeks} week(s))"
    )


def format_kpis(document: Mapping[str, Any]) -> str:
    """Renders `kpis` for the console: one line per KPI, then the metric over the evaluated runs."""
    frequency = document["deployment_frequency"]
    lead = document["lead_time"]
    blessing = document["blessing_rate"]
    duration = document["run_duration"]
    trend = document["trend"]
    rollbacks = f" and {frequency['rollbacks']} rollback(s)" if frequency["rollbacks"] else ""
    lines = [f"KPIs of pipeline '{document['pipeline']}' from {document['metadata']} (times UTC)", ""]

    def kpi_line(label: str, text: str) -> None:
        lines.append(textwrap.fill(text, WIDTH, initial_indent=f"  {label:<22}", subsequent_indent=" " * 24))

    busiest = [f"{b['day']}: {b['deployments']}" for b in frequency["by_day"] if b["deployments"]]
    kpi_line(
        "deployment frequency",
        f"{frequency['deployments']} push(es){rollbacks}, {_period_text(frequency['period'])}"
        + (
            f"; {frequency['per_day']:.2f} per day and {frequency['per_week']:.2f} per week over the days and weeks "
            "observed"
            if frequency["per_day"] is not None and frequency["per_week"] is not None
            else ""
        )
        + (f" (by day: {', '.join(busiest)})" if busiest else "")
        + (
            f"; {format_duration(frequency['mean_interval_s'])} between pushes on average"
            if frequency["mean_interval_s"] is not None
            else ""
        ),
    )
    if lead["per_push"]:
        by_day = ", ".join(f"{b['day']}: median {format_duration(b['median_s'])}" for b in lead["by_day"])
        kpi_line(
            "lead time",
            f"median {format_duration(lead['median_s'])}, max {format_duration(lead['max_s'])} over "
            f"{len(lead['per_push'])} push(es) ({by_day}), from the arrival of the newest training span (when ML "
            "Metadata first recorded its Examples) to the push",
        )
    else:
        kpi_line("lead time", "- (no push yet)")
    rate = blessing["rate"]
    kpi_line(
        "blessing rate",
        f"{blessing['blessed']} of {blessing['evaluated']} evaluation(s) blessed"
        + (f" ({rate:.0%})" if rate is not None else ""),
    )
    kinds = [
        f"{kind} {format_duration(d['mean_s'])} mean, {format_duration(d['max_s'])} max over {d['complete']}"
        for kind, d in duration["by_kind"].items()
        if d["complete"]
    ]
    kpi_line(
        "run duration",
        ("; ".join(kinds) or "no complete run")
        + f" ({duration['failed']} failed, {duration['unfinished']} unfinished)",
    )
    new_data = document.get("new_data")
    if new_data is not None and new_data["latest"] is not None:
        latest = new_data["latest"]
        kpi_line(
            "accuracy on new data",
            f"version {latest['version']} scored {format_number(latest['binary_accuracy'])} on span "
            f"{latest['span']}{' (DECAY)' if latest['decayed'] else ''}; {new_data['decayed']} of "
            f"{new_data['scored_spans']} span(s) showed decay (`taxi-pipeline monitor`)",
        )
    change = trend["change"]
    kpi_line(
        f"{trend['metric']} vs baseline",
        (f"{change:+.4f} in the newest evaluation with a baseline" if change is not None else "no baseline yet")
        + f"; {trend['comparison']}",
    )
    if trend["points"]:
        rows = [
            [
                p["run_id"],
                format_spans(p["window_spans"]),
                format_number(p["value"]),
                format_number(p["baseline_value"]),
                "-" if p["change"] is None else f"{p['change']:+.4f}",
                ",".join(map(str, p["baseline_versions"])) or "-",
                {True: "yes", False: "no", None: "-"}[p["blessed"]],
            ]
            for p in trend["points"]
        ]
        headers = ["RUN ID", "SPANS", "CANDIDATE", "BASELINE", "CHANGE", "BASELINE VERSION", "BLESSED"]
        lines += ["", render_table(headers, rows, (2, 3, 4))]
    return "\n".join(lines)


def _cmd_kpis(args: argparse.Namespace, config: PipelineConfig) -> int:
    store = open_store(config)
    evaluations = ln.list_evaluations(store, config.pipeline_name)
    metrics = _overall_metrics([e.evaluation_uri for e in evaluations if e.evaluation_uri])
    values = {e.execution_id: metrics.get(e.evaluation_uri or "", {}) for e in evaluations}
    now = time.time()
    document = {
        "pipeline": config.pipeline_name,
        "metadata": str(Path(config.metadata_path).resolve()),
        "now": now,
        **kpi.compute(
            ln.list_runs(store, config.pipeline_name),
            ln.find_pushes(store, config.pipeline_name),
            evaluations,
            values,
            ln.span_arrivals(store, config.pipeline_name),
            now,
            MAIN_METRIC,
        ),
        "new_data": new_data_kpi(list_performance(store, config.pipeline_name)),
    }
    return _emit(args, document, lambda: format_kpis(document))


def new_data_kpi(records: Sequence[SpanPerformance]) -> dict[str, Any]:
    """How the serving models did on the spans that arrived after them: counts and the newest score."""
    latest = records[-1] if records else None
    return {
        "scored_spans": len(records),
        "decayed": sum(1 for r in records if r.decayed),
        "latest": None
        if latest is None
        else {
            "span": latest.span,
            "version": latest.version,
            "binary_accuracy": latest.binary_accuracy,
            "decayed": latest.decayed,
        },
    }
