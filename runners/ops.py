"""Operations commands: `runs`, `lineage`, `models`, `rollback` and `kpis`.

Every answer comes from the home's ML Metadata and its serving dir; each command prints an aligned
table for people or, with --json, one JSON document on stdout for scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store

from pipeline.config import PipelineConfig
from runners import home_lock
from runners import kpis as kpi
from runners import lineage as ln
from runners import metadata as md
from runners import serving_dir as sd
from runners.errors import EXIT_OK, EXIT_USAGE, RunError

# The blessing metric (see pipeline/eval_config.py), followed over runs by `kpis`.
MAIN_METRIC = "binary_accuracy"
MODEL_METRICS = (MAIN_METRIC, "auc")
SERVING_RULE = "the highest integer version folder, which TF Serving's default 'latest' version policy serves"
WIDTH = 100
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


def register(commands: Any, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the `runs`, `lineage`, `models`, `rollback` and `kpis` subcommands.

    Args:
        commands: the CLI's subparsers.
        add_config_flags: adds the flags every subcommand shares (--profile, --config, --home).
    """

    def add(name: str, help_text: str, handler: Callable[[argparse.Namespace, PipelineConfig], int]) -> Any:
        parser = commands.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        add_config_flags(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout instead")
        parser.set_defaults(handler=handler)
        return parser

    add("runs", "list pipeline runs: start, spans, status, duration, cached components, pushed version", _cmd_runs)
    lineage = add("lineage", "trace a pushed model back to the data, schema and code that made it", _cmd_lineage)
    which = lineage.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, metavar="V", help="a published version (see `taxi-pipeline models`)")
    which.add_argument("--serving", action="store_true", help="the version serving now (the default)")
    add("models", "list published model versions, their evaluation metrics and which one serves", _cmd_models)
    rollback = add(
        "rollback",
        "serve the model before the newest push again (or --to VERSION), as a new version",
        _cmd_rollback,
    )
    rollback.epilog = ROLLBACK_HELP
    rollback.add_argument("--to", type=int, metavar="VERSION", help="the published version to serve again")
    rollback.add_argument("--reason", default="", help="why, kept in ML Metadata and rollbacks.jsonl")
    add("kpis", "deployment frequency, lead time, blessing rate, run duration and the metric's trend", _cmd_kpis)


# ---------------------------------------------------------------------------------------------- helpers


def open_store(config: PipelineConfig) -> metadata_store.MetadataStore:
    """Opens the home's ML Metadata for the operations commands.

    Raises:
        RunError (exit 2): the home is remote, has no metadata.db, or records no run of this pipeline.
    """
    if "://" in config.home:
        raise RunError(
            f"home {config.home} is a cloud folder: these commands read the SQLite ML Metadata of a local home; "
            "runs on Vertex AI are recorded in Vertex ML Metadata (see the Vertex AI console)",
            EXIT_USAGE,
        )
    path = Path(config.metadata_path)
    if not path.is_file():
        raise RunError(
            f"no ML Metadata at {path}: expected the metadata.db of a home where `taxi-pipeline run` has run; "
            "pass --home (or set TAXI_PIPELINE_HOME) to that folder, or run the pipeline first",
            EXIT_USAGE,
        )
    try:
        store = md.connect(path)
    except Exception as err:  # a file that is not an ML Metadata database, or a newer schema
        raise RunError(f"cannot open ML Metadata at {path}: {err}", EXIT_USAGE) from None
    if md.pipeline_context(store, config.pipeline_name) is None:
        raise RunError(
            f"ML Metadata at {path} records no run of pipeline '{config.pipeline_name}' (pipeline_name in the "
            "profile); check --home and --profile, or run the pipeline first",
            EXIT_USAGE,
        )
    return store


