"""AET learns its pretext on digits: the learning test the issue asks for.

Each run is the `keras-ssl train aet` recipe at its defaults (small CNN
16-32-64 on 16x16 digits, AET-affine with the official ranges, Adam 1e-3,
batch 100, 100 epochs), built and fed by the recipe. The control is the
same model trained the same way (same encoder, decoder, optimiser,
epochs, seeds and pairs) with its encoder frozen at random init, so only
the decoder learns: what a linear read-out of random features can do.
Both are scored on the recipe's held-out pairs against the trivial
predictor of the target mean (the issue's gate: below 50% of its error).
The representation probes are reported by the recipe (`run.json`, the
README), not gated: the method note shows digits cannot show AET's gain.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.recipes import get_recipe
from keras_ssl.recipes.aet_recipe import EVALUATION_SEED
from keras_ssl.representation.aet import TARGET_GROUPS

SEEDS = (0, 1)


def _train(seed, frozen):
    recipe = get_recipe("aet")
    config = recipe.resolve_config({}, "digits")
    keras.utils.set_random_seed(seed)
    data = recipe.load_data("digits", config, seed)
    model = recipe.build_model(data, config)
    model(data["x_train"][:2])
    if frozen:
        model.encoder.trainable = False
    epochs, batch_size = recipe.training_defaults("digits")
    dataset, steps = recipe.train_dataset(
        data, batch_size, seed, 0, epochs, config
    )
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps, verbose=0)
    (x, warped), target = model.make_pairs(
        data["x_test"], tf.constant(EVALUATION_SEED)
    )
    predicted = np.asarray(model.predict_transform(x, warped)["transform"])
    squared = (predicted - np.asarray(target)) ** 2
    variance = np.asarray(target).var(axis=0)
    groups = TARGET_GROUPS["affine"]
    return {
        "ratio": squared.mean() / variance.mean(),
        "trivial": variance.mean(),
        "groups": {
            g: squared[:, list(c)].mean() / variance[list(c)].mean()
            for g, c in groups.items()
        },
    }


@pytest.fixture(scope="module")
def runs():
    return {
        "aet": [_train(seed, frozen=False) for seed in SEEDS],
        "frozen": [_train(seed, frozen=True) for seed in SEEDS],
    }


def test_pretext_error_is_below_half_the_trivial_predictors(runs):
    ratios = [r["ratio"] for r in runs["aet"]]
    print("AET pretext / trivial MSE per seed:", np.round(ratios, 3))
    assert np.mean(ratios) < 0.5
    for run in runs["aet"]:
        # The chance level is the spread of the official 6-d target.
        assert 0.35 < run["trivial"] < 0.45


def test_the_encoder_learns_beyond_a_read_out_of_random_features(runs):
    aet = np.mean([r["ratio"] for r in runs["aet"]])
    frozen = [r["ratio"] for r in runs["frozen"]]
    print("frozen-encoder control / trivial per seed:", np.round(frozen, 3))
    # Measured: AET about 0.39, the control about 0.9 of trivial.
    assert aet < np.mean(frozen) - 0.3


def test_translation_and_scale_are_learned_best(runs):
    # Translation and scale are read off the pooled features far better
    # than chance; rotation (cos, sin of +-180 degrees) is the hardest.
    for run in runs["aet"]:
        groups = run["groups"]
        print({g: round(v, 3) for g, v in groups.items()})
        assert groups["translation"] < 0.3
        assert groups["scale"] < 0.5
        assert groups["rotation"] > groups["translation"]
