"""The models the server answers with: pushed versions loaded with their schema, signatures and baseline
row, and the manager that loads and unloads versions by TF Serving's version policies as the serving dir changes."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline import ids
from pipeline import serving_dir as sd
from pipeline.config import PipelineConfig
from runners.errors import EXIT_USAGE, RunError
from runners.serving.metrics import ServingMetrics
from runners.serving.requests import ServingFeature, columns
from runners.serving.settings import ServeSettings

# A version that failed to load (e.g. copied in by hand and still incomplete) is retried after this.
RETRY_FAILED_SECONDS = 30.0
# A version loaded before ML Metadata recorded its push is looked up again on each poll for this long.
# The Pusher writes the version folder first and records the push when its step ends, so a server
# that polls in between would otherwise check that version's requests against the curated schema for
# as long as it stays loaded; a folder copied in by hand is never recorded, so the lookups stop.
SCHEMA_RECHECK_SECONDS = 300.0


# What a signature takes: one tensor per raw feature, or serialized tf.Examples.
RAW, EXAMPLES = "raw", "examples"


class ModelOutputError(RuntimeError):
    """The model answered NaN or infinity for checked inputs: never passed on to a client."""


@dataclasses.dataclass
class Signature:
    """One predict signature of a loaded version.

    Attributes:
        name: its name in the SavedModel (serving_default, serving_tf_example).
        kind: RAW (one [batch] tensor per feature in `dtypes`) or EXAMPLES (one string tensor `input_name`).
        call: the concrete function.
        dtypes: RAW: input name -> tf dtype.
        input_name: EXAMPLES: the name of its string input.
        output_key: the one output it returns.
    """

    name: str
    kind: str
    call: Callable[..., Any]
    dtypes: dict[str, Any]
    input_name: str
    output_key: str


@dataclasses.dataclass
class LoadedModel:
    """One loaded version and what is needed to call it."""

    version: int
    path: Path
    features: list[ServingFeature]
    schema_source: str
    signatures: dict[str, Signature]
    loaded_at: float
    # TF Serving's SignatureDefMap of the version (tensorflow.core.protobuf.meta_graph_pb2), for metadata.
    signature_defs: Any = None
    # The loaded SavedModel: the concrete functions above do not keep its variables alive on their own.
    handle: Any = None
    # The typical row :explain ablates towards (recorded with the model's feature importance), or None
    # and why there is none; read by `find_baseline` on the first :explain, not at load, so a new
    # version serves predictions without waiting for ML Metadata. A row found is kept; a missing one
    # is looked for again on the next :explain (ML Metadata records a push after its folder appears).
    baseline: dict[str, Any] | None = None
    baseline_problem: str = ""
    find_baseline: Callable[[], tuple[dict[str, Any] | None, str]] | None = None
    _baseline_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)
    # Seconds each step of loading took (schema, SavedModel, warm-up), said in the console.
    load_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    # When ML Metadata did not record the version at load: looks again, returning the features and
    # source of the schema it was trained with once recorded (None until then).
    recheck_schema: Callable[[], tuple[list[ServingFeature], str] | None] | None = None

    def explain_baseline(self) -> tuple[dict[str, Any] | None, str]:
        """The baseline row, or None and why there is none; read until found, then kept."""
        with self._baseline_lock:
            if self.baseline is None and self.find_baseline is not None:
                self.baseline, self.baseline_problem = self.find_baseline()
            return self.baseline, self.baseline_problem

    def run(self, signature: Signature, batch: list[Any]) -> list[list[float]]:
        """Calls a signature on checked rows (RAW) or serialized tf.Examples (EXAMPLES) in one model call.

        Returns:
            One row of scores per instance.

        Raises:
            ModelOutputError: a score is not finite.
        """
        import numpy as np
        import tensorflow as tf

        if signature.kind == EXAMPLES:
            outputs = signature.call(**{signature.input_name: tf.constant(batch, dtype=tf.string)})
        else:
            values = columns(batch, self.features)
            tensors = {name: tf.constant(values[name], dtype=dtype) for name, dtype in signature.dtypes.items()}
            outputs = signature.call(**tensors)
        result = np.asarray(outputs[signature.output_key].numpy(), dtype=np.float64).reshape(len(batch), -1)
        if not np.isfinite(result).all():
            raise ModelOutputError(f"version {self.version} answered a non-finite score for values the schema allows")
        return [[float(v) for v in row] for row in result]


def schema_of_version(config: PipelineConfig, version: int) -> tuple[Any, str, bool]:
    """Returns the schema a served version was trained with, where it came from, and whether ML
    Metadata recorded it.

    The schema file is found through ML Metadata (runners.store.lineage.trained_schema_file). When the
    home has no ML Metadata or does not know the version (a folder copied in by hand, or a push not
    recorded yet), the curated schema of the config is used instead (recorded: False).
    """
    from pipeline import validation

    fallback = f"{config.schema_path} (the curated schema: ML Metadata does not record version {version})"
    if Path(config.metadata_path).is_file():
        try:
            from runners.store import lineage as ln
            from runners.store import metadata as md

            store = md.connect(config.metadata_path)
            push = ln.push_of_version(ln.find_pushes(store, config.pipeline_name), version)
            schema_file = ln.trained_schema_file(store, push) if push is not None else None
            if schema_file is not None:
                schema = validation.load_schema(schema_file)
                return schema, f"{schema_file} (the schema version {version} was trained with)", True
        except Exception as err:  # a locked or newer store must not stop serving: say so and fall back
            fallback = f"{config.schema_path} (the curated schema: ML Metadata could not be read: {err})"
    try:
        return validation.load_schema(config.schema_path), fallback, False
    except ValueError as err:
        raise RunError(str(err), EXIT_USAGE) from None


def baseline_of_version(config: PipelineConfig, version: int) -> tuple[dict[str, Any] | None, str]:
    """Returns the baseline row that explanations of a served version ablate towards, or None and why.

    The row was recorded with the model's feature importance; it is found through ML Metadata (push or
    rollback -> model -> its feature_importance step), like the schema in schema_of_version. A damaged
    baseline.json is named as such, never taken for a step that did not run.
    """
    from runners.store import lineage as ln
    from runners.store import metadata as md
    from runners.store.artifacts import CorruptArtifactError
    from runners.store.importance import baseline_for_model

    if not Path(config.metadata_path).is_file():
        return None, f"the home has no ML Metadata at {config.metadata_path} to find its baseline row in"
    try:
        store = md.connect(config.metadata_path)
        push = ln.push_of_version(ln.find_pushes(store, config.pipeline_name), version)
        if push is None:
            return None, f"ML Metadata does not record version {version} (a folder copied in by hand?)"
        baseline = baseline_for_model(store, push.model_id)
    except CorruptArtifactError as err:
        return None, str(err)
    except Exception as err:  # a locked or newer store must not stop serving predictions
        return None, f"ML Metadata could not be read: {err}"
    if baseline is None:
        return None, (
            f"the run that trained version {version} recorded no baseline row (it had no "
            f"{ids.FEATURE_IMPORTANCE} step, or that step's artifact folder was removed)"
        )
    return baseline, ""


def _signature_defs(path: Path) -> Any:
    """The version's SignatureDefMap, read from saved_model.pb as TF Serving reports it in metadata."""
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    saved = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    found = get_model_metadata_pb2.SignatureDefMap()
    graph = saved.meta_graphs[0] if saved.meta_graphs else meta_graph_pb2.MetaGraphDef()
    for name, definition in graph.signature_def.items():
        if not name.startswith("__"):  # __saved_model_init_op is TensorFlow's, not a signature
            found.signature_def[name].CopyFrom(definition)
    return found


