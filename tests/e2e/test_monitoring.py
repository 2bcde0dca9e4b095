"""Monitoring end to end: a real Prometheus fires an alert on the real model server; `watch` retrains by itself.

Both start from a copy of the shared healthy home (spans 1 and 2 trained and pushed), so this module
adds one pipeline run of its own: the span `watch` trains on.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import ids
from runners.monitoring import textfile
from runners.store import metadata as md
from runners.store.summary import summarize
from tests.e2e.conftest import FAST_FLAGS, ROOT, SMALL_DATA, HealthyHome
from tests.prometheus_tools import require_tool

pytestmark = pytest.mark.e2e

MODEL = "taxi_big_tipper"
ALERT = "TaxiServingHighErrorRatio"
# The test copy of the rules keeps every expression and shortens each `for:` to this, so pending
# and firing happen within seconds instead of minutes (monitoring/alerts.yml itself is unchanged).
TEST_FOR = "4s"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _http(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    return response.status, text


class Lines:
    """A child process's merged output, read on a thread so its pipe never fills."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        for line in process.stdout or []:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    found = re.search(pattern, line)
                    if found:
                        return found
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no line matching {pattern!r} within {timeout:.0f}s:\n" + "".join(self.lines[-80:]))
                self.changed.wait(left)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _start(command: list[str]) -> tuple[subprocess.Popen[str], Lines]:
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, Lines(process)


