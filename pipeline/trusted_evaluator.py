"""TFX's Evaluator, plus a second comparison with the baseline on a trusted set the newest span cannot move.

TFMA compares candidate and baseline on the eval split of the whole training window, new span included:
if that span's labels are bad, both models score badly on it and the change threshold passes. After
TFMA's blessing, this Evaluator scores both models again on the eval splits of the window's EARLIER
spans alone and withdraws the blessing (one ModelBlessing, as the baseline resolver and the Pusher read
it) when the candidate is worse there by more than `trusted_max_accuracy_drop` and a one-sided test on
the rows the two models disagree on says the drop is not chance (`trusted_significance`; see
pipeline/trusted_set.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from tfx import types
from tfx.components.evaluator import component as evaluator_component
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import io_utils, json_utils, path_utils

from pipeline import explanations
from pipeline.accepted_spans import examples_span
from pipeline.trusted_set import TRUSTED_FILE, TrustedComparison, compare_accuracy

TRUSTED_MAX_ACCURACY_DROP_KEY = "trusted_max_accuracy_drop"
TRUSTED_SIGNIFICANCE_KEY = "trusted_significance"
# Eval rows read per earlier span at most (a seeded sample beyond): scoring is two models x these rows.
MAX_ROWS_PER_SPAN = 50_000


def earlier_examples(examples: Sequence[types.Artifact]) -> list[types.Artifact]:
    """The Examples of every span older than the newest one in the list (none when there is one span)."""
    if not examples:
        return []
    newest = max(examples_span(e) for e in examples)
    return [e for e in examples if examples_span(e) < newest]


def is_blessed(blessing: types.Artifact) -> bool:
    """Whether TFX's Evaluator executor blessed the model (its `blessed` custom property is 1)."""
    return bool(
        blessing.has_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY)
        and blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == constants.BLESSED_VALUE
    )


def withdraw_blessing(blessing: types.Artifact) -> None:
    """Turns a blessed ModelBlessing into a not blessed one, as TFX's executor writes a non-blessing.

    The BLESSED marker file goes, NOT_BLESSED is written and the `blessed` custom property becomes 0,
    so the Pusher and the LatestBlessedModelStrategy resolver see one ordinary refusal.
    """
    blessed_file = os.path.join(blessing.uri, constants.BLESSED_FILE_NAME)
    if fileio.exists(blessed_file):
        fileio.remove(blessed_file)
    io_utils.write_string_file(os.path.join(blessing.uri, constants.NOT_BLESSED_FILE_NAME), "")
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.NOT_BLESSED_VALUE)


def apply_comparison(comparison: TrustedComparison, evaluation_uri: str, blessing: types.Artifact) -> None:
    """Writes trusted.json into the evaluation folder and withdraws the blessing if the comparison failed."""
    explanations.write_json(evaluation_uri, TRUSTED_FILE, comparison.to_dict())
    if not comparison.passed:
        withdraw_blessing(blessing)


def _scores(model: Any, serialized: Sequence[bytes]) -> np.ndarray:
    """The model's probabilities for raw examples, through its serving_default signature (raw features)."""
    kinds = explanations.raw_input_spec(model)
    return explanations.raw_predictor(model)(explanations.examples_to_columns(serialized, kinds))


def score_trusted_set(
    candidate_dir: str,
    baseline_dir: str,
    examples: Sequence[types.Artifact],
    splits: Sequence[str],
    max_drop: float,
    significance: float,
) -> TrustedComparison:
    """Scores candidate and baseline on the given splits of the Examples and compares their accuracy.

    The labels come from the candidate's own Transform graph (explanations.labels_of), so the label rule
    is not repeated here.
    """
    serialized: list[bytes] = []
    for artifact in examples:
        for split in splits:
            serialized += explanations.read_examples(artifact.uri, split, MAX_ROWS_PER_SPAN, seed=0)
    candidate = explanations.load_model(candidate_dir)
    baseline = explanations.load_model(baseline_dir)
    return compare_accuracy(
        explanations.labels_of(candidate, serialized),
        _scores(candidate, serialized),
        _scores(baseline, serialized),
        [examples_span(a) for a in examples],
        max_drop,
        significance,
    )


