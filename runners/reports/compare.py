"""Two runs side by side: data statistics of both spans, drift, metrics per slice, importance, hyperparameters,
config and code digests, with the changes; as a plain record (text and JSON) and a self-contained HTML page.

The facts come from the run reports' gathering (run_data.gather), so a comparison shows the same numbers
as the two reports.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store

from pipeline import ids, validation
from pipeline.config import PipelineConfig
from pipeline.text_table import format_table
from runners.errors import EXIT_USAGE, RunError
from runners.reports import charts, run_data
from runners.reports import html as h
from runners.reports.run_data import ReportData
from runners.reports.run_report import auc_undefined, metric_text
from runners.store import metadata as md
from runners.store.evaluations import METRIC_ORDER

# The metrics compared per slice (the rest are in the overall table).
SLICE_METRICS = ("example_count", "binary_accuracy", "auc")


def training_runs(store: metadata_store.MetadataStore, pipeline_name: str) -> list[str]:
    """The runs that trained a model (their Trainer executed or was reused), oldest first."""
    return [r for r in md.run_ids(store, pipeline_name) if ids.TRAINER in md.run_executions(store, r)]


def pick_runs(
    store: metadata_store.MetadataStore, pipeline_name: str, run_a: str | None, run_b: str | None
) -> tuple[str, str]:
    """The two runs to compare: as named, or by default the last two training runs (older first).

    Raises:
        RunError (exit 2): a named run is unknown, or the home has fewer than two training runs.
    """
    runs = md.run_ids(store, pipeline_name)
    for named in (run_a, run_b):
        if named is not None and named not in runs:
            raise RunError(
                f"run {named!r} is not a run of pipeline '{pipeline_name}' (newest runs: {', '.join(runs[-5:])}); "
                "`taxi-pipeline runs` lists them all",
                EXIT_USAGE,
            )
    if run_a is not None and run_b is not None:
        return run_a, run_b
    trained = training_runs(store, pipeline_name)
    if run_a is not None:
        earlier = [r for r in trained if r != run_a]
        if not earlier:
            raise RunError(f"no other training run to compare {run_a} with; name RUN_B", EXIT_USAGE)
        return earlier[-1], run_a
    if len(trained) < 2:
        raise RunError(
            f"compare needs two training runs and the home has {len(trained)}; name two runs "
            "(`taxi-pipeline runs` lists them) or run the pipeline on a new span",
            EXIT_USAGE,
        )
    return trained[-2], trained[-1]


def _delta(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return b - a


def _statistics(a: ReportData, b: ReportData) -> list[dict[str, Any]]:
    def rows(data: ReportData) -> dict[str, Any]:
        split = "train" if "train" in data.statistics else next(iter(sorted(data.statistics)), None)
        return {r.name: r for r in data.statistics.get(split, [])} if split else {}

    before, after = rows(a), rows(b)
    found = []
    for name in sorted(set(before) | set(after)):
        x, y = before.get(name), after.get(name)
        entry: dict[str, Any] = {"feature": name}
        for field in ("mean", "median", "std_dev"):
            va, vb = getattr(x, field, None), getattr(y, field, None)
            entry[field] = {"a": va, "b": vb, "change": _delta(va, vb)}
        ma = x.missing_share if x is not None else None
        mb = y.missing_share if y is not None else None
        entry["missing_share"] = {"a": ma, "b": mb, "change": _delta(ma, mb)}
        ua, ub = getattr(x, "unique", None), getattr(y, "unique", None)
        entry["unique"] = {"a": ua, "b": ub}
        found.append(entry)
    return found


def _drift(data: ReportData) -> dict[str, Any]:
    gate = data.gate
    if gate is None:
        return {"span": data.summary.span, "baseline_span": None, "rows": []}
    return {
        "span": gate.span,
        "baseline_span": gate.baseline_span,
        "rows": [
            {"feature": r.feature, "measure": r.measure, "value": r.value, "limit": r.limit, "status": r.status}
            for r in gate.verdict.drift
        ],
    }


def _metrics(a: ReportData, b: ReportData) -> list[dict[str, Any]]:
    def by_slice(data: ReportData) -> dict[str, dict[str, float | None]]:
        # AUC of a slice whose rows all have one label is undefined: None, which reads n/a; a run
        # without an evaluation has no slices at all, which reads "-".
        return (
            {
                s.name: {k: None if k == "auc" and auc_undefined(s, data.plots) else v for k, v in s.candidate.items()}
                for s in data.evaluation.slices
            }
            if data.evaluation
            else {}
        )

    before, after = by_slice(a), by_slice(b)
    shown = b.evaluation or a.evaluation
    order = [s.name for s in shown.slices] if shown is not None else []
    names = order + sorted((set(before) | set(after)) - set(order))
    found = []
    for name in names:
        metrics = METRIC_ORDER if name == "overall" else SLICE_METRICS
        values: dict[str, dict[str, Any]] = {
            m: {"a": before.get(name, {}).get(m), "b": after.get(name, {}).get(m)}
            for m in metrics
            if m in before.get(name, {}) or m in after.get(name, {})
        }
        for m, pair in values.items():
            pair["change"] = _delta(pair["a"], pair["b"])
            pair["undefined"] = [
                side
                for side, found in (("a", before), ("b", after))
                if m in found.get(name, {}) and found[name][m] is None
            ]
        found.append({"slice": name, "metrics": values})
    return found


def _importance(a: ReportData, b: ReportData) -> dict[str, Any]:
    def values(data: ReportData) -> dict[str, float]:
        return {f["feature"]: float(f["importance"]) for f in (data.importance or {}).get("features", [])}

    before, after = values(a), values(b)
    features = sorted(set(before) | set(after), key=lambda f: -abs(_delta(before.get(f), after.get(f)) or 0.0))
    rows = [
        {"feature": f, "a": before.get(f), "b": after.get(f), "change": _delta(before.get(f), after.get(f))}
        for f in features
    ]
    metric = (b.importance or a.importance or {}).get("metric")
    return {"metric": metric, "rows": rows}


def _trainer(data: ReportData) -> dict[str, Any]:
    trainer = (data.lineage or {}).get("trainer") or {}
    return {
        "hyperparameters": trainer.get("hyperparameters", {}),
        "train_steps": trainer.get("train_steps"),
        "eval_steps": trainer.get("eval_steps"),
        "code_fingerprint": trainer.get("code_fingerprint", ""),
        "window_spans": data.summary.window_spans,
        "epochs": len((data.history or {}).get("loss", [])) or None,
    }


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Flattened keys whose values differ (hyperparameters, steps, code digest, window)."""
    flat_a = {**{f"hyperparameters.{k}": v for k, v in a["hyperparameters"].items()}, **a}
    flat_b = {**{f"hyperparameters.{k}": v for k, v in b["hyperparameters"].items()}, **b}
    keys = sorted((set(flat_a) | set(flat_b)) - {"hyperparameters"})
    return [
        {"name": k, "a": flat_a.get(k), "b": flat_b.get(k), "differs": flat_a.get(k) != flat_b.get(k)} for k in keys
    ]


