"""TF Serving's REST API as a Starlette app: routes, answers, errors as {"error": ...} JSON with TF
Serving's statuses, body limits and deadlines, the Host allow-list, and request metrics.

Starlette, not FastAPI: TF Serving's contract is fixed (no schema to generate, no pydantic models to
validate with; requests.py checks bodies against the served model's schema), so all the server needs
is ASGI request/response objects and CORS middleware; one handler takes every path and method, so
unknown routes and methods answer in the same JSON contract as the rest."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from typing import Any

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from pipeline import ids
from pipeline.config import PipelineConfig
from runners.serving.batcher import Batcher
from runners.serving.metrics import CONTENT_TYPE, ServingMetrics
from runners.serving.model import EXAMPLES, LoadedModel, ModelManager, ModelOutputError
from runners.serving.request_log import RequestLog
from runners.serving.requests import RequestError, load_json, parse_explain, parse_predict
from runners.serving.settings import ServeSettings

# An oversized body up to this size is read and dropped before the 413 answer, so a client that sends
# its whole body before reading gets the answer rather than a reset connection.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
# Instances in one :explain request at most: each costs one prediction per feature, plus one.
EXPLAIN_MAX_INSTANCES = 1000
# Bodies at least this large are parsed on a worker thread.
LARGE_BODY_BYTES = 64 * 1024
# Characters of a URL kept in the error log.
LOGGED_URL_CHARS = 200

_ROUTE = re.compile(
    r"/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<metadata>/metadata)?(?::(?P<verb>[^/:]+))?"
)
_VERBS = ("predict", "classify", "regress", "explain")
_PREDICT_METHOD = "tensorflow/serving/predict"


def json_response(status: int, document: Any, close: bool = False) -> Response:
    """A JSON answer; ASCII-escaped, so even a lone surrogate echoed from a request encodes."""
    headers = {"connection": "close"} if close else None
    return Response(json.dumps(document, ensure_ascii=True, allow_nan=False), status, headers, "application/json")


def error(status: int, message: str, close: bool = False) -> Response:
    """TF Serving's error answer: {"error": message}."""
    return json_response(status, {"error": message}, close)


def endpoint_of(path: str) -> str:
    """The endpoint label of a request path in /metrics."""
    if path == "/metrics":
        return "metrics"
    route = _ROUTE.fullmatch(path)
    if route is None:
        return "other"
    if route["verb"] in _VERBS:
        return str(route["verb"])
    return "metadata" if route["metadata"] else "status"


