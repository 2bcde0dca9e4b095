"""SIGTERM stops `python -m runners serve` gracefully: a request in flight is answered, new connections
are refused, and the process exits 0."""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path

from tests.serving import MODEL, ROW, start_serve, tiny_home


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_lets_the_request_in_flight_finish_refuses_new_connections_and_exits_0(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tiny_home(home)
    served = start_serve(home, "--grpc-port", "-1", "--body-timeout", "120")
    body = json.dumps({"instances": [ROW] * 200}).encode()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=120)
        # The request is in flight: its headers and half its body are sent, the server is reading it.
        connection.putrequest("POST", f"/v1/models/{MODEL}:predict")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        connection.send(body[: len(body) // 2])
        deadline = time.monotonic() + 60
        # The gauge counts this /metrics request too: 2 means ours is being answered.
        while served.metric("taxi_serving_requests_in_flight") < 2:
            assert time.monotonic() < deadline, "the server never started reading the request"
            time.sleep(0.05)

        served.process.terminate()
        deadline = time.monotonic() + 60
        while not _refused(served.port):
            assert time.monotonic() < deadline, "new connections were still accepted after SIGTERM"
            time.sleep(0.05)
        assert served.process.poll() is None  # still running: it has a request to finish

        connection.send(body[len(body) // 2 :])
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
        assert response.status == 200 and len(answer["predictions"]) == 200
    finally:
        code = served.stop()
    assert code == 0, served.printed()
    assert "stopped" in served.printed()
