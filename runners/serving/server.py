"""TF Serving's REST API over the loaded model: routes, answers, metrics, and the HTTP server's lifecycle.

The highest complete integer version under the serving dir serves (TF Serving's "latest" policy); a
background thread looks for a newer one every second and swaps it in, so pushes and rollbacks take
effect without a restart while in-flight requests finish on the model they started with."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from pipeline.config import PipelineConfig
from runners.errors import EXIT_OK, EXIT_USAGE, RunError
from runners.serving.metrics import LATENCY_BUCKETS, SCORE_BUCKETS, Registry
from runners.serving.model import LoadedModel, ModelManager
from runners.serving.request_log import RequestLog, example_of_row
from runners.serving.requests import RequestError, parse_explain, parse_predict

# An oversized body up to this size is read and dropped before the 413 answer (see _read_body).
DRAIN_MAX_BYTES = 64 * 1024 * 1024


# Instances in one :explain request at most: each costs one prediction per feature, plus one.
EXPLAIN_MAX_INSTANCES = 1000


_ROUTE = re.compile(r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?::(?P<verb>\w+))?")


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
        """Explains instances with runners.serving.explain against the version's baseline row; not logged for skew,
        since explanations are asked for by people, not by the traffic the model serves."""
        from runners.serving.explain import explain

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
