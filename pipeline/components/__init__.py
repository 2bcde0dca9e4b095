"""Custom TFX components of the taxi pipeline: the drift check and data gate in front of Transform, and
the feature importance of every trained model, the serving model's performance on each new span, and
the training window where ML Metadata cannot be queried."""

from pipeline.components.data_gate import DataGate, DataGateError
from pipeline.components.drift_check import DriftCheck, DriftReport
from pipeline.components.feature_importance import FeatureImportance, FeatureImportanceComponent
from pipeline.components.serving_performance import ServingModelPerformance, ServingModelPerformanceComponent
from pipeline.components.window_examples import WindowExamples

__all__ = [
    "DataGate",
    "DataGateError",
    "DriftCheck",
    "DriftReport",
    "FeatureImportance",
    "FeatureImportanceComponent",
    "ServingModelPerformance",
    "ServingModelPerformanceComponent",
    "WindowExamples",
]