def _predict_signatures(loaded: Any, feature_names: set[str]) -> dict[str, Signature]:
    """The signatures a predict request may name: one output, and raw features or one string input."""
    import tensorflow as tf

    found: dict[str, Signature] = {}
    for name, call in loaded.signatures.items():
        specs = call.structured_input_signature[1]
        outputs = list(call.structured_outputs)
        if len(outputs) != 1:
            continue  # e.g. transform_features, which is for TFMA
        if len(specs) == 1 and next(iter(specs.values())).dtype == tf.string and not set(specs) & feature_names:
            found[name] = Signature(name, EXAMPLES, call, {}, next(iter(specs)), outputs[0])
        elif specs and set(specs) <= feature_names:
            found[name] = Signature(name, RAW, call, {k: v.dtype for k, v in specs.items()}, "", outputs[0])
    return found


def load_version(config: PipelineConfig, version: int) -> LoadedModel:
    """Loads one version of the serving dir, checks its signatures against its schema, and warms it up.

    Most of the time goes to TensorFlow: tf.saved_model.load rebuilds every function of the SavedModel
    in Python (about 80% of the load, profiled), and the first call optimises the signature's graph.
    The baseline row for :explain is left to the first :explain (LoadedModel.explain_baseline).
    """
    import tensorflow as tf

    from runners.serving.requests import serving_features

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    path = Path(config.serving_dir) / str(version)
    schema, source, recorded = schema_of_version(config, version)
    features = serving_features(schema)
    seconds["schema"] = time.perf_counter() - started
    loaded = tf.saved_model.load(str(path))
    seconds["SavedModel"] = time.perf_counter() - started - sum(seconds.values())
    names = {f.name for f in features}
    signatures = _predict_signatures(loaded, names)
    if ids.SERVING_DEFAULT not in signatures:
        raise ValueError(
            f"{path}: signature {ids.SERVING_DEFAULT} is missing, or is not one TF Serving's predict can call with "
            f"the features of {source} (signatures: {', '.join(loaded.signatures)})"
        )
    raw = [s for s in signatures.values() if s.kind == RAW]
    # A version exported before serving_default took raw values (its serving_default takes tf.Examples,
    # serving_raw the values) still loads and answers as TF Serving would answer it.
    taken = set().union(*(s.dtypes for s in raw)) if raw else names

    def served(found: list[ServingFeature]) -> list[ServingFeature]:
        return [f for f in found if f.name in taken]

    def recheck_schema() -> tuple[list[ServingFeature], str] | None:
        schema, source, recorded = schema_of_version(config, version)
        return (served(serving_features(schema)), source) if recorded else None

    def find_baseline() -> tuple[dict[str, Any] | None, str]:
        baseline, problem = baseline_of_version(config, version)
        lacking = sorted(taken - set(baseline)) if baseline is not None else []
        if lacking:
            return None, f"its recorded baseline row lacks {', '.join(lacking)}"
        return baseline, problem

    model = LoadedModel(
        version=version,
        path=path,
        features=served(features),
        schema_source=source,
        signatures=signatures,
        loaded_at=time.time(),
        signature_defs=_signature_defs(path),
        handle=loaded,
        find_baseline=find_baseline,
        load_seconds=seconds,
        recheck_schema=None if recorded else recheck_schema,
    )
    # One call of one row before serving initialises the vocabulary tables and lets TensorFlow
    # optimise the signature's graph, so the first client request is not the slow one.
    warm = time.perf_counter()
    if raw:
        model.run(raw[0], [{f.name: None for f in model.features}])
    seconds["warm-up"] = time.perf_counter() - warm
    return model


