"""NAT learns digits features: the measured gain the issue asks for.

Each run is the `keras-ssl train nat` recipe (narrow small CNN with 16-d
features, digits at 16x16, 150 epochs, about 20 s on 2 cores).
"""

import keras
import numpy as np
import pytest

from keras_ssl.evaluation import probe_metrics
from keras_ssl.recipes import get_recipe

SEEDS = (0, 1)


def _train(seed, **overrides):
    recipe = get_recipe("nat")
    config = recipe.resolve_config(overrides, "digits")
    keras.utils.set_random_seed(seed)
    data = recipe.load_data("digits", config, seed)
    model = recipe.build_model(data, config)
    model(data["x_train"][:2])
    random_init, _ = probe_metrics(model, data)
    table = np.asarray(model.assignment).copy()
    epochs, batch_size = recipe.training_defaults("digits")
    dataset, steps = recipe.train_dataset(
        data, batch_size, seed, 0, epochs, config
    )
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps, verbose=0)
    trained, _ = probe_metrics(model, data)
    return {
        "random_init": random_init["linear_probe_accuracy"],
        "trained": trained["linear_probe_accuracy"],
        "table_changed": float(np.mean(np.asarray(model.assignment) != table)),
    }


@pytest.fixture(scope="module")
def runs():
    return {
        "nat": [_train(seed) for seed in SEEDS],
        "never": [_train(seed, reassign_every=0) for seed in SEEDS],
    }


def test_nat_beats_the_same_encoder_at_random_init(runs):
    trained = np.mean([r["trained"] for r in runs["nat"]])
    random_init = np.mean([r["random_init"] for r in runs["nat"]])
    print(f"NAT linear probe {trained:.3f} vs random init {random_init:.3f}")
    assert trained >= random_init + 0.05
    # Reassignment really moved targets during training.
    assert all(r["table_changed"] > 0.5 for r in runs["nat"])


def test_reassignment_is_not_worse_than_a_fixed_assignment(runs):
    # The paper's ablation: never reassigning was worse (the note measured
    # about 3 points on digits).
    reassigned = np.mean([r["trained"] for r in runs["nat"]])
    fixed = np.mean([r["trained"] for r in runs["never"]])
    print(f"reassign every 3 epochs {reassigned:.3f} vs never {fixed:.3f}")
    assert reassigned >= fixed - 0.01
    assert all(r["table_changed"] == 0.0 for r in runs["never"])
