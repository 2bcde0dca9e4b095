"""The model the server answers with: a pushed version loaded with its schema and baseline row, and
the manager that swaps in newer versions as they appear in the serving dir."""

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
from runners.serving.metrics import Registry
from runners.serving.requests import PredictRequest, ServingFeature, columns

# How often the serving dir is checked for a new version; TF Serving's file_system_poll_wait_seconds default.
POLL_SECONDS = 1.0


# A version that failed to load (e.g. copied in by hand and still incomplete) is retried after this.
RETRY_FAILED_SECONDS = 30.0


@dataclasses.dataclass
class LoadedModel:
    """One loaded version and what is needed to call it."""

    version: int
    path: Path
    features: list[ServingFeature]
    schema_source: str
    raw_call: Callable[..., Any]
    raw_dtypes: dict[str, Any]
    examples_call: Callable[..., Any]
    examples_input: str
    output_key: str
    loaded_at: float
    # The loaded SavedModel: the concrete functions above do not keep its variables alive on their own.
    handle: Any = None
    # The typical row :explain ablates towards (recorded with the model's feature importance), or None
    # and why there is none.
    baseline: dict[str, Any] | None = None
    baseline_problem: str = ""

    def predict(self, request: PredictRequest) -> list[list[float]]:
        """Returns one row of scores per instance, as the signature's output tensor holds them."""
        import tensorflow as tf

        if request.examples:
            outputs = self.examples_call(**{self.examples_input: tf.constant(request.examples)})
        else:
            values = columns(request.rows, self.features)
            tensors = {name: tf.constant(values[name], dtype=dtype) for name, dtype in self.raw_dtypes.items()}
            outputs = self.raw_call(**tensors)
        result = outputs[self.output_key].numpy()
        return [[float(v) for v in row] for row in result.reshape(len(request), -1)]


def schema_of_version(config: PipelineConfig, version: int) -> tuple[Any, str]:
    """Returns the schema a served version was trained with, and where it came from.

    The schema file is found through ML Metadata (runners.store.lineage.trained_schema_file). When the
    home has no ML Metadata or does not know the version (a folder copied in by hand), the curated
    schema of the config is used instead.
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
                return validation.load_schema(
                    schema_file
                ), f"{schema_file} (the schema version {version} was trained with)"
        except Exception as err:  # a locked or newer store must not stop serving: say so and fall back
            fallback = f"{config.schema_path} (the curated schema: ML Metadata could not be read: {err})"
    try:
        return validation.load_schema(config.schema_path), fallback
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


def load_version(config: PipelineConfig, version: int) -> LoadedModel:
    """Loads one version of the serving dir, checks its signatures against its schema, and warms it up."""
    import tensorflow as tf

    from runners.serving.requests import serving_features

    path = Path(config.serving_dir) / str(version)
    schema, source = schema_of_version(config, version)
    features = serving_features(schema)
    loaded = tf.saved_model.load(str(path))
    missing = [name for name in (ids.SERVING_RAW, ids.SERVING_DEFAULT) if name not in loaded.signatures]
    if missing:
        raise ValueError(f"{path} has no signature {', '.join(missing)} (it has: {', '.join(loaded.signatures)})")
    raw_call = loaded.signatures[ids.SERVING_RAW]
    raw_specs = raw_call.structured_input_signature[1]
    unknown = sorted(set(raw_specs) - {f.name for f in features})
    if unknown:
        raise ValueError(
            f"{path}: signature {ids.SERVING_RAW} takes {', '.join(unknown)}, which {source} does not serve"
        )
    examples_call = loaded.signatures[ids.SERVING_DEFAULT]
    examples_input = next(iter(examples_call.structured_input_signature[1]))
    outputs = list(raw_call.structured_outputs)
    baseline, baseline_problem = baseline_of_version(config, version)
    lacking = sorted(set(raw_specs) - set(baseline)) if baseline is not None else []
    if lacking:
        baseline, baseline_problem = None, f"its recorded baseline row lacks {', '.join(lacking)}"
    model = LoadedModel(
        version=version,
        path=path,
        features=[f for f in features if f.name in raw_specs],
        schema_source=source,
        raw_call=raw_call,
        raw_dtypes={name: spec.dtype for name, spec in raw_specs.items()},
        examples_call=examples_call,
        examples_input=examples_input,
        output_key=outputs[0],
        loaded_at=time.time(),
        handle=loaded,
        baseline=baseline,
        baseline_problem=baseline_problem,
    )
    # One call before serving traces nothing new but initialises the vocabulary tables, so the first
    # client request is not the slow one.
    model.predict(PredictRequest([{f.name: None for f in model.features}], [], False))
    return model


class ModelManager:
    """Holds the serving version and swaps in a newer complete one when it appears."""

    def __init__(
        self,
        config: PipelineConfig,
        metrics: Registry,
        say: Callable[[str], None],
        pinned_version: int | None = None,
        loader: Callable[[PipelineConfig, int], LoadedModel] = load_version,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.say = say
        self.pinned_version = pinned_version
        self.loader = loader
        # Replaced, never mutated: a request reads it once and keeps its model until it answers.
        self.current: LoadedModel | None = None
        self._failed: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def candidates(self) -> list[int]:
        """Versions that may serve, best first: the pinned one, else every integer folder holding a
        saved_model.pb, highest first (a folder still being copied by hand has none yet)."""
        root = Path(self.config.serving_dir)
        found = [self.pinned_version] if self.pinned_version is not None else sd.versions(root)[::-1]
        return [v for v in found if (root / str(v) / "saved_model.pb").is_file()]

    def poll(self) -> None:
        """Serves the highest version that loads; a version that fails leaves the serving one in place."""
        current = self.current
        for version in self.candidates():
            if current is not None and version == current.version:
                return
            failed_at = self._failed.get(version)
            if failed_at is not None and time.time() - failed_at < RETRY_FAILED_SECONDS:
                continue
            try:
                model = self.loader(self.config, version)
            except Exception as err:  # a broken push must not take the server down: try the next one
                self._failed[version] = time.time()
                self.metrics.inc("taxi_serving_model_loads_total", {"result": "failed"})
                self.say(f"version {version} failed to load (retried in {RETRY_FAILED_SECONDS:.0f}s): {err}")
                continue
            self._failed.pop(version, None)
            self.current = model
            self.metrics.inc("taxi_serving_model_loads_total", {"result": "ok"})
            self.metrics.set("taxi_serving_model_version", model.version, {"model": self.config.model_name})
            before = f" (was {current.version})" if current is not None else ""
            self.say(
                f"serving version {model.version}{before} from {model.path}; "
                f"requests checked with {model.schema_source}"
            )
            if model.baseline_problem:
                self.say(f"version {model.version} answers :explain with 503: {model.baseline_problem}")
            return

    def start(self) -> None:
        """Polls the serving dir on a background thread until stop()."""

        def loop() -> None:
            while not self._stop.wait(POLL_SECONDS):
                self.poll()

        self._thread = threading.Thread(target=loop, name="version-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
