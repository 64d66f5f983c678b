"""TS and TS+ME learn from unlabeled digits: each beats the labeled-only
control by at least 2 points (mean of 2 seeds), the method note's CI
threshold.

Same network (the recipe's conv_dense + dropout 0.3), the same initial
weights, optimizer, epochs, batches, augmentation and dropout keys for
all three; the control sees the first view of every labeled batch. A
shorter variant of the note's 3,000-step experiment, calibrated once (the
note leaves that to us): 400 steps (40 epochs of 10) with Adam 2e-3 and
the ramp-up over the first 100. Measured here (test accuracy, seeds 0 /
1): control 0.896 / 0.950, TS 0.944 / 0.965, TS+ME 0.956 / 0.972, so the
mean margins are +3.1 (TS) and +4.1 (TS+ME) points.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import evaluation
from keras_ssl.recipes import get_recipe

SEEDS = (0, 1)
EPOCHS = 40
UNLABELED_BATCH = 128
SETTINGS = {"learning_rate": 2e-3, "ramp_up_steps": 100}
RUNS = {
    "ts": {"mutual_exclusivity_weight": 0.0},
    "tsme": {},
    "supervised": {},
}


def _accuracy(model, data):
    out = evaluation.predict_in_batches(
        tf.function(model.classify), data["x_test"]
    )
    return float(np.mean(out["prediction"] == data["y_test"]))


def _train(recipe, kind, seed, initial_weights):
    config = recipe.resolve_config({**SETTINGS, **RUNS[kind]}, "digits")
    keras.utils.set_random_seed(seed)
    data = recipe.load_data("digits", config, seed)
    dataset, steps = recipe.train_dataset(
        data,
        UNLABELED_BATCH,
        seed,
        0,
        EPOCHS,
        config,
        views=1 if kind == "supervised" else None,
    )
    build = recipe.build_control if kind == "supervised" else recipe.build_model
    model = build(data, config, steps)
    model.compile(
        **recipe.compile_arguments(config, steps), steps_per_execution=10
    )
    model(data["x_train"][:2])
    if initial_weights is None:
        initial_weights = model.get_weights()
    model.set_weights(initial_weights)
    model.fit(dataset, epochs=EPOCHS, steps_per_epoch=steps, verbose=0)
    return _accuracy(model, data), initial_weights


@pytest.fixture(scope="module")
def accuracies():
    recipe = get_recipe("tsme")
    results = {kind: [] for kind in RUNS}
    for seed in SEEDS:
        initial = None
        for kind in RUNS:
            accuracy, initial = _train(recipe, kind, seed, initial)
            results[kind].append(accuracy)
    print("test accuracy by seed", results)
    return results


@pytest.mark.parametrize("kind", ["ts", "tsme"])
def test_beats_the_labeled_only_control_by_two_points(accuracies, kind):
    control = np.mean(accuracies["supervised"])
    assert np.mean(accuracies[kind]) >= control + 0.02, accuracies
