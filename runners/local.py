"""Runs the pipeline on this machine with LocalDagRunner, Beam's DirectRunner and SQLite metadata.

A run ingests the chosen span (the newest by default), first ingesting and validating, one by
one, any older span of the training window that this home has not seen yet, then trains on the
window. Progress goes to the console, full logs to <home>/logs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from pipeline import pipeline as taxi_pipeline
from pipeline.config import PROJECT_ROOT, PipelineConfig
from runners import metadata as md
from runners.errors import EXIT_COMPONENT, EXIT_INPUT, EXIT_USAGE, RunError
from runners.progress import ProgressHandler
from runners.summary import RunSummary, summarize

SPAN_DIR = re.compile(r"^span-(\d+)$")


@dataclasses.dataclass(frozen=True)
class SpanPlan:
    """Which spans a run touches."""

    target: int
    window: tuple[int, ...]
    backfill: tuple[int, ...]


def discover_spans(data_root: str | Path) -> dict[int, Path]:
    """Returns span number -> folder for every `span-<N>/` folder under data_root.

    Raises:
        RunError: the data root is missing or holds no span folders.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise RunError(f"data root {root} does not exist or is not a folder", EXIT_INPUT)
    spans = {}
    for child in root.iterdir():
        match = SPAN_DIR.match(child.name)
        if match and child.is_dir():
            spans[int(match.group(1))] = child
    if not spans:
        raise RunError(
            f"data root {root} has no span folders: expected folders named span-<N> (span-1, span-2, ...) "
            "holding CSV files",
            EXIT_INPUT,
        )
    return dict(sorted(spans.items()))


def plan_spans(available: list[int], ingested: set[int], requested: int | None, window_spans: int) -> SpanPlan:
    """Decides the span to ingest, the training window, and which window spans still need ingesting.

    Args:
        available: span numbers present under the data root.
        ingested: span numbers already ingested into this home's ML Metadata.
        requested: the span asked for, or None for the newest.
        window_spans: the window size.

    Raises:
        RunError: the requested span is not under the data root.
    """
    available = sorted(available)
    target = available[-1] if requested is None else requested
    if target not in available:
        raise RunError(
            f"span {target} is not in the data root (spans there: {', '.join(map(str, available))})", EXIT_USAGE
        )
    window = tuple(s for s in available if s <= target)[-window_spans:]
    backfill = tuple(s for s in window if s != target and s not in ingested)
    return SpanPlan(target=target, window=window, backfill=backfill)


def code_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """Digest of the model code, so editing it re-runs Transform and Trainer instead of hitting the cache."""
    digest = hashlib.sha256()
    for path in sorted((root / "models").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def snapshot_schema(schema_path: str, home: Path) -> str:
    """Copies the curated schema to a content-addressed file under home.

    ImportSchemaGen caches on the file path, not its content; a path that changes with the content
    makes an edited schema take effect on the next run.
    """
    source = Path(schema_path)
    if not source.is_file():
        raise RunError(f"schema file {source} does not exist", EXIT_USAGE)
    content = source.read_bytes()
    target = home / "schemas" / f"schema-{hashlib.sha256(content).hexdigest()[:12]}" / "schema.pbtxt"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(content)
        tmp.replace(target)
    return str(target)


def build(
    config: PipelineConfig, span: int, window: tuple[int, ...], schema_path: str, ingest_only: bool, fingerprint: str
) -> Any:
    """Builds the pipeline object for one LocalDagRunner invocation."""
    from tfx import v1 as tfx

    return taxi_pipeline.create_pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(Path(config.pipeline_root).resolve()),
        data_root=str(Path(config.data_root).resolve()),
        schema_path=schema_path,
        serving_dir=str(Path(config.serving_dir).resolve()),
        span=span,
        window_spans=len(window),
        train_steps=config.train_steps,
        eval_steps=config.eval_steps,
        hyperparameters=config.hyperparameters,
        code_fingerprint=fingerprint,
        min_binary_accuracy=config.min_binary_accuracy,
        max_accuracy_drop=config.max_accuracy_drop,
        ingest_only=ingest_only,
        enable_cache=config.enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(Path(config.metadata_path).resolve())
        ),
        beam_pipeline_args=config.beam_args,
    )


def _state_reader(config: PipelineConfig) -> Callable[[str], str]:
    def state_of(node_id: str) -> str:
        if node_id in taxi_pipeline.RESOLVERS:
            return "resolved"
        store = md.connect(config.metadata_path)
        executions = md.node_executions(store, config.pipeline_name, node_id)
        return md.state_name(executions[-1]) if executions else "finished"

    return state_of


def _run_one(pipeline_obj: Any, config: PipelineConfig, out: TextIO) -> tuple[str, ProgressHandler]:
    """Runs one LocalDagRunner invocation and returns (its run id, the progress record)."""
    import logging

    from tfx import v1 as tfx

    store = md.connect(config.metadata_path, create=True)
    before = set(md.run_ids(store, config.pipeline_name))
    handler = ProgressHandler(out, _state_reader(config))
    # LocalDagRunner's start/finish records come through absl's logger.
    logging.getLogger("absl").addHandler(handler)
    try:
        tfx.orchestration.LocalDagRunner().run(pipeline_obj)
    except Exception as err:
        failed = handler.current or "the pipeline"
        raise RunError(f"{failed} failed: {type(err).__name__}: {err}", EXIT_COMPONENT) from err
    finally:
        logging.getLogger("absl").removeHandler(handler)
    new_runs = [r for r in md.run_ids(md.connect(config.metadata_path), config.pipeline_name) if r not in before]
    return (new_runs[-1] if new_runs else ""), handler


def run(config: PipelineConfig, out: TextIO = sys.stdout, log_file: Path | None = None) -> RunSummary:
    """Runs the pipeline locally and returns the run's summary.

    Args:
        config: the run's configuration.
        out: where progress lines go.
        log_file: the log file the caller set up (see runners.progress.quiet_and_logged); named
            in the progress header only.

    Raises:
        RunError: the run could not start or stopped; the message says why.
    """
    home = Path(config.home).resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(f"cannot create the home folder {home}: {err.strerror}", EXIT_USAGE) from None
    spans = discover_spans(config.data_root)
    store = md.connect(config.metadata_path, create=True)
    ingested = md.ingested_spans(store, config.pipeline_name, taxi_pipeline.EXAMPLE_GEN)
    plan = plan_spans(list(spans), ingested, config.span, config.window_spans)
    schema_path = snapshot_schema(config.schema_path, home)
    fingerprint = code_fingerprint()
    out.write(
        f"taxi-pipeline: home {home}\n"
        f"  data root {Path(config.data_root).resolve()} (spans {', '.join(map(str, spans))}); "
        f"ingesting span {plan.target}, training window {', '.join(map(str, plan.window))}\n"
        + (f"  full log: {log_file}\n" if log_file else "")
    )
    started = time.monotonic()
    for span in plan.backfill:
        out.write(f"Ingesting and validating earlier span {span} (not seen by this home yet)\n")
        _run_one(build(config, span, (span,), schema_path, True, fingerprint), config, out)
    out.write(f"Running the pipeline on span {plan.target}\n")
    run_id, _ = _run_one(build(config, plan.target, plan.window, schema_path, False, fingerprint), config, out)
    summary = summarize(md.connect(config.metadata_path), run_id)
    out.write(f"Finished in {time.monotonic() - started:.1f}s\n")
    return summary


def clear_home(home: str | Path) -> None:
    """Deletes a home folder: pipeline root, metadata, serving dir, logs and reports."""
    shutil.rmtree(home, ignore_errors=True)
