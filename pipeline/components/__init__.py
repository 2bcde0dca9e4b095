"""Custom TFX components of the taxi pipeline: the drift check and data gate in front of Transform, and
the feature importance of every trained model, and the serving model's performance on each new span."""

from pipeline.components.data_gate import DataGate, DataGateError
from pipeline.components.drift_check import DriftCheck, DriftReport
from pipeline.components.feature_importance import FeatureImportance, FeatureImportanceComponent
from pipeline.components.serving_performance import ServingModelPerformance, ServingModelPerformanceComponent

__all__ = [
    "DataGate",
    "DataGateError",
    "DriftCheck",
    "DriftReport",
    "FeatureImportance",
    "FeatureImportanceComponent",
    "ServingModelPerformance",
    "ServingModelPerformanceComponent",
]
