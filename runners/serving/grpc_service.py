"""TF Serving's gRPC API over the loaded models: PredictionService (Predict, GetModelMetadata) and
ModelService (GetModelStatus), with tensorflow-serving-api's generated stubs, so TF Serving's own
Python client works unchanged. Requests are checked by the same rules as REST (requests.py)."""

from __future__ import annotations

import time
from concurrent import futures
from typing import Any

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from pipeline import ids
from pipeline.config import PipelineConfig
from runners.errors import EXIT_USAGE, RunError
from runners.serving.metrics import ServingMetrics
from runners.serving.model import EXAMPLES, LoadedModel, ModelManager, ModelOutputError
from runners.serving.request_log import RequestLog
from runners.serving.requests import RequestError, check_example, check_row, out_of_domain
from runners.serving.settings import ServeSettings

# Threads answering gRPC calls; model calls run on them (TensorFlow releases the GIL).
GRPC_THREADS = 8


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _model(manager: ModelManager, model_name: str, spec: Any) -> LoadedModel:
    if spec.name != model_name:
        raise _Abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({spec.name[:100]})")
    version = spec.version.value if spec.HasField("version") else None
    label = spec.version_label or None
    found = manager.resolve(version, label)
    if isinstance(found, str):
        raise _Abort(grpc.StatusCode.NOT_FOUND, found)
    return found


def _values(tensor: Any, name: str) -> list[Any]:
    """One Python value per instance of a [batch] (or [batch, 1]) TensorProto."""
    import tensorflow as tf

    try:
        array = tf.make_ndarray(tensor)
    except Exception as err:  # a TensorProto whose content does not match its dtype or shape
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"input '{name}' is not a valid tensor: {err}") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise _Abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"input '{name}' has shape {list(array.shape)}; expected [batch]"
        )
    values = array.tolist()
    if array.dtype.kind in "SO":
        try:
            return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
        except UnicodeDecodeError:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"input '{name}' is not UTF-8 text") from None
    return values