@dataclasses.dataclass(frozen=True)
class Failure:
    """A version the policy wants that did not load, and why (reported in model status)."""

    at: float
    message: str


class ModelManager:
    """Holds the loaded versions and loads/unloads them as the serving dir and the version policy say."""

    def __init__(
        self,
        config: PipelineConfig,
        metrics: ServingMetrics,
        say: Callable[[str], None],
        settings: ServeSettings | None = None,
        loader: Callable[[PipelineConfig, int], LoadedModel] = load_version,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.say = say
        self.settings = settings or ServeSettings()
        self.loader = loader
        # Replaced, never mutated: a request reads it once and keeps its model until it answers, so a
        # version unloaded meanwhile still answers the requests that started on it.
        self.models: dict[int, LoadedModel] = {}
        self.failures: dict[int, Failure] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> LoadedModel | None:
        """The highest loaded version: what a request naming no version gets (TF Serving's default)."""
        models = self.models
        return models[max(models)] if models else None

    def resolve(self, version: int | None = None, label: str | None = None) -> LoadedModel | str:
        """The loaded model a request names, or why there is none (TF Serving's wording)."""
        models = self.models
        name = self.config.model_name
        if label is not None:
            if label not in self.settings.labels:
                return f"Unrecognized servable version label: {label}"
            version = self.settings.labels[label]
            if version not in models:
                return f"Servable not found for request: Specific({name}, {version}) (label {label}); it is not loaded"
        if version is None:
            current = self.current
            return current if current is not None else f"Servable not found for request: Latest({name})"
        model = models.get(version)
        if model is None:
            loaded = ", ".join(map(str, sorted(models))) or "none"
            return f"Servable not found for request: Specific({name}, {version}); versions loaded: {loaded}"
        return model

    def complete_versions(self) -> list[int]:
        """Integer folders holding a saved_model.pb (a folder still being copied by hand has none yet)."""
        root = Path(self.config.serving_dir)
        return [v for v in sd.versions(root) if (root / str(v) / "saved_model.pb").is_file()]

    def wanted(self) -> list[int]:
        """The versions the policy asks for, highest first."""
        found = self.complete_versions()[::-1]
        policy = self.settings.policy
        if policy == "specific":
            return [v for v in found if v in self.settings.versions]
        if policy == "all":
            return found
        return found

    def _load(self, version: int) -> LoadedModel | None:
        failure = self.failures.get(version)
        if failure is not None and time.time() - failure.at < RETRY_FAILED_SECONDS:
            return None
        try:
            model = self.loader(self.config, version)
        except Exception as err:  # a broken push must not take the server down: keep serving the others
            self.failures[version] = Failure(time.time(), str(err))
            self.metrics.model_loads.labels(result="failed").inc()
            self.metrics.load_failures.inc()
            self.say(f"version {version} failed to load (retried in {RETRY_FAILED_SECONDS:.0f}s): {err}")
            return None
        self.failures.pop(version, None)
        self.metrics.model_loads.labels(result="ok").inc()
        steps = ", ".join(f"{name} {value:.1f}s" for name, value in model.load_seconds.items())
        self.say(
            f"loaded version {model.version} from {model.path}{f' ({steps})' if steps else ''}; "
            f"requests checked with {model.schema_source}"
        )
        return model

    def _recorded(self, model: LoadedModel) -> LoadedModel:
        """The model, with the schema it was trained with once ML Metadata records its push."""
        if model.recheck_schema is None:
            return model
        if time.time() - model.loaded_at > SCHEMA_RECHECK_SECONDS:
            return dataclasses.replace(model, recheck_schema=None)
        try:
            found = model.recheck_schema()
        except Exception:  # a locked store: look again on the next poll
            return model
        if found is None:
            return model
        features, source = found
        self.say(f"version {model.version}: ML Metadata now records its push; requests checked with {source}")
        return dataclasses.replace(model, features=features, schema_source=source, recheck_schema=None)

    def poll(self) -> None:
        """Loads the versions the policy wants, then unloads the others; with the latest-N policy, a
        version that fails to load leaves the next lower one serving in its place."""
        models = dict(self.models)
        keep: dict[int, LoadedModel] = {}
        limit = self.settings.latest if self.settings.policy == "latest" else None
        for version in self.wanted():
            if limit is not None and len(keep) >= limit:
                break
            model = models.get(version) or self._load(version)
            if model is not None:
                keep[version] = self._recorded(model)
        if keep.keys() == models.keys():
            self.models = keep  # the same versions; one may have found its trained schema (_recorded)
            return
        before = sorted(models)
        self.models = keep  # new versions serve from here on; the old ones finish what they started
        self.metrics.models_loaded.set(len(keep))
        if keep:
            self.metrics.model_version.labels(model=self.config.model_name).set(max(keep))
        for version in sorted(set(models) - set(keep)):
            self.say(f"unloaded version {version}")
        self.say(
            f"serving versions {', '.join(map(str, sorted(keep))) or 'none'} "
            f"(were {', '.join(map(str, before)) or 'none'})"
        )
        for label, version in sorted(self.settings.labels.items()):
            if version not in keep:
                self.say(f"label {label} names version {version}, which is not loaded: requests for it get 404")

    def start(self) -> None:
        """Polls the serving dir on a background thread until stop()."""

        def loop() -> None:
            while not self._stop.wait(self.settings.poll_seconds):
                self.poll()

        self._thread = threading.Thread(target=loop, name="version-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
