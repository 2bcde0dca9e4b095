"""Hypothesis against the real model server (tiny SavedModel, real HTTP): whatever the body or URL, the
answer is never 5xx, every error is {"error": ...} JSON, and every prediction is a finite probability.

Fast by default (a few dozen examples per property); HYPOTHESIS_PROFILE=long runs many more."""

from __future__ import annotations

import json
import math
import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving import MODEL, ROW, Running, start_tiny_server

EXAMPLES = 1000 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 40
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BASE = f"/v1/models/{MODEL}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start_tiny_server(tmp_path_factory.mktemp("fuzz") / "home", grpc_port=-1, max_rows=20)
    yield running
    running.close()


_NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e39, -1e39, 3.4e38, 2**63, -(2**63) - 1, 0, -0.0]),
)
_LEAVES = st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=20))
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_VALUE = st.one_of(_LEAVES, st.lists(_LEAVES, max_size=2), _JSON)
_ROW = st.dictionaries(
    st.sampled_from([*ROW, "tips", "b64", "examples"]) | st.text(max_size=6), _VALUE, max_size=5
) | st.fixed_dictionaries({k: _VALUE for k in ROW})
_DOCUMENT = st.one_of(
    st.fixed_dictionaries({"instances": st.lists(_ROW, max_size=5)}, optional={"signature_name": _JSON}),
    st.fixed_dictionaries({"inputs": st.dictionaries(st.sampled_from(list(ROW)), st.lists(_VALUE, max_size=3))}),
    _JSON,
)


def _check(status: int, document: Any) -> None:
    assert status < 500, document
    if status >= 400:
        assert isinstance(document, dict) and set(document) == {"error"} and isinstance(document["error"], str)
        return
    values = document.get("predictions", document.get("outputs"))
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for row in values for v in row), document


@FUZZ
@given(document=_DOCUMENT)
def test_any_json_body_gets_a_prediction_or_a_json_client_error(server: Running, document: Any) -> None:
    _check(*server.predict(json.dumps(document).encode()))


@FUZZ
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_get_a_json_client_error(server: Running, body: bytes) -> None:
    _check(*server.predict(body))


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    tail=st.lists(st.text(max_size=12), max_size=4).map("/".join),
    verb=st.none() | st.sampled_from(["predict", "classify", "regress", "explain", "metadata"]) | st.text(max_size=8),
)
def test_any_url_and_method_get_a_json_answer(server: Running, method: str, tail: str, verb: str | None) -> None:
    path = f"{BASE}/{tail}" + (f":{verb}" if verb is not None else "")
    quoted = urllib.parse.quote(path, safe="/:")
    status, document = server.request(method, quoted, {"instances": [ROW]} if method != "GET" else None)
    assert status < 500, document
    assert status == 200 or set(document) == {"error"}