def format_time(seconds: float | None) -> str:
    """Returns "YYYY-MM-DD HH:MM:SS" in UTC, or "-"."""
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float | None) -> str:
    """Returns "45s", "3m07s", "2h05m" or "3d04h" (one word, so wrapped text never splits it); "-" for None."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def format_spans(spans: Sequence[int]) -> str:
    """Returns "1", "1,2" or "1-4" for a list of spans; "-" for none."""
    if not spans:
        return "-"
    ordered = sorted(spans)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(map(str, ordered))


def format_number(value: float | None) -> str:
    """Returns a metric with 4 decimals, or "-"."""
    return "-" if value is None else f"{value:.4f}"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Renders rows as plain-text columns, two spaces apart, aligned under their headers.

    Args:
        headers: column titles.
        rows: cell texts, one sequence per row, as many cells as headers.
        right: indexes of columns to right-align (numbers).

    Returns:
        The table, without trailing spaces.
    """
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def short_path(uri: str, home: str | Path) -> str:
    """Shows a path under the home relative to it ("<home>/...") so lines fit a terminal."""
    try:
        return "<home>/" + str(Path(uri).resolve().relative_to(Path(home).resolve()))
    except (ValueError, OSError):
        return uri


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent)


def _emit(args: argparse.Namespace, document: Mapping[str, Any], human: Callable[[], str]) -> int:
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    else:
        print(human())
    return EXIT_OK


def read_metrics(evaluation_uris: Sequence[str]) -> dict[str, dict[str, float]]:
    """Reads the overall TFMA metrics of each evaluation; an unreadable one maps to {} and is named on stderr.

    Args:
        evaluation_uris: Evaluator "evaluation" artifact URIs.

    Returns:
        uri -> metric name -> value.
    """
    wanted = sorted(set(evaluation_uris))
    if not wanted:
        return {}
    # Set before TensorFlow loads (runners never import models/, which sets them for pipeline code):
    # Keras 2 as the pipeline uses it, and TensorFlow's C++ start-up chatter off the console.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    found: dict[str, dict[str, float]] = {}
    # The libraries' deprecation notices, and TFMA's note that an evaluation against a baseline has no
    # plots, say nothing about the user's models.
    # TensorFlow and absl reset their loggers' levels when they load, so silence by severity instead.
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from runners.summary import read_evaluation

            for uri in wanted:
                try:
                    found[uri] = read_evaluation(uri)[0]
                except Exception as err:  # a deleted or partial artifact: report it, keep the other versions
                    print(f"taxi-pipeline: cannot read the evaluation at {uri}: {type(err).__name__}", file=sys.stderr)
                    found[uri] = {}
    finally:
        logging.disable(logging.NOTSET)
    return found


# ------------------------------------------------------------------------------------------------ runs


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
        elif r.components.get(ln.PUSHER) == "cached":
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
    return f"Runs of pipeline '{config.pipeline_name}' in {config.metadata_path}\n\n{table}\n\n{_wrap(legend)}"


def _cmd_runs(args: argparse.Namespace, config: PipelineConfig) -> int:
    records = ln.list_runs(open_store(config), config.pipeline_name)
    return _emit(args, runs_document(records, config), lambda: format_runs(records, config))


# --------------------------------------------------------------------------------------------- lineage


