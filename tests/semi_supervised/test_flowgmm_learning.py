"""FlowGMM learns two moons from 10 labels: test accuracy >= 0.97 on at
least 2 of 3 seeds (the issue's gate, the method note's CI test), and it
beats FlowGMM-Sup, the same flow from the same initial weights trained by
the same recipe on the labeled points only (mean of seeds 0 and 1).

The note's official toy: `make_moons(1000, noise=0.05)` with the official
labeled indices (5 per class), means +-(3.5, 3.5), 5 couplings, Adam 1e-4
with coupled weight decay, 1,980 steps with the rate divided by 10 at 50%
and 80%, batches of all 10 labeled and 10 unlabeled points; hidden width
128 (the note: the same 100% as 512, cheaper). The recipe's two-moons
settings, without XLA (its compile costs more than these steps).

Each model is traced once and re-initialised per seed (weights from a
fresh flow built under that seed, optimizer state zeroed), so three
seeds cost one trace. Measured here (test accuracy, seeds 0 / 1 / 2):
FlowGMM 1.000 / 1.000 / 1.000; labeled only (seeds 0 / 1) 0.974 / 0.995, a
mean margin of +1.3 points (FlowGMM-Sup is strong on these 10 well-spread
points; the margin is narrow).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import evaluation
from keras_ssl.recipes import get_recipe

SEEDS = (0, 1, 2)
CONTROL_SEEDS = (0, 1)
SETTINGS = {"hidden_units": (128, 128), "jit_compile": False}


def _accuracy(model, data):
    out = evaluation.predict_in_batches(
        tf.function(model.classify), data["x_test"]
    )
    return float(np.mean(out["prediction"] == data["y_test"]))


@pytest.fixture(scope="module")
def accuracies():
    recipe = get_recipe("flowgmm")
    config = recipe.resolve_config(SETTINGS, "two_moons")
    epochs, batch_size = recipe.training_defaults("two_moons")
    data = recipe.load_data("two_moons", config, 0)
    runners = {}
    results = {"flowgmm": [], "labeled_only": []}
    for seed in SEEDS:
        keras.utils.set_random_seed(seed)
        dataset, steps = recipe.train_dataset(
            data, batch_size, seed, 0, epochs, config
        )
        initial = recipe.build_model(data, config, steps)
        initial(data["x_train"][:2])
        weights = initial.get_weights()
        kinds = ["flowgmm"] + (
            ["labeled_only"] if seed in CONTROL_SEEDS else []
        )
        for kind in kinds:
            if kind not in runners:
                build = (
                    recipe.build_control
                    if kind == "labeled_only"
                    else recipe.build_model
                )
                model = build(data, config, steps)
                model.compile(
                    **recipe.compile_arguments(config, steps),
                    steps_per_execution=steps,
                )
                model(data["x_train"][:2])
                runners[kind] = model
            model = runners[kind]
            model.set_weights(weights)
            for variable in model.optimizer.variables:
                if "learning_rate" not in variable.path:
                    variable.assign(tf.zeros_like(variable))
            model.fit(dataset, epochs=epochs, steps_per_epoch=steps, verbose=0)
            results[kind].append(_accuracy(model, data))
    print("two-moons test accuracy by seed", results)
    return results


def test_flowgmm_reaches_097_on_two_of_three_seeds(accuracies):
    passed = sum(a >= 0.97 for a in accuracies["flowgmm"])
    assert passed >= 2, accuracies


def test_flowgmm_beats_the_labeled_only_flow(accuracies):
    flowgmm = np.mean(accuracies["flowgmm"][: len(CONTROL_SEEDS)])
    labeled_only = np.mean(accuracies["labeled_only"])
    assert flowgmm > labeled_only, accuracies
