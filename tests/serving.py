"""The model server for tests, one way to start it and one client: on a thread over a tiny SavedModel
(the unit and fuzz tests), or as a user starts it, `python -m runners serve` in a subprocess (the e2e
tests and the shutdown test), over any home.

The tiny model has the project's serving contract on three curated-schema features: `serving_default`
takes raw values, `serving_tf_example` serialized tf.Examples, one output `probability`. A dearer
fare, Flash Cab and a later hour raise the probability."""

from __future__ import annotations

import dataclasses
import http.client
import io
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig
from runners.serving.server import run_in_thread
from runners.serving.settings import ServeSettings

ROOT = Path(__file__).resolve().parent.parent
MODEL = "taxi_big_tipper"
ROW = {"fare": 12.5, "trip_start_hour": 3, "company": "Flash Cab"}
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/[^\s,]+(?:, gRPC on port (\d+))?")


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


def tiny_home(home: Path, versions: tuple[int, ...] = (1,)) -> Path:
    """A home whose serving dir holds the tiny model as each of `versions`; returns the serving dir."""
    serving = Path(PipelineConfig(home=str(home)).serving_dir)
    save_tiny_model(serving / str(versions[0]))
    for version in versions[1:]:
        shutil.copytree(serving / str(versions[0]), serving / str(version))
    return serving


@dataclasses.dataclass
class Client:
    """Talks to a server on loopback: REST requests, /metrics samples, loaded versions."""

    port: int
    grpc_port: int | None

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request; the status and the parsed JSON answer (the text of /metrics)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        connection.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        text = response.read().decode()
        connection.close()
        return response.status, (text if path == "/metrics" and response.status == 200 else json.loads(text))

    def predict(self, body: Any, prefix: str = f"/v1/models/{MODEL}") -> tuple[int, Any]:
        return self.request("POST", f"{prefix}:predict", body)

    def explain(self, body: Any, prefix: str = f"/v1/models/{MODEL}") -> tuple[int, Any]:
        return self.request("POST", f"{prefix}:explain", body)

    def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics (0 when the series does not exist yet)."""
        _, text = self.request("GET", "/metrics")
        wanted = "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
        for line in text.splitlines():
            if line.startswith(f"{name}{wanted} "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def versions(self) -> list[int]:
        """The loaded versions, highest first (each must be AVAILABLE)."""
        status, document = self.request("GET", f"/v1/models/{MODEL}")
        assert status == 200, document
        assert all(entry["state"] == "AVAILABLE" for entry in document["model_version_status"])
        return [int(entry["version"]) for entry in document["model_version_status"]]

    def version(self) -> int:
        """The version a request naming none gets: the highest loaded."""
        return self.versions()[0]


@dataclasses.dataclass
class Running(Client):
    """A server on a thread of this process: its config, console output and stop switch."""

    config: PipelineConfig
    console: io.StringIO
    stop: threading.Event
    thread: threading.Thread

    @property
    def serving_dir(self) -> Path:
        return Path(self.config.serving_dir)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def start_tiny_server(home: Path, versions: tuple[int, ...] = (1,), **settings: Any) -> Running:
    """Saves the tiny model as each version under home's serving dir and starts a server on a thread."""
    config = PipelineConfig(home=str(home), serve_port=0, serve_log_sampling=1.0, serve_max_request_bytes=64 * 1024)
    tiny_home(home, versions)
    values: dict[str, Any] = {"grpc_port": 0, "poll_seconds": 0.2, **settings}
    console = io.StringIO()
    stop, port, grpc_port, thread = run_in_thread(config, ServeSettings(**values), console)
    return Running(port, grpc_port, config, console, stop, thread)


@dataclasses.dataclass
class Served(Client):
    """`python -m runners serve` in a subprocess, and everything it has printed so far."""

    home: Path
    process: subprocess.Popen[str]
    output: list[str]

    @property
    def serving_dir(self) -> Path:
        return self.home / "serving" / MODEL

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then waits for the exit (kills it after `timeout`); returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def printed(self) -> str:
        return "".join(self.output)


def start_serve(home: Path, *flags: str, timeout: float = 300) -> Served:
    """Starts `python -m runners serve --home HOME --port 0 FLAGS` and waits until it listens.

    Fails the test (with the server's output) when it does not listen within `timeout` seconds.
    """
    import pytest

    command = [sys.executable, "-m", "runners", "serve", "--home", str(home), "--port", "0", *flags]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    ports: list[int | None] = []
    listening = threading.Event()

    def read_output() -> None:  # also keeps the pipe drained for the server's whole life
        for line in process.stdout or []:
            output.append(line)
            found = _LISTENING.search(line)
            if found and not ports:
                ports.extend([int(found.group(1)), int(found.group(2)) if found.group(2) else None])
                listening.set()
        listening.set()

    threading.Thread(target=read_output, daemon=True).start()
    listening.wait(timeout=timeout)
    if not ports:
        process.kill()
        process.wait()
        pytest.fail("the server did not start:\n" + "".join(output))
    port, grpc_port = ports
    assert port is not None
    return Served(port, grpc_port, home, process, output)


@dataclasses.dataclass
class Swap:
    """What a client saw while a new version was renamed into the serving dir under load."""

    seconds: float  # from the rename to the new version's first answer
    answered: int  # requests answered meanwhile by the clients hammering the default route
    failures: list[Any]  # those of them that were not 200


def swap_in(client: Client, serving_dir: Path, source: int, version: int, body: Any, clients: int = 2) -> Swap:
    """Copies version `source` to a staging folder, renames it in as `version` while `clients` threads
    send `body` to the default route, and times the rename to the first 200 from `/versions/{version}`.

    The rename is the atomic step a push or `rollback` ends with (pipeline.serving_dir.publish); the
    clocks starts after it, so the copy's time is not counted.
    """
    import os
    import time

    from pipeline import serving_dir as sd

    failures: list[Any] = []
    answered = [0]
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            status, document = client.predict(body)
            answered[0] += 1
            if status != 200:
                failures.append((status, document))

    staging = serving_dir / f"{sd.STAGING_PREFIX}{version}-test"
    shutil.copytree(serving_dir / str(source), staging)
    threads = [threading.Thread(target=hammer) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)  # the clients are under way before the new version appears
        os.replace(staging, serving_dir / str(version))
        appeared = time.monotonic()
        deadline = appeared + 300
        while client.predict(body, f"/v1/models/{MODEL}/versions/{version}")[0] != 200:
            assert time.monotonic() < deadline, f"version {version} not served within 300 s"
            time.sleep(0.02)
        seconds = time.monotonic() - appeared
        time.sleep(0.5)  # and keep going a little after the swap
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return Swap(seconds, answered[0], failures)
