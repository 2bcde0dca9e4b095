"""The Keras model builds, trains a step and predicts probabilities on a fake batch of transformed features."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from models import features
from models.model import build_keras_model, categorical_sizes
from models.trainer import DEFAULT_HYPERPARAMETERS, hyperparameters


def _fake_batch(size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    batch: dict[str, np.ndarray] = {
        features.transformed_name(k): rng.normal(size=size).astype("float32") for k in features.DENSE_FLOAT_FEATURES
    }
    for name, ids in categorical_sizes().items():
        batch[name] = rng.integers(0, ids, size=size).astype("int64")
    return batch


def test_model_maps_a_batch_to_probabilities() -> None:
    model = build_keras_model(hidden_units=(8, 4), learning_rate=0.01)
    predictions = model(_fake_batch(16)).numpy()
    assert predictions.shape == (16, 1)
    assert np.all((predictions > 0) & (predictions < 1))


def test_model_learns_a_separable_signal() -> None:
    batch = _fake_batch(256)
    labels = (batch[features.transformed_name("fare")] > 0).astype("int64").reshape(-1, 1)
    model = build_keras_model(hidden_units=(8,), learning_rate=0.05)
    history = model.fit(batch, labels, epochs=30, batch_size=64, verbose=0)
    assert history.history["binary_accuracy"][-1] > 0.9


def test_every_input_is_a_transformed_feature() -> None:
    model = build_keras_model()
    assert set(model.input_names) == {features.transformed_name(k) for k in features.model_input_features()}
    assert model.output_shape == (None, 1)
    assert isinstance(model, tf.keras.Model)


def test_hyperparameters_come_from_custom_config() -> None:
    assert hyperparameters(None) == DEFAULT_HYPERPARAMETERS
    chosen = hyperparameters({"hyperparameters": {"batch_size": 7}, "code_fingerprint": "x"})
    assert chosen["batch_size"] == 7
    assert chosen["learning_rate"] == DEFAULT_HYPERPARAMETERS["learning_rate"]
