"""Pipeline definition: typed configuration, the pure pipeline builder and the evaluation config.

Importing models.features first makes sure TF_USE_LEGACY_KERAS is set (see models/__init__.py)
before anything here pulls in TensorFlow.
"""

import models.features  # noqa: F401


def __getattr__(name: str) -> object:
    """Resolves the custom artifact types (`pipeline.DriftReport`, ...) lazily: Vertex finds them by that path.

    KubeflowV2DagRunner encodes a custom artifact type as `<module>.<Class>` with one dot, and its
    container imports the class from there; importing it eagerly would pull TFX into every import
    of the config.
    """
    if name == "DriftReport":
        from pipeline.components.drift_check import DriftReport

        return DriftReport
    if name == "FeatureImportance":
        from pipeline.components.feature_importance import FeatureImportance

        return FeatureImportance
    if name == "ServingModelPerformance":
        from pipeline.components.serving_performance import ServingModelPerformance

        return ServingModelPerformance
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