class _Services(prediction_service_pb2_grpc.PredictionServiceServicer, model_service_pb2_grpc.ModelServiceServicer):
    def __init__(
        self,
        config: PipelineConfig,
        settings: ServeSettings,
        manager: ModelManager,
        metrics: ServingMetrics,
        request_log: RequestLog,
    ):
        self.config = config
        self.settings = settings
        self.manager = manager
        self.metrics = metrics
        self.request_log = request_log

    def _call(self, endpoint: str, context: Any, answer: Any) -> Any:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return answer()
        except _Abort as err:
            code = err.code
            context.abort(err.code, str(err))
        except RequestError as err:
            code = grpc.StatusCode.INVALID_ARGUMENT
            context.abort(code, str(err))
        except ModelOutputError as err:
            code = grpc.StatusCode.INTERNAL
            context.abort(code, str(err))
        finally:
            self.metrics.requests.labels(code=code.name, endpoint=endpoint).inc()
            if code != grpc.StatusCode.OK:
                self.metrics.errors.labels(code=code.name, endpoint=endpoint).inc()
            self.metrics.duration.labels(endpoint=endpoint).observe(time.perf_counter() - started)

    def Predict(self, request: Any, context: Any) -> Any:
        return self._call("grpc_predict", context, lambda: self._predict(request))

    def _predict(self, request: Any) -> Any:
        import numpy as np
        import tensorflow as tf

        model = _model(self.manager, self.config.model_name, request.model_spec)
        name = request.model_spec.signature_name or ids.SERVING_DEFAULT
        signature = model.signatures.get(name)
        if signature is None:
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT, f'Serving signature name: "{name[:100]}" not found in signature def'
            )
        if signature.kind == EXAMPLES:
            if set(request.inputs) != {signature.input_name}:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"signature {name} takes one input, '{signature.input_name}'"
                )
            tensor = request.inputs[signature.input_name]
            if tensor.dtype != tf.string.as_datatype_enum:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"input '{signature.input_name}' must be a string tensor"
                )
            serialized = list(tensor.string_val)
            checked = [check_example(s, model.features, f"instance {i}") for i, s in enumerate(serialized)]
            batch: list[Any] = serialized
        else:
            columns = {key: _values(tensor, key) for key, tensor in request.inputs.items()}
            lengths = {len(v) for v in columns.values()}
            if len(lengths) != 1:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT, "every input needs one value per instance; lengths differ"
                )
            count = lengths.pop()
            if count > self.settings.max_rows:
                raise _Abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{count} instances; at most {self.settings.max_rows}")
            checked = [
                check_row({key: values[i] for key, values in columns.items()}, model.features, f"instance {i}")
                for i in range(count)
            ]
            batch = checked
        outside = []
        for i, values in enumerate(checked):
            bad = out_of_domain(values, model.features)
            outside.append(bad)
            for feature in bad:
                self.metrics.out_of_domain.labels(feature=feature).inc()
            if bad and self.settings.strict_domains:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"instance {i}: feature '{bad[0]}' is outside the schema's domain"
                )
        scores = model.run(signature, batch)
        self.metrics.predicted(model.version, scores)  # in the score histogram too, as REST's are
        self.request_log.offer(checked, model.features, outside)  # gRPC traffic counts for skew as REST's does
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.config.model_name
        response.model_spec.version.value = model.version
        response.model_spec.signature_name = name
        response.outputs[signature.output_key].CopyFrom(tf.make_tensor_proto(np.asarray(scores, dtype=np.float32)))
        return response

    def GetModelMetadata(self, request: Any, context: Any) -> Any:
        return self._call("grpc_metadata", context, lambda: self._metadata(request))

    def _metadata(self, request: Any) -> Any:
        model = _model(self.manager, self.config.model_name, request.model_spec)
        unknown = [f for f in request.metadata_field if f != "signature_def"]
        if unknown or not request.metadata_field:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "metadata_field must be ['signature_def']")
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self.config.model_name
        response.model_spec.version.value = model.version
        response.metadata["signature_def"].Pack(model.signature_defs)
        return response

    def GetModelStatus(self, request: Any, context: Any) -> Any:
        return self._call("grpc_status", context, lambda: self._status(request))

    def _status(self, request: Any) -> Any:
        spec = request.model_spec
        if spec.name != self.config.model_name:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({spec.name[:100]})")
        if spec.HasField("version") or spec.version_label:
            versions = [_model(self.manager, self.config.model_name, spec).version]
        else:
            versions = sorted(self.manager.models, reverse=True)
        if not versions:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {spec.name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for version in versions:
            entry = response.model_version_status.add()
            entry.version = version
            entry.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        return response


def start_grpc(
    config: PipelineConfig,
    settings: ServeSettings,
    manager: ModelManager,
    metrics: ServingMetrics,
    request_log: RequestLog,
) -> tuple[grpc.Server, int]:
    """Starts the gRPC server on settings.grpc_port (0: any free port); returns it and its port."""
    server = grpc.server(
        futures.ThreadPoolExecutor(GRPC_THREADS, thread_name_prefix="grpc"),
        options=[("grpc.max_receive_message_length", config.serve_max_request_bytes)],
        maximum_concurrent_rpcs=settings.max_in_flight,
    )
    services = _Services(config, settings, manager, metrics, request_log)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(services, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(services, server)
    host = config.serve_host if ":" not in config.serve_host else f"[{config.serve_host}]"
    try:
        port = server.add_insecure_port(f"{host}:{settings.grpc_port}")
    except RuntimeError as err:
        raise RunError(
            f"cannot listen for gRPC on {host}:{settings.grpc_port}: {err}; pick another --grpc-port", EXIT_USAGE
        ) from None
    if port == 0:
        raise RunError(
            f"cannot listen for gRPC on {host}:{settings.grpc_port}; pick another --grpc-port (-1: off)", EXIT_USAGE
        )
    server.start()
    return server, port
