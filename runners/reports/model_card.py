"""Model cards of pushed models (Markdown and self-contained HTML), built from ML Metadata and TFMA's output."""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline import ids
from pipeline.config import PipelineConfig
from runners.files import write_atomically
from runners.quiet import quiet_libraries
from runners.reports import html as h
from runners.store import metadata as md
from runners.text import format_time

CARD_DIR = "model-cards"


# Slices with fewer eval rows than this get a caution: their metrics move a lot with a few trips.
SMALL_SLICE_ROWS = 50


IMPORTANCES_SHOWN = 10


# The file the Trainer writes the hyperparameters it trained with into, in its model_run folder
# (models/trainer.py's HYPERPARAMETERS_FILE: runners do not import model code).
HYPERPARAMETERS_FILE = "hyperparameters.json"


INTENDED_USE = (
    "Predicts whether a Chicago taxi trip ends with a tip above 20% of the fare (big_tipper), from what is known "
    "when the trip ends except the tip itself. Meant for analysing tipping and for ranking trips, e.g. to study "
    "which trips drivers can expect a good tip on. Not meant for decisions about individual drivers or riders, "
    "nor for other cities or periods far from the training spans without re-evaluation."
)


STANDING_LIMITATIONS = (
    "Tips paid in cash are not recorded in the source data, so cash trips are labelled as no big tip: the model "
    "learns payment_type as a near-certain signal, which reflects the recording, not rider behaviour.",
    "Metrics come from the eval split of the training window's spans; newer data may differ (see the drift check).",
)


def metric_name(class_name: str) -> str:
    """TFMA's metric name for a MetricConfig class name, e.g. BinaryAccuracy -> binary_accuracy."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def _get(proto_json: Mapping[str, Any], snake: str) -> Any:
    """Reads a field of proto JSON under its proto name (how TFX stores it) or its camelCase JSON name."""
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), snake)
    return proto_json.get(snake, proto_json.get(camel))


def thresholds_of(eval_config: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Lists the blessing thresholds of an Evaluator's eval_config (as ML Metadata stores it, JSON).

    Returns:
        [{"metric", "slice", "kind": "value" | "change", "bound", "text"}], e.g. binary_accuracy >= 0.7.
    """
    found: list[dict[str, Any]] = []
    for spec in _get(eval_config or {}, "metrics_specs") or []:
        for metric in spec.get("metrics", []):
            name = metric_name(_get(metric, "class_name") or "")
            entries = [(["overall"], metric["threshold"])] if "threshold" in metric else []
            for per_slice in _get(metric, "per_slice_thresholds") or []:
                slices = [_slice_text(s) for s in _get(per_slice, "slicing_specs") or [{}]]
                entries.append((slices, per_slice.get("threshold", {})))
            for slices, threshold in entries:
                value = _get(_get(threshold, "value_threshold") or {}, "lower_bound")
                change = (_get(threshold, "change_threshold") or {}).get("absolute")
                for where in slices:
                    if value is not None:
                        bound = float(value)
                        found.append(
                            {"metric": name, "slice": where, "kind": "value", "bound": bound, "text": f">= {bound:g}"}
                        )
                    if change is not None:
                        bound = float(change)
                        found.append(
                            {
                                "metric": name,
                                "slice": where,
                                "kind": "change",
                                "bound": bound,
                                "text": f"change vs baseline >= {bound:+.3g}",
                            }
                        )
    return found


def _slice_text(spec: Mapping[str, Any]) -> str:
    keys = _get(spec, "feature_keys") or []
    return "overall" if not keys else "by " + ", ".join(keys)


# Model Card Toolkit's descriptive fields, kept in the repository beside the model code.
CARD_FIELDS_FILE = "model_card.yaml"

DEFAULT_FIELDS: dict[str, Any] = {
    "owners": [{"name": "the pipeline's maintainers", "contact": "not given"}],
    "license": "not given",
    "references": [],
    "ethical_considerations": [],
    "tradeoffs": [],
    "limitations": [],
}


