"""Fuzzing `explain --instances` / `--file`: any text gives rows the model's inputs can hold, or a clear error.

The parse and the row building are the same code the command runs before it feeds the model; the
kinds are the raw features' as the serving_default signature (raw features) declares them (int64, float32, string).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline import explanations, validation
from runners import cli
from runners.errors import EXIT_USAGE, RunError
from runners.serving.explain import parse_instances
from tests.conftest import ROOT

pytestmark = pytest.mark.fuzz

_KIND = {schema_pb2.INT: "int", schema_pb2.FLOAT: "float", schema_pb2.BYTES: "string"}
KINDS = {
    f.name: _KIND[f.type] for f in validation.load_schema(ROOT / "schema" / "schema.pbtxt").feature if f.name != "tips"
}
BASELINE = {name: {"int": 1, "float": 1.5, "string": "Cash"}[kind] for name, kind in KINDS.items()}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["12", "7.0", "1e400", "nan", " ", "٣", "0x10"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from([*KINDS, "x"]), inner, max_size=3),
    max_leaves=12,
)


def _rows(text: str) -> None:
    try:
        instances = parse_instances(text, "--instances")
        rows = explanations.instances_to_rows(instances, KINDS, BASELINE)
    except RunError as err:
        assert err.exit_code == EXIT_USAGE and str(err).startswith("--instances")
        return
    except ValueError as err:  # the command shows it as "bad instance: ..." with exit 2
        assert str(err).startswith(("instance ", "feature '")), err
        return
    for row in rows:
        for name, kind in KINDS.items():
            value = row[name]
            if kind == "int":
                assert isinstance(value, int) and -(2**63) <= value < 2**63
            elif kind == "float":
                assert isinstance(value, float) and math.isfinite(value) and abs(value) < 3.5e38
            else:
                assert isinstance(value, str)


@given(st.dictionaries(st.sampled_from(["instances", "x"]), json_values) | json_values)
@example({"instances": [{"trip_start_hour": 10**400}]})  # float() of it raised OverflowError
@example({"instances": [{"trip_start_hour": 1e19}]})  # an integer beyond int64
@example({"instances": [{"fare": 1e39}]})  # infinite as a float32
@example({"instances": [{"fare": float("nan")}]})
@example({"instances": [{"company": ["a", "b"]}]})  # a list is not one string
def test_any_instances_json_gives_model_rows_or_a_clear_error(document: Any) -> None:
    _rows(json.dumps(document))


@given(st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
@example("[" * 100_000)  # json's recursion
@example("\ufeff[{}]")  # a byte-order mark
@example('{"instances": []}')
def test_any_instances_text_gives_model_rows_or_a_clear_error(text: str) -> None:
    _rows(text)


@given(st.binary(max_size=30))
@example('{"instances": [{}]}'.encode("utf-16"))
@example(b"\xff\xfe")
def test_an_instances_file_in_any_encoding_is_a_usage_error_before_the_home_is_read(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    tmp = tmp_path_factory.mktemp("explain")
    path = tmp / "instances.json"
    path.write_bytes(data)
    code = cli.main(["explain", "--file", str(path), "--home", str(tmp / "home")])
    assert code != 1  # never "internal error"
    assert not (tmp / "home").exists() or not any((tmp / "home").iterdir())  # nothing written into the home


def test_a_utf16_instances_file_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "i.json"
    path.write_bytes('{"instances": [{}]}'.encode("utf-16"))
    assert cli.main(["explain", "--file", str(path), "--home", str(tmp_path / "home")]) == EXIT_USAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert f"instances file {path} is not UTF-8 text" in line