def resolve_version(pushes: Sequence[ln.Push], serving_dir: str, version: int | None) -> ln.Push:
    """Returns the published version asked for, or the serving one.

    Raises:
        RunError (exit 2): the version is unknown, or nothing serves.
    """
    by_version = {p.version: p for p in pushes}
    known = ", ".join(str(v) for v in by_version) or "none"
    if version is None:
        serving = sd.serving_version(serving_dir)
        if serving is None:
            raise RunError(
                f"nothing serves: {serving_dir} has no integer version folder; run the pipeline until a model is "
                "pushed, or name a version with --version",
                EXIT_USAGE,
            )
        if serving not in by_version:
            raise RunError(
                f"version {serving} serves from {serving_dir}, but ML Metadata records no push or rollback of it "
                f"(it was copied there by something else); versions it knows: {known}",
                EXIT_USAGE,
            )
        return by_version[serving]
    if version not in by_version:
        raise RunError(
            f"version {version} is not a version this home published (published versions: {known}); "
            "`taxi-pipeline models` lists them",
            EXIT_USAGE,
        )
    return by_version[version]


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
            f"(execution {rollback['execution_id']}, {format_time(rollback['at'])} UTC)",
            *([f"reason: {rollback['reason']}"] if rollback["reason"] else []),
            f"folder {short_path(rollback['destination'], home)}",
        )
    push = document["push"]
    row(
        "push",
        f"version {push['version']} by run {push['run_id']} (execution {push['execution_id']}, "
        f"{format_time(push['at'])} UTC)",
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
            f"steps {trainer['train_steps'] if trainer['train_steps'] is not None else '-'} "
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


# ---------------------------------------------------------------------------------------------- models


def models_document(
    pushes: Sequence[ln.Push], on_disk: Sequence[int], metrics: Mapping[str, Mapping[str, float]], serving_dir: str
) -> dict[str, Any]:
    """Returns the `models --json` document: every published version, and which one serves.

    Args:
        pushes: published versions (lineage.find_pushes).
        on_disk: integer version folders in the serving dir.
        metrics: evaluation URI -> overall metrics.
        serving_dir: the model's base path.

    Returns:
        serving_dir, serving_version, serving_rule, versions (one mapping per push or rollback) and
        unrecorded_versions (folders ML Metadata knows nothing about).
    """
    serving = max(on_disk, default=None)
    present = set(on_disk)
    versions = []
    for push in pushes:
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
                "metrics": dict(metrics.get(push.evaluation_uri or "", {})),
                "on_disk": push.version in present,
                "serving": push.version == serving,
                "reason": push.reason,
            }
        )
    recorded = {p.version for p in pushes}
    return {
        "serving_dir": serving_dir,
        "serving_version": serving,
        "serving_rule": SERVING_RULE,
        "versions": versions,
        "unrecorded_versions": sorted(present - recorded),
    }


def format_models(document: Mapping[str, Any]) -> str:
    """Renders `models` for the console: newest version first, the serving one marked with '*'."""
    headers = ["", "VERSION", "PUSHED (UTC)", "RUN OR ROLLBACK", "SPANS", *(m.upper() for m in MODEL_METRICS), "MODEL"]
    rows: list[tuple[int, list[str]]] = []
    for v in document["versions"]:
        marker = "*" if v["serving"] else ("!" if not v["on_disk"] else "")
        source = f"rollback to {v['rollback_of']}" if v["kind"] == "rollback" else v["run_id"]
        cells = [marker, str(v["version"]), format_time(v["pushed_at"]), source, format_spans(v["window_spans"])]
        cells += [*(format_number(v["metrics"].get(m)) for m in MODEL_METRICS), str(v["model_artifact_id"])]
        rows.append((v["version"], cells))
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
        _wrap(status),
        _wrap(
            "A rollback republishes an earlier model under a new version; its metrics are those of that model's "
            "evaluation. MODEL is the ML Metadata id of the trained model. ! marks a version whose folder is gone."
        ),
    ]
    table = render_table(headers, [cells for _, cells in sorted(rows, key=lambda r: r[0], reverse=True)], (5, 6, 7))
    return f"{head}\n\n{table}\n\n" + "\n".join(notes)


def _cmd_models(args: argparse.Namespace, config: PipelineConfig) -> int:
    store = open_store(config)
    pushes = ln.find_pushes(store, config.pipeline_name)
    metrics = read_metrics([p.evaluation_uri for p in pushes if p.evaluation_uri])
    document = models_document(
        pushes, sd.versions(config.serving_dir), metrics, str(Path(config.serving_dir).resolve())
    )
    return _emit(args, document, lambda: format_models(document))


# -------------------------------------------------------------------------------------------- rollback


