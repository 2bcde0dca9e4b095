"""The model server over HTTP and gRPC on a tiny SavedModel: TF Serving's routes and statuses, a table
of malformed requests (each answered {"error": ...}, none 5xx), limits and deadlines, bursts,
version policy and labels, a version swap under load, and TF Serving's own gRPC client."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving import MODEL, ROW, Running, start_tiny_server, swap_in

BASE = f"/v1/models/{MODEL}"
BODY_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start_tiny_server(
        tmp_path_factory.mktemp("serve") / "home",
        versions=(1, 2),
        latest=2,
        labels={"stable": 1, "canary": 2},
        max_rows=50,
        body_timeout_seconds=BODY_TIMEOUT,
        header_timeout_seconds=BODY_TIMEOUT,
    )
    yield running
    running.close()


def _example(values: dict[str, Any]) -> str:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, value in values.items():
        slot = example.features.feature[name]
        if isinstance(value, str):
            slot.bytes_list.value.append(value.encode())
        elif isinstance(value, int):
            slot.int64_list.value.append(value)
        else:
            slot.float_list.value.append(value)
    return base64.b64encode(example.SerializeToString()).decode()


def _in_process(server: Running, rows: list[dict[str, Any]]) -> list[float]:
    import tensorflow as tf

    model = tf.saved_model.load(str(server.serving_dir / "2"))
    columns = {
        "fare": tf.constant([r["fare"] for r in rows], tf.float32),
        "trip_start_hour": tf.constant([r["trip_start_hour"] for r in rows], tf.int64),
        "company": tf.constant([r.get("company", "") for r in rows]),
    }
    return [float(v) for v in model.signatures["serving_default"](**columns)["probability"].numpy().ravel()]


def _raw(server: Running, data: bytes, wait: float = 30.0) -> tuple[int, dict[str, Any], bytes]:
    """Sends raw bytes; returns the status, the JSON body and whatever followed (b"" once closed)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
        while len(rest) < length:
            rest += sock.recv(65536)
        after = sock.recv(1)  # b"" when the server closed the connection
        return int(head.split(b" ")[1]), json.loads(rest[:length]), after


def test_rows_columns_and_tf_examples_predict_what_the_saved_model_computes(server: Running) -> None:
    rows = [ROW, {"fare": 40.0, "trip_start_hour": 20}]
    expected = _in_process(server, rows)
    status, by_rows = server.predict({"instances": rows})
    assert status == 200 and [r[0] for r in by_rows["predictions"]] == pytest.approx(expected, abs=1e-6)
    columns = {"fare": [12.5, 40.0], "trip_start_hour": [3, 20], "company": ["Flash Cab", None]}
    status, by_columns = server.predict({"inputs": columns})
    assert status == 200 and [r[0] for r in by_columns["outputs"]] == pytest.approx(expected, abs=1e-6)
    examples = {"signature_name": "serving_tf_example", "instances": [{"b64": _example(r)} for r in rows]}
    status, by_examples = server.predict(examples)
    assert status == 200 and [r[0] for r in by_examples["predictions"]] == pytest.approx(expected, abs=1e-6)


def test_status_metadata_versions_and_labels_answer_like_tf_serving(server: Running) -> None:
    status, document = server.request("GET", BASE)
    assert status == 200
    assert document["model_version_status"] == [
        {"version": v, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}} for v in ("2", "1")
    ]
    assert server.request("GET", f"{BASE}/versions/1")[1]["model_version_status"][0]["version"] == "1"
    assert server.request("GET", f"{BASE}/labels/canary")[1]["model_version_status"][0]["version"] == "2"
    status, metadata = server.request("GET", f"{BASE}/versions/1/metadata")
    assert status == 200 and metadata["model_spec"] == {"name": MODEL, "signature_name": "", "version": "1"}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "serving_tf_example"}
    assert set(signatures["serving_default"]["inputs"]) == {"fare", "trip_start_hour", "company"}
    assert signatures["serving_tf_example"]["inputs"]["examples"]["dtype"] == "DT_STRING"
    assert signatures["serving_default"]["method_name"] == "tensorflow/serving/predict"
    # Both versions answer, by number and by label.
    for prefix in (f"{BASE}/versions/1", f"{BASE}/labels/stable", f"{BASE}/labels/canary", BASE):
        assert server.predict({"instances": [ROW]}, prefix)[0] == 200


