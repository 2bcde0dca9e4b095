"""`taxi-pipeline serve`: the pushed model behind TF Serving's REST API, with metrics and request logs.

The highest complete integer version under the serving dir serves (TF Serving's "latest" policy); a
background thread looks for a newer one every second and swaps it in, so pushes and rollbacks take
effect without a restart while in-flight requests finish on the model they started with.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import os
import queue
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from pipeline.config import PipelineConfig
from runners import serving_dir as sd
from runners.errors import EXIT_OK, EXIT_USAGE, RunError
from runners.serving_metrics import LATENCY_BUCKETS, SCORE_BUCKETS, Registry
from runners.serving_requests import (
    PredictRequest,
    RequestError,
    ServingFeature,
    columns,
    parse_explain,
    parse_predict,
)

# How often the serving dir is checked for a new version; TF Serving's file_system_poll_wait_seconds default.
POLL_SECONDS = 1.0
# A version that failed to load (e.g. copied in by hand and still incomplete) is retried after this.
RETRY_FAILED_SECONDS = 30.0
RAW_SIGNATURE = "serving_raw"
EXAMPLES_SIGNATURE = "serving_default"
# Request log files rotate at this size or age, so each file is complete and small enough to move.
LOG_FILE_BYTES = 16 * 1024 * 1024
LOG_FILE_SECONDS = 3600.0
# Rows waiting for the log writer; beyond this, sampled rows are dropped (and counted) rather than
# slowing down predictions.
LOG_QUEUE_ROWS = 100_000
# An oversized body up to this size is read and dropped before the 413 answer (see _read_body).
DRAIN_MAX_BYTES = 64 * 1024 * 1024
# Instances in one :explain request at most: each costs one prediction per feature, plus one.
EXPLAIN_MAX_INSTANCES = 1000
_ROUTE = re.compile(r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?::(?P<verb>\w+))?")

_DESCRIPTION = """\
Serves the pushed model with TF Serving's REST API on this machine:

  GET  /v1/models/NAME            status and version of the model (model_version_status)
  POST /v1/models/NAME:predict    {"instances": [{"fare": 12.5, ...}, ...]} raw feature values, or
                                  {"instances": [{"b64": "<serialized tf.Example>"}, ...]};
                                  also TF Serving's columnar {"inputs": {"fare": [...], ...}}
  POST /v1/models/NAME:explain    {"instances": [...]} raw feature values: per instance, the prediction,
                                  the baseline row's prediction and each feature's contribution
                                  (runners/explain.py; a feature left out takes the baseline's value)
  GET  /metrics                   Prometheus metrics: requests, errors, latency, version, scores

Requests are checked against the schema's SERVING environment (the schema the model was trained
with, from ML Metadata): a missing or mistyped feature gets HTTP 400 naming it. A new pushed version
or a rollback is picked up within a second, without a restart. Sampled requests are appended to
<home>/serving-logs/MODEL/ for `taxi-pipeline skew`. NAME is the config field model_name."""


# ------------------------------------------------------------------------------------------- the model


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

    The Trainer's schema input is found through ML Metadata (push or rollback -> model -> Trainer ->
    schema artifact). When the home has no ML Metadata or does not know the version (a folder copied
    in by hand), the curated schema of the config is used instead.
    """
    from pipeline import validation

    fallback = f"{config.schema_path} (the curated schema: ML Metadata does not record version {version})"
    if Path(config.metadata_path).is_file():
        try:
            from runners import lineage as ln
            from runners import metadata as md

            store = md.connect(config.metadata_path)
            pushes = ln.find_pushes(store, config.pipeline_name)
            push = next((p for p in pushes if p.version == version), None)
            if push is not None:
                schema = ln.lineage(store, push, pushes).get("schema")
                if schema:
                    files = sorted(Path(schema["uri"]).glob("*.pbtxt"))
                    if files:
                        return validation.load_schema(
                            files[0]
                        ), f"{files[0]} (the schema version {version} was trained with)"
        except Exception as err:  # a locked or newer store must not stop serving: say so and fall back
            fallback = f"{config.schema_path} (the curated schema: ML Metadata could not be read: {err})"
    try:
        return validation.load_schema(config.schema_path), fallback
    except ValueError as err:
        raise RunError(str(err), EXIT_USAGE) from None


