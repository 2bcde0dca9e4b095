"""Vertex AI Model Monitoring of the endpoint the Vertex pusher deploys to, as aiplatform's own config types.

Skew (serving vs training) and drift (serving over time) thresholds are the curated schema's limits:
the same measures Vertex uses, L-infinity distance for categories and Jensen-Shannon divergence for
numbers. A feature the schema sets no limit for is not monitored. Nothing here sends anything: the job
can only be created once the endpoint exists and has a deployed model id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.config import PipelineConfig
from pipeline.validation.distance import DRIFT, SKEW, schema_threshold
from pipeline.validation.schema import training_features


def serving_thresholds(schema: schema_pb2.Schema) -> tuple[dict[str, float], dict[str, float]]:
    """Returns (skew, drift) thresholds per feature the model is served, from the schema's comparators.

    Skew falls back to the drift limit when the schema sets no skew comparator, as `taxi-pipeline skew` does.
    """
    skew: dict[str, float] = {}
    drift: dict[str, float] = {}
    for feature in training_features(schema):
        if "SERVING" in feature.not_in_environment:  # the label: requests do not carry it
            continue
        for comparison, found in ((SKEW, skew), (DRIFT, drift)):
            threshold = schema_threshold(feature, comparison)
            if threshold is not None:
                found[feature.name] = threshold
    return skew, drift


def monitoring_configs(config: PipelineConfig, schema: schema_pb2.Schema, target_field: str) -> dict[str, Any]:
    """aiplatform's model_monitoring objects for this config: objective, alert, sampling and schedule.

    Args:
        config: emails, sample rate, interval and training data come from its monitoring_* fields.
        schema: the curated schema (its skew/drift limits become the thresholds).
        target_field: the label, left out of the training data when skew is measured.
    """
    from google.cloud.aiplatform import model_monitoring

    skew, drift = serving_thresholds(schema)
    skew_config = None
    if config.monitoring_training_data:
        is_bigquery = config.monitoring_training_data.startswith("bq://")
        skew_config = model_monitoring.SkewDetectionConfig(
            data_source=config.monitoring_training_data,
            target_field=target_field,
            skew_thresholds=skew,
            data_format=None if is_bigquery else "csv",
        )
    return {
        "objective": model_monitoring.ObjectiveConfig(
            skew_detection_config=skew_config,
            drift_detection_config=model_monitoring.DriftDetectionConfig(drift_thresholds=drift),
        ),
        "alert": model_monitoring.EmailAlertConfig(user_emails=list(config.monitoring_emails), enable_logging=True),
        "sampling": model_monitoring.RandomSampleConfig(sample_rate=config.monitoring_sample_rate),
        "schedule": model_monitoring.ScheduleConfig(monitor_interval=config.monitoring_interval_hours),
    }


def monitoring_job(
    config: PipelineConfig,
    schema: schema_pb2.Schema,
    target_field: str,
    endpoint: str,
    deployed_model_ids: Sequence[str],
) -> Any:
    """The ModelDeploymentMonitoringJob resource (aiplatform_v1 type) for an endpoint, built offline.

    Args:
        endpoint: the endpoint's resource name, projects/P/locations/L/endpoints/ID.
        deployed_model_ids: the deployed models to monitor (each gets the same objective).
    """
    from google.cloud.aiplatform_v1.types import encryption_spec as gca_encryption_spec
    from google.cloud.aiplatform_v1.types import model_deployment_monitoring_job as gca_job

    parts = monitoring_configs(config, schema, target_field)
    objective = parts["objective"].as_proto()
    return gca_job.ModelDeploymentMonitoringJob(
        display_name=f"{config.pipeline_name}-monitoring",
        endpoint=endpoint,
        model_deployment_monitoring_objective_configs=[
            gca_job.ModelDeploymentMonitoringObjectiveConfig(deployed_model_id=i, objective_config=objective)
            for i in deployed_model_ids
        ],
        model_deployment_monitoring_schedule_config=parts["schedule"].as_proto(),
        logging_sampling_strategy=parts["sampling"].as_proto(),
        model_monitoring_alert_config=parts["alert"].as_proto(),
        labels=config.label_map,
        encryption_spec=gca_encryption_spec.EncryptionSpec(kms_key_name=config.encryption_key)
        if config.encryption_key
        else None,
    )