def test_out_of_domain_values_are_served_counted_and_marked_in_the_request_log(server: Running) -> None:
    import tensorflow as tf

    before = server.metric("taxi_serving_out_of_domain_values_total", feature="trip_start_hour")
    status, document = server.predict({"instances": [{**ROW, "trip_start_hour": 99, "fare": -5.0}]})
    assert status == 200 and len(document["predictions"]) == 1
    assert server.metric("taxi_serving_out_of_domain_values_total", feature="trip_start_hour") == before + 1
    assert server.metric("taxi_serving_out_of_domain_values_total", feature="fare") >= 1
    logs = Path(server.config.serving_logs_dir)
    deadline = time.monotonic() + 30
    marked: list[list[bytes]] = []
    while not marked and time.monotonic() < deadline:
        for path in logs.glob("requests-*.tfrecord"):
            assert path.stat().st_mode & 0o777 == 0o600
            for record in tf.data.TFRecordDataset(str(path)):
                feature = tf.train.Example.FromString(record.numpy()).features.feature
                if "_out_of_domain" in feature:
                    marked.append(list(feature["_out_of_domain"].bytes_list.value))
        time.sleep(0.2)
    assert [b"fare", b"trip_start_hour"] in marked


_HUGE = "1" + "0" * 5000
MALFORMED: list[tuple[str, str, str, Any, int, str]] = [
    # (id, method, path, body: JSON-able / bytes / None, status, a part of the error message)
    ("unknown route", "GET", "/nope", None, 404, "Malformed request"),
    ("unknown model", "GET", "/v1/models/other", None, 404, "Servable not found for request: Latest(other)"),
    ("unknown version", "GET", f"{BASE}/versions/9", None, 404, f"Specific({MODEL}, 9)"),
    ("version not a number", "GET", f"{BASE}/versions/abc", None, 400, "is not an integer"),
    ("huge version", "GET", f"{BASE}/versions/{'9' * 30}", None, 400, "is not an integer"),
    ("unknown label", "GET", f"{BASE}/labels/nope", None, 404, "Unrecognized servable version label: nope"),
    ("unknown verb", "POST", f"{BASE}:frobnicate", {}, 404, "no such method :frobnicate"),
    ("metadata with a verb", "POST", f"{BASE}/metadata:predict", {}, 404, "Malformed request"),
    ("predict by GET", "GET", f"{BASE}:predict", None, 405, "use POST"),
    ("status by POST", "POST", BASE, {}, 405, "use GET"),
    ("PUT", "PUT", BASE, {}, 405, "use GET"),
    ("DELETE", "DELETE", BASE, None, 405, "use GET"),
    ("PATCH", "PATCH", f"{BASE}:predict", {}, 405, "use POST"),
    ("OPTIONS", "OPTIONS", f"{BASE}:predict", None, 405, "use POST"),
    ("metrics by POST", "POST", "/metrics", {}, 405, "GET it"),
    ("not JSON", "POST", f"{BASE}:predict", b"{instances", 400, "not JSON"),
    ("not UTF-8", "POST", f"{BASE}:predict", b"\xff\xfe{}", 400, "not JSON"),
    ("a JSON array", "POST", f"{BASE}:predict", [ROW], 400, "must be a JSON object"),
    ("neither instances nor inputs", "POST", f"{BASE}:predict", {}, 400, 'exactly one of "instances"'),
    ("both instances and inputs", "POST", f"{BASE}:predict", {"instances": [ROW], "inputs": {}}, 400, "exactly one"),
    ("no instances", "POST", f"{BASE}:predict", {"instances": []}, 400, "non-empty list"),
    ("instances not a list", "POST", f"{BASE}:predict", {"instances": "x"}, 400, "non-empty list"),
    ("instance not an object", "POST", f"{BASE}:predict", {"instances": [1]}, 400, "instance 0 is int"),
    (
        "unknown feature",
        "POST",
        f"{BASE}:predict",
        {"instances": [{**ROW, "tips": 1.0}]},
        400,
        "unknown feature 'tips'",
    ),
    ("missing required", "POST", f"{BASE}:predict", {"instances": [{"trip_start_hour": 1}]}, 400, "'fare' is missing"),
    ("string for a float", "POST", f"{BASE}:predict", {"instances": [{**ROW, "fare": "12"}]}, 400, "expected a number"),
    ("bool for a float", "POST", f"{BASE}:predict", {"instances": [{**ROW, "fare": True}]}, 400, "'fare' is True"),
    ("float32 overflow", "POST", f"{BASE}:predict", {"instances": [{**ROW, "fare": 1e39}]}, 400, "float32 can hold"),
    (
        "float overflow",
        "POST",
        f"{BASE}:predict",
        b'{"instances": [{"fare": 1e400, "trip_start_hour": 1}]}',
        400,
        "finite",
    ),
    ("NaN literal", "POST", f"{BASE}:predict", b'{"instances": [{"fare": NaN, "trip_start_hour": 1}]}', 400, "NaN"),
    ("Infinity", "POST", f"{BASE}:predict", b'{"instances": [{"fare": -Infinity, "trip_start_hour": 1}]}', 400, "JSON"),
    (
        "5000 digits",
        "POST",
        f"{BASE}:predict",
        f'{{"instances": [{{"fare": {_HUGE}, "trip_start_hour": 1}}]}}'.encode(),
        400,
        "5001-character number",
    ),
    ("int above int64", "POST", f"{BASE}:predict", {"instances": [{**ROW, "trip_start_hour": 2**63}]}, 400, "int64"),
    (
        "int below int64",
        "POST",
        f"{BASE}:predict",
        {"instances": [{**ROW, "trip_start_hour": -(2**63) - 1}]},
        400,
        "int64",
    ),
    (
        "fraction for an int",
        "POST",
        f"{BASE}:predict",
        {"instances": [{**ROW, "trip_start_hour": 1.5}]},
        400,
        "expected an integer",
    ),
    (
        "lone surrogate",
        "POST",
        f"{BASE}:predict",
        b'{"instances": [{"fare": 1.0, "trip_start_hour": 1, "company": "\\ud800"}]}',
        400,
        "surrogate",
    ),
    (
        "number for a string",
        "POST",
        f"{BASE}:predict",
        {"instances": [{**ROW, "company": 3}]},
        400,
        "expected a string",
    ),
    ("two values", "POST", f"{BASE}:predict", {"instances": [{**ROW, "fare": [1.0, 2.0]}]}, 400, "has 2 values"),
    (
        "deep nesting",
        "POST",
        f"{BASE}:predict",
        b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        413,
        "more than",
    ),
    (
        "deep nesting, small",
        "POST",
        f"{BASE}:predict",
        b'{"instances": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        400,
        "nested too deeply",
    ),
    (
        "unknown signature",
        "POST",
        f"{BASE}:predict",
        {"instances": [ROW], "signature_name": "nope"},
        400,
        'Serving signature name: "nope" not found',
    ),
    (
        "signature not a string",
        "POST",
        f"{BASE}:predict",
        {"instances": [ROW], "signature_name": 5},
        400,
        "not found in signature def",
    ),
    (
        "b64 to serving_default",
        "POST",
        f"{BASE}:predict",
        {"instances": [{"b64": _example(ROW)}]},
        400,
        "serving_tf_example",
    ),
    (
        "raw to serving_tf_example",
        "POST",
        f"{BASE}:predict",
        {"instances": [ROW], "signature_name": "serving_tf_example"},
        400,
        "takes serialized tf.Examples",
    ),
    (
        "bad base64",
        "POST",
        f"{BASE}:predict",
        {"instances": [{"b64": "%%%"}], "signature_name": "serving_tf_example"},
        400,
        "not valid base64",
    ),
    (
        "not a tf.Example",
        "POST",
        f"{BASE}:predict",
        {"instances": [{"b64": "////"}], "signature_name": "serving_tf_example"},
        400,
        "not a serialized tf.Example",
    ),
    (
        "columns of unequal length",
        "POST",
        f"{BASE}:predict",
        {"inputs": {"fare": [1.0], "trip_start_hour": [1, 2]}},
        400,
        "lengths differ",
    ),
    ("inputs not an object", "POST", f"{BASE}:predict", {"inputs": 3}, 400, "'inputs' must be an object"),
    ("too many rows", "POST", f"{BASE}:predict", {"instances": [ROW] * 51}, 413, "at most 50"),
    (
        "too many columnar rows",
        "POST",
        f"{BASE}:predict",
        {"inputs": {"fare": [1.0] * 51, "trip_start_hour": [1] * 51}},
        413,
        "at most 50",
    ),
    ("body too large", "POST", f"{BASE}:predict", b" " * 70_000, 413, "more than 65536 bytes"),
    ("classify", "POST", f"{BASE}:classify", {"instances": [ROW]}, 400, "Expected classification signature"),
    ("regress", "POST", f"{BASE}:regress", {"examples": []}, 400, "Expected regression signature"),
    (
        "classify, unknown signature",
        "POST",
        f"{BASE}:classify",
        {"signature_name": "x"},
        400,
        "not found in signature def",
    ),
    ("predict on a missing version", "POST", f"{BASE}/versions/7:predict", {"instances": [ROW]}, 404, "Specific"),
]

