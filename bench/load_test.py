"""Load test of `taxi-pipeline serve` on loopback, beside the in-process SavedModel call for the same rows.

Starts the server on a free port against a home's pushed model (or targets --url), and in one run
prints: for concurrency 1, 8 and 32 (N one-row predict requests each, from C workers over keep-alive
connections) p50/p95/p99 latency, errors, requests per second and the server process's CPU use (cores)
beside the client's; the failures of a burst of 300 simultaneous new connections; and the SavedModel's
serving_default signature called in this process on the same rows, one at a time, with the ratios the
issue asks for. The levels and the in-process calls alternate in rounds, so both sides of a ratio are
measured on the same machine minute. The load comes from hey (Debian's package `hey`, a Go client) when
it is installed, else from this script's threads (`--client python`): a threaded Python client's GIL
becomes part of every round trip at concurrency 8. Run from the repository root:

    .venv/bin/python bench/load_test.py --home outputs --requests 3000
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter would bury the figures
import models  # noqa: E402,F401  (Keras 2 for TensorFlow, as every entry point does)
from models.features import OUTPUT_KEY  # noqa: E402
from pipeline import ids  # noqa: E402
from pipeline import serving_dir as sd  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.validation import load_schema  # noqa: E402
from runners.serving.requests import check_row, columns, serving_features  # noqa: E402

DEFAULT_ROWS = ROOT / "tests" / "data" / "taxi-small" / "span-2" / "data.csv"


def read_rows(path: Path, features: list[Any]) -> list[dict[str, Any]]:
    """Reads CSV rows as request instances: SERVING features only, typed, empty cells left out."""
    kinds = {f.name: f.kind for f in features}
    instances = []
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle):
            instance: dict[str, Any] = {}
            for name, kind in kinds.items():
                text = record.get(name, "")
                if text == "":
                    continue
                instance[name] = text if kind == "string" else (int(float(text)) if kind == "int" else float(text))
            instances.append(instance)
    return instances


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(name: str, seconds: list[float]) -> str:
    """One line of latency figures in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return (
        f"{name:<28} n={len(ms):<5} p50={percentile(ms, 50):7.2f} ms  p95={percentile(ms, 95):7.2f} ms  "
        f"p99={percentile(ms, 99):7.2f} ms  mean={statistics.fmean(ms):7.2f} ms  max={max(ms):7.2f} ms"
    )


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds the process has used so far (Linux /proc), None when unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def burst(url: str, model_name: str, body: bytes, connections: int) -> list[str]:
    """Opens `connections` new connections at once, each sending one predict request; returns the failures."""
    parts = urlsplit(url)
    failures: list[str] = []
    barrier = threading.Barrier(connections)

    def one() -> None:
        try:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
            barrier.wait()
            connection.request("POST", f"/v1/models/{model_name}:predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures.append(str(response.status))
            connection.close()
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as err:
            failures.append(repr(err))

    threads = [threading.Thread(target=one) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def start_server(home: str, log_sampling: float) -> tuple[subprocess.Popen[str], str]:
    """Starts `python -m runners serve` on a free loopback port; returns it and its base URL."""
    command = [sys.executable, "-m", "runners", "serve", "--home", home, "--port", "0", "--grpc-port", "-1"]
    command += ["--log-sampling", str(log_sampling)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert server.stdout is not None
    deadline = time.monotonic() + 300
    for line in server.stdout:
        found = re.search(r"listening on (http://[^/]+)/", line)
        if found:
            # Keep reading its output so the pipe never fills and blocks the server.
            threading.Thread(target=lambda: [None for _ in server.stdout or []], daemon=True).start()
            return server, found.group(1)
        if time.monotonic() > deadline:
            break
    server.kill()
    raise SystemExit(f"the server did not start: {server.args}")


def load(url: str, model_name: str, bodies: list[bytes], requests: int, concurrency: int) -> dict[str, Any]:
    """Sends `requests` predict requests from `concurrency` threads, one keep-alive connection each."""
    parts = urlsplit(url)
    path = f"/v1/models/{model_name}:predict"
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            body = bodies[index % len(bodies)]
            started = time.perf_counter()
            try:
                connection.request("POST", path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - started
                ok = response.status == 200 and "predictions" in json.loads(payload)
            except (OSError, http.client.HTTPException, ValueError) as err:
                elapsed, ok, payload = time.perf_counter() - started, False, str(err).encode()
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors.append(payload[:200].decode(errors="replace"))
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"seconds": time.perf_counter() - started, "latencies": latencies, "errors": errors}


def load_hey(url: str, model_name: str, bodies: list[bytes], requests: int, concurrency: int) -> dict[str, Any]:
    """The same load sent by hey (Go, one CPU): `concurrency` workers over keep-alive connections.

    A Python client's threads take turns on its GIL to read each answer and send the next request, and at
    concurrency 8 that turn-taking is part of every request's round trip (hey answered about 40 % more
    requests per second than the threaded client in two of three alternations, BENCHMARKS.md). hey sends
    one body for the whole run (the first of `bodies`); its CSV gives each request's time to 0.1 ms.
    """
    requests = max(1, requests // concurrency) * concurrency  # hey sends n // c from each worker
    with tempfile.NamedTemporaryFile(suffix=".json") as body:
        body.write(bodies[0])
        body.flush()
        command = ["hey", "-n", str(requests), "-c", str(concurrency), "-cpus", "1", "-m", "POST"]
        command += ["-T", "application/json", "-D", body.name, "-o", "csv", f"{url}/v1/models/{model_name}:predict"]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    latencies: list[float] = []
    errors: list[str] = []
    first, last = float("inf"), 0.0
    for record in csv.DictReader(done.stdout.splitlines()):
        seconds, offset = float(record["response-time"]), float(record["offset"])
        first, last = min(first, offset), max(last, offset + seconds)
        latencies.append(seconds)
        if record["status-code"] != "200":
            errors.append(f"HTTP {record['status-code']}")
    # hey leaves requests that got no answer (connection errors) out of its CSV.
    errors += [f"no answer ({requests - len(latencies)} requests)"] if len(latencies) < requests else []
    return {"seconds": max(last - first, 1e-9), "latencies": latencies, "errors": errors}


def server_side_mean(url: str) -> float | None:
    """The server's own mean predict latency from /metrics, in seconds."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    found = {
        kind: float(m.group(1))
        for kind in ("sum", "count")
        if (m := re.search(rf'taxi_serving_request_duration_seconds_{kind}{{endpoint="predict"}} (\S+)', text))
    }
    return found["sum"] / found["count"] if found.get("count") else None


class InProcess:
    """The highest version's serving_default signature in this process, timed one row per call."""

    def __init__(self, serving_dir: Path, instances: list[dict[str, Any]], features: list[Any]) -> None:
        import tensorflow as tf

        self.model = tf.saved_model.load(str(serving_dir / str(sd.serving_version(serving_dir))))
        self.function = self.model.signatures[ids.SERVING_DEFAULT]
        self.dtypes = {name: spec.dtype for name, spec in self.function.structured_input_signature[1].items()}
        self.features = features
        self.rows = [check_row(instance, features, "row") for instance in instances]
        self.inputs = [self._tensors(row) for row in self.rows]
        for tensors in self.inputs[:20]:  # warm-up, as the server warms up when it loads a version
            self.function(**tensors)

    def _tensors(self, row: dict[str, Any]) -> dict[str, Any]:
        import tensorflow as tf

        values = columns([row], self.features)
        return {name: tf.constant(values[name], dtype=dtype) for name, dtype in self.dtypes.items()}

    def time(self, count: int, from_rows: bool = False) -> list[float]:
        """Seconds of each of `count` calls: on tensors built beforehand (the model call alone), or
        `from_rows`, building them from a checked row inside the call, as the server must (about
        0.2-0.3 ms of the call on this model's 16 inputs)."""
        times = []
        for i in range(count):
            started = time.perf_counter()
            tensors = self._tensors(self.rows[i % len(self.rows)]) if from_rows else self.inputs[i % len(self.inputs)]
            self.function(**tensors)[OUTPUT_KEY].numpy()
            times.append(time.perf_counter() - started)
        return times


def _client_cpu() -> float:
    """CPU seconds of this process and the clients it ran (hey) so far."""
    used = os.times()
    return used.user + used.system + used.children_user + used.children_system


def _rate(times: list[float]) -> float:
    """Calls per second of back-to-back calls that took `times` seconds each."""
    return len(times) / sum(times)


def _pooled(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One concurrency level's rounds as one result."""
    pooled: dict[str, Any] = {
        "seconds": sum(p["seconds"] for p in parts),
        "latencies": [x for p in parts for x in p["latencies"]],
        "errors": [e for p in parts for e in p["errors"]],
        "client": sum(p["client"] * p["seconds"] for p in parts) / sum(p["seconds"] for p in parts),
        "rates": [len(p["latencies"]) / p["seconds"] for p in parts],
        "p99s": [percentile(p["latencies"], 99) for p in parts],
    }
    if all("cpu" in p for p in parts):
        pooled["cores"] = sum(p["cpu"] for p in parts) / pooled["seconds"]
    return pooled


def main() -> int:
    """Runs the load test and prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default="outputs", help="home whose pushed model to serve (default: outputs)")
    parser.add_argument("--url", help="target a running server instead, e.g. http://127.0.0.1:8501")
    parser.add_argument(
        "--requests", type=int, default=3000, help="predict requests per concurrency, over all rounds (default: 3000)"
    )
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 8, 32], help="client threads (default: 1 8 32)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="rounds of (each concurrency, then the in-process calls): both sides meet the same machine (default: 5)",
    )
    parser.add_argument(
        "--client",
        choices=["hey", "python"],
        help="load generator: hey (Debian package hey; the default when installed) or this script's threads",
    )
    parser.add_argument("--burst", type=int, default=300, help="simultaneous new connections (default: 300)")
    parser.add_argument("--rows", type=Path, default=DEFAULT_ROWS, help="CSV of taxi rows to send, one per request")
    parser.add_argument("--log-sampling", type=float, default=0.1, help="the server's request log rate (default: 0.1)")
    args = parser.parse_args()

    hey = shutil.which("hey")
    client = args.client or ("hey" if hey else "python")
    if client == "hey" and hey is None:
        raise SystemExit("--client hey: hey is not installed (apt-get install hey), or use --client python")
    send = load_hey if client == "hey" else load
    config = load_config(overrides={"home": args.home})
    features = serving_features(load_schema(config.schema_path))
    instances = read_rows(args.rows, features)
    bodies = [json.dumps({"instances": [instance]}).encode() for instance in instances]
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f} at start")
    print(f"rows: {len(instances)} from {args.rows}, one per request")
    print(
        "client: hey, one CPU, one keep-alive connection per concurrent request, the first row as every body"
        if client == "hey"
        else "client: this script's threads (http.client), one keep-alive connection each"
    )
    per_round = max(1, args.requests // args.rounds)
    print(
        f"{args.rounds} rounds of {per_round} requests per concurrency, each followed by {per_round} in-process calls"
    )

    server = None
    url = args.url
    if url is None:
        server, url = start_server(args.home, args.log_sampling)
    pid = server.pid if server is not None else None
    rounds: dict[int, list[dict[str, Any]]] = {c: [] for c in args.concurrency}
    local: list[list[float]] = []
    from_rows: list[list[float]] = []
    try:
        # Loaded beside the running server, so its calls alternate with the server's rounds: this VM's
        # speed moves by a third within minutes, and a ratio of figures taken minutes apart shows that.
        calls = InProcess(Path(config.serving_dir), instances, features)
        load(url, config.model_name, bodies, 20, 1)  # warm-up, not counted
        for _ in range(args.rounds):
            for concurrency in args.concurrency:
                cpu_before, client_before = cpu_seconds(pid), _client_cpu()
                result = send(url, config.model_name, bodies, per_round, concurrency)
                cpu_after = cpu_seconds(pid)
                result["client"] = (_client_cpu() - client_before) / result["seconds"]
                if cpu_before is not None and cpu_after is not None:
                    result["cpu"] = cpu_after - cpu_before
                rounds[concurrency].append(result)
            local.append(calls.time(per_round))
            from_rows.append(calls.time(per_round, from_rows=True))
        burst_failures = burst(url, config.model_name, bodies[0], args.burst)
        mean_server = server_side_mean(url)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
    results = {concurrency: _pooled(parts) for concurrency, parts in rounds.items()}
    for concurrency, result in results.items():
        latencies = result["latencies"]
        print(f"\nHTTP predict on loopback: {len(latencies)} requests at concurrency {concurrency}")
        print(summary("client latency", latencies))
        print(f"{'throughput':<28} {len(latencies) / result['seconds']:.1f} requests/s over {result['seconds']:.2f} s")
        print(f"{'  per round':<28} {', '.join(f'{r:.0f}' for r in result['rates'])} requests/s")
        print(f"{'errors':<28} {len(result['errors'])}")
        for error in result["errors"][:5]:
            print(f"  {error}")
        if "cores" in result:
            print(f"{'server CPU':<28} {result['cores']:.2f} cores (of {os.cpu_count()})")
        print(f"{'client CPU':<28} {result['client']:.2f} cores")
    print(f"\nBurst of {args.burst} simultaneous new connections: {len(burst_failures)} failed")
    for failure in burst_failures[:5]:
        print(f"  {failure}")
    if mean_server is not None:
        print(f"{'server-side mean (metrics)':<28} {mean_server * 1000:.2f} ms")

    times = [t for part in local for t in part]
    print("\nIn-process SavedModel call (serving_default, batch of 1, one thread), between the rounds:")
    print(summary("in-process latency", times))
    rate = _rate(times)
    print(f"{'in-process rate':<28} {rate:.1f} calls/s")
    print(f"{'  per round':<28} {', '.join(f'{_rate(p):.0f}' for p in local)} calls/s")
    built = [t for part in from_rows for t in part]
    print("Same, with the 16 input tensors built from the row in each call (as the server must):")
    print(summary("in-process, tensors per call", built))
    print(f"{'in-process rate, tensors':<28} {_rate(built):.1f} calls/s")
    if 8 in results:
        served = len(results[8]["latencies"]) / results[8]["seconds"]
        each = ", ".join(f"{r / _rate(p):.2f}" for r, p in zip(results[8]["rates"], local, strict=True))
        print(
            f"throughput at concurrency 8 / in-process rate: {served / rate:.2f}x (target >= 1.5x on an idle machine;"
            f" rounds: {each})"
        )
        print(
            f"  against the in-process rate with tensors built per call: {served / _rate(built):.2f}x "
            "(shown for comparison; the target is judged on the model call alone, above)"
        )
    if 1 in results:
        ratio = percentile(results[1]["latencies"], 99) / percentile(times, 99)
        each = ", ".join(f"{q / percentile(p, 99):.2f}" for q, p in zip(results[1]["p99s"], local, strict=True))
        print(f"p99 at concurrency 1 / in-process p99: {ratio:.2f}x (target <= 3x on an idle machine; rounds: {each})")
    print(f"\nload average {os.getloadavg()[0]:.2f} at end")
    failed = burst_failures or any(r["errors"] for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
