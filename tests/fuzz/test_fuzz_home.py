"""Fuzzing the files the home keeps and reads back: last_run.json, the lock record, rollbacks.jsonl.

Damaged or hand-edited, each is read as "no such record" (the normal path then runs and rewrites
it) or as the record it holds; a read never raises, and never writes into the home.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pipeline import serving_dir as sd
from pipeline.config import PipelineConfig
from runners.home import fastpath
from runners.home import lock as home_lock
from tests.conftest import SMALL_DATA

pytestmark = pytest.mark.fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)


@functools.cache
def _home() -> tuple[PipelineConfig, dict[str, Any], bytes]:
    """A home with a real manifest: the config, its inputs, and the manifest's bytes."""
    home = Path(tempfile.mkdtemp(prefix="fuzz-home-"))
    atexit.register(shutil.rmtree, home, True)
    config = PipelineConfig(home=str(home), data_root=str(SMALL_DATA))
    inputs = fastpath.fingerprint(config)
    summary = {"run_id": "r1", "pushed": False, "pushed_path": None}
    fastpath.record(config, inputs, summary, "summary text")
    return config, inputs, fastpath.manifest_path(config).read_bytes()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _read_manifest(data: bytes) -> fastpath.Unchanged | None:
    config, inputs, original = _home()
    path = fastpath.manifest_path(config)
    path.write_bytes(data)
    before = _snapshot(Path(config.home))
    try:
        return fastpath.unchanged_since_last_run(config, inputs)
    finally:
        assert _snapshot(Path(config.home)) == before, "reading the manifest wrote into the home"
        path.write_bytes(original)


def test_the_real_manifest_matches() -> None:
    _, _, original = _home()
    found = _read_manifest(original)
    assert found is not None and found.run_id == "r1"


@given(st.sampled_from(["summary", "run_id", "summary_text", "home_state", "inputs"]), json_values)
@example("summary", ["not", "an", "object"])  # .get on a list raised AttributeError
@example("summary", {"pushed": True, "pushed_path": 7})  # Path(7) raised TypeError
@example("summary", {"pushed": True, "pushed_path": "/nowhere"})
def test_a_manifest_with_any_field_replaced_is_a_match_or_not(field: str, value: Any) -> None:
    _, _, original = _home()
    manifest = json.loads(original)
    manifest[field] = value
    found = _read_manifest(json.dumps(manifest).encode())
    if found is not None:  # a match must be a real one: the model it names is there to serve
        assert field in ("summary", "run_id", "summary_text")
        assert not found.summary.get("pushed")


@given(st.integers(0, 10_000), st.binary(max_size=8), st.booleans())
@example(0, b"[" * 100_000, False)  # json's RecursionError
@example(0, b"\xff\xfe", False)
def test_a_cut_or_corrupted_manifest_is_no_match(at: int, inserted: bytes, cut: bool) -> None:
    _, _, original = _home()
    at = min(at, len(original))
    data = original[:at] if cut else original[:at] + inserted + original[at:]
    found = _read_manifest(data)
    assert found is None or data == original or json.loads(data) == json.loads(original)


@given(st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
@example(b"[" * 100_000)
@example(b'{"pid": {"a": [1]}}')
def test_any_lock_record_reads_as_a_mapping_of_strings(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / home_lock.LOCK_FILE).write_bytes(data)
        holder = home_lock.read_holder(tmp)
    assert isinstance(holder, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in holder.items())


@given(st.lists(st.binary(max_size=20) | json_values.map(lambda v: json.dumps(v).encode()), max_size=5))
@example([b'{"version": 3}', b"\xff\xfe{", b"[" * 100_000])
def test_any_rollback_manifest_gives_its_object_lines(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / sd.ROLLBACK_MANIFEST).write_bytes(b"\n".join(lines))
        records = sd.read_rollbacks(tmp)
    assert all(isinstance(r, dict) for r in records)
