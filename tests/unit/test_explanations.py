"""Permutation importance, AUC and feature ablation on fake predictors, where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import explanations


def _data(rows: int = 2000, seed: int = 1) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows).astype(np.float32)
    weak = rng.normal(size=rows).astype(np.float32)
    noise = rng.normal(size=rows).astype(np.float32)
    labels = (signal + 0.3 * weak + 0.2 * rng.normal(size=rows) > 0).astype(np.int64)
    return {"signal": signal, "weak": weak, "noise": noise}, labels


def _predict(columns: dict[str, np.ndarray]) -> np.ndarray:
    # A model that uses signal strongly, weak a little, and ignores noise.
    return 1 / (1 + np.exp(-(3 * columns["signal"] + columns["weak"])))


def test_auc_matches_the_pairwise_definition() -> None:
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4])
    pairs = [(p, n) for p in scores[labels == 1] for n in scores[labels == 0]]
    expected = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert explanations.auc(labels, scores) == pytest.approx(expected)
    assert explanations.auc(labels, np.full(6, 0.3)) == pytest.approx(0.5)
    assert np.isnan(explanations.auc(np.ones(3), np.arange(3)))


def test_permutation_importance_ranks_used_features_above_ignored_noise() -> None:
    columns, labels = _data()
    result = explanations.permutation_importance(_predict, columns, labels, repeats=3, seed=0)
    ranking = [f["feature"] for f in result["features"]]
    assert ranking == ["signal", "weak", "noise"]
    by_name = {f["feature"]: f for f in result["features"]}
    # The model never reads noise: shuffling it changes nothing at all.
    assert by_name["noise"]["importance"] == 0.0 and by_name["noise"]["std"] == 0.0
    assert by_name["signal"]["importance"] > 0.2
    assert result["baseline_score"] == pytest.approx(explanations.auc(labels, _predict(columns)))
    assert (result["metric"], result["rows"], result["repeats"]) == ("auc", 2000, 3)


def test_permutation_importance_with_log_loss_counts_an_increase_as_importance() -> None:
    columns, labels = _data()
    result = explanations.permutation_importance(_predict, columns, labels, metric="log_loss", repeats=2)
    assert result["features"][0]["feature"] == "signal" and result["features"][0]["importance"] > 0


def test_permutation_importance_is_reproducible_with_a_seed() -> None:
    columns, labels = _data()
    first = explanations.permutation_importance(_predict, columns, labels, seed=5)
    again = explanations.permutation_importance(_predict, columns, labels, seed=5)
    other = explanations.permutation_importance(_predict, columns, labels, seed=6)
    assert first == again
    assert first != other


def test_permutation_importance_rejects_bad_input() -> None:
    columns, labels = _data(rows=10)
    with pytest.raises(ValueError, match="metric is 'accuracy'"):
        explanations.permutation_importance(_predict, columns, labels, metric="accuracy")
    with pytest.raises(ValueError, match="every column needs 10 values"):
        explanations.permutation_importance(_predict, {**columns, "noise": columns["noise"][:3]}, labels)


def test_feature_ablation_credits_the_feature_that_moved_the_prediction() -> None:
    baseline = {"signal": 0.0, "weak": 0.0, "noise": 0.0}
    (explanation,) = explanations.feature_ablation(_predict, [{"signal": 1.0, "weak": -1.0, "noise": 5.0}], baseline)
    assert explanation.baseline_prediction == pytest.approx(0.5)
    assert explanation.prediction == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert explanation.contributions["signal"] > 0 > explanation.contributions["weak"]
    assert explanation.contributions["noise"] == 0.0
    assert [name for name, _ in explanation.top(2)] == ["signal", "weak"]


def test_instances_fill_left_out_features_from_the_baseline_and_name_bad_values() -> None:
    kinds = {"fare": "float", "payment_type": "string", "trip_start_hour": "int"}
    baseline = {"fare": 9.5, "payment_type": "Cash", "trip_start_hour": 14}
    (row,) = explanations.instances_to_rows([{"fare": "12", "trip_start_hour": 3.0}], kinds, baseline)
    assert row == {"fare": 12.0, "payment_type": "Cash", "trip_start_hour": 3}
    with pytest.raises(ValueError, match=r"feature 'trip_start_hour' is 3\.5; expected an integer"):
        explanations.instances_to_rows([{"trip_start_hour": 3.5}], kinds, baseline)
    with pytest.raises(ValueError, match="unknown feature"):
        explanations.instances_to_rows([{"tips": 1.0}], kinds, baseline)


def test_explain_reads_a_request_body_a_list_or_one_instance_and_names_bad_input() -> None:
    from runners.errors import EXIT_USAGE, RunError
    from runners.serving.explain import parse_instances

    assert parse_instances('{"instances": [{"fare": 1}]}', "--instances") == [{"fare": 1}]
    assert parse_instances('[{"fare": 1}, {}]', "f.json") == [{"fare": 1}, {}]
    assert parse_instances('{"fare": 1}', "f.json") == [{"fare": 1}]
    for text in ("{fare: 1}", '{"instances": []}'):
        with pytest.raises(RunError) as raised:
            parse_instances(text, "f.json")
        assert raised.value.exit_code == EXIT_USAGE and str(raised.value).startswith("f.json ")
