"""`taxi-pipeline serve` and `skew` against the model a real run pushed (the shared healthy home).

One server runs for the module, started as a user starts it (`python -m runners serve`) on free
REST and gRPC ports with every request logged, two versions loaded (the pushed one, labelled stable,
and a copy of it published as the next version, labelled canary); the tests talk to it over HTTP and
with TF Serving's own gRPC client on loopback.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline import serving_dir as sd
from tests.e2e.conftest import SMALL_DATA, HealthyHome, run_cli
from tests.serving import MODEL, Served, start_serve, swap_in

pytestmark = pytest.mark.e2e

MAX_REQUEST_BYTES = 100_000
STRING_FEATURES = {"payment_type", "company"}
INT_FEATURES = {
    "trip_start_hour",
    "trip_start_day",
    "trip_start_month",
    "trip_seconds",
    "pickup_census_tract",
    "dropoff_census_tract",
    "pickup_community_area",
    "dropoff_community_area",
}
LEFT_OUT = {"tips", "trip_start_timestamp"}  # not in the schema's SERVING environment


@dataclass
class Server(Served):
    """A running `taxi-pipeline serve` over a copy of the healthy home, and the version the run pushed."""

    pushed: int = 0


def _typed(name: str, text: str) -> Any:
    if name in STRING_FEATURES:
        return text
    return int(float(text)) if name in INT_FEATURES else float(text)


def _instances(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """CSV rows as predict instances: serving features only, an empty cell left out (a missing value)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    return [{k: _typed(k, v) for k, v in row.items() if v != "" and k not in LEFT_OUT} for row in rows]