def skip_reason(
    max_drop: float | None,
    blessing: types.Artifact,
    baseline: Sequence[types.Artifact],
    trusted: Sequence[types.Artifact],
) -> str:
    """Why the trusted-set comparison does not run, or "" when it does."""
    if max_drop is None:
        return "no threshold was given"
    if not is_blessed(blessing):
        return "TFMA did not bless the model"
    if not baseline:
        return "there is no blessed baseline"
    if not trusted:
        return "the window holds a single span"
    return ""


class Executor(evaluator_executor.Executor):
    """TFX's Evaluator executor, then the trusted-set comparison when TFMA blessed against a baseline.

    trusted.json is written only when the comparison ran; without a baseline, with a single span in
    the window (the first run; every Vertex run) or when TFMA did not bless, nothing is added.
    """

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Runs TFMA's evaluation and blessing, then the comparison on the earlier spans; see the class docstring."""
        super().Do(input_dict, output_dict, exec_properties)
        blessing = artifact_utils.get_single_instance(output_dict[standard_component_specs.BLESSING_KEY])
        max_drop = exec_properties.get(TRUSTED_MAX_ACCURACY_DROP_KEY)
        baseline = input_dict.get(standard_component_specs.BASELINE_MODEL_KEY) or []
        trusted = earlier_examples(input_dict[standard_component_specs.EXAMPLES_KEY])
        skipped = skip_reason(max_drop, blessing, baseline, trusted)
        if skipped or max_drop is None:
            logging.info("Trusted-set comparison skipped: %s.", skipped)
            return
        splits = json_utils.loads(exec_properties.get(standard_component_specs.EXAMPLE_SPLITS_KEY) or "null")
        comparison = score_trusted_set(
            path_utils.serving_model_path(
                artifact_utils.get_single_uri(input_dict[standard_component_specs.MODEL_KEY])
            ),
            path_utils.serving_model_path(baseline[0].uri),
            trusted,
            splits or ["eval"],
            float(max_drop),
            float(exec_properties.get(TRUSTED_SIGNIFICANCE_KEY) or 1.0),
        )
        evaluation_uri = artifact_utils.get_single_uri(output_dict[standard_component_specs.EVALUATION_KEY])
        apply_comparison(comparison, evaluation_uri, blessing)
        logging.info("Trusted-set comparison (%s): %s", "passed" if comparison.passed else "FAILED", comparison)


class TrustedEvaluatorSpec(standard_component_specs.EvaluatorSpec):
    """EvaluatorSpec with the trusted-set threshold as one more (optional) execution parameter."""

    # TFX declares PARAMETERS on ComponentSpec as a plain attribute and reads it from the class.
    PARAMETERS = {  # noqa: RUF012
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        TRUSTED_MAX_ACCURACY_DROP_KEY: ExecutionParameter(type=float, optional=True),
        TRUSTED_SIGNIFICANCE_KEY: ExecutionParameter(type=float, optional=True),
    }


class TrustedEvaluator(evaluator_component.Evaluator):
    """Evaluator that also withdraws the blessing of a candidate worse than the baseline on the earlier spans."""

    SPEC_CLASS = TrustedEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        baseline_model: types.BaseChannel,
        schema: types.BaseChannel,
        eval_config: Any,
        trusted_max_accuracy_drop: float,
        trusted_significance: float = 1.0,
        example_splits: Sequence[str] = ("eval",),
    ) -> None:
        """Builds the component.

        TFX's Evaluator.__init__ builds an EvaluatorSpec itself, which this subclass's SPEC_CLASS would
        reject, so the spec is built here (with only the arguments the pipeline uses: an eval config,
        no module file) and handed to the base component directly.

        Args:
            examples: the training window's Examples, one artifact per span.
            model: the Trainer's model.
            baseline_model: the latest blessed model (the resolver's output; may resolve to nothing).
            schema: the schema, for TFXIO.
            eval_config: TFMA's config: metrics, slices and thresholds.
            trusted_max_accuracy_drop: how far below the baseline's accuracy on the earlier spans the
                candidate may be and stay blessed.
            trusted_significance: the p-value below which a drop beyond that is taken as real; 1.0
                refuses on the drop alone.
            example_splits: the splits TFMA (and the trusted comparison, on the earlier spans) evaluates.
        """
        spec = TrustedEvaluatorSpec(
            examples=examples,
            model=model,
            baseline_model=baseline_model,
            schema=schema,
            eval_config=eval_config,
            example_splits=json_utils.dumps(list(example_splits)),
            trusted_max_accuracy_drop=float(trusted_max_accuracy_drop),
            trusted_significance=float(trusted_significance),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        )
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
