"""`monitor`'s view: how the serving model and its predecessors did on each span that arrived after them.

The records are the ServingModelPerformance artifacts (runners/store/performance.py); this module
turns them into the `monitor` document and table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runners.store.performance import SpanPerformance
from runners.text import format_number, format_time, render_table, wrap


def monitor_document(
    pipeline_name: str, records: Sequence[SpanPerformance], serving_version: int | None
) -> dict[str, Any]:
    """The `monitor --json` document.

    Args:
        pipeline_name: the pipeline's name.
        records: every scored span, oldest first (store.performance.list_performance).
        serving_version: the version serving now (the highest folder), or None.

    Returns:
        pipeline, serving_version, decayed (whether the newest record is decay) and records (oldest
        first, each SpanPerformance.to_dict with `change`: accuracy minus the model's own evaluation).
    """
    rows = []
    for record in records:
        change = (
            None
            if record.binary_accuracy is None or record.reference_accuracy is None
            else record.binary_accuracy - record.reference_accuracy
        )
        rows.append({**record.to_dict(), "change": change})
    return {
        "pipeline": pipeline_name,
        "serving_version": serving_version,
        "decayed": bool(records) and records[-1].decayed,
        "records": rows,
    }


def format_monitor(document: dict[str, Any]) -> str:
    """Renders `monitor` for the console: one line per (model, new span), oldest first."""
    head = f"Serving model performance on new data, pipeline '{document['pipeline']}' (times UTC)"
    if not document["records"]:
        return f"{head}\n\n" + wrap(
            "Nothing scored yet: a model is scored on each span that arrives after it was blessed, before "
            "training on it. Run the pipeline on a new span once a model serves."
        )
    headers = ["SCORED", "SPAN", "VERSION", "ROWS", "ACCURACY", "AUC", "OWN EVAL", "CHANGE", "DECAY"]
    rows = []
    for r in document["records"]:
        version = "-" if r["version"] is None else str(r["version"])
        if r["version"] is not None and r["version"] == document["serving_version"]:
            version += "*"
        rows.append(
            [
                format_time(r["scored_at"]),
                str(r["span"]),
                version,
                "-" if r["rows"] is None else str(r["rows"]),
                format_number(r["binary_accuracy"]),
                format_number(r["auc"]),
                format_number(r["reference_accuracy"]),
                "-" if r["change"] is None else f"{r['change']:+.4f}",
                "DECAY" if r["decayed"] else "no",
            ]
        )
    notes = [
        wrap(
            "Each row: the model serving when a span arrived (VERSION, * = serving now), scored on that whole "
            "span before training on it. OWN EVAL is its accuracy in the evaluation it was blessed on; DECAY "
            "marks accuracy below decay_min_binary_accuracy or more than decay_max_accuracy_drop below OWN EVAL."
        )
    ]
    for r in document["records"]:
        notes += [wrap(f"span {r['span']}, version {r['version']}: {reason}") for reason in r["reasons"]]
    return f"{head}\n\n{render_table(headers, rows, (3, 4, 5, 6, 7))}\n\n" + "\n".join(notes)
