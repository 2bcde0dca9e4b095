"""The model server's own knobs (HTTP limits, batching, versions, labels, logs), with TF Serving's
and uvicorn's usual values as defaults; `taxi-pipeline serve` flags fill them, the pipeline never reads them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from runners.errors import EXIT_USAGE, RunError

# Version policies, as TF Serving's model config names them.
POLICIES = ("latest", "specific", "all")

# Host names that reach a loopback server; a Host header naming anything else is refused, so a
# web page that rebinds its own name to 127.0.0.1 cannot talk to the server (DNS rebinding).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """How the server listens, batches, picks versions and logs.

    Attributes:
        backlog: the listen queue length (a burst of new connections waits there instead of being reset).
        max_connections: open connections at most; one more gets a JSON 503 and is closed.
        max_in_flight: requests being answered at once; beyond it, a JSON 503.
        keep_alive_seconds: an idle keep-alive connection is closed after this.
        header_timeout_seconds: a connection that has not finished its request line and headers by
            then is closed (nothing else closes a client that never finishes them).
        body_timeout_seconds: a body not fully received by then gets 408 and the connection is closed.
        max_header_bytes: request line plus headers at most (431 beyond; 414 for the URL alone).
        max_rows: instances in one request at most (413 beyond).
        batch_max_rows: concurrent requests are joined into one model call of at most this many rows.
        batch_timeout_ms: how long the first request of a batch waits for others (TF Serving's
            batch_timeout_micros) while other requests are in flight; a request alone on the server
            is called at once; 0 joins only what is already waiting.
        strict_domains: refuse values outside the served schema's domains with 400 (else count and log them).
        grpc_port: TF Serving's gRPC API on this port (0: any free port, -1: off).
        policy, versions, latest: which versions are loaded: the `latest` highest ones, the listed
            `versions`, or all of them.
        labels: label -> version (e.g. stable, canary), as TF Serving's version_labels.
        poll_seconds: how often the serving dir is checked for new versions.
        allowed_hosts: Host header names accepted; empty means the loopback names.
        cors_origins: origins allowed to call the server from a browser; none by default.
        log_max_bytes, log_max_age_days: the request log keeps at most this much, this recent.
        log_max_string: logged string values are cut to this many characters.
        log_exclude: features never written to the request log (e.g. locations, personal data).
        graceful_seconds: on SIGTERM, in-flight requests get this long to finish.
    """

    backlog: int = 2048
    max_connections: int = 1000
    max_in_flight: int = 512
    keep_alive_seconds: float = 5.0
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 10.0
    max_header_bytes: int = 16 * 1024
    max_rows: int = 2000
    batch_max_rows: int = 256
    batch_timeout_ms: float = 2.0
    strict_domains: bool = False
    grpc_port: int = 8500
    policy: str = "latest"
    versions: tuple[int, ...] = ()
    latest: int = 1
    labels: dict[str, int] = dataclasses.field(default_factory=dict)
    poll_seconds: float = 1.0
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    log_max_bytes: int = 256 * 1024 * 1024
    log_max_age_days: float = 30.0
    log_max_string: int = 256
    log_exclude: tuple[str, ...] = ()
    graceful_seconds: float = 30.0

    def __post_init__(self) -> None:
        positive = (
            "backlog",
            "max_connections",
            "max_in_flight",
            "max_header_bytes",
            "max_rows",
            "batch_max_rows",
            "latest",
            "log_max_string",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise RunError(f"serve setting {name} is {getattr(self, name)}; expected an integer >= 1", EXIT_USAGE)
        for name in ("keep_alive_seconds", "header_timeout_seconds", "body_timeout_seconds", "poll_seconds"):
            if not getattr(self, name) > 0:
                raise RunError(f"serve setting {name} is {getattr(self, name)}; expected a number > 0", EXIT_USAGE)
        if self.batch_timeout_ms < 0:
            raise RunError(f"serve setting batch_timeout_ms is {self.batch_timeout_ms}; expected >= 0", EXIT_USAGE)
        if self.policy not in POLICIES:
            raise RunError(f"version policy {self.policy!r}; expected one of {', '.join(POLICIES)}", EXIT_USAGE)
        if self.policy == "specific" and not self.versions:
            raise RunError("version policy 'specific' needs at least one version (--versions 3,4)", EXIT_USAGE)
        if not -1 <= self.grpc_port <= 65535:
            raise RunError(f"gRPC port {self.grpc_port}; expected 0-65535 (0: any free, -1: off)", EXIT_USAGE)

    @property
    def hosts(self) -> tuple[str, ...]:
        """The Host names accepted: the configured ones, else the loopback names."""
        return self.allowed_hosts or LOOPBACK_HOSTS


def parse_labels(text: str) -> dict[str, int]:
    """Parses "stable=3,canary=4" into label -> version."""
    labels: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, version = item.partition("=")
        if not name or not version.strip().isdigit():
            raise RunError(f"label {item!r}: expected NAME=VERSION, e.g. stable=3", EXIT_USAGE)
        labels[name.strip()] = int(version)
    return labels


def load_model_config(path: str | Path) -> dict[str, Any]:
    """Reads a small JSON model config: {"policy": "specific", "versions": [3, 4], "labels": {"stable": 3}}.

    The keys are ServeSettings fields (policy, versions, latest, labels); TF Serving keeps the same
    choices in its model config file.
    """
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise RunError(f"model config {path}: {err}", EXIT_USAGE) from None
    allowed = {"policy", "versions", "latest", "labels"}
    if not isinstance(document, dict) or set(document) - allowed:
        raise RunError(
            f"model config {path}: expected an object with keys among {', '.join(sorted(allowed))}", EXIT_USAGE
        )
    labels = document.get("labels", {})
    versions = document.get("versions", [])
    if not isinstance(labels, dict) or not all(isinstance(v, int) for v in labels.values()):
        raise RunError(f"model config {path}: labels must map names to integer versions", EXIT_USAGE)
    if not isinstance(versions, list) or not all(isinstance(v, int) for v in versions):
        raise RunError(f"model config {path}: versions must be a list of integers", EXIT_USAGE)
    found: dict[str, Any] = {"labels": dict(labels), "versions": tuple(versions)}
    if "policy" in document:
        found["policy"] = document["policy"]
    if "latest" in document:
        found["latest"] = document["latest"]
    return found
