"""The stand-in for Vertex ML Metadata: every artifact a rehearsal task produced, and the resolver queries over them.

Vertex records each output artifact of a task in the project's metadata store, and a resolver task
answers its `outputArtifactQueries` filter from there: the newest LIVE artifact that matches. Here the
artifacts are lines of a JSON file under the rehearsal folder (RuntimeArtifact dicts plus the task and
job that made them), so a second rehearsal run resolves what the first produced. Only the filter
clauses KubeflowV2DagRunner writes for TFX's resolvers are understood; anything else stops the
rehearsal with the clause it cannot answer rather than guessing.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from runners.errors import EXIT_USAGE, RunError

_CLAUSE = re.compile(
    r'^(?:schema_title="(?P<title>[^"]+)"'
    r"|state=(?P<state>[A-Z]+)"
    r"|metadata\.(?P<key>\w+)\.number_value=(?P<number>-?[\d.]+)"
    r'|name="(?P<name>[^"]*)")$'
)
_TITLE = re.compile(r"^title:\s*(\S+)", re.MULTILINE)


def type_title(artifact_type: dict[str, Any]) -> str:
    """The schema title of a pipeline-spec artifact type (`schemaTitle`, or the title of its instanceSchema)."""
    if "schemaTitle" in artifact_type:
        return str(artifact_type["schemaTitle"])
    found = _TITLE.search(str(artifact_type.get("instanceSchema", "")))
    return found.group(1) if found else ""


class ArtifactStore:
    """Artifacts produced by rehearsal tasks, oldest first, kept in one JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def add(self, artifacts: list[dict[str, Any]], *, job: str, task: str) -> None:
        """Records a finished task's output artifacts (RuntimeArtifact dicts with name, type, uri, metadata)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            for artifact in artifacts:
                f.write(json.dumps({**artifact, "job": job, "task": task, "createTime": time.time()}) + "\n")

    def query(self, filter_text: str) -> list[dict[str, Any]]:
        """Answers a resolver's filter as Vertex does: the newest matching artifact, or none.

        Raises:
            RunError: the filter has a clause this stand-in does not understand.
        """
        clauses = [_CLAUSE.match(clause.strip()) for clause in filter_text.split(" AND ")]
        for clause, text in zip(clauses, filter_text.split(" AND "), strict=True):
            if clause is None:
                raise RunError(f"the rehearsal cannot answer the resolver filter clause {text.strip()!r}", EXIT_USAGE)
        matches = [a for a in self.all() if all(_matches(a, c.groupdict()) for c in clauses if c is not None)]
        if not matches:
            return []
        newest = max(matches, key=lambda a: a["createTime"])
        return [{k: v for k, v in newest.items() if k not in ("job", "task", "createTime")}]


def _matches(artifact: dict[str, Any], clause: dict[str, str | None]) -> bool:
    if clause["title"] is not None:
        return type_title(artifact.get("type", {})) == clause["title"]
    if clause["state"] is not None:
        return clause["state"] == "LIVE"  # a rehearsal never deletes or marks artifacts
    if clause["key"] is not None:
        value = artifact.get("metadata", {}).get(clause["key"])
        return isinstance(value, int | float) and float(value) == float(clause["number"] or "nan")
    return artifact.get("name") == clause["name"]