def baseline_of_version(config: PipelineConfig, version: int) -> tuple[dict[str, Any] | None, str]:
    """Returns the baseline row that explanations of a served version ablate towards, or None and why.

    The row was recorded with the model's feature importance; it is found through ML Metadata (push or
    rollback -> model -> its feature_importance step), like the schema in schema_of_version.
    """
    from runners import lineage as ln
    from runners import metadata as md
    from runners.explain import baseline_for_model

    if not Path(config.metadata_path).is_file():
        return None, f"the home has no ML Metadata at {config.metadata_path} to find its baseline row in"
    try:
        store = md.connect(config.metadata_path)
        push = next((p for p in ln.find_pushes(store, config.pipeline_name) if p.version == version), None)
        if push is None:
            return None, f"ML Metadata does not record version {version} (a folder copied in by hand?)"
        baseline = baseline_for_model(store, push.model_id)
    except Exception as err:  # a locked or newer store must not stop serving predictions
        return None, f"ML Metadata could not be read: {err}"
    if baseline is None:
        return None, (
            f"the run that trained version {version} recorded no baseline row (it had no "
            f"{ln.FEATURE_IMPORTANCE} step, or that step's artifact folder was removed)"
        )
    return baseline, ""


def load_version(config: PipelineConfig, version: int) -> LoadedModel:
    """Loads one version of the serving dir, checks its signatures against its schema, and warms it up."""
    import tensorflow as tf

    from runners.serving_requests import serving_features

    path = Path(config.serving_dir) / str(version)
    schema, source = schema_of_version(config, version)
    features = serving_features(schema)
    loaded = tf.saved_model.load(str(path))
    missing = [name for name in (RAW_SIGNATURE, EXAMPLES_SIGNATURE) if name not in loaded.signatures]
    if missing:
        raise ValueError(f"{path} has no signature {', '.join(missing)} (it has: {', '.join(loaded.signatures)})")
    raw_call = loaded.signatures[RAW_SIGNATURE]
    raw_specs = raw_call.structured_input_signature[1]
    unknown = sorted(set(raw_specs) - {f.name for f in features})
    if unknown:
        raise ValueError(f"{path}: signature {RAW_SIGNATURE} takes {', '.join(unknown)}, which {source} does not serve")
    examples_call = loaded.signatures[EXAMPLES_SIGNATURE]
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


# ------------------------------------------------------------------------------------------ request log


