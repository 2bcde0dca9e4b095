"""TFMA evaluation config: the metrics, slices and thresholds that decide whether a model is blessed."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from models import features
from pipeline import ids

GATING_METRIC = "binary_accuracy"


def create_eval_config(
    min_binary_accuracy: float, max_accuracy_drop: float, min_slice_binary_accuracy: float = 0.0
) -> tfma.EvalConfig:
    """Builds the Evaluator's config.

    Args:
        min_binary_accuracy: absolute lower bound on eval binary accuracy.
        max_accuracy_drop: how far below the baseline's accuracy a candidate may be and still be
            blessed; only applied when a blessed baseline exists.
        min_slice_binary_accuracy: absolute lower bound on the binary accuracy of every slice of
            the slice features (features.SLICE_FEATURES); 0 gates no slice.

    Returns:
        An EvalConfig computing AUC, binary accuracy, precision, recall and calibration overall
        and per slice, the calibration and confusion-matrix plots (the ROC and PR curves), with
        both thresholds on binary accuracy overall and the slice bound if set.
    """
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_binary_accuracy}),
        # TFMA compares candidate - baseline against this bound; a tiny negative default keeps
        # an identical re-evaluated model blessed despite float noise.
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -max_accuracy_drop if max_accuracy_drop else -1e-10},
        ),
    )
    per_slice_thresholds = [
        tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=accuracy_threshold)
    ]
    if min_slice_binary_accuracy > 0:
        per_slice_thresholds.append(
            tfma.PerSliceMetricThreshold(
                slicing_specs=[tfma.SlicingSpec(feature_keys=[k]) for k in features.SLICE_FEATURES],
                threshold=tfma.MetricThreshold(
                    value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_slice_binary_accuracy})
                ),
            )
        )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                # Named, so TFMA does not load the model once just to learn its type, and loads it
                # with tf.saved_model rather than rebuilding Keras objects; it also keeps TFMA from
                # adding the Keras compile() metrics, whose combiners each load the whole model
                # again. Together that was more than half the Evaluator's time (BENCHMARKS.md).
                model_type=tfma.TF_GENERIC,
                signature_name=ids.SERVING_TF_EXAMPLE,
                label_key=features.LABEL_KEY,
                preprocessing_function_names=[ids.TRANSFORM_FEATURES],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[k]) for k in features.SLICE_FEATURES],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name="AUC"),
                    # Gated overall; slices only when min_slice_binary_accuracy asks for it, since
                    # by default a handful of rows in one hour must not block a release on their own.
                    tfma.MetricConfig(class_name="BinaryAccuracy", per_slice_thresholds=per_slice_thresholds),
                    tfma.MetricConfig(class_name="Precision"),
                    tfma.MetricConfig(class_name="Recall"),
                    tfma.MetricConfig(class_name="Calibration"),
                    # The report's and model card's pictures: reliability diagram, ROC and PR curves.
                    tfma.MetricConfig(class_name="CalibrationPlot"),
                    tfma.MetricConfig(class_name="ConfusionMatrixPlot"),
                ]
            )
        ],
    )


def create_scoring_config(extra_metrics: tuple[str, ...] = ()) -> tfma.EvalConfig:
    """The Evaluator's model spec, metrics and slices without any threshold: one model scored, nothing gated.

    ServingModelPerformance scores the serving model on a new span with it, so its numbers are the
    Evaluator's numbers; with no threshold TFMA needs no baseline and blesses nothing.

    Args:
        extra_metrics: further TFMA metric class names to compute (the caller's own needs).
    """
    config = create_eval_config(min_binary_accuracy=0.0, max_accuracy_drop=0.0)
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            metric.ClearField("threshold")
            metric.ClearField("per_slice_thresholds")
            metric.ClearField("cross_slice_thresholds")
    if extra_metrics:
        config.metrics_specs.append(
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name=name) for name in extra_metrics])
        )
    return config