def card_fields_path() -> Path | None:
    """models/model_card.yaml, found without importing the models package (runners do not import model code)."""
    spec = importlib.util.find_spec("models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / CARD_FIELDS_FILE


def card_fields(path: Path | None = None) -> dict[str, Any]:
    """Reads the card's owners, license, references, ethical considerations, tradeoffs and limitations.

    Args:
        path: the YAML file (default: models/model_card.yaml).

    Returns:
        Each field from the file, or its default when the file or the field is absent.

    Raises:
        RunError (exit 2): the file is not YAML, or a field has the wrong shape; the message names both.
    """
    import yaml

    from runners.errors import EXIT_USAGE, RunError

    path = path or card_fields_path()
    loaded: Any = {}
    if path is not None and path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise RunError(f"{path} is not valid YAML: {err}", EXIT_USAGE) from None
    if not isinstance(loaded, dict):
        raise RunError(f"{path} must hold a mapping of model card fields, not {type(loaded).__name__}", EXIT_USAGE)
    unknown = sorted(set(loaded) - set(DEFAULT_FIELDS))
    if unknown:
        raise RunError(
            f"{path}: unknown model card field(s) {', '.join(unknown)}; expected {', '.join(DEFAULT_FIELDS)}",
            EXIT_USAGE,
        )
    fields = {**DEFAULT_FIELDS, **{k: v for k, v in loaded.items() if v is not None}}
    for name, value in fields.items():
        expected = str if name == "license" else list
        if not isinstance(value, expected):
            raise RunError(
                f"{path}: field {name} must be a {expected.__name__}, not {type(value).__name__}", EXIT_USAGE
            )
    return fields


def limitations(slices: Mapping[str, Mapping[str, float]], thresholds: Sequence[Mapping[str, Any]]) -> list[str]:
    """Known limitations: slices below a value threshold (gated or not), slices too small to judge, standing notes."""
    notes: list[str] = []
    value_bounds = {t["metric"]: t["bound"] for t in thresholds if t["kind"] == "value"}
    for name, metrics in sorted(slices.items()):
        if name == "overall":
            continue
        for metric, bound in sorted(value_bounds.items()):
            if metric in metrics and metrics[metric] < bound:
                notes.append(f"Slice {name}: {metric} = {metrics[metric]:.4f}, below the threshold {bound:g}.")
        rows = metrics.get("example_count")
        if rows is not None and rows < SMALL_SLICE_ROWS:
            notes.append(f"Slice {name}: only {int(rows)} eval rows; its metrics are uncertain.")
    return notes + list(STANDING_LIMITATIONS)


def gather(store: Any, push: Any, pushes: Sequence[Any], model_name: str) -> dict[str, Any]:
    """Collects a pushed model's card facts from ML Metadata, the TFMA output and the feature importance.

    Args:
        store: the home's ML Metadata store.
        push: the runners.store.lineage.Push of the version.
        pushes: every published version (to name the baseline's version).
        model_name: the served model's name.

    Returns:
        The card as plain JSON-able values (see render_markdown).

    Raises:
        runners.store.artifacts.CorruptArtifactError (exit 3): an artifact file the card reads is damaged.
    """
    # Imported here: the CLI imports this module before a run silences TensorFlow's start-up logs.
    from runners.store import artifacts
    from runners.store import lineage as ln
    from runners.store.evaluations import read_evaluation
    from runners.store.importance import feature_importance_of, read_baseline, read_feature_importance
    from runners.store.statistics import split_rows

    model = store.get_artifacts_by_id([push.model_id])[0]
    trainer = md.producer(store, model)
    lineage: dict[str, Any] = {
        "run_id": push.run_id,
        "model_artifact_id": model.id,
        "model_uri": model.uri,
        "pushed_model_artifact_id": push.pushed_model_id,
        "pusher_execution_id": push.execution_id,
    }
    hyperparameters: dict[str, Any] = {}
    tuned = False
    if trainer is not None:
        lineage["trainer_execution_id"] = trainer.id
        custom_config = md.json_prop(trainer, "custom_config") or {}
        lineage["code_fingerprint"] = custom_config.get("code_fingerprint", "")
        hyperparameters = dict(custom_config.get("hyperparameters", {}))
        tuned = bool(md.inputs(store, trainer, "hyperparameters"))
        for run_artifact in md.outputs(store, trainer, "model_run"):
            # Models trained before the file was written keep custom_config's values.
            recorded = artifacts.read_json_object(run_artifact.uri, HYPERPARAMETERS_FILE)
            if recorded is not None:
                hyperparameters = recorded
        lineage["transform_graph_artifact_id"] = next(
            (a.id for a in md.inputs(store, trainer, "transform_graph")), None
        )

    window = ln.window_of_model(store, model)
    lineage["training_examples_artifact_ids"] = [a.id for a in window]
    spans = []
    for examples in window:
        statistics = md.statistics_of(store, examples, ids.STATISTICS_GEN)
        rows = split_rows(statistics.uri) if statistics is not None else {}
        spans.append({"span": md.prop(examples, "span"), "rows": rows, "total": sum(rows.values())})
    spans.sort(key=lambda s: (s["span"] is None, s["span"]))

    overall: dict[str, float] = {}
    slices: dict[str, dict[str, float]] = {}
    thresholds: list[dict[str, Any]] = []
    baseline: dict[str, Any] | None = None
    if push.evaluation_uri:
        overall, slices = read_evaluation(push.evaluation_uri)
    blessing = store.get_artifacts_by_id([push.blessing_id])[0] if push.blessing_id else None
    evaluator = md.producer(store, blessing) if blessing is not None else None
    if evaluator is not None:
        lineage["evaluator_execution_id"] = evaluator.id
        lineage["evaluation_uri"] = push.evaluation_uri
        thresholds = thresholds_of(md.json_prop(evaluator, "eval_config"))
        baseline_models = md.inputs(store, evaluator, "baseline_model")
        if baseline_models:
            base = baseline_models[0]
            versions = sorted(p.version for p in pushes if p.model_id == base.id and p.kind == "push")
            # The baseline's values on this evaluation's rows (candidate - change), which the change
            # threshold compared; the baseline's own evaluation scored it on other rows.
            same_rows = {
                name: value - overall[f"{name}_diff"]
                for name, value in overall.items()
                if not name.endswith("_diff") and f"{name}_diff" in overall
            }
            baseline = {"model_artifact_id": base.id, "versions": versions, "metrics": same_rows}

    calibration: list[tuple[float, float]] = []
    single_class: list[str] = []
    if push.evaluation_uri:
        from runners.reports.charts import calibration_points
        from runners.store.plots import read_plots

        plots = read_plots(push.evaluation_uri)
        overall_plots = plots.get("overall")
        if overall_plots is not None:
            calibration = calibration_points(overall_plots.calibration)
        single_class = sorted(name for name, found in plots.items() if found.single_class)

    importance: dict[str, Any] | None = None
    features: list[dict[str, Any]] = []
    found = feature_importance_of(store, model.id)
    if found is not None:
        lineage["feature_importance_artifact_id"] = found.id
        # A removed artifact folder reads as None, and the card says importance is unknown.
        document = read_feature_importance(found.uri)
        typical = read_baseline(found.uri) or {}
        if document is not None:
            importance = {**document, "features": document["features"][:IMPORTANCES_SHOWN]}
            by_feature = {f["feature"]: f["importance"] for f in document["features"]}
            features = [
                {"name": name, "typical_value": value, "importance": by_feature.get(name)}
                for name, value in sorted(typical.items())
            ]

    fields = card_fields()
    return {
        "model_name": model_name,
        "version": push.version,
        "pushed_at": format_time(push.pushed_at, with_zone=True),
        "intended_use": INTENDED_USE,
        "label": "big_tipper: tips > 20% of the fare",
        "training": {"spans": spans, "total_rows": sum(s["total"] for s in spans)},
        "features": features,
        "hyperparameters": hyperparameters,
        "tuned": tuned,
        "metrics": {"overall": overall, "slices": {k: v for k, v in slices.items() if k != "overall"}},
        "thresholds": thresholds,
        "blessed": push.blessing_id is not None,
        "baseline": baseline,
        "importance": importance,
        "limitations": limitations(slices, thresholds) + list(fields["limitations"]),
        "lineage": lineage,
        "details": {k: fields[k] for k in ("owners", "license", "references")},
        "considerations": {k: fields[k] for k in ("ethical_considerations", "tradeoffs")},
        "graphics": {"calibration": calibration},
        # Slices whose eval rows all have one label: their AUC is undefined, shown as n/a.
        "single_class_slices": single_class,
    }


def _number(value: Any, metric: str = "") -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if metric == "example_count" or isinstance(value, int):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _metric_columns(card: Mapping[str, Any]) -> list[str]:
    """The metrics the card shows: TFMA's values, not the `<metric>_diff` changes stored beside them."""
    names: set[str] = {n for n in card["metrics"]["overall"] if not n.endswith("_diff")}
    for metrics in card["metrics"]["slices"].values():
        names |= {n for n in metrics if not n.endswith("_diff")}
    preferred = ["example_count", "binary_accuracy", "auc", "precision", "recall", "calibration"]
    return [n for n in preferred if n in names] + sorted(names - set(preferred))


def _slice_key(name: str) -> tuple[str, float, str]:
    """Sorts "feature=value" slices by feature, then numerically by value when it is a number (hour 2 before 10)."""
    feature, _, value = name.partition("=")
    try:
        return feature, float(value), ""
    except ValueError:
        return feature, math.inf, value


def sorted_slices(card: Mapping[str, Any]) -> list[tuple[str, Mapping[str, float]]]:
    """The card's slices in natural order."""
    return sorted(card["metrics"]["slices"].items(), key=lambda item: _slice_key(item[0]))


def _people(owners: Sequence[Any]) -> str:
    return "; ".join(
        f"{o.get('name', '?')} ({o['contact']})"
        if isinstance(o, Mapping) and o.get("contact")
        else str(o.get("name", o))
        if isinstance(o, Mapping)
        else str(o)
        for o in owners
    )


def _risks(items: Sequence[Any]) -> list[str]:
    return [
        f"{i.get('name', '')}: {i.get('mitigation', '')}".strip(": ") if isinstance(i, Mapping) else str(i)
        for i in items
    ]


def _sections(card: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]] | None]]:
    """The card as (title, paragraphs, table rows with a header row first or None), shared by both renderers."""
    sections: list[tuple[str, list[str], list[list[str]] | None]] = []
    details = card.get("details") or DEFAULT_FIELDS
    sections.append(
        (
            "Model details",
            [f"Owners: {_people(details['owners']) or 'not given'}.", f"License: {details['license']}."]
            + ([f"Reference: {r}" for r in details["references"]] or ["References: none given."]),
            None,
        )
    )
    sections.append(("Intended use", [card["intended_use"], f"Label: {card['label']}."], None))
    training = card["training"]
    sections.append(
        (
            "Training data",
            [f"{_number(training['total_rows'])} rows over {len(training['spans'])} span(s)."],
            [["span", "rows", "by split"]]
            + [
                [str(s["span"]), _number(s["total"]), ", ".join(f"{k} {_number(v)}" for k, v in s["rows"].items())]
                for s in training["spans"]
            ],
        )
    )
    hp = card["hyperparameters"]
    sections.append(
        (
            "Hyperparameters",
            ["Chosen by the hyperparameter search (Tuner)." if card["tuned"] else "As configured (no tuning)."],
            [["name", "value"]] + [[k, json.dumps(v)] for k, v in sorted(hp.items())],
        )
    )
    columns = _metric_columns(card)
    overall = card["metrics"]["overall"]
    rows = [["slice", *columns], ["overall", *[_number(overall.get(c), c) for c in columns]]]
    undefined = set(card.get("single_class_slices", []))
    rows += [
        [name, *["n/a" if c == "auc" and name in undefined else _number(m.get(c), c) for c in columns]]
        for name, m in sorted_slices(card)
    ]
    sections.append(
        (
            "Evaluation metrics",
            ["TFMA on the eval split of the training window. AUC reads n/a where a slice's eval rows share one label."],
            rows,
        )
    )
    sections.append(
        (
            "Thresholds",
            ["The blessing required:" if card["thresholds"] else "No thresholds recorded."],
            [["metric", "slice", "requirement"]] + [[t["metric"], t["slice"], t["text"]] for t in card["thresholds"]]
            if card["thresholds"]
            else None,
        )
    )
    baseline = card["baseline"]
    if baseline is None:
        sections.append(("Baseline", ["None: the first blessed model, judged on the absolute thresholds alone."], None))
    else:
        versions = ", ".join(map(str, baseline["versions"])) or "not a pushed version"
        metrics = baseline["metrics"]
        shown = [c for c in columns if c in metrics]
        sections.append(
            (
                "Baseline",
                [
                    f"The model serving before (version {versions}, model artifact {baseline['model_artifact_id']}), "
                    "scored by the same Evaluator on the same eval rows as this model; the change is what the "
                    "change threshold judged."
                ],
                [["metric", "this model", "baseline", "change"]]
                + [
                    [
                        c,
                        _number(overall.get(c), c),
                        _number(metrics.get(c), c),
                        "-" if overall.get(f"{c}_diff") is None else f"{overall[f'{c}_diff']:+.4f}",
                    ]
                    for c in shown
                ],
            )
        )
    importance = card["importance"]
    if importance is None:
        sections.append(("Feature importance", ["Not recorded for this model."], None))
    else:
        sections.append(
            (
                "Feature importance",
                [
                    f"Permutation importance: {importance['metric']} drop when a feature's values are shuffled, on "
                    f"{_number(importance['rows'])} eval rows, {importance['repeats']} repeats "
                    f"(unshuffled {importance['metric']} {importance['baseline_score']:.4f})."
                    + (
                        " This AUC is exact (rank-based); TFMA's, over 10,000 thresholds, can read lower when many "
                        "predictions sit near 0 or 1."
                        if importance["metric"] == "auc"
                        else ""
                    )
                ],
                [["feature", "importance", "std"]]
                + [[f["feature"], f"{f['importance']:.4f}", f"{f['std']:.4f}"] for f in importance["features"]],
            )
        )
    if card["features"]:
        sections.append(
            (
                "Features",
                ["Raw inputs as a client sends them, with the typical value explanations compare against."],
                [["feature", "typical value"]] + [[f["name"], str(f["typical_value"])] for f in card["features"]],
            )
        )
    considerations = card.get("considerations") or DEFAULT_FIELDS
    sections.append(
        ("Ethical considerations", _risks(considerations["ethical_considerations"]) or ["None recorded."], None)
    )
    sections.append(("Tradeoffs", _risks(considerations["tradeoffs"]) or ["None recorded."], None))
    sections.append(("Known limitations", card["limitations"], None))
    sections.append(
        (
            "Lineage",
            ["Identifiers in this home's ML Metadata."],
            [["id", "value"]]
            + [[k, json.dumps(v) if isinstance(v, list) else str(v)] for k, v in card["lineage"].items()],
        )
    )
    return sections