def compare(store: metadata_store.MetadataStore, config: PipelineConfig, run_a: str, run_b: str) -> dict[str, Any]:
    """Gathers both runs and what changed between them, as plain JSON-able values."""
    a = run_data.gather(store, config, run_a)
    b = run_data.gather(store, config, run_b)
    return {
        "runs": {
            "a": {
                "run_id": run_a,
                "span": a.summary.span,
                "blessed": a.summary.blessed,
                "pushed_version": a.summary.pushed_version if a.summary.pushed else None,
            },
            "b": {
                "run_id": run_b,
                "span": b.summary.span,
                "blessed": b.summary.blessed,
                "pushed_version": b.summary.pushed_version if b.summary.pushed else None,
            },
        },
        "statistics": _statistics(a, b),
        "drift": {"a": _drift(a), "b": _drift(b)},
        "metrics": _metrics(a, b),
        "metrics_note": "Each run's candidate model on its own eval split (its training window): the rows differ "
        "when the windows do; the run report's baseline column compares two models on the same rows.",
        "importance": _importance(a, b),
        "training": _differences(_trainer(a), _trainer(b)),
    }


def _m(value: float | None, metric: str, signed: bool = False, undefined: bool = False) -> str:
    """A metric as the run report prints it: n/a where it is undefined on the slice, "-" where not measured."""
    if value is None:
        return "n/a" if undefined else "-"
    return metric_text(value, metric, "diff" if signed else "candidate")


