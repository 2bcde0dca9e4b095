"""Fuzzing the curated schema file and the serving request log that `skew` reads back.

A damaged schema file is a ValueError naming it (run, drift, schema and skew show it with exit 2);
a damaged request log gives its intact records and warnings, or a RunError naming what to do.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline import validation
from runners.errors import RunError
from runners.monitoring.skew import log_statistics, read_request_log
from tests.conftest import ROOT

pytestmark = pytest.mark.fuzz

SCHEMA_PATH = ROOT / "schema" / "schema.pbtxt"
SCHEMA_BYTES = SCHEMA_PATH.read_bytes()
SCHEMA = validation.load_schema(SCHEMA_PATH)


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["truncate", "insert", "token", "encode"]))
        if edit == "truncate":
            data = data[:at]
        elif edit == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=6)) + data[at:]
        elif edit == "token":
            tokens = [b"\0", b"{", b"}", b'"', b"\xff", b"type: 99", b"feature {" * 50, b"\r\n", b"#"]
            data = data[:at] + draw(st.sampled_from(tokens)) + data[at:]
        else:
            data = draw(st.sampled_from([b"\xef\xbb\xbf" + data, data.decode("utf-8", "replace").encode("utf-16")]))
    return data


@given(damaged(SCHEMA_BYTES))
@example(SCHEMA_BYTES.decode().encode("utf-16"))  # read_text raised UnicodeDecodeError
@example(b"\xef\xbb\xbf" + SCHEMA_BYTES)  # a BOM: read
def test_a_damaged_schema_file_is_read_or_named(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "schema.pbtxt"
        path.write_bytes(data)
        try:
            schema = validation.load_schema(path)
        except ValueError as err:
            assert str(err).startswith(f"schema file {path}"), err
            return
    # Whatever parsed is a Schema the readers can ask for its training columns.
    assert isinstance(validation.training_columns(schema), list)


def test_a_schema_folder_and_a_bom_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be read"):
        validation.load_schema(tmp_path)
    (tmp_path / "s.pbtxt").write_bytes(b"\xef\xbb\xbf" + SCHEMA_BYTES)
    assert validation.load_schema(tmp_path / "s.pbtxt") == SCHEMA


def _log_file() -> bytes:
    """Two tf.Examples as the server logs them, in a TFRecord file."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for fare, company in ((9.5, b"Flash Cab"), (20.0, b"Sun Taxi")):
                example = tf.train.Example()
                example.features.feature["fare"].float_list.value.append(fare)
                example.features.feature["company"].bytes_list.value.append(company)
                writer.write(example.SerializeToString())
        return path.read_bytes()


def _tfrecord(payload: bytes) -> bytes:
    """One TFRecord with valid checksums around any payload (a file damaged before it was written)."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            writer.write(payload)
        return path.read_bytes()


LOG: list[bytes] = []


def _read_log(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "requests-1.tfrecord").write_bytes(data)
        records, files, warnings = read_request_log(Path(tmp))
    assert len(files) == 1 and all(isinstance(w, str) and str(Path(tmp)) in w for w in warnings)
    if records:
        try:
            statistics = log_statistics(records, SCHEMA)
        except RunError as err:
            assert "request log" in str(err)
            return
        assert statistics.datasets[0].num_examples == len(records)


@st.composite
def damaged_logs(draw: st.DrawFn) -> bytes:
    if not LOG:
        LOG.append(_log_file())
    data = LOG[0]
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["truncate", "insert", "flip"]))
        if edit == "truncate":
            data = data[:at]
        elif edit == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=6)) + data[at:]
        elif data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    return data


@settings(max_examples=max(15, settings().max_examples // 4))  # TFRecord reads and TFDV: ~0.3 s an example
@given(damaged_logs() | st.binary(max_size=40))
def test_a_damaged_request_log_gives_its_intact_records_or_a_clear_error(data: bytes) -> None:
    _read_log(data)


def test_records_with_valid_checksums_that_are_not_the_servers_examples() -> None:
    import tensorflow as tf

    # Not a tf.Example at all: left out with a warning (tfx_bsl's decoder raised RuntimeError on it).
    _read_log(_tfrecord(b"\xff\xff garbage"))
    # A tf.Example whose fare is text: a RunError saying the log does not match the schema.
    example = tf.train.Example()
    example.features.feature["fare"].bytes_list.value.append(b"twelve")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "requests-1.tfrecord").write_bytes(_tfrecord(example.SerializeToString()))
        records, _, _ = read_request_log(Path(tmp))
    with pytest.raises(RunError, match="do not match the schema's SERVING features"):
        log_statistics(records, SCHEMA)