RAW: list[tuple[str, bytes, int, str]] = [
    # (id, bytes sent, status, a part of the error message): what http.client would not send
    ("garbage request line", b"HELLO\r\n\r\n", 400, "malformed HTTP request"),
    (
        "negative Content-Length",
        f"POST {BASE}:predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n".encode(),
        400,
        "malformed",
    ),
    (
        "Content-Length not a number",
        f"POST {BASE}:predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: ab\r\n\r\n".encode(),
        400,
        "malformed",
    ),
    ("URL too long", f"GET {BASE}/{'x' * 20_000} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(), 414, "URL is longer"),
    (
        "headers too large",
        f"GET {BASE} HTTP/1.1\r\nHost: localhost\r\nX-Big: {'x' * 20_000}\r\n\r\n".encode(),
        431,
        "headers are longer",
    ),
    (
        "foreign Host",
        f"GET {BASE} HTTP/1.1\r\nHost: evil.example\r\n\r\n".encode(),
        400,
        "Host header 'evil.example' is not allowed",
    ),
    ("no Host", f"GET {BASE} HTTP/1.1\r\n\r\n".encode(), 400, "is not allowed"),
    (
        "cross-origin POST",
        f"POST {BASE}:predict HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n"
        "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}".encode(),
        403,
        "cross-origin",
    ),
    ("HEAD", f"HEAD {BASE}:predict HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(), 405, ""),
    (
        "body shorter than Content-Length",
        f"POST {BASE}:predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{{}}".encode(),
        408,
        "did not arrive within",
    ),
]


def test_malformed_requests_get_json_errors_none_5xx_and_the_server_keeps_counting(server: Running) -> None:
    assert len(MALFORMED) + len(RAW) >= 40
    errors_before = sum(
        server.metric("taxi_serving_errors_total", code=str(c), endpoint=e)
        for c in (400, 404, 405, 413)
        for e in ("predict", "status", "metadata", "other", "classify", "regress", "metrics")
    )
    seen = []
    for name, method, path, body, expected, says in MALFORMED:
        status, document = server.request(method, path, body)
        seen.append((name, status, document))
        assert status == expected, (name, document)
        assert set(document) == {"error"} and says in document["error"], (name, document)
    for name, data, expected, says in RAW:
        if name == "HEAD":
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(data)
                assert sock.recv(100).startswith(b"HTTP/1.1 405 ")  # a HEAD answer has no body
            continue
        status, document, _ = _raw(server, data)
        assert status == expected, (name, document)
        assert set(document) == {"error"} and says in document["error"], (name, document)
    for name, status, document in seen:
        print(f"{status} {name}: {document['error'][:100]}")
    errors_after = sum(
        server.metric("taxi_serving_errors_total", code=str(c), endpoint=e)
        for c in (400, 404, 405, 413)
        for e in ("predict", "status", "metadata", "other", "classify", "regress", "metrics")
    )
    assert errors_after - errors_before >= len(MALFORMED)  # and the Host/Content-Length ones of RAW
    assert server.metric("taxi_serving_requests_total", code="400", endpoint="connection") >= 3
    assert server.predict({"instances": [ROW]})[0] == 200


def test_a_client_that_stops_mid_body_is_cut_off_and_one_that_never_ends_its_headers_too(server: Running) -> None:
    head = f"POST {BASE}:predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n".encode()
    status, document, after = _raw(server, head + b'{"instances": [', wait=20 * BODY_TIMEOUT)
    assert status == 408 and f"within {BODY_TIMEOUT:g}s" in document["error"] and after == b""
    status, document, after = _raw(server, f"GET {BASE} HTTP/1.1\r\nHost: loc".encode(), wait=20 * BODY_TIMEOUT)
    assert status == 408 and "headers did not arrive" in document["error"] and after == b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20 * BODY_TIMEOUT) as idle:
        assert idle.recv(1000).startswith(b"HTTP/1.1 408 ")  # connected, never sent a byte


def test_a_burst_of_300_simultaneous_connections_all_get_answers(server: Running) -> None:
    import http.client

    body = json.dumps({"instances": [ROW]}).encode()
    failures: list[str] = []
    start = threading.Barrier(300)

    def one() -> None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            start.wait()
            connection.request("POST", f"{BASE}:predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures.append(str(response.status))
        except Exception as err:
            failures.append(repr(err))

    threads = [threading.Thread(target=one) for _ in range(300)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert server.metric("taxi_serving_batch_rows_count") > 0


def test_a_new_version_is_served_without_a_failed_request_and_the_oldest_unloaded(server: Running) -> None:
    swap = swap_in(server, server.serving_dir, 2, 3, {"instances": [ROW]}, clients=4)
    print(f"version 3 answered {swap.seconds:.2f}s after its folder was renamed in; {swap.answered} requests meanwhile")
    assert swap.failures == [] and swap.answered > 0
    assert server.versions() == [3, 2]
    assert server.metric("taxi_serving_models_loaded") == 2
    assert "loaded version 3 from" in server.console.getvalue()
    # Labels keep naming their version: stable (1) is unloaded now, so it answers 404, not another version.
    status, document = server.predict({"instances": [ROW]}, f"{BASE}/labels/stable")
    assert status == 404 and "label stable" in document["error"]


def test_tf_servings_own_grpc_client_gets_the_rest_answer(server: Running) -> None:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    logged_before = server.metric("taxi_serving_logged_rows_total")
    version = {"version": str(server.version())}
    scores_before = server.metric("taxi_serving_prediction_score_count", **version)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["fare"].CopyFrom(tf.make_tensor_proto([ROW["fare"]], dtype=tf.float32))
    request.inputs["trip_start_hour"].CopyFrom(tf.make_tensor_proto([ROW["trip_start_hour"]], dtype=tf.int64))
    request.inputs["company"].CopyFrom(tf.make_tensor_proto([ROW["company"].encode()]))
    answer = stub.Predict(request, timeout=30)
    by_grpc = float(tf.make_ndarray(answer.outputs["probability"]).ravel()[0])
    by_rest = server.predict({"instances": [ROW]})[1]["predictions"][0][0]
    assert by_grpc == pytest.approx(by_rest, abs=1e-6) == pytest.approx(_in_process(server, [ROW])[0], abs=1e-6)
    assert answer.model_spec.signature_name == "serving_default" and answer.model_spec.version.value >= 2
    # The gRPC answer's score is in the histogram as the REST one's is (one each).
    assert server.metric("taxi_serving_prediction_score_count", **version) == scores_before + 2

    examples = predict_pb2.PredictRequest()
    examples.model_spec.name, examples.model_spec.signature_name = MODEL, "serving_tf_example"
    examples.inputs["examples"].CopyFrom(tf.make_tensor_proto([base64.b64decode(_example(ROW))]))
    by_example = tf.make_ndarray(stub.Predict(examples, timeout=30).outputs["probability"]).ravel()[0]
    assert float(by_example) == pytest.approx(by_grpc, abs=1e-6)

    metadata_request = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata_request.model_spec.name = MODEL
    metadata_request.metadata_field.append("signature_def")
    metadata = stub.GetModelMetadata(metadata_request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def) == {"serving_default", "serving_tf_example"}

    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = MODEL
    statuses = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status_request, timeout=30)
    assert all(s.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE for s in statuses.model_version_status)

    request.inputs["fare"].CopyFrom(tf.make_tensor_proto([1e39], dtype=tf.float64))
    with pytest.raises(grpc.RpcError) as refused:
        stub.Predict(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "float32" in refused.value.details()
    request.model_spec.name = "other"
    with pytest.raises(grpc.RpcError) as missing:
        stub.Predict(request, timeout=30)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    channel.close()
    # gRPC predictions are sampled into the request log like REST's (this server logs every one).
    deadline = time.monotonic() + 30
    while server.metric("taxi_serving_logged_rows_total") < logged_before + 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.metric("taxi_serving_logged_rows_total") >= logged_before + 3


def test_strict_domains_refuse_out_of_domain_values(tmp_path: Path) -> None:
    strict = start_tiny_server(tmp_path / "home", strict_domains=True, grpc_port=-1)
    try:
        status, document = strict.predict({"instances": [ROW, {**ROW, "trip_start_hour": 24}]})
        assert status == 400
        assert document["error"].startswith("instance 1: feature 'trip_start_hour' is 24, outside the schema's domain")
        assert strict.predict({"instances": [ROW]})[0] == 200
    finally:
        strict.close()
