"""The model server's lifecycle: the loaded models, uvicorn serving the REST app on a socket with a
real backlog and the guarded protocol, TF Serving's gRPC API beside it, and a graceful stop on
SIGTERM or Ctrl-C (no new connections; in-flight requests finish within `graceful_seconds`).

The versions the policy wants are loaded from the serving dir, and a background thread looks for
changes every `poll_seconds` and swaps them in, so pushes and rollbacks take effect without a
restart while in-flight requests finish on the model they started with."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import logging.handlers
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TextIO

import uvicorn

from pipeline.config import PipelineConfig
from runners.errors import EXIT_OK, EXIT_USAGE, RunError
from runners.serving.app import ServingApp
from runners.serving.metrics import ServingMetrics
from runners.serving.model import ModelManager
from runners.serving.protocol import guarded_protocol
from runners.serving.request_log import RequestLog
from runners.serving.settings import ServeSettings

# The error log rotates at this size, keeping this many old files.
ERROR_LOG_BYTES = 4 * 1024 * 1024
ERROR_LOG_BACKUPS = 2


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket with the given backlog (uvicorn serves on it)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as err:
        raise RunError(
            f"cannot listen on {host}:{port}: {err.strerror or err}; pick another --port (or stop what listens there)",
            EXIT_USAGE,
        ) from None
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, telling us when it listens, and stopping without re-raising SIGTERM
    (uvicorn re-raises it after a graceful stop, which would end the process with a signal)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def error_logger(folder: Path, verbose: bool) -> logging.Logger:
    """The log of failed requests: rotated by size, beside the request log; also stderr with --verbose."""
    logger = logging.getLogger(f"taxi_serving.errors.{id(folder)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        folder / "errors.log", maxBytes=ERROR_LOG_BYTES, backupCount=ERROR_LOG_BACKUPS
    )
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s"))
    logger.addHandler(handler)
    if verbose:
        logger.addHandler(logging.StreamHandler(sys.stderr))
    return logger


def serve(
    config: PipelineConfig,
    settings: ServeSettings,
    console: TextIO,
    stop: threading.Event | None = None,
    on_listening: Callable[[int, int | None], None] | None = None,
) -> int:
    """Runs the server until interrupted (Ctrl-C, SIGTERM) or `stop` is set.

    Args:
        config: host, port, body limit, sampling and the home's serving dir.
        settings: the server's limits, batching, versions, labels and logs.
        console: where status lines go.
        stop: set it from another thread to shut the server down.
        on_listening: called with the REST and gRPC ports once both listen.

    Returns:
        The exit code.
    """

    def say(message: str) -> None:
        console.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
        console.flush()

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # the models were saved with Keras 2
    metrics = ServingMetrics()
    manager = ModelManager(config, metrics, say, settings)
    manager.poll()
    if not manager.models:
        say(f"{config.serving_dir} has no loadable version the policy wants yet: waiting for a push (404 meanwhile)")
    request_log = RequestLog(
        config.serving_logs_dir,
        config.serve_log_sampling,
        metrics,
        max_bytes=settings.log_max_bytes,
        max_age_days=settings.log_max_age_days,
        max_string=settings.log_max_string,
        exclude=settings.log_exclude,
    )
    request_log.start()
    errors = error_logger(Path(config.serving_logs_dir), bool(config.verbose))
    if not is_loopback(config.serve_host) and not settings.allowed_hosts:
        settings = _with_any_host(settings)
    app = ServingApp(config, settings, manager, request_log, metrics, errors)
    sock = bind(config.serve_host, config.serve_port, settings.backlog)
    port = int(sock.getsockname()[1])

    grpc_server = None
    grpc_port: int | None = None
    if settings.grpc_port >= 0:
        from runners.serving.grpc_service import start_grpc

        grpc_server, grpc_port = start_grpc(config, settings, manager, metrics, request_log)

    def count_refusal(status: int) -> None:
        app.count("connection", status)

    protocol = guarded_protocol(
        settings.max_connections, settings.header_timeout_seconds, settings.max_header_bytes, count_refusal
    )
    uvicorn_config = uvicorn.Config(
        app.asgi(),
        http=protocol,
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        backlog=settings.backlog,
        timeout_keep_alive=max(1, round(settings.keep_alive_seconds)),
        timeout_graceful_shutdown=max(1, round(settings.graceful_seconds)),
        server_header=False,
    )

    def started() -> None:
        if not is_loopback(config.serve_host):
            say(
                f"WARNING: listening on {config.serve_host}, reachable from other machines; the server has no "
                "authentication (the default --host 127.0.0.1 keeps it local)"
            )
        sampling = f"{config.serve_log_sampling:.0%} of requests logged to {config.serving_logs_dir}"
        grpc = f", gRPC on port {grpc_port}" if grpc_port is not None else ""
        say(
            f"listening on http://{config.serve_host}:{port}/v1/models/{config.model_name}{grpc} "
            f"({sampling}); Ctrl-C stops"
        )
        if on_listening is not None:
            on_listening(port, grpc_port)

    server = _Server(uvicorn_config, started)
    if stop is not None:

        def stop_when_asked() -> None:
            stop.wait()
            server.should_exit = True

        threading.Thread(target=stop_when_asked, daemon=True).start()
    manager.start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        manager.stop()
        if grpc_server is not None:
            grpc_server.stop(grace=settings.graceful_seconds).wait()
        app.batcher.close()
        request_log.close()
        sock.close()
        for handler in errors.handlers:
            handler.close()
        say("stopped")
    return EXIT_OK


def _with_any_host(settings: ServeSettings) -> ServeSettings:
    """Listening beyond loopback without an allow-list: clients name the machine however they reach it."""
    import dataclasses

    return dataclasses.replace(settings, allowed_hosts=("*",))


def run_in_thread(
    config: PipelineConfig, settings: ServeSettings, console: TextIO
) -> tuple[threading.Event, int, int | None, threading.Thread]:
    """Starts serve() on a thread (for tests and the benchmark); returns its stop event, ports and thread."""
    stop = threading.Event()
    ports: list[Any] = []
    ready = threading.Event()

    def listening(port: int, grpc_port: int | None) -> None:
        ports.extend([port, grpc_port])
        ready.set()

    thread = threading.Thread(target=serve, args=(config, settings, console, stop, listening), daemon=True)
    thread.start()
    while not ready.wait(0.1):
        if not thread.is_alive():
            raise RuntimeError("the server stopped before listening")
    return stop, ports[0], ports[1], thread
