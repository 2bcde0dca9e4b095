"""What the schema would have to change to accept a span: TFDV's update, shown as a reviewable diff."""

from __future__ import annotations

import copy
from typing import Any

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2


def accepting_schema(
    schema: schema_pb2.Schema, statistics: statistics_pb2.DatasetFeatureStatisticsList
) -> schema_pb2.Schema:
    """Returns the schema changed just enough to accept the statistics (TFDV's update_schema)."""
    import tensorflow_data_validation as tfdv

    updated: schema_pb2.Schema = tfdv.update_schema(schema, statistics)
    return updated


def _schema_sections(schema: schema_pb2.Schema) -> dict[str, list[str]]:
    """Splits a schema into reviewable pbtxt blocks: one per feature, per string domain, and the rest."""

    def block(kind: str, message: Any) -> list[str]:
        body = str(text_format.MessageToString(message)).splitlines()
        return [f"{kind} {{", *(f"  {line}" for line in body), "}"]

    sections = {f"feature {f.name}": block("feature", f) for f in schema.feature}
    sections.update({f"string_domain {d.name}": block("string_domain", d) for d in schema.string_domain})
    rest = copy.deepcopy(schema)
    rest.ClearField("feature")
    rest.ClearField("string_domain")
    sections["schema-level fields"] = str(text_format.MessageToString(rest)).splitlines()
    return sections


def schema_diff(before: schema_pb2.Schema, after: schema_pb2.Schema, before_name: str, after_name: str) -> str:
    """A unified diff of two schemas, one hunk per changed feature or domain, whole blocks shown.

    Comments are not part of the proto, so the blocks are canonical pbtxt: copy the changed lines
    into the curated file by hand.

    Args:
        before: the curated schema.
        after: the changed schema.
        before_name: the first header's name.
        after_name: the second header's name.

    Returns:
        The diff, or "" when the schemas are equal.
    """
    import difflib

    old, new = _schema_sections(before), _schema_sections(after)
    hunks: list[str] = []
    for name in [*old, *(n for n in new if n not in old)]:
        old_lines, new_lines = old.get(name, []), new.get(name, [])
        if old_lines == new_lines:
            continue
        lines = list(difflib.unified_diff(old_lines, new_lines, lineterm="", n=max(len(old_lines), len(new_lines))))
        hunks.append(f"@@ {name} @@")
        hunks += lines[3:]  # drop difflib's own ---/+++/@@ lines: one header per hunk is enough
    if not hunks:
        return ""
    return "\n".join([f"--- {before_name}", f"+++ {after_name}", *hunks])