def _cmd_rollback(args: argparse.Namespace, config: PipelineConfig) -> int:
    from runners.rollback import RollbackError, rollback

    store = open_store(config)
    # The home lock keeps a run's Pusher and this rollback from publishing into the serving dir at once.
    with home_lock.hold(config.home):
        try:
            result = rollback(store, config.pipeline_name, config.serving_dir, to=args.to, reason=args.reason)
        except RollbackError as err:
            raise RunError(str(err), EXIT_USAGE) from None
    document = {**result.to_dict(), "serving_dir": str(Path(config.serving_dir).resolve())}
    return _emit(args, document, lambda: _wrap(result.message))


# ------------------------------------------------------------------------------------------------ kpis


def format_kpis(document: Mapping[str, Any]) -> str:
    """Renders `kpis` for the console: one line per KPI, then the metric over the evaluated runs."""
    frequency = document["deployment_frequency"]
    lead = document["lead_time"]
    blessing = document["blessing_rate"]
    duration = document["run_duration"]
    trend = document["trend"]
    per_day = frequency["per_day"]
    rollbacks = f" and {frequency['rollbacks']} rollback(s)" if frequency["rollbacks"] else ""
    lines = [f"KPIs of pipeline '{document['pipeline']}' from {document['metadata']} (times UTC)", ""]

    def kpi_line(label: str, text: str) -> None:
        lines.append(textwrap.fill(text, WIDTH, initial_indent=f"  {label:<22}", subsequent_indent=" " * 24))

    kpi_line(
        "deployment frequency",
        f"{frequency['deployments']} push(es){rollbacks} since {format_time(frequency['window_start'])}"
        + (f" = {per_day:.2f} per day" if per_day is not None else "")
        + (
            f"; {format_duration(frequency['mean_interval_s'])} between pushes on average"
            if frequency["mean_interval_s"] is not None
            else ""
        ),
    )
    if lead["per_push"]:
        kpi_line(
            "lead time",
            f"mean {format_duration(lead['mean_s'])}, median {format_duration(lead['median_s'])}, "
            f"max {format_duration(lead['max_s'])} over {len(lead['per_push'])} push(es), from the arrival of the "
            "newest training span (when ML Metadata first recorded its Examples) to the push",
        )
    else:
        kpi_line("lead time", "- (no push yet)")
    rate = blessing["rate"]
    kpi_line(
        "blessing rate",
        f"{blessing['blessed']} of {blessing['evaluated']} evaluation(s) blessed"
        + (f" ({rate:.0%})" if rate is not None else ""),
    )
    kpi_line(
        "mean run duration",
        f"{format_duration(duration['mean_s'])} over {duration['complete']} complete run(s) "
        f"({duration['failed']} failed, {duration['unfinished']} unfinished)",
    )
    change = trend["change"]
    kpi_line(
        f"{trend['metric']} trend",
        f"{format_number(trend['first'])} -> {format_number(trend['last'])}"
        + (f" ({change:+.4f})" if change is not None else "")
        + f" over {len(trend['points'])} evaluation(s)",
    )
    if trend["points"]:
        rows = [
            [
                p["run_id"],
                format_spans(p["window_spans"]),
                format_number(p["value"]),
                "-" if p["change"] is None else f"{p['change']:+.4f}",
                {True: "yes", False: "no", None: "-"}[p["blessed"]],
            ]
            for p in trend["points"]
        ]
        lines += ["", render_table(["RUN ID", "SPANS", trend["metric"].upper(), "CHANGE", "BLESSED"], rows, (2, 3))]
    return "\n".join(lines)


def _cmd_kpis(args: argparse.Namespace, config: PipelineConfig) -> int:
    store = open_store(config)
    evaluations = ln.list_evaluations(store, config.pipeline_name)
    metrics = read_metrics([e.evaluation_uri for e in evaluations if e.evaluation_uri])
    values = {e.execution_id: metrics.get(e.evaluation_uri or "", {}).get(MAIN_METRIC) for e in evaluations}
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
    }
    return _emit(args, document, lambda: format_kpis(document))