def _end(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def server_port(healthy_home: HealthyHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`taxi-pipeline serve` on a copy of the healthy home, as a user starts it; yields its port."""
    home = tmp_path_factory.mktemp("served") / "home"
    shutil.copytree(healthy_home.home, home)
    process, output = _start([sys.executable, "-m", "runners", "serve", "--home", str(home), "--port", "0"])
    try:
        port = int(output.wait_for(r"listening on http://127\.0\.0\.1:(\d+)/", 300).group(1))
        yield port
    finally:
        _end(process)


def _test_rules(path: Path) -> Path:
    document = yaml.safe_load((ROOT / "monitoring" / "alerts.yml").read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = TEST_FOR
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def prometheus_port(server_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real Prometheus scraping the server every second on loopback, with the (shortened) rules."""
    binary = require_tool("prometheus")
    tmp_path = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(_test_rules(tmp_path / "alerts.yml"))],
        "scrape_configs": [{"job_name": "taxi-serving", "static_configs": [{"targets": [f"127.0.0.1:{server_port}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    process, output = _start(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _http(port, "GET", "/-/ready")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Prometheus did not become ready:\n" + output.text)
            time.sleep(0.2)
        yield port
    finally:
        _end(process)


def _api(port: int, path: str) -> Any:
    status, text = _http(port, "GET", path)
    assert status == 200, text
    document = json.loads(text)
    assert document["status"] == "success", document
    return document["data"]


def test_prometheus_sees_the_error_ratio_alert_go_pending_then_firing(server_port: int, prometheus_port: int) -> None:
    stop = threading.Event()
    answers: list[int] = []

    def traffic() -> None:  # half the requests are bad payloads the server answers with 400
        while not stop.is_set():
            answers.append(_http(server_port, "POST", f"/v1/models/{MODEL}:predict", b'{"instances": [{"x": 1}]}')[0])
            answers.append(_http(server_port, "GET", f"/v1/models/{MODEL}")[0])
            stop.wait(0.1)

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    states: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while "firing" not in states:
            assert time.monotonic() < deadline, f"{ALERT} did not fire within 180 s; states seen: {states}"
            alerts = _api(prometheus_port, "/api/v1/alerts")["alerts"]
            state = next((a["state"] for a in alerts if a["labels"]["alertname"] == ALERT), "inactive")
            if not states or states[-1] != state:
                states.append(state)
            time.sleep(0.2)
        firing = next(a for a in alerts if a["labels"]["alertname"] == ALERT)
    finally:
        stop.set()
        sender.join(timeout=30)
    assert set(answers) == {200, 400}
    # Observed in order: inactive (no errors yet or too few samples), pending for TEST_FOR, then firing.
    assert states[-2:] == ["pending", "firing"], states
    assert 0.05 < float(firing["value"]) <= 1.0
    assert firing["labels"]["severity"] == "warning" and firing["annotations"]["runbook"]
    # The errors Prometheus counted are the server's own series, scraped from its /metrics.
    errors = _api(prometheus_port, "/api/v1/query?query=taxi_serving_errors_total")["result"]
    assert any(s["metric"]["code"] == "400" and s["metric"]["job"] == "taxi-serving" for s in errors), errors
    rules = _api(prometheus_port, "/api/v1/rules")["groups"]
    assert sum(len(g["rules"]) for g in rules) == len(
        [r for g in yaml.safe_load((ROOT / "monitoring" / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    )


def test_every_grafana_panel_query_is_valid_promql(prometheus_port: int) -> None:
    # The dashboard was not loaded into Grafana; its queries are at least ones Prometheus parses and runs.
    dashboard = json.loads((ROOT / "monitoring" / "grafana" / "taxi-serving.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(queries) >= 10
    for query in queries:
        status, text = _http(prometheus_port, "GET", "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
        assert status == 200 and json.loads(text)["status"] == "success", (query, text)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def test_watch_trains_a_span_written_while_it_runs_and_outlives_a_failed_run(
    healthy_home: HealthyHome, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(healthy_home.home, home)
    data_root = tmp_path / "data"
    shutil.copytree(healthy_home.data_root, data_root)
    command = [sys.executable, "-m", "runners", "watch", "--home", str(home), "--data-root", str(data_root)]
    command += ["--max-runs", "2", "--poll-seconds", "0.5", "--settle-seconds", "3600", "--backoff-seconds", "1"]
    command += ["--skew-seconds", "3600", *FAST_FLAGS]
    process, output = _start(command)
    try:
        output.wait_for("watching for span folders", 120)
        output.wait_for(r"skew not measured \(exit code 2", 120)  # the copied home has no request log yet

        # Span 3 arrives broken (its columns are not the schema's) and without its marker: the watcher waits.
        span3 = data_root / "span-3"
        _write_atomically(span3 / "data.csv", "foo,bar\n1,2\n")
        output.wait_for("span 3 not complete yet", 60)
        time.sleep(2)  # several polls
        assert "running the pipeline" not in output.text
        # The marker completes it; its run stops (exit 3: unreadable input) and the watcher goes on.
        (span3 / "_SUCCESS").touch()
        output.wait_for("span 3 is complete: running the pipeline on it", 60)
        output.wait_for(r"run 1 on span 3 failed with exit code 3", 300)
        output.wait_for("span 3 unchanged since its run exited 3; waiting for new files", 60)
        failed = textfile.read_textfile(textfile.textfile_path(home))
        assert failed["taxi_pipeline_last_run_success"] == [((), 0.0)]
        assert failed["taxi_pipeline_last_run_exit_code"] == [((), 3.0)]

        # The corrected delivery replaces the file: span 3 is run again and trained on.
        _write_atomically(span3 / "data.csv", (SMALL_DATA / "span-1" / "data.csv").read_text())
        output.wait_for(r"run 2 on span 3 completed in \d+s; trained on spans [\d, ]*3", 900)
        process.wait(timeout=120)
    finally:
        _end(process)
    assert process.returncode == 0, output.text
    assert "stopping: 2 run(s) done (--max-runs)" in output.text

    # ML Metadata: the newest run trained on a window holding span 3.
    store = md.connect(home / "metadata.db")
    summary = summarize(store, md.run_ids(store, "taxi")[-1])
    assert summary.span == 3 and 3 in summary.window_spans
    assert summary.component_states[ids.TRAINER] == "executed"
    metrics = textfile.read_textfile(textfile.textfile_path(home))
    assert metrics["taxi_pipeline_last_run_success"] == [((), 1.0)]
    assert metrics["taxi_pipeline_last_run_span"] == [((), 3.0)]
    assert metrics["taxi_pipeline_drift_features_over_limit"] == [((), 0.0)]
    if summary.pushed:  # the score level the serving alert compares with is the pushed version's
        ((labels, score),) = metrics["taxi_pipeline_model_eval_mean_score"]
        assert labels == (("version", summary.pushed_version),) and 0.0 < score < 1.0
    log = sorted((home / "logs").glob("watch-*.log"))[-1]
    assert "run 2 on span 3 completed" in log.read_text()