@pytest.fixture(scope="module")
def server(healthy_home: HealthyHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("serving") / "home"
    shutil.copytree(healthy_home.home, home)
    serving = home / "serving" / MODEL
    pushed = sd.versions(serving)[-1]
    sd.publish(serving, serving / str(pushed), pushed + 1)  # a second version, as a new push would add
    served = start_serve(
        home,
        "--grpc-port",
        "0",
        "--log-sampling",
        "1.0",
        "--max-request-bytes",
        str(MAX_REQUEST_BYTES),
        "--latest",
        "2",
        "--labels",
        f"stable={pushed},canary={pushed + 1}",
    )
    server = Server(**vars(served), pushed=pushed)
    try:
        yield server
    finally:
        code = server.stop()
    # SIGTERM is a graceful stop: the server finishes what it answers, says so and exits 0.
    assert code == 0 and "stopped" in server.printed(), "".join(server.output[-20:])


def test_status_reports_both_loaded_versions_and_labels_route_to_them(server: Server) -> None:
    assert server.versions()[:2] == [server.pushed + 1, server.pushed] or server.version() > server.pushed + 1
    status, document = server.request("GET", "/v1/models/another_model")
    assert status == 404 and "another_model" in document["error"]
    status, document = server.request("GET", f"/v1/models/{MODEL}/labels/stable")
    assert status == 200 and document["model_version_status"][0]["version"] == str(server.pushed)
    (instance,) = _instances(SMALL_DATA / "span-2" / "data.csv", limit=1)
    answers = {}
    for route in (f"/versions/{server.pushed}", "/labels/stable", "/labels/canary", ""):
        status, document = server.request("POST", f"/v1/models/{MODEL}{route}:predict", {"instances": [instance]})
        assert status == 200, (route, document)
        answers[route] = document["predictions"][0][0]
    # The canary is a copy of the stable version: both answer the same.
    assert answers["/labels/stable"] == pytest.approx(answers["/labels/canary"], abs=1e-6)


def test_metadata_names_the_raw_default_and_the_tf_example_signature(server: Server) -> None:
    status, document = server.request("GET", f"/v1/models/{MODEL}/versions/{server.pushed}/metadata")
    assert status == 200, document
    assert document["model_spec"] == {"name": MODEL, "signature_name": "", "version": str(server.pushed)}
    signatures = document["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "serving_tf_example", "transform_features"} <= set(signatures)
    assert {"fare", "payment_type", "trip_start_hour"} <= set(signatures["serving_default"]["inputs"])
    assert set(signatures["serving_tf_example"]["inputs"]) == {"examples"}
    assert set(signatures["serving_default"]["outputs"]) == {"probability"}


def test_signature_name_routes_as_on_tf_serving(server: Server) -> None:
    (instance,) = _instances(SMALL_DATA / "span-2" / "data.csv", limit=1)
    status, document = server.predict({"instances": [instance], "signature_name": "serving_tf_example"})
    assert status == 400 and "takes serialized tf.Examples" in document["error"]
    status, document = server.predict({"instances": [instance], "signature_name": "transform_features"})
    assert status == 400 and 'Serving signature name: "transform_features" not found' in document["error"]
    status, document = server.request("POST", f"/v1/models/{MODEL}:classify", {"instances": [instance]})
    assert status == 400 and "Expected classification signature" in document["error"]


def test_prediction_equals_the_in_process_saved_model(server: Server) -> None:
    import tensorflow as tf

    instances = _instances(SMALL_DATA / "span-2" / "data.csv", limit=8)
    # Rows with gaps included: the server fills them as the model's preprocessing does.
    assert any(len(instance) < 16 for instance in instances)
    status, document = server.predict({"instances": instances})
    assert status == 200, document
    served = np.array(document["predictions"], dtype=np.float64).ravel()

    model = tf.saved_model.load(str(server.serving_dir / str(server.version())))
    function = model.signatures["serving_default"]
    tensors = {}
    for name, spec in function.structured_input_signature[1].items():
        fill = "" if name in STRING_FEATURES else 0
        tensors[name] = tf.constant([instance.get(name, fill) for instance in instances], dtype=spec.dtype)
    expected = function(**tensors)["probability"].numpy().ravel()
    assert served.shape == (len(instances),)
    np.testing.assert_allclose(served, expected, atol=1e-6)

    # The same rows as serialized tf.Examples, TF Serving's {"b64": ...} form, answer alike.
    examples = []
    for instance in instances:
        example = tf.train.Example()
        for name, value in instance.items():
            slot = example.features.feature[name]
            if isinstance(value, str):
                slot.bytes_list.value.append(value.encode())
            elif isinstance(value, int):
                slot.int64_list.value.append(value)
            else:
                slot.float_list.value.append(value)
        examples.append({"b64": base64.b64encode(example.SerializeToString()).decode()})
    status, document = server.predict({"instances": examples, "signature_name": "serving_tf_example"})
    assert status == 200, document
    np.testing.assert_allclose(np.array(document["predictions"]).ravel(), expected, atol=1e-6)

    # TF Serving's own gRPC client, unchanged, gets the same probabilities.
    import grpc
    from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    for name, tensor in tensors.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(tensor.numpy()))
    answer = stub.Predict(request, timeout=60)
    np.testing.assert_allclose(tf.make_ndarray(answer.outputs["probability"]).ravel(), expected, atol=1e-6)
    assert answer.model_spec.version.value == server.version()
    metadata_request = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata_request.model_spec.name = MODEL
    metadata_request.metadata_field.append("signature_def")
    signatures = get_model_metadata_pb2.SignatureDefMap()
    stub.GetModelMetadata(metadata_request, timeout=60).metadata["signature_def"].Unpack(signatures)
    assert {"serving_default", "serving_tf_example"} <= set(signatures.signature_def)
    channel.close()


@pytest.mark.parametrize(
    ("change", "feature"),
    [
        ({"fare": None}, "fare"),  # a required feature left out
        ({"trip_miles": "3.5"}, "trip_miles"),  # a string for a float
        ({"payment_type": 1}, "payment_type"),  # a number for a string
        ({"tips": 2.0}, "tips"),  # the label source is not a serving feature
    ],
)
def test_a_bad_request_gets_400_naming_the_feature(server: Server, change: dict[str, Any], feature: str) -> None:
    (instance,) = _instances(SMALL_DATA / "span-2" / "data.csv", limit=1)
    bad = {k: v for k, v in {**instance, **change}.items() if v is not None}
    status, document = server.predict({"instances": [instance, bad]})
    assert status == 400
    assert f"'{feature}'" in document["error"] and "instance 1" in document["error"]


def test_explain_answers_what_runners_explain_computes_in_process(server: Server) -> None:
    from runners.serving import explain
    from runners.store import importance
    from runners.store import lineage as ln
    from runners.store import metadata as md

    instances = _instances(SMALL_DATA / "span-2" / "data.csv", limit=4)
    assert any(len(instance) < 16 for instance in instances)  # left-out features take the baseline's value
    version = server.pushed  # the copy published as the next version is not in ML Metadata: no baseline
    counted = {"endpoint": "explain", "code": "200"}
    before = server.metric("taxi_serving_requests_total", **counted)

    status, document = server.request("POST", f"/v1/models/{MODEL}/labels/stable:explain", {"instances": instances})

    assert status == 200, document
    # The same model, baseline row and rows, explained in this process with runners.serving.explain.
    store = md.connect(server.home / "metadata.db")
    (push,) = [p for p in ln.find_pushes(store, "taxi") if p.version == version]
    baseline = importance.baseline_for_model(store, push.model_id)
    assert baseline is not None
    expected = explain.explain(explain.load_model(server.serving_dir / str(version)), instances, baseline)
    assert document["model_version"] == str(version) and document["baseline"] == baseline
    assert len(document["explanations"]) == len(instances)
    for served, wanted in zip(document["explanations"], expected, strict=True):
        assert served["prediction"] == pytest.approx(wanted.prediction, abs=1e-6)
        assert served["baseline_prediction"] == pytest.approx(wanted.baseline_prediction, abs=1e-6)
        assert served["contributions"] == pytest.approx(wanted.contributions, abs=1e-6)
    assert any(abs(v) > 1e-3 for e in expected for v in e.contributions.values())  # the model moved
    assert server.metric("taxi_serving_requests_total", **counted) == before + 1
    assert server.metric("taxi_serving_explanations_total", version=str(version)) >= len(instances)


def test_a_bad_explain_request_gets_400_naming_the_feature(server: Server) -> None:
    (instance,) = _instances(SMALL_DATA / "span-2" / "data.csv", limit=1)
    counted = {"endpoint": "explain", "code": "400"}
    before = server.metric("taxi_serving_errors_total", **counted)

    bad = {"instances": [instance, {**instance, "trip_miles": "3.5"}]}
    status, document = server.request("POST", f"/v1/models/{MODEL}/labels/stable:explain", bad)

    assert status == 400
    assert "instance 1" in document["error"] and "'trip_miles'" in document["error"]
    assert server.metric("taxi_serving_errors_total", **counted) == before + 1


def test_an_oversized_body_gets_413(server: Server) -> None:
    instances = _instances(SMALL_DATA / "span-2" / "data.csv")
    body = json.dumps({"instances": instances * 2}).encode()
    assert len(body) > MAX_REQUEST_BYTES
    status, document = server.predict(body)
    assert status == 413 and "--max-request-bytes" in document["error"]


def test_metrics_count_requests_errors_scores_and_the_version(server: Server) -> None:
    ok = {"endpoint": "predict", "code": "200"}
    bad = {"endpoint": "predict", "code": "400"}
    version = {"version": str(server.version())}
    before = {
        "ok": server.metric("taxi_serving_requests_total", **ok),
        "errors": server.metric("taxi_serving_errors_total", **bad),
        "scores": server.metric("taxi_serving_prediction_score_count", **version),
        "latency": server.metric("taxi_serving_request_duration_seconds_count", endpoint="predict"),
    }
    instances = _instances(SMALL_DATA / "span-2" / "data.csv", limit=3)
    assert server.predict({"instances": instances})[0] == 200
    assert server.predict({"instances": [{"fare": "free"}]})[0] == 400

    assert server.metric("taxi_serving_requests_total", **ok) == before["ok"] + 1
    assert server.metric("taxi_serving_errors_total", **bad) == before["errors"] + 1
    assert server.metric("taxi_serving_prediction_score_count", **version) == before["scores"] + 3
    assert server.metric("taxi_serving_request_duration_seconds_count", endpoint="predict") == before["latency"] + 2
    assert server.metric("taxi_serving_model_version", model=MODEL) == server.version()


def test_skew_reports_the_shifted_features_of_logged_requests(server: Server) -> None:
    """Requests from a copy of span 2 (the model's newest training span) with fares in cents (x100)
    and every trip paid by credit card; the other features keep span 2's distribution."""
    shifted = _instances(SMALL_DATA / "span-2" / "data.csv")
    for instance in shifted:
        instance["fare"] *= 100
        instance["payment_type"] = "Credit Card"
    logged_before = server.metric("taxi_serving_logged_rows_total")
    for start in range(0, len(shifted), 50):
        status, document = server.predict({"instances": shifted[start : start + 50]})
        assert status == 200, document
    deadline = time.monotonic() + 60
    while server.metric("taxi_serving_logged_rows_total") < logged_before + len(shifted):
        assert time.monotonic() < deadline, "the request log did not catch up"
        time.sleep(0.2)

    # The version a run pushed: the one N+1 republished is not in ML Metadata, so it has no lineage.
    pushed = sd.versions(server.serving_dir)[0]
    result = run_cli("skew", "--home", str(server.home), "--version", str(pushed), "--json", timeout=600)
    assert result.returncode == 4, result.stderr[-3000:]
    report = json.loads(result.stdout)
    by_feature = {row["feature"]: row for row in report["features"]}
    assert {"fare", "payment_type"} <= set(report["skewed"])
    assert by_feature["fare"]["measure"] == "jensen_shannon_divergence"
    assert by_feature["payment_type"]["measure"] == "infinity_norm"
    for unshifted in ("trip_start_hour", "trip_miles", "pickup_latitude"):
        assert by_feature[unshifted]["status"] == "ok", by_feature[unshifted]
    assert report["training_span"] == 2 and report["logged_rows"] >= len(shifted)
    assert "fare" in result.stderr and "payment_type" in result.stderr


def test_a_newly_published_version_is_served_without_restart_or_a_failed_request(server: Server) -> None:
    """Last in the module: its load fills the request log that the skew test reads.

    Renames a copy of the serving version in as version N+1, the atomic step a push or `rollback` ends
    with (serving_dir.publish; the healthy home holds one push, so `rollback` has nothing to roll back
    to), while two clients keep predicting; prints the time from the rename to the new version's
    first answer and where the server's load of it went."""
    current = server.version()
    instances = _instances(SMALL_DATA / "span-2" / "data.csv", limit=2)
    swap = swap_in(server, server.serving_dir, current, current + 1, {"instances": instances})
    loaded = [line.strip() for line in server.output if f"loaded version {current + 1}" in line]
    print(
        f"version {current + 1} answered {swap.seconds:.1f}s after its folder was renamed in "
        f"(load average {os.getloadavg()[0]:.1f}); {swap.answered} requests meanwhile, "
        f"{len(swap.failures)} failed; server: {loaded}"
    )
    assert swap.failures == [] and swap.answered > 0
    assert server.version() == current + 1 and loaded
    before = server.metric("taxi_serving_predictions_total", version=str(current + 1))
    status, document = server.predict({"instances": instances})
    assert status == 200 and len(document["predictions"]) == 2
    assert server.metric("taxi_serving_model_version", model=MODEL) == current + 1
    # ML Metadata does not know the republished version, so there is no baseline row to explain against:
    # 400 as TF Serving answers a method a version lacks, not a 503 that a retry would not fix.
    status, document = server.explain({"instances": instances})
    assert status == 400 and f"ML Metadata does not record version {current + 1}" in document["error"]
    assert server.metric("taxi_serving_predictions_total", version=str(current + 1)) == before + 2
    # latest 2: the stable label's version is unloaded now, so its label answers 404 (never another version).
    assert server.versions() == [current + 1, current]
    status, document = server.request("POST", f"/v1/models/{MODEL}/labels/stable:predict", {"instances": instances})
    assert status == 404 and "label stable" in document["error"]
