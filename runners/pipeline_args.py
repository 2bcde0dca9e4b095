"""The one mapping from a run's config to create_pipeline's arguments, shared by the local and Vertex builds.

Every setting that means the same wherever the pipeline runs (training, tuning, blessing, the data
gate's policy, caching) reaches create_pipeline through `common_arguments`; the runners add only
what differs by where it runs (paths, span choice, ML Metadata, Beam, the cloud services).
"""

from __future__ import annotations

from typing import Any

from pipeline.cloud import VertexServing, VertexTraining
from pipeline.config import PipelineConfig
from pipeline.settings import BlessingThresholds, LabelShift, PerformanceFloor, Tuning
from pipeline.validation import GatePolicy


def policy_of(config: PipelineConfig) -> GatePolicy:
    """Returns the data gate's policy as the configuration sets it."""
    return GatePolicy(
        blocking_anomalies=config.blocking_anomalies,
        warning_anomalies=config.warning_anomalies,
        drift_action=config.drift_action,
    )


def blessing_of(config: PipelineConfig) -> BlessingThresholds:
    """Returns the Evaluator's blessing thresholds as the configuration sets them."""
    return BlessingThresholds(
        min_binary_accuracy=config.min_binary_accuracy,
        max_accuracy_drop=config.max_accuracy_drop,
        min_slice_binary_accuracy=config.min_slice_binary_accuracy,
        trusted_max_accuracy_drop=config.trusted_max_accuracy_drop,
        trusted_significance=config.trusted_significance,
    )


def performance_floor_of(config: PipelineConfig) -> PerformanceFloor:
    """Returns when the serving model's accuracy on a new span counts as decay, as the configuration sets it."""
    return PerformanceFloor(
        min_binary_accuracy=config.decay_min_binary_accuracy, max_accuracy_drop=config.decay_max_accuracy_drop
    )


def label_shift_of(config: PipelineConfig) -> LabelShift:
    """Returns the check of the label's relationship with features as the configuration sets it."""
    return LabelShift(features=config.label_shift_features, limit=config.label_shift_limit)


def tuning_of(config: PipelineConfig) -> Tuning | None:
    """Returns the Tuner's search the config asks for (tune), else None."""
    if not config.tune:
        return None
    return Tuning(
        trials=config.tuner_trials,
        time_budget_s=config.tuner_time_budget_s,
        trial_steps=config.tuner_trial_steps,
        parallel_trials=config.tuner_parallel_trials,
    )


def common_arguments(config: PipelineConfig, code_fingerprint: str) -> dict[str, Any]:
    """Returns the create_pipeline arguments that come from the config alike for every runner.

    Args:
        config: the run's configuration.
        code_fingerprint: digest of the model code (runners.home.fastpath.code_fingerprint).
    """
    return {
        "pipeline_name": config.pipeline_name,
        "train_steps": config.train_steps,
        "eval_steps": config.eval_steps,
        "hyperparameters": config.hyperparameters,
        "tuning": tuning_of(config),
        "importance_rows": config.importance_rows,
        "code_fingerprint": code_fingerprint,
        "blessing": blessing_of(config),
        "gate_policy": policy_of(config),
        "label_shift": label_shift_of(config),
        "performance_floor": performance_floor_of(config),
        "enable_cache": config.enable_cache,
    }


def vertex_training_of(config: PipelineConfig) -> VertexTraining | None:
    """Returns the Vertex AI training job the config asks for (vertex_training), else None."""
    if not config.vertex_training:
        return None
    return VertexTraining(
        project=config.gcp_project,
        region=config.region,
        image=config.image,
        machine_type=config.training_machine_type,
        accelerator_type=config.training_accelerator_type,
        accelerator_count=config.training_accelerator_count,
        service_account=config.service_account,
        network=config.network,
        encryption_key=config.encryption_key,
        labels=config.labels,
    )


def vertex_serving_of(config: PipelineConfig) -> VertexServing | None:
    """Returns the Model Registry push the config asks for (push_target vertex), else None."""
    if config.push_target != "vertex":
        return None
    return VertexServing(
        project=config.gcp_project,
        region=config.region,
        model_id=config.model_name,
        serving_image=config.serving_image,
        endpoint_name=config.endpoint_name,
        traffic_percentage=config.traffic_percentage,
        machine_type=config.serving_machine_type,
        service_account=config.service_account,
        encryption_key=config.encryption_key,
        labels=config.labels,
    )