def _n(value: Any, digits: int = 4, signed: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return str(value)


def format_text(result: dict[str, Any]) -> str:
    """The comparison for a console: one plain-text table per part."""
    a, b = result["runs"]["a"], result["runs"]["b"]
    lines = [f"A: run {a['run_id']} (span {a['span']})", f"B: run {b['run_id']} (span {b['span']})", ""]
    lines += [
        "Metrics (B - A)",
        format_table(
            ["slice", "metric", "A", "B", "change"],
            [
                [
                    m["slice"],
                    k,
                    _m(v["a"], k, undefined="a" in v["undefined"]),
                    _m(v["b"], k, undefined="b" in v["undefined"]),
                    _m(v["change"], k, signed=True),
                ]
                for m in result["metrics"]
                for k, v in m["metrics"].items()
            ],
            right=(2, 3, 4),
        ),
        "",
    ]
    lines += [
        "Training and code",
        format_table(
            ["setting", "A", "B", ""],
            [[d["name"], _n(d["a"]), _n(d["b"]), "differs" if d["differs"] else ""] for d in result["training"]],
        ),
        "",
    ]
    imp = result["importance"]
    lines += [
        f"Feature importance ({imp['metric']} drop when shuffled)",
        format_table(
            ["feature", "A", "B", "change"],
            [[r["feature"], _n(r["a"]), _n(r["b"]), _n(r["change"], signed=True)] for r in imp["rows"]],
            right=(1, 2, 3),
        ),
        "",
    ]
    lines += [
        "Data statistics (train split)",
        format_table(
            ["feature", "mean A", "mean B", "median A", "median B", "missing A", "missing B"],
            [
                [
                    s["feature"],
                    _n(s["mean"]["a"], 3),
                    _n(s["mean"]["b"], 3),
                    _n(s["median"]["a"], 3),
                    _n(s["median"]["b"], 3),
                    _n(s["missing_share"]["a"], 3),
                    _n(s["missing_share"]["b"], 3),
                ]
                for s in result["statistics"]
            ],
            right=(1, 2, 3, 4, 5, 6),
        ),
        "",
    ]
    for key in ("a", "b"):
        drift = result["drift"][key]
        title = f"Drift of run {key.upper()}: span {drift['span']} against span {drift['baseline_span']}"
        lines += [
            title,
            format_table(
                ["feature", "measure", "value", "limit", "status"],
                [
                    [r["feature"], r["measure"], _n(r["value"], 3), _n(r["limit"], 3), r["status"]]
                    for r in drift["rows"]
                ],
                right=(2, 3),
            )
            if drift["rows"]
            else "  no drift measured",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _num(value: Any, digits: int = 4, signed: bool = False, **attrs: Any) -> dict[str, Any]:
    return {"text": _n(value, digits, signed), "num": True, "attrs": attrs}


def _share(value: float | None) -> dict[str, Any]:
    return {"text": "-" if value is None else f"{value:.1%}", "num": True}


def _triple(values: dict[str, Any], metric: str, slice_name: str) -> list[dict[str, Any]]:
    """The A, B and change cells of one metric, the change's exact value in data attributes."""
    change = values.get("change")
    return [
        {"text": _m(values.get("a"), metric, undefined="a" in values.get("undefined", [])), "num": True},
        {"text": _m(values.get("b"), metric, undefined="b" in values.get("undefined", [])), "num": True},
        {
            "text": _m(change, metric, signed=True) if change is not None else "-",
            "num": True,
            "attrs": {"data-slice": slice_name, "data-metric": metric, "data-change": change},
        },
    ]


def render_html(result: dict[str, Any]) -> str:
    """The comparison as one self-contained HTML page (templates/compare.html.j2)."""
    importance = result["importance"]["rows"]
    top = max([abs(r["change"]) for r in importance if r["change"] is not None] + [1e-9])
    importance_chart = (
        charts.bar_rows(
            "importance-changes",
            [(r["feature"], abs(r["change"]) if r["change"] is not None else None) for r in importance[:10]],
            top,
            value_format="{:.4f}",
            axis_label="size of the importance change",
            width=560,
            label_width=170,
        )
        if any(r["change"] is not None for r in importance)
        else None
    )
    tables = {
        "overall": [
            [name, *_triple(v, name, "overall")]
            for m in result["metrics"]
            if m["slice"] == "overall"
            for name, v in m["metrics"].items()
        ],
        "slices": [
            [m["slice"], *(c for name in SLICE_METRICS for c in _triple(m["metrics"].get(name, {}), name, m["slice"]))]
            for m in result["metrics"]
            if m["slice"] != "overall"
        ],
        "training": [
            [d["name"], _n(d["a"]), _n(d["b"]), {"pill": "differs", "pill_class": "warn"} if d["differs"] else ""]
            for d in result["training"]
        ],
        "importance": [[r["feature"], _num(r["a"]), _num(r["b"]), _num(r["change"], signed=True)] for r in importance],
        "statistics": [
            [
                s["feature"],
                _num(s["mean"]["a"], 3),
                _num(s["mean"]["b"], 3),
                _num(s["mean"]["change"], 3, True),
                _num(s["median"]["a"], 3),
                _num(s["median"]["b"], 3),
                _share(s["missing_share"]["a"]),
                _share(s["missing_share"]["b"]),
                _num(s["unique"]["a"]),
                _num(s["unique"]["b"]),
            ]
            for s in result["statistics"]
        ],
        "drift": {
            key: [
                [
                    r["feature"],
                    validation.MEASURE_NAMES.get(r["measure"], r["measure"]),
                    _num(r["value"], 3),
                    _num(r["limit"], 3),
                    {"pill": r["status"]},
                ]
                for r in result["drift"][key]["rows"]
            ]
            for key in ("a", "b")
        },
    }
    return h.render(
        "compare.html.j2",
        title=f"Runs {result['runs']['a']['run_id']} and {result['runs']['b']['run_id']} side by side",
        sections=[
            {"id": "metrics", "title": "Metrics"},
            {"id": "training", "title": "Training, config and code"},
            {"id": "importance", "title": "Feature importance"},
            {"id": "statistics", "title": "Data statistics"},
            {"id": "drift", "title": "Drift"},
        ],
        result=result,
        tables=tables,
        slice_headers=["slice", *(f"{m} {c}" for m in SLICE_METRICS for c in ("A", "B", "change"))],
        importance_chart=importance_chart,
    )


def write_html(result: dict[str, Any], path: Path) -> Path:
    """Writes the comparison page atomically and returns its resolved path."""
    from runners.files import write_atomically

    return write_atomically(path, render_html(result)).resolve()
