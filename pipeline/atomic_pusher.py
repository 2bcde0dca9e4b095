"""A filesystem Pusher whose pushes are atomic: a version folder appears complete or not at all.

How a version is published (staged in a hidden folder, flushed, renamed) is pipeline.serving_dir's;
this module is the TFX component and executor that call it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from pipeline import serving_dir as sd


def push_atomically(
    model_dir: str | Path, serving_dir: str | Path, now: Callable[[], float] = time.time
) -> tuple[str, Path]:
    """Publishes a SavedModel folder in serving_dir as a new, highest integer version, atomically.

    The version is the Unix time in seconds, as TFX's own Pusher names it, raised above the newest
    existing version if needed: TF Serving serves the highest number, so a new push must get one.
    Only one push runs per serving dir at a time (the local runner's home lock guarantees it), so
    staging folders found first belong to dead publications and are removed.

    Args:
        model_dir: the SavedModel folder.
        serving_dir: the serving dir (TF Serving layout: one integer folder per version).
        now: the clock, for tests.

    Returns:
        The version and its folder.

    Raises:
        OSError: the copy failed (e.g. a full disk); nothing is left in the serving dir.
    """
    sd.remove_staging(serving_dir)
    version = sd.next_version(sd.versions(serving_dir), now())
    return str(version), sd.publish(serving_dir, model_dir, version)


def _is_local(path: str) -> bool:
    return "://" not in path


class Executor(pusher_executor.Executor):
    """TFX's filesystem Pusher executor, with an atomic copy into local serving dirs.

    Records the push on the PushedModel artifact as TFX's executor does (`pushed`,
    `pushed_destination` = the version folder, `pushed_version`); remote destinations (gs://), where
    a folder cannot be renamed atomically, are pushed by TFX's executor unchanged.
    """

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Pushes the model if it is blessed; see the class docstring."""
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        filesystem = destination.filesystem if destination.WhichOneof("destination") == "filesystem" else None
        if filesystem is None or not _is_local(filesystem.base_directory):
            super().Do(input_dict, output_dict, exec_properties)
            return
        if filesystem.versioning not in (pusher_pb2.Versioning.AUTO, pusher_pb2.Versioning.UNIX_TIMESTAMP):
            raise NotImplementedError(f"versioning {filesystem.versioning} is not supported; use UNIX_TIMESTAMP")

        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        version, target = push_atomically(model_path, filesystem.base_directory)
        # The PushedModel artifact keeps its own copy, as with TFX's Pusher.
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=str(target), pushed_version=version)


class AtomicFilesystemPusher(pusher_component.Pusher):
    """Pusher that copies blessed models into a local serving dir as new versions, atomically."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel, serving_dir: str) -> None:
        """Builds the component.

        Args:
            model: the Trainer's model.
            model_blessing: the Evaluator's blessing; unblessed models are not pushed.
            serving_dir: the destination; versions are integer-named subfolders.
        """
        super().__init__(
            model=model,
            model_blessing=model_blessing,
            push_destination=pusher_pb2.PushDestination(
                filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_dir)
            ),
        )