def example_of_row(row: dict[str, Any], features: Sequence[ServingFeature]) -> bytes:
    """Serializes one checked row as a tf.Example; a missing value becomes a feature with no value,
    as CsvExampleGen writes an empty cell, so statistics of logs and of training data compare alike."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for feature in features:
        value = row.get(feature.name)
        slot = example.features.feature[feature.name]
        if feature.kind == "string":
            slot.bytes_list.value.extend([] if value is None else [str(value).encode()])
        elif feature.kind == "int":
            slot.int64_list.value.extend([] if value is None else [int(value)])
        else:
            slot.float_list.value.extend([] if value is None else [float(value)])
    return bytes(example.SerializeToString())


class RequestLog:
    """Appends a sample of predict requests to TFRecord files of tf.Example under one folder.

    A writer thread does the disk work, so a prediction never waits for it; it flushes whenever it
    has nothing left to write, so a crash loses at most the rows still queued. Files rotate by size
    and age and are named requests-<UTC time>-<pid>-<n>.tfrecord.
    """

    def __init__(self, folder: str | Path, sampling: float, metrics: Registry) -> None:
        self.folder = Path(folder)
        self.sampling = sampling
        self.metrics = metrics
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue()
        self._queued_rows = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._files = 0

    def start(self) -> None:
        """Starts the writer thread (nothing happens when the sampling rate is 0)."""
        if self.sampling <= 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._write_loop, name="request-log", daemon=True)
        self._thread.start()

    def offer(self, make_rows: Callable[[], list[bytes]]) -> None:
        """Logs a request's rows with the sampling probability; make_rows is only called when sampled."""
        if self._thread is None or random.random() >= self.sampling:
            return
        rows = make_rows()
        with self._lock:
            if self._queued_rows + len(rows) > LOG_QUEUE_ROWS:
                self.metrics.inc("taxi_serving_log_dropped_rows_total", amount=len(rows))
                return
            self._queued_rows += len(rows)
        self._queue.put(rows)

    def close(self) -> None:
        """Writes what is queued, closes the current file and stops the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=60)
            self._thread = None

    def _new_file(self) -> Any:
        import tensorflow as tf

        self._files += 1
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.folder / f"requests-{stamp}-{os.getpid()}-{self._files}.tfrecord"
        return tf.io.TFRecordWriter(str(path)), time.monotonic()

    def _write_loop(self) -> None:
        writer: Any = None
        opened = 0.0
        size = 0
        written = 0
        done = False
        while not done:
            batches = [self._queue.get()]
            while True:  # take everything queued, then flush once
                try:
                    batches.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for rows in batches:
                if rows is None:
                    done = True
                    continue
                with self._lock:
                    self._queued_rows -= len(rows)
                for row in rows:
                    if writer is None or size >= LOG_FILE_BYTES or time.monotonic() - opened >= LOG_FILE_SECONDS:
                        if writer is not None:
                            writer.close()
                        writer, opened = self._new_file()
                        size = 0
                    writer.write(row)
                    size += len(row) + 16  # TFRecord framing: length, two CRCs
                written += len(rows)
            if writer is not None:
                writer.flush()
            # Counted once on disk, so a reader that sees the count can read the rows.
            self.metrics.inc("taxi_serving_logged_rows_total", amount=written)
            written = 0
        if writer is not None:
            writer.close()


# ------------------------------------------------------------------------------------------ the server


def declare_metrics(metrics: Registry) -> None:
    """Declares every metric the server exports."""
    metrics.declare("taxi_serving_requests_total", "counter", "HTTP requests by endpoint and status code.")
    metrics.declare("taxi_serving_errors_total", "counter", "HTTP requests answered with a 4xx or 5xx code.")
    metrics.declare(
        "taxi_serving_request_duration_seconds",
        "histogram",
        "Time from a request's headers being read to its answer being ready, by endpoint.",
        LATENCY_BUCKETS,
    )
    metrics.declare("taxi_serving_predictions_total", "counter", "Instances predicted, by model version.")
    metrics.declare(
        "taxi_serving_prediction_score",
        "histogram",
        "Predicted probability of a big tip, by model version.",
        SCORE_BUCKETS,
    )
    metrics.declare("taxi_serving_explanations_total", "counter", "Instances explained, by model version.")
    metrics.declare("taxi_serving_model_version", "gauge", "The model version serving now.")
    metrics.declare("taxi_serving_model_loads_total", "counter", "Model versions loaded, by result.")
    metrics.declare("taxi_serving_logged_rows_total", "counter", "Instances written to the request log.")
    metrics.declare(
        "taxi_serving_log_dropped_rows_total", "counter", "Sampled instances dropped because the log writer lagged."
    )


@dataclasses.dataclass
class Response:
    """What the handler sends back."""

    status: int
    body: bytes
    content_type: str = "application/json"
    close: bool = False


def _json(status: int, document: Any, close: bool = False) -> Response:
    return Response(status, json.dumps(document).encode(), close=close)


def _error(status: int, message: str, close: bool = False) -> Response:
    return _json(status, {"error": message}, close)


def endpoint_of(path: str) -> str:
    """The endpoint label of a request path in /metrics: metrics, predict, explain or status."""
    if path.startswith("/metrics"):
        return "metrics"
    for verb in ("predict", "explain"):
        if f":{verb}" in path:
            return verb
    return "status"


class ServingApp:
    """Routes requests; shared by every handler thread."""

    def __init__(self, config: PipelineConfig, manager: ModelManager, request_log: RequestLog, metrics: Registry):
        self.config = config
        self.manager = manager
        self.request_log = request_log
        self.metrics = metrics

    def handle(self, method: str, path: str, content_length: str | None, read: Callable[[int], bytes]) -> Response:
        """Answers one request.

        Args:
            method: "GET" or "POST".
            path: the request path, query string included.
            content_length: the Content-Length header, if any.
            read: reads that many bytes of the body.
        """
        path = path.split("?", 1)[0]
        if path == "/metrics" and method == "GET":
            return Response(200, self.metrics.render().encode(), "text/plain; version=0.0.4; charset=utf-8")
        route = _ROUTE.fullmatch(path)
        if route is None:
            return _error(404, f"no such endpoint {path}; try GET /v1/models/{self.config.model_name} or /metrics")
        if route["name"] != self.config.model_name:
            return _error(
                404, f"model '{route['name']}' is not served here; this server serves '{self.config.model_name}'"
            )
        verb, version = route["verb"], route["version"]
        if method == "GET" and verb is None:
            return self._status(None if version is None else int(version))
        if method == "POST" and verb == "predict":
            return self._predict(None if version is None else int(version), content_length, read)
        if method == "POST" and verb == "explain":
            return self._explain(None if version is None else int(version), content_length, read)
        if method == "POST" and verb in ("classify", "regress"):
            return _error(400, f":{verb} is not served: the model exports a predict signature; POST :predict")
        return _error(405 if verb in (None, "predict", "explain") else 404, f"{method} {path} is not served")

    def _status(self, version: int | None) -> Response:
        model = self.manager.current
        if model is None:
            return _error(
                404, f"Could not find any versions of model {self.config.model_name} in {self.config.serving_dir}"
            )
        if version is not None and version != model.version:
            return _error(
                404, f"version {version} of model {self.config.model_name} is not loaded; {model.version} serves"
            )
        return _json(
            200,
            {
                "model_version_status": [
                    {
                        "version": str(model.version),
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ]
            },
        )

    def _read_body(self, content_length: str | None, read: Callable[[int], bytes]) -> bytes | Response:
        """Returns the body, or the answer to a request without a usable Content-Length or over the limit."""
        if content_length is None:
            return _error(411, "a Content-Length header is required", close=True)
        try:
            length = int(content_length)
        except ValueError:
            return _error(400, f"Content-Length {content_length!r} is not a number", close=True)
        limit = self.config.serve_max_request_bytes
        if length > limit:
            # Read and dropped in chunks, so the client, which sends its whole body before reading, gets
            # this answer rather than a reset connection; a body beyond any reason is not read at all.
            if length <= DRAIN_MAX_BYTES:
                remaining = length
                while remaining > 0:
                    chunk = read(min(remaining, 1 << 16))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            return _error(
                413,
                f"the body is {length} bytes; at most {limit} (config field serve_max_request_bytes); "
                "split the instances over several requests",
                close=True,
            )
        return read(length)

    def _model_for(self, version: int | None) -> LoadedModel | Response:
        """Returns the model serving now (this request keeps it, even if a new version is swapped in
        meanwhile), or the answer when none is loaded or another version is asked for."""
        model = self.manager.current
        if model is None:
            return _error(503, f"no version of {self.config.model_name} is loaded yet from {self.config.serving_dir}")
        if version is not None and version != model.version:
            return _error(
                404, f"version {version} of model {self.config.model_name} is not loaded; {model.version} serves"
            )
        return model

    def _predict(self, version: int | None, content_length: str | None, read: Callable[[int], bytes]) -> Response:
        body = self._read_body(content_length, read)
        if isinstance(body, Response):
            return body
        model = self._model_for(version)
        if isinstance(model, Response):
            return model
        try:
            request = parse_predict(body, model.features)
        except RequestError as err:
            return _error(err.status, str(err))
        try:
            scores = model.predict(request)
        except Exception as err:  # the model refused values the schema allowed: a server-side problem
            return _error(500, f"version {model.version} failed to predict: {type(err).__name__}: {err}")
        labels = {"version": str(model.version)}
        self.metrics.inc("taxi_serving_predictions_total", labels, len(scores))
        self.metrics.observe("taxi_serving_prediction_score", [row[0] for row in scores if row], labels)
        self.request_log.offer(
            lambda: request.examples or [example_of_row(row, model.features) for row in request.rows]
        )
        return _json(200, {"outputs": scores} if request.columnar else {"predictions": scores})

    def _explain(self, version: int | None, content_length: str | None, read: Callable[[int], bytes]) -> Response:
        """Explains instances with runners.explain against the version's baseline row; not logged for skew,
        since explanations are asked for by people, not by the traffic the model serves."""
        from runners.explain import explain

        body = self._read_body(content_length, read)
        if isinstance(body, Response):
            return body
        model = self._model_for(version)
        if isinstance(model, Response):
            return model
        if model.baseline is None:
            return _error(
                503,
                f"version {model.version} cannot be explained: {model.baseline_problem}; :predict still serves it, "
                "and a version the pipeline trains and pushes can be explained",
            )
        try:
            instances = parse_explain(body, model.features, EXPLAIN_MAX_INSTANCES)
        except RequestError as err:
            return _error(err.status, str(err))
        try:
            found = explain(model.handle, instances, model.baseline)
        except Exception as err:  # the schema check passed, so this is the server's problem, not the client's
            return _error(500, f"version {model.version} failed to explain: {type(err).__name__}: {err}")
        self.metrics.inc("taxi_serving_explanations_total", {"version": str(model.version)}, len(found))
        return _json(
            200,
            {
                "model_version": str(model.version),
                "baseline": model.baseline,
                "explanations": [e.to_dict() for e in found],
            },
        )


def _handler_class(app: ServingApp, log: Callable[[str], None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as TF Serving and HTTP clients expect; every response carries a Content-Length.
        protocol_version = "HTTP/1.1"
        server_version = "taxi-pipeline-serve"
        # The headers and the body go out in two writes; with Nagle's algorithm the body waits for the
        # client's delayed ACK of the headers, 40 ms on Linux, which bench/load_test.py measured on
        # every keep-alive request.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            started = time.perf_counter()
            try:
                response = app.handle(method, self.path, self.headers.get("Content-Length"), self.rfile.read)
            except Exception as err:  # a bug: answer 500 and keep serving
                response = _error(500, f"internal error: {type(err).__name__}: {err}")
            endpoint = endpoint_of(self.path)
            # Counted before the answer goes out, so a client that reads /metrics right after its
            # answer sees its own request.
            labels = {"endpoint": endpoint, "code": str(response.status)}
            app.metrics.inc("taxi_serving_requests_total", labels)
            if response.status >= 400:
                app.metrics.inc("taxi_serving_errors_total", labels)
                log(f"{method} {self.path} -> {response.status} {response.body[:300].decode(errors='replace')}")
            app.metrics.observe(
                "taxi_serving_request_duration_seconds", time.perf_counter() - started, {"endpoint": endpoint}
            )
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            if response.close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:
            # Errors are logged above with their message; a line per good request would flood the log.
            pass

    return Handler


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    config: PipelineConfig, pinned_version: int | None, console: TextIO, stop: threading.Event | None = None
) -> int:
    """Runs the server until interrupted (Ctrl-C, SIGTERM) or `stop` is set.

    Args:
        config: host, port, limits, sampling and the home's serving dir.
        pinned_version: serve this version only, instead of following the highest one.
        console: where status lines go.
        stop: set it from another thread to shut the server down.

    Returns:
        The exit code.
    """

    def say(message: str) -> None:
        console.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
        console.flush()

    def log(message: str) -> None:
        sys.stderr.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}\n")
        sys.stderr.flush()

    metrics = Registry()
    declare_metrics(metrics)
    manager = ModelManager(config, metrics, say, pinned_version)
    manager.poll()
    if manager.current is None:
        what = f"version {pinned_version}" if pinned_version is not None else "any version"
        say(f"{config.serving_dir} has no loadable {what} yet: waiting for a push (predict answers 503 meanwhile)")
    request_log = RequestLog(config.serving_logs_dir, config.serve_log_sampling, metrics)
    request_log.start()
    app = ServingApp(config, manager, request_log, metrics)
    try:
        server = ThreadingHTTPServer((config.serve_host, config.serve_port), _handler_class(app, log))
    except OSError as err:
        request_log.close()
        raise RunError(
            f"cannot listen on {config.serve_host}:{config.serve_port}: {err.strerror}; pick another --port "
            "(or stop what listens there)",
            EXIT_USAGE,
        ) from None
    server.daemon_threads = True
    if pinned_version is None:
        manager.start()
    host, port = str(server.server_address[0]), int(server.server_address[1])
    if not is_loopback(config.serve_host):
        say(
            f"WARNING: listening on {config.serve_host}, reachable from other machines; the server has no "
            "authentication (the default --host 127.0.0.1 keeps it local)"
        )
    sampling = f"{config.serve_log_sampling:.0%} of requests logged to {config.serving_logs_dir}"
    say(f"listening on http://{host}:{port}/v1/models/{config.model_name} ({sampling}); Ctrl-C stops")

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = (
        signal.signal(signal.SIGTERM, on_signal) if threading.current_thread() is threading.main_thread() else None
    )
    if stop is not None:

        def stop_when_asked() -> None:
            stop.wait()
            server.shutdown()

        threading.Thread(target=stop_when_asked, daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        manager.stop()
        server.server_close()
        request_log.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        say("stopped")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- the CLI


def register(commands: Any, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the `serve` subcommand.

    Args:
        commands: the CLI's subparsers.
        add_config_flags: adds --profile, --config and --home to a parser.
    """
    parser = commands.add_parser(
        "serve",
        help="serve the pushed model with TF Serving's REST API, metrics and request logs",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_flags(parser)
    parser.add_argument(
        "--host", dest="serve_host", metavar="HOST", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    parser.add_argument(
        "--port",
        dest="serve_port",
        type=int,
        metavar="PORT",
        help="TCP port (default: 8501, TF Serving's; 0: any free)",
    )
    parser.add_argument(
        "--model-version", type=int, metavar="V", help="serve this version only, instead of the highest one"
    )
    parser.add_argument(
        "--max-request-bytes",
        dest="serve_max_request_bytes",
        type=int,
        metavar="BYTES",
        help="larger bodies get HTTP 413 (default: 4 MiB)",
    )
    parser.add_argument(
        "--log-sampling",
        dest="serve_log_sampling",
        type=float,
        metavar="RATE",
        help="share of predict requests logged for `taxi-pipeline skew`, 0 to 1 (default: 0.1)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=None,
        help="show TensorFlow logs and failed requests on the console",
    )
    parser.set_defaults(handler=_cmd_serve)


def _cmd_serve(args: argparse.Namespace, config: PipelineConfig) -> int:
    from runners.progress import quiet_and_logged

    if "://" in config.home:
        raise RunError(
            f"home {config.home} is a cloud folder: serve a local home (or use a Vertex endpoint)", EXIT_USAGE
        )
    serving_dir = Path(config.serving_dir)
    if args.model_version is not None and not (serving_dir / str(args.model_version) / "saved_model.pb").is_file():
        found = ", ".join(map(str, sd.versions(serving_dir))) or "none"
        raise RunError(
            f"version {args.model_version} is not in {serving_dir} (versions there: {found}); "
            "see `taxi-pipeline models`",
            EXIT_USAGE,
        )
    log_file = Path(config.logs_dir).resolve() / f"serve-{time.strftime('%Y%m%d-%H%M%S')}.log"
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(f"cannot write logs under the home folder {config.home}: {err.strerror}", EXIT_USAGE) from None
    # TensorFlow logs to stderr as soon as it is imported: into the log file unless --verbose.
    with quiet_and_logged(log_file, bool(config.verbose), sys.stdout) as console:
        console.write(f"Model server log: {log_file}\n")
        return serve(config, args.model_version, console)
