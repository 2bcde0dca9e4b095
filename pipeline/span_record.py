"""The record of accepted spans the data gate keeps under the pipeline root, for orchestrators without ML Metadata
resolvers.

KubeflowV2DagRunner compiles only TFX's latest-artifact and latest-blessed-model resolvers, so on Vertex AI
the drift baseline and the training window cannot be queried from ML Metadata as the local pipeline does
(pipeline.span_resolvers). Instead each span that passes the data gate leaves one small JSON file here (the
same URIs ML Metadata would hold), and the drift check and the window component read them back. Files are
read and written with TFX's fileio (tf.io.gfile), so the record works on gs:// and on disk alike. One file
per accepted Examples artifact, named from its URI: a bucket has no append, and two runs never overwrite
each other's entry; a re-run of the same gate writes the same file again.

Which entries count (the newest version of each span, the newest older span) is the rule of
pipeline.span_window.newest_per_span and pipeline.accepted_spans.newest_before, shared with the resolvers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time

from tfx.dsl.io import fileio

from pipeline.accepted_spans import newest_before
from pipeline.span_window import newest_per_span

RECORD_FOLDER = "accepted-spans"


@dataclasses.dataclass(frozen=True)
class AcceptedSpan:
    """One span that passed the data gate: where its Examples and statistics are."""

    span: int
    version: int
    examples_uri: str
    statistics_uri: str
    split_names: tuple[str, ...]
    accepted_at: float

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "split_names": list(self.split_names)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AcceptedSpan:
        data = json.loads(text)
        return cls(
            span=int(data["span"]),
            version=int(data["version"]),
            examples_uri=str(data["examples_uri"]),
            statistics_uri=str(data["statistics_uri"]),
            split_names=tuple(str(name) for name in data["split_names"]),
            accepted_at=float(data["accepted_at"]),
        )


def record_folder(pipeline_root: str) -> str:
    """The record's folder under a pipeline root."""
    return f"{pipeline_root.rstrip('/')}/{RECORD_FOLDER}"


def record_accepted(
    folder: str, *, span: int, version: int, examples_uri: str, statistics_uri: str, split_names: tuple[str, ...]
) -> AcceptedSpan:
    """Writes the entry of a span that passed the gate and returns it."""
    entry = AcceptedSpan(span, version, examples_uri, statistics_uri, split_names, time.time())
    digest = hashlib.sha256(examples_uri.encode()).hexdigest()[:16]
    fileio.makedirs(folder)
    path = f"{folder.rstrip('/')}/span-{span}-{digest}.json"
    # Written to a temporary name, then renamed: a reader never sees half an entry.
    with fileio.open(path + ".tmp", "w") as f:
        f.write(entry.to_json())
    fileio.rename(path + ".tmp", path, overwrite=True)
    return entry


def read_accepted(folder: str) -> list[AcceptedSpan]:
    """Every entry of the record, oldest acceptance first; none when the folder does not exist yet."""
    if not fileio.exists(folder):
        return []
    entries = []
    for path in fileio.glob(f"{folder.rstrip('/')}/span-*.json"):
        with fileio.open(path) as f:
            entries.append(AcceptedSpan.from_json(f.read()))
    return sorted(entries, key=lambda entry: (entry.accepted_at, entry.examples_uri))


def previous_accepted(entries: list[AcceptedSpan], span: int) -> AcceptedSpan | None:
    """The drift baseline: the entry of the newest accepted span older than `span`, or None."""
    return newest_before(((entry.span, entry) for entry in entries), span)


def window_of(entries: list[AcceptedSpan], num_spans: int, end_span: int | None) -> list[AcceptedSpan]:
    """The training window: newest span first, the newest entry of each of the `num_spans` most recent spans."""
    return newest_per_span(
        ((entry.span, (entry.version, entry.accepted_at), entry) for entry in entries), num_spans, end_span
    )
