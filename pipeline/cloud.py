"""Typed Google Cloud choices for create_pipeline: Vertex AI training and Model Registry serving.

Plain frozen values, so the builder stays pure and the local pipeline never sees them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# The custom_config key under which the Model Registry pusher finds its settings.
REGISTRY_CONFIG_KEY = "vertex_model_registry"


@dataclasses.dataclass(frozen=True)
class VertexTraining:
    """Runs the Trainer's run_fn in a Vertex AI custom training job, in the pipeline image."""

    project: str
    region: str
    image: str
    machine_type: str = "n1-standard-8"
    accelerator_type: str = ""
    accelerator_count: int = 0
    service_account: str = ""
    # A VPC to peer the job with (projects/NUMBER/global/networks/NAME), a Cloud KMS key, key=value labels.
    network: str = ""
    encryption_key: str = ""
    labels: tuple[str, ...] = ()  # key=value, as the config holds them

    def trainer_custom_config(self) -> dict[str, Any]:
        """Returns the custom_config entries TFX's Vertex Trainer reads to launch the job."""
        from tfx.v1.extensions import google_cloud_ai_platform as vertex

        return {
            vertex.ENABLE_VERTEX_KEY: True,
            vertex.VERTEX_REGION_KEY: self.region,
            vertex.TRAINING_ARGS_KEY: self._training_args(),
        }

    def _training_args(self) -> dict[str, Any]:
        """TFX's training args: the job spec plus the CustomJob's own labels and encryption key."""
        args: dict[str, Any] = {"project": self.project, "job_spec": self._job_spec()}
        if self.labels:
            args["labels"] = dict(label.split("=", 1) for label in self.labels)
        if self.encryption_key:
            args["encryption_spec"] = {"kms_key_name": self.encryption_key}
        return args

    def _job_spec(self) -> dict[str, Any]:
        """The Vertex AI custom job: one machine running the pipeline image."""
        machine_spec: dict[str, Any] = {"machine_type": self.machine_type}
        if self.accelerator_count:
            machine_spec.update(accelerator_type=self.accelerator_type, accelerator_count=self.accelerator_count)
        job_spec: dict[str, Any] = {
            "worker_pool_specs": [
                {
                    "machine_spec": machine_spec,
                    "replica_count": 1,
                    # The pipeline image, so run_fn and its libraries are the ones the pipeline was tested with.
                    "container_spec": {"image_uri": self.image},
                }
            ]
        }
        if self.service_account:
            job_spec["service_account"] = self.service_account
        if self.network:
            job_spec["network"] = self.network
        return job_spec

    def tuner_custom_config(self, trials_working_dir: str) -> dict[str, Any]:
        """Returns the custom_config entries TFX's Vertex Tuner reads to run trials as parallel jobs.

        Args:
            trials_working_dir: a gs:// folder the trials share (KerasTuner's distributed oracle state).
        """
        from tfx.v1.extensions import google_cloud_ai_platform as vertex

        return {
            vertex.ENABLE_VERTEX_KEY: True,
            vertex.VERTEX_REGION_KEY: self.region,
            vertex.experimental.TUNING_ARGS_KEY: self._training_args(),
            vertex.experimental.REMOTE_TRIALS_WORKING_DIR_KEY: trials_working_dir,
        }


@dataclasses.dataclass(frozen=True)
class VertexServing:
    """Uploads blessed models as new versions of one Model Registry model, optionally deploying each.

    `model_id` names the parent model; its first push creates it. With `endpoint_name` empty the
    versions are only registered.
    """

    project: str
    region: str
    model_id: str
    serving_image: str
    endpoint_name: str = ""
    traffic_percentage: int = 100
    machine_type: str = "n1-standard-2"
    min_replicas: int = 1
    max_replicas: int = 1
    service_account: str = ""
    # A Cloud KMS key for the model and the endpoint, and key=value labels on both (empty: none).
    encryption_key: str = ""
    labels: tuple[str, ...] = ()  # key=value, as the config holds them

    def key_and_labels(self) -> dict[str, Any]:
        """The keyword arguments aiplatform's Model.upload and Endpoint.create take for the key and labels."""
        found: dict[str, Any] = {}
        if self.encryption_key:
            found["encryption_spec_key_name"] = self.encryption_key
        if self.labels:
            found["labels"] = dict(label.split("=", 1) for label in self.labels)
        return found

    def to_custom_config(self) -> dict[str, Any]:
        """Returns the pusher's custom_config."""
        return {REGISTRY_CONFIG_KEY: dataclasses.asdict(self)}

    @classmethod
    def from_custom_config(cls, custom_config: dict[str, Any]) -> VertexServing:
        """Reads the settings back from a pusher's custom_config.

        Raises:
            ValueError: the custom_config has no Model Registry settings.
        """
        if REGISTRY_CONFIG_KEY not in custom_config:
            raise ValueError(f"custom_config has no '{REGISTRY_CONFIG_KEY}' entry: {sorted(custom_config)}")
        return cls(**custom_config[REGISTRY_CONFIG_KEY])
