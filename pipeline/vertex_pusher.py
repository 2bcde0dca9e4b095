"""A Pusher that registers blessed models as versions of one Vertex AI Model Registry model.

TFX's own Vertex Pusher uploads every push as a separate model named by a timestamp; here each push
becomes a new default version of the parent model `model_id`, optionally deployed to one endpoint.
"""

from __future__ import annotations

import json
from typing import Any

from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils

from pipeline.cloud import VertexServing


def push_to_registry(artifact_uri: str, settings: VertexServing, aiplatform: Any) -> tuple[str, str]:
    """Uploads a SavedModel as the new default version of the parent model, and deploys it if asked.

    Args:
        artifact_uri: gs:// folder holding the SavedModel.
        settings: where and how to register and deploy.
        aiplatform: the google.cloud.aiplatform module (a stand-in in tests).

    Returns:
        The version's resource name and its version id.
    """
    from google.api_core import exceptions

    aiplatform.init(project=settings.project, location=settings.region)
    try:
        parent = aiplatform.Model(model_name=settings.model_id)
    except exceptions.NotFound:
        parent = None
    model = aiplatform.Model.upload(
        display_name=settings.model_id,
        artifact_uri=artifact_uri,
        serving_container_image_uri=settings.serving_image,
        # The first push creates the parent under a stable id; later ones add versions to it.
        model_id=None if parent else settings.model_id,
        parent_model=parent.resource_name if parent else None,
        is_default_version=True,
        sync=True,
        **settings.key_and_labels(),
    )
    if settings.endpoint_name:
        _deploy(model, settings, aiplatform)
    return str(model.versioned_resource_name), str(model.version_id)


def _deploy(model: Any, settings: VertexServing, aiplatform: Any) -> None:
    """Deploys a version to the endpoint (created on first use) and retires versions left with no traffic."""
    found = aiplatform.Endpoint.list(filter=f'display_name="{settings.endpoint_name}"', order_by="create_time desc")
    endpoint = (
        found[0]
        if found
        else aiplatform.Endpoint.create(display_name=settings.endpoint_name, **settings.key_and_labels())
    )
    model.deploy(
        endpoint=endpoint,
        deployed_model_display_name=f"{settings.model_id}-v{model.version_id}",
        # Vertex scales the traffic of the versions already deployed to share the rest.
        traffic_percentage=settings.traffic_percentage,
        machine_type=settings.machine_type,
        min_replica_count=settings.min_replicas,
        max_replica_count=settings.max_replicas,
        service_account=settings.service_account or None,
        sync=True,
    )
    # A deployed version bills for its machines whether or not it serves; one without traffic only
    # costs. It stays in the Model Registry, so a rollback can deploy it again.
    endpoint = aiplatform.Endpoint(endpoint.resource_name)
    for deployed_model_id, share in dict(endpoint.traffic_split).items():
        if share == 0:
            endpoint.undeploy(deployed_model_id=deployed_model_id, sync=True)


class Executor(pusher_executor.Executor):
    """Copies a blessed model to the PushedModel artifact and registers it in the Model Registry."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Registers (and deploys) the model if it is blessed; records what was pushed on the artifact."""
        self._log_startup(input_dict, output_dict, exec_properties)
        settings = VertexServing.from_custom_config(
            json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "{}")
        )
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        # The registry version points at the PushedModel's own copy, which later pushes never overwrite.
        io_utils.copy_dir(src=self.GetModelPath(input_dict), dst=model_push.uri)
        from google.cloud import aiplatform

        name, version = push_to_registry(model_push.uri, settings, aiplatform)
        self._MarkPushed(model_push, pushed_destination=name, pushed_version=version)


class VertexModelRegistryPusher(pusher_component.Pusher):
    """Pusher whose destination is a Vertex AI Model Registry model (and optionally an endpoint)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel, settings: VertexServing) -> None:
        """Builds the component.

        Args:
            model: the Trainer's model.
            model_blessing: the Evaluator's blessing; unblessed models are not pushed.
            settings: the Model Registry model and optional endpoint.
        """
        super().__init__(model=model, model_blessing=model_blessing, custom_config=settings.to_custom_config())
