"""A real `serve` over a tiny SavedModel, for tests that need the HTTP/gRPC stack but no trained model.

The model has the project's serving contract on three curated-schema features: `serving_default`
takes raw values, `serving_tf_example` serialized tf.Examples, one output `probability`. A dearer
fare, Flash Cab and a later hour raise the probability."""

from __future__ import annotations

import dataclasses
import http.client
import io
import json
import shutil
import threading
from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig
from runners.serving.server import run_in_thread
from runners.serving.settings import ServeSettings

MODEL = "taxi_big_tipper"
ROW = {"fare": 12.5, "trip_start_hour": 3, "company": "Flash Cab"}


def save_tiny_model(folder: Path) -> None:
    """Writes the tiny SavedModel into `folder` (a version folder)."""
    import tensorflow as tf

    def score(fare: Any, company: Any, hour: Any) -> Any:
        logit = 0.2 * (fare - 10.0) + tf.where(company == "Flash Cab", 1.0, -1.0) + 0.01 * tf.cast(hour, tf.float32)
        return tf.sigmoid(logit)[:, None]

    class Tiny(tf.Module):
        @tf.function(
            input_signature=[
                {
                    "fare": tf.TensorSpec([None], tf.float32, name="fare"),
                    "company": tf.TensorSpec([None], tf.string, name="company"),
                    "trip_start_hour": tf.TensorSpec([None], tf.int64, name="trip_start_hour"),
                }
            ]
        )
        def raw(self, inputs: Any) -> Any:
            return {"probability": score(inputs["fare"], inputs["company"], inputs["trip_start_hour"])}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def examples(self, serialized: Any) -> Any:
            spec = {
                "fare": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
                "company": tf.io.FixedLenFeature([], tf.string, default_value=""),
                "trip_start_hour": tf.io.FixedLenFeature([], tf.int64, default_value=0),
            }
            parsed = tf.io.parse_example(serialized, spec)
            return {"probability": score(parsed["fare"], parsed["company"], parsed["trip_start_hour"])}

    module = Tiny()
    signatures = {"serving_default": module.raw.get_concrete_function(), "serving_tf_example": module.examples}
    tf.saved_model.save(module, str(folder), signatures=signatures)


@dataclasses.dataclass
class Running:
    """A server on a thread: its config, ports, console output and stop switch."""

    config: PipelineConfig
    port: int
    grpc_port: int | None
    console: io.StringIO
    stop: threading.Event
    thread: threading.Thread

    @property
    def serving_dir(self) -> Path:
        return Path(self.config.serving_dir)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request; the status and the parsed JSON answer (the text of /metrics)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        connection.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        text = response.read().decode()
        connection.close()
        return response.status, (text if path == "/metrics" and response.status == 200 else json.loads(text))

    def predict(self, body: Any, prefix: str = f"/v1/models/{MODEL}") -> tuple[int, Any]:
        return self.request("POST", f"{prefix}:predict", body)

    def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics (0 when the series does not exist yet)."""
        _, text = self.request("GET", "/metrics")
        wanted = "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
        for line in text.splitlines():
            if line.startswith(f"{name}{wanted} "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def start_tiny_server(home: Path, versions: tuple[int, ...] = (1,), **settings: Any) -> Running:
    """Saves the tiny model as each version under home's serving dir and starts a server over them."""
    config = PipelineConfig(home=str(home), serve_port=0, serve_log_sampling=1.0, serve_max_request_bytes=64 * 1024)
    serving = Path(config.serving_dir)
    save_tiny_model(serving / str(versions[0]))
    for version in versions[1:]:
        shutil.copytree(serving / str(versions[0]), serving / str(version))
    values: dict[str, Any] = {"grpc_port": 0, "poll_seconds": 0.2, **settings}
    console = io.StringIO()
    stop, port, grpc_port, thread = run_in_thread(config, ServeSettings(**values), console)
    return Running(config, port, grpc_port, console, stop, thread)
