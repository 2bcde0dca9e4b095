"""The training-time score level of a model: its mean predicted score on the evaluation split.

Read from the Evaluator's calibration histogram (TFMA's CalibrationPlot, computed on every run), so
no model is loaded and no data read again: the sum of predictions over the sum of examples, overall
slice. The model server exports the same mean live (taxi_serving_prediction_score _sum / _count).
"""

from __future__ import annotations

# TFMA names the candidate model "candidate" when a baseline is compared, "" when it is alone.
_CANDIDATE_NAMES = ("candidate", "")


def eval_mean_score(evaluation_uri: str) -> float | None:
    """Returns the mean predicted score of the evaluated (candidate) model, or None when there is no histogram.

    Args:
        evaluation_uri: the folder of an Evaluator's evaluation artifact.
    """
    import tensorflow_model_analysis as tfma  # heavy: only when a pushed model's level is wanted

    by_model: dict[str, float] = {}
    for plots in tfma.load_plots(evaluation_uri):
        if plots.slice_key.ListFields():  # only the overall slice
            continue
        for entry in plots.plot_keys_and_values:
            buckets = entry.value.calibration_histogram_buckets.buckets
            examples = sum(b.num_weighted_examples.value for b in buckets)
            if examples > 0:
                by_model[entry.key.model_name] = (
                    sum(b.total_weighted_refined_prediction.value for b in buckets) / examples
                )
    for name in _CANDIDATE_NAMES:
        if name in by_model:
            return by_model[name]
    return None
