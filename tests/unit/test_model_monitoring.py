"""The Vertex Model Monitoring job for the endpoint, built offline with aiplatform's own types.

Thresholds are the curated schema's limits (features without one are not monitored, the label never is);
sampling, schedule, alert email, labels and key come from the config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.cloud.aiplatform_v1.types import model_deployment_monitoring_job as gca_job

from pipeline import model_monitoring
from pipeline.config import ConfigError, load_config
from pipeline.validation.schema import load_schema

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = "projects/test-project/locations/us-central1/endpoints/123"
KEY = "projects/test-project/locations/us-central1/keyRings/taxi/cryptoKeys/pipeline"


def _config(**overrides: Any) -> Any:
    values: dict[str, Any] = {
        "gcp_project": "test-project",
        "monitoring_emails": ["ml-oncall@example.com"],
        "monitoring_sample_rate": 0.5,
        "monitoring_interval_hours": 6,
        "monitoring_training_data": "gs://test-bucket/taxi-data/span-4/data.csv",
    }
    values.update(overrides)
    return load_config("vertex", overrides=values, environ={})


@pytest.fixture(scope="module")
def schema() -> Any:
    return load_schema(ROOT / "schema" / "schema.pbtxt")


def test_thresholds_are_the_schema_limits_of_served_features(schema: Any) -> None:
    skew, drift = model_monitoring.serving_thresholds(schema)
    # Values as written in schema/schema.pbtxt: L-infinity for categories, Jensen-Shannon for numbers.
    assert drift["payment_type"] == 0.3 and drift["fare"] == 0.6 and drift["trip_miles"] == 0.9
    assert "trip_start_month" not in drift  # the schema sets no limit for it
    assert "tips" not in drift and "tips" not in skew  # the label is not in the SERVING environment
    assert skew == drift  # no skew comparators in the schema: skew falls back to the drift limits


def test_the_monitoring_job_is_built_with_aiplatforms_types(schema: Any) -> None:
    config = _config(labels=["app=taxi-pipeline", "env=prod"], encryption_key=KEY)
    job = model_monitoring.monitoring_job(config, schema, "tips", ENDPOINT, ["4242"])

    assert isinstance(job, gca_job.ModelDeploymentMonitoringJob)
    assert job.endpoint == ENDPOINT and job.display_name == "taxi-monitoring"
    (objective,) = job.model_deployment_monitoring_objective_configs
    assert objective.deployed_model_id == "4242"
    skew = objective.objective_config.training_prediction_skew_detection_config
    drift = objective.objective_config.prediction_drift_detection_config
    assert skew.skew_thresholds["fare"].value == pytest.approx(0.6)
    assert drift.drift_thresholds["payment_type"].value == pytest.approx(0.3)
    assert "tips" not in drift.drift_thresholds
    dataset = objective.objective_config.training_dataset
    assert dataset.gcs_source.uris == ["gs://test-bucket/taxi-data/span-4/data.csv"]
    assert dataset.target_field == "tips"
    assert job.logging_sampling_strategy.random_sample_config.sample_rate == 0.5
    assert job.model_deployment_monitoring_schedule_config.monitor_interval.total_seconds() == 6 * 3600
    assert list(job.model_monitoring_alert_config.email_alert_config.user_emails) == ["ml-oncall@example.com"]
    assert dict(job.labels) == {"app": "taxi-pipeline", "env": "prod"}
    assert job.encryption_spec.kms_key_name == KEY


def test_without_training_data_only_drift_is_monitored(schema: Any) -> None:
    job = model_monitoring.monitoring_job(_config(monitoring_training_data=""), schema, "tips", ENDPOINT, ["1"])
    objective = job.model_deployment_monitoring_objective_configs[0].objective_config
    assert not objective.training_prediction_skew_detection_config.skew_thresholds
    assert objective.prediction_drift_detection_config.drift_thresholds


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("monitoring_sample_rate", 0.0),
        ("monitoring_interval_hours", 0),
        ("monitoring_emails", ["not-an-email"]),
        ("monitoring_training_data", "/local/data.csv"),
    ],
)
def test_bad_monitoring_fields_are_config_errors(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=field):
        _config(**{field: value})
