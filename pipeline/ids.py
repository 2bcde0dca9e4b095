"""The pipeline's stable node ids, and the model's signature names, for code outside models/ to name them by.

Standard library only (models.features is too), so that reading a run's history never imports TFX.
"""

from __future__ import annotations

# Defined with the features, the one models module the pipeline may import; runners/ may import none.
from models.features import SERVING_DEFAULT as SERVING_DEFAULT
from models.features import SERVING_TF_EXAMPLE as SERVING_TF_EXAMPLE
from models.features import TRANSFORM_FEATURES as TRANSFORM_FEATURES

EXAMPLE_GEN = "example_gen"
STATISTICS_GEN = "statistics_gen"
SCHEMA_IMPORTER = "schema_importer"
EXAMPLE_VALIDATOR = "example_validator"
PREVIOUS_STATISTICS = "previous_statistics_resolver"
DRIFT_CHECK = "drift_check"
DATA_GATE = "data_gate"
SERVING_PERFORMANCE = "serving_model_performance"
SPAN_WINDOW = "span_window_resolver"
# The window assembled from the data gate's record instead (pipeline.span_record), where resolvers cannot run.
SPAN_WINDOW_EXAMPLES = "span_window"
TRANSFORM = "transform"
TUNER = "tuner"
TRAINER = "trainer"
FEATURE_IMPORTANCE = "feature_importance"
BASELINE_RESOLVER = "latest_blessed_model_resolver"
EVALUATOR = "evaluator"
PUSHER = "pusher"

# The part of the pipeline that ingests and validates a single span.
INGEST_COMPONENTS = (EXAMPLE_GEN, STATISTICS_GEN, SCHEMA_IMPORTER, EXAMPLE_VALIDATOR, DRIFT_CHECK, DATA_GATE)
# TUNER joins between TRANSFORM and TRAINER when tuning is on.
COMPONENTS = (*INGEST_COMPONENTS, SERVING_PERFORMANCE, TRANSFORM, TRAINER, FEATURE_IMPORTANCE, EVALUATOR, PUSHER)
RESOLVERS = (PREVIOUS_STATISTICS, SPAN_WINDOW, BASELINE_RESOLVER)
