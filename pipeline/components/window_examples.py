"""WindowExamples: the training window as one Examples artifact, built from the data gate's record of accepted spans.

Where the pipeline cannot run custom resolvers (KubeflowV2DagRunner compiles only TFX's latest-artifact and
latest-blessed-model ones), a step cannot hand Transform the Examples artifacts of earlier runs. This step
reads the record (pipeline.span_record), picks the window by the same rule as the local resolver, and
copies the split files of every span in it into its own output, so Transform, the Trainer and the Evaluator
see the same rows as a local run does. On a bucket the copies are server-side; the cost is one copy of the
window's Examples (compressed TFRecords) per run.
"""

# No `from __future__ import annotations` here: TFX reads a component function's type hints from
# __annotations__ and needs the classes themselves, not their names as strings. mypy cannot read
# TFX's InputArtifact[...] hints (they are not typing generics), hence the narrow disable below.
# mypy: disable-error-code="type-arg,attr-defined,call-overload,arg-type,list-item"

import logging
import os
import posixpath

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts

from pipeline import span_record
from pipeline.accepted_spans import SPAN_PROPERTY, examples_span, examples_version

WINDOW_SPANS_PROPERTY = "window_spans"


class WindowError(RuntimeError):
    """The record cannot give a window (e.g. this run's span was not recorded as accepted)."""


@component
def WindowExamples(
    examples: InputArtifact[standard_artifacts.Examples],
    window: OutputArtifact[standard_artifacts.Examples],
    accepted_record: Parameter[str],
    num_spans: Parameter[int],
) -> None:
    """Copies the Examples of the `num_spans` newest accepted spans up to this run's into `window`.

    Args:
        examples: this run's Examples, which the data gate has accepted (this step runs after it).
        window: one Examples artifact holding, per split, the files of every span of the window.
        accepted_record: the data gate's record folder.
        num_spans: window size in spans.

    Raises:
        WindowError: this run's span is not in the record.
    """
    span = examples_span(examples)
    entries = span_record.read_accepted(accepted_record)
    if not any(entry.examples_uri == examples.uri for entry in entries):
        raise WindowError(f"span {span} ({examples.uri}) is not in the record of accepted spans {accepted_record}")
    chosen = span_record.window_of(entries, num_spans, span)
    splits = artifact_utils.decode_split_names(examples.split_names)
    window.split_names = artifact_utils.encode_split_names(splits)
    for split in splits:
        target = artifact_utils.get_split_uri([window], split)
        fileio.makedirs(target)
        for entry in chosen:
            source = posixpath.join(entry.examples_uri, f"Split-{split}")
            for path in map(os.fsdecode, fileio.glob(posixpath.join(source, "*"))):
                # Prefixed with the span: every ExampleGen names its files alike.
                fileio.copy(path, posixpath.join(target, f"span-{entry.span}-{posixpath.basename(path)}"), True)
    for name in ("payload_format", "file_format"):
        if examples.has_custom_property(name):
            window.set_string_custom_property(name, examples.get_string_custom_property(name))
    window.set_int_custom_property(SPAN_PROPERTY, span)
    window.set_int_custom_property("version", examples_version(examples))
    window.set_string_custom_property(WINDOW_SPANS_PROPERTY, ",".join(str(entry.span) for entry in chosen))
    logging.info("Training window of span %s: spans %s", span, [entry.span for entry in chosen])