def _host_name(header: str) -> str:
    """The name part of a Host header ("[::1]:8501" -> "[::1]", "localhost:8501" -> "localhost")."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class ServingApp:
    """Routes requests to the loaded models; one per server."""

    def __init__(
        self,
        config: PipelineConfig,
        settings: ServeSettings,
        manager: ModelManager,
        request_log: RequestLog,
        metrics: ServingMetrics,
        error_log: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.manager = manager
        self.request_log = request_log
        self.metrics = metrics
        self.error_log = error_log or logging.getLogger("taxi_serving.errors")
        self.in_flight = 0
        self.batcher = Batcher(
            settings.batch_max_rows,
            settings.batch_timeout_ms / 1000,
            metrics.batch_rows.observe,
            in_flight=lambda: self.in_flight,
        )
        metrics.in_flight.set_function(lambda: self.in_flight)  # read when /metrics is rendered: free per request

    def asgi(self) -> Starlette:
        """The ASGI app uvicorn runs."""
        middleware = []
        if self.settings.cors_origins:
            middleware.append(
                Middleware(
                    CORSMiddleware,
                    allow_origins=list(self.settings.cors_origins),
                    allow_methods=["GET", "POST"],
                    allow_headers=["content-type"],
                )
            )
        app = Starlette(middleware=middleware)
        # Every method and path comes here (a Route would answer other methods in plain text itself).
        app.router.default = self._asgi
        return app

    async def _asgi(self, scope: Any, receive: Any, send: Any) -> None:
        response = await self.dispatch(Request(scope, receive))
        await response(scope, receive, send)

    def count(self, endpoint: str, status: int) -> None:
        """Counts one answer in /metrics."""
        self.metrics.requests.labels(code=str(status), endpoint=endpoint).inc()
        if status >= 400:
            self.metrics.errors.labels(code=str(status), endpoint=endpoint).inc()

    async def dispatch(self, request: Request) -> Response:
        """Answers one request, and counts and times it."""
        started = time.perf_counter()
        path = request.url.path
        endpoint = endpoint_of(path)
        self.in_flight += 1
        try:
            if self.in_flight > self.settings.max_in_flight:
                response = error(
                    503, f"{self.settings.max_in_flight} requests are being answered, the limit; retry later"
                )
            else:
                response = await self._answer(request, path)
        except Exception as err:  # a bug: answer 500 and keep serving
            self.error_log.exception("internal error")
            response = error(500, f"internal error: {type(err).__name__}")
        finally:
            self.in_flight -= 1
        # Counted before the answer goes out, so a client that reads /metrics right after its answer
        # sees its own request.
        self.count(endpoint, response.status_code)
        self.metrics.duration.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        if response.status_code >= 400:
            self.error_log.warning(
                "%s %s -> %d %s",
                request.method,
                path[:LOGGED_URL_CHARS] + ("..." if len(path) > LOGGED_URL_CHARS else ""),
                response.status_code,
                bytes(response.body[:300]).decode(errors="replace"),
            )
        return response

    def _refused_origin(self, request: Request) -> Response | None:
        host = request.headers.get("host", "")
        allowed = self.settings.hosts
        if "*" not in allowed and _host_name(host) not in allowed:
            return error(
                400,
                f"Host header {host[:100]!r} is not allowed; this server answers {', '.join(allowed)} "
                "(serve --allowed-host)",
                close=True,
            )
        origin = request.headers.get("origin")
        if origin is not None and origin not in self.settings.cors_origins and origin.split("://", 1)[-1] != host:
            # A browser's cross-origin "simple" POST (text/plain) is sent without a preflight: refuse it
            # here, since hiding the answer from the page would not stop the prediction being made.
            return error(403, f"cross-origin requests from {origin[:100]} are not allowed (serve --cors-origin)")
        return None

    async def _answer(self, request: Request, path: str) -> Response:
        refused = self._refused_origin(request)
        if refused is not None:
            return refused
        method = request.method
        if path == "/metrics":
            if method != "GET":
                return error(405, f"{method} /metrics is not served; GET it")
            return Response(self.metrics.render(), 200, media_type=CONTENT_TYPE)
        route = _ROUTE.fullmatch(path)
        if route is None:
            return error(
                404,
                f"Malformed request: {method} {path[:LOGGED_URL_CHARS]}; try GET /v1/models/{self.config.model_name}",
            )
        if route["name"] != self.config.model_name:
            return error(
                404,
                f"Servable not found for request: Latest({route['name'][:100]}); "
                f"this server serves '{self.config.model_name}'",
            )
        version, label, verb = route["version"], route["label"], route["verb"]
        if version is not None and not (version.isascii() and version.isdigit() and len(version) <= 19):
            return error(
                400, f"version {version[:40]!r} is not an integer; GET /v1/models/{self.config.model_name} lists them"
            )
        if verb is not None and (verb not in _VERBS or route["metadata"]):
            return error(404, f"Malformed request: {method} {path[:LOGGED_URL_CHARS]}: no such method :{verb[:40]}")
        wanted = "POST" if verb else "GET"
        if method != wanted:
            return error(405, f"{method} {path[:LOGGED_URL_CHARS]} is not served; use {wanted}")
        number = None if version is None else int(version)
        if verb is None:
            if route["metadata"]:
                return self._metadata(number, label)
            return self._status(number, label)
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        model = self.manager.resolve(number, label)
        if isinstance(model, str):
            return error(404, model)
        try:
            if verb == "explain":
                return await self._explain(model, body)
            # A large body takes a while to parse (a 4 MiB list of numbers: seconds on a busy machine): off
            # the event loop, so other connections are still accepted and answered meanwhile.
            document = load_json(body) if len(body) < LARGE_BODY_BYTES else await asyncio.to_thread(load_json, body)
            if not isinstance(document, dict):
                raise RequestError('the body must be a JSON object: {"instances": [...]} or {"inputs": {...}}')
            if verb in ("classify", "regress"):
                return self._not_served(model, verb, document)
            return await self._predict(model, document)
        except RequestError as err:
            return error(err.status, str(err))

    async def _body(self, request: Request) -> bytes | Response:
        """The body, or the answer to one over the limit, with a bad Content-Length, or not sent in time."""
        limit = self.config.serve_max_request_bytes
        declared = request.headers.get("content-length")
        if declared is not None and not (declared.isascii() and declared.isdigit()):
            return error(400, f"Content-Length {declared[:40]!r} is not a number", close=True)
        too_large = error(
            413,
            f"the body is more than {limit} bytes (serve --max-request-bytes); "
            "split the instances over several requests",
            close=True,
        )
        chunks: list[bytes] = []
        size = 0
        drain = declared is not None and int(declared) > limit

        async def receive() -> None:
            nonlocal size
            async for chunk in request.stream():
                size += len(chunk)
                if size > (DRAIN_MAX_BYTES if drain else limit):
                    return
                if not drain:
                    chunks.append(chunk)

        if drain and int(declared or 0) > DRAIN_MAX_BYTES:
            return too_large
        timeout = self.settings.body_timeout_seconds
        try:
            await asyncio.wait_for(receive(), timeout)
        except asyncio.TimeoutError:
            return error(408, f"the body did not arrive within {timeout:g}s (serve --body-timeout)", close=True)
        except ClientDisconnect:
            return error(400, "the client disconnected before sending its whole body", close=True)
        if drain or size > limit:
            return too_large
        return b"".join(chunks)

    def _status(self, version: int | None, label: str | None) -> Response:
        """TF Serving's GetModelStatus answer: every loaded version, or the one asked for."""
        if version is not None or label is not None:
            model = self.manager.resolve(version, label)
            if isinstance(model, str):
                failure = self.manager.failures.get(version) if version is not None else None
                if failure is None:
                    return error(404, model)
                return json_response(200, {"model_version_status": [_failed_status(version or 0, failure.message)]})
            return json_response(200, {"model_version_status": [_available(model.version)]})
        models = self.manager.models
        statuses = [_available(v) for v in sorted(models, reverse=True)]
        statuses += [_failed_status(v, f.message) for v, f in sorted(self.manager.failures.items()) if v not in models]
        if not statuses:
            return error(
                404, f"Could not find any versions of model {self.config.model_name} in {self.config.serving_dir}"
            )
        return json_response(200, {"model_version_status": statuses})

    def _metadata(self, version: int | None, label: str | None) -> Response:
        """TF Serving's GetModelMetadata answer: the version's signature_def map."""
        model = self.manager.resolve(version, label)
        if isinstance(model, str):
            return error(404, model)
        return json_response(200, metadata_document(self.config.model_name, model))

    def _not_served(self, model: LoadedModel, verb: str, document: dict[str, Any]) -> Response:
        """:classify/:regress as TF Serving answers them for a model with only predict signatures."""
        name = document.get("signature_name") or ids.SERVING_DEFAULT
        if not isinstance(name, str) or name not in model.signatures:
            return error(400, f'Serving signature name: "{str(name)[:100]}" not found in signature def')
        kind = "classification" if verb == "classify" else "regression"
        return error(
            400, f"Expected {kind} signature method_name to be tensorflow/serving/{verb}. Was: {_PREDICT_METHOD}"
        )

    async def _predict(self, model: LoadedModel, document: dict[str, Any]) -> Response:
        name = document.get("signature_name") or ids.SERVING_DEFAULT
        signature = model.signatures.get(name) if isinstance(name, str) else None
        if signature is None:
            return error(400, f'Serving signature name: "{str(name)[:100]}" not found in signature def')
        request = parse_predict(
            document,
            model.features,
            self.settings.max_rows,
            examples=signature.kind == EXAMPLES,
            strict_domains=self.settings.strict_domains,
        )
        for features in request.out_of_domain:
            for feature in features:
                self.metrics.out_of_domain.labels(feature=feature).inc()
        batch = request.examples if signature.kind == EXAMPLES else request.rows
        try:
            # Keyed by the loaded model object too: a version whose schema changes while loaded (found in
            # ML Metadata after its load) is a new object, and rows checked against one schema are
            # never called with the other's features.
            key = (model.version, id(model), name)
            scores = await self.batcher.submit(key, functools.partial(model.run, signature), batch)
        except ModelOutputError as err:
            return error(500, str(err))
        self.metrics.predicted(model.version, scores)
        self.request_log.offer(request.values, model.features, request.out_of_domain)
        return json_response(200, {"outputs": scores} if request.columnar else {"predictions": scores})

    async def _explain(self, model: LoadedModel, body: bytes) -> Response:
        """Explains instances with runners.serving.explain against the version's baseline row; not logged for
        skew, since explanations are asked for by people, not by the traffic the model serves."""
        from runners.serving.explain import explain

        loop = asyncio.get_running_loop()
        # Read from ML Metadata on the version's first :explain, off the event loop.
        baseline, problem = await loop.run_in_executor(None, model.explain_baseline)
        if baseline is None:
            # TF Serving answers a method the version does not have (FAILED_PRECONDITION, e.g. :classify
            # without a classification signature) with 400; retrying will not make a baseline appear,
            # so 503 "unavailable" would send clients into a retry loop.
            return error(
                400,
                f"version {model.version} cannot be explained: {problem}; :predict still serves it, "
                "and a version the pipeline trains and pushes can be explained",
            )
        instances = parse_explain(body, model.features, EXPLAIN_MAX_INSTANCES)
        found = await loop.run_in_executor(None, explain, model.handle, instances, baseline)
        self.metrics.explanations.labels(version=str(model.version)).inc(len(found))
        return json_response(
            200,
            {
                "model_version": str(model.version),
                "baseline": baseline,
                "explanations": [e.to_dict() for e in found],
            },
        )


def _available(version: int) -> dict[str, Any]:
    return {"version": str(version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}


def _failed_status(version: int, message: str) -> dict[str, Any]:
    return {"version": str(version), "state": "END", "status": {"error_code": "UNKNOWN", "error_message": message}}


def metadata_document(model_name: str, model: LoadedModel) -> dict[str, Any]:
    """GET .../metadata in TF Serving's JSON shape (GetModelMetadataResponse, signature_def unpacked)."""
    return {
        "model_spec": {"name": model_name, "signature_name": "", "version": str(model.version)},
        "metadata": {
            "signature_def": json_format.MessageToDict(model.signature_defs, preserving_proto_field_name=True)
        },
    }