# Sections whose paragraphs are a list of items.
LIST_SECTIONS = ("Known limitations", "Ethical considerations", "Tradeoffs")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown_table(table: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table: the header row (table[0]), the rule, then the other rows."""
    return [
        "| " + " | ".join(_md_cell(c) for c in table[0]) + " |",
        "|" + "---|" * len(table[0]),
        *("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table[1:]),
    ]


def render_markdown(card: Mapping[str, Any]) -> str:
    """Renders the card as Markdown."""
    lines = [f"# Model card: {card['model_name']} version {card['version']}", "", f"Pushed {card['pushed_at']}.", ""]
    for title, paragraphs, table in _sections(card):
        lines += [f"## {title}", ""]
        if title in LIST_SECTIONS:
            lines += [f"- {_md_cell(p)}" for p in paragraphs]
        else:
            lines += [_md_cell(p) for p in paragraphs]
        lines.append("")
        if table:
            lines += [*_markdown_table(table), ""]
    return "\n".join(lines)


_NUMBER = re.compile(r"[-+]?[\d,.]+")


def graphics(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The card's charts: the gated metric per slice of each slice feature, and the calibration curve."""
    from runners.reports import charts

    shown: list[dict[str, Any]] = []
    metric = next((t["metric"] for t in card["thresholds"] if t["kind"] == "value"), "binary_accuracy")
    bound = next((t["bound"] for t in card["thresholds"] if t["kind"] == "value" and t["slice"] == "overall"), None)
    by_feature: dict[str, list[tuple[str, float | None]]] = {}
    for name, metrics in sorted_slices(card):
        feature, _, value = name.partition("=")
        by_feature.setdefault(feature, []).append((value, metrics.get(metric)))
    for feature, items in by_feature.items():
        chart = charts.bar_rows(
            f"card-slices-{feature}",
            items,
            1.0,
            marker=bound,
            marker_label=f"threshold {bound:g}" if bound is not None else "",
            bad_above=False,
            width=560,
            label_width=150,
            axis_label=metric,
        )
        shown.append({"title": f"{metric} by {feature}", "bars": chart})
    points = (card.get("graphics") or {}).get("calibration") or []
    if points:
        shown.append(
            {
                "title": "Calibration",
                "line": charts.line_chart(
                    "card-calibration",
                    "Calibration (reliability)",
                    [("this model", [tuple(p) for p in points])],
                    "mean predicted probability",
                    "observed big-tipper rate",
                    (0.0, 1.0),
                    (0.0, 1.0),
                    diagonal=True,
                    note="TFMA's calibration plot in tenths of the predicted probability; on the dashed line "
                    "predictions match outcomes.",
                ),
            }
        )
    return shown


def render_html(card: Mapping[str, Any]) -> str:
    """Renders the card as one self-contained HTML page (templates/model_card.html.j2, values escaped)."""
    sections = []
    for heading, paragraphs, table in _sections(card):
        rows = None
        if table:
            # A cell is right-aligned when it is a number, whatever its column.
            rows = [[{"text": c, "num": True} if _NUMBER.fullmatch(c) else c for c in row] for row in table[1:]]
        sections.append(
            {
                "title": heading,
                "id": re.sub(r"[^a-z]+", "-", heading.lower()).strip("-"),
                "paragraphs": paragraphs,
                "as_list": heading in LIST_SECTIONS,
                "headers": table[0] if table else None,
                "rows": rows,
            }
        )
    return h.render(
        "model_card.html.j2",
        title=f"Model card: {card['model_name']} version {card['version']}",
        card=card,
        sections=sections,
        graphics=graphics(card),
    )


def card_path(home: str | Path, version: int | str) -> Path:
    """Where the HTML card of a published version is: <home>/model-cards/<version>/model_card.html."""
    return Path(home) / CARD_DIR / str(version) / "model_card.html"


def write_card(card: Mapping[str, Any], home: str | Path) -> Path:
    """Writes model_card.md, model_card.html and model_card.json under <home>/model-cards/<version>/.

    Returns:
        The HTML file's path.
    """
    folder = card_path(home, card["version"]).parent
    for name, text in (
        ("model_card.md", render_markdown(card)),
        ("model_card.html", render_html(card)),
        ("model_card.json", json.dumps(card, indent=2, default=str)),
    ):
        write_atomically(folder / name, text)
    return card_path(home, card["version"])


def generate(config: PipelineConfig, version: int | None = None, write: bool = True) -> tuple[Path, dict[str, Any]]:
    """Builds and writes the card of one published version (default: the one serving).

    With write=False nothing is written: the path is where the card is (or would be) filed.

    Raises:
        RunError (exit 2): no such version, or no ML Metadata in the home (see runners.store.metadata.open_store).
    """
    from runners.store import lineage, metadata
    from runners.store import lineage as ln

    store = metadata.open_store(config)
    pushes = ln.find_pushes(store, config.pipeline_name)
    push = lineage.resolve_version(pushes, config.serving_dir, version)
    original = ln.original(push, pushes)
    with quiet_libraries():  # reading the evaluation loads TensorFlow and TFMA
        card = gather(store, original, pushes, config.model_name)
    # A rollback republishes an earlier model under a new version: the card is that model's, filed under both.
    card["version"] = push.version
    if push.kind == "rollback":
        card["lineage"]["rollback_of_version"] = original.version
    if not write:
        return card_path(config.home, card["version"]), card
    return write_card(card, config.home), card
