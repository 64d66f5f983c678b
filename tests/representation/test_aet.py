import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.backbones import small_cnn
from keras_ssl.evaluation import feature_extractor
from keras_ssl.recipes import get_recipe
from keras_ssl.representation import AET
from keras_ssl.representation.aet import TARGET_GROUPS
from keras_ssl.representation.aet import transformation_pairs
from keras_ssl.testing import check_method_contract
from tests.representation import aet_replica_models


def _model(transform="affine", feature_layer=None, **kwargs):
    keras.utils.set_random_seed(0)
    model = AET(
        small_cnn((8, 8, 1), preset="narrow"),
        transform=transform,
        feature_layer=feature_layer,
        **kwargs,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def _reference(model, x, warped, target, training):
    """MSE and per-group errors in NumPy from the encoder's features."""
    features = np.concatenate(
        [
            np.asarray(model.encoder(x, training=training)),
            np.asarray(model.encoder(warped, training=training)),
        ],
        axis=1,
    )
    kernel, bias = (np.asarray(w) for w in model.decoder.weights)
    predicted = features @ kernel + bias
    if model.transform == "affine":
        predicted = np.tanh(predicted)
    squared = (predicted - target) ** 2
    groups = {
        f"{g}_error": squared[:, list(c)].mean()
        for g, c in TARGET_GROUPS[model.transform].items()
    }
    return {"loss": squared.mean(), **groups}, predicted


# ----------------------------------------------------------------------
# Loss, groups, decoder
# ----------------------------------------------------------------------
@pytest.mark.parametrize("transform", ["affine", "projective"])
def test_losses_match_a_numpy_reference(transform):
    (x, warped), target = aet_replica_models.batch(transform)
    model = _model(transform)
    model(x[:1])
    expected, predicted = _reference(model, x, warped, target, False)
    losses, values = model.compute_losses(((x, warped), target))
    assert values == {}
    assert set(losses) == set(expected) == set(model.tracked_names)
    for name, value in expected.items():
        assert float(losses[name]) == pytest.approx(value, rel=1e-5), name
    np.testing.assert_allclose(
        model.predict_transform(x, warped)["transform"], predicted, atol=1e-5
    )
    # The loss is the mean over all components, i.e. the groups weighted
    # by their sizes.
    sizes = {g: len(c) for g, c in TARGET_GROUPS[transform].items()}
    weighted = sum(sizes[g] * expected[f"{g}_error"] for g in sizes)
    assert weighted / sum(sizes.values()) == pytest.approx(expected["loss"])


def test_a_training_step_logs_the_reference_loss_and_moves_the_encoder():
    (x, warped), target = aet_replica_models.batch()
    model = _model()
    model(x[:1])
    # Training mode: each of the two encoder calls uses its own batch
    # statistics, as the official forward pass does.
    expected, _ = _reference(model, x, warped, target, True)
    before = [np.asarray(w).copy() for w in model.encoder.trainable_weights]
    history = model.fit((x, warped), target, batch_size=16, epochs=1, verbose=0)
    for name, value in expected.items():
        assert history.history[name][0] == pytest.approx(value, rel=1e-4)
    moved = [
        not np.allclose(b, np.asarray(w))
        for b, w in zip(before, model.encoder.trainable_weights, strict=True)
    ]
    assert all(moved)


def test_decoder_is_the_official_linear_layer():
    affine, projective = _model("affine"), _model("projective")
    for model, size in ((affine, 6), (projective, 8)):
        model(np.zeros((1, 8, 8, 1), "float32"))
        kernel, bias = (np.asarray(w) for w in model.decoder.weights)
        assert kernel.shape == (32, size)  # [E(x), E(t(x))], 16 + 16
        np.testing.assert_array_equal(bias, 0.0)
        # PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        bound = 1 / math.sqrt(32)
        assert np.abs(kernel).max() <= bound
        assert np.abs(kernel).max() > 0.9 * bound
    assert affine.decoder.activation is keras.activations.tanh
    assert projective.decoder.activation is keras.activations.linear


# ----------------------------------------------------------------------
# Features: the final encoder output or an intermediate layer
# ----------------------------------------------------------------------
def test_embed_returns_the_flattened_feature_layer():
    x = aet_replica_models.images(4)
    model = _model(feature_layer="block2_pool")
    block2 = keras.Model(
        model.encoder.input, model.encoder.get_layer("block2_pool").output
    )
    expected = np.asarray(block2(x)).reshape(4, -1)  # 2x2x8
    assert expected.shape == (4, 32)
    np.testing.assert_allclose(model.embed(x)["embedding"], expected, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
    final = _model()
    np.testing.assert_allclose(
        final.embed(x)["embedding"], final.encoder(x), atol=1e-6
    )
    assert final.features is final.encoder


def test_feature_extractor_shares_the_encoders_weights():
    encoder = small_cnn((8, 8, 1), preset="narrow")
    block1 = feature_extractor(encoder, "block1_relu")
    x = aet_replica_models.images(2)
    before = np.asarray(block1(x))
    conv = encoder.get_layer("block1_conv")
    conv.kernel.assign(2 * conv.kernel)
    # The extractor reads the encoder's own (changed) kernel.
    assert not np.allclose(np.asarray(block1(x)), before)
    assert feature_extractor(encoder, "") is encoder
    with pytest.raises(ValueError, match="feature_layer must name a layer"):
        feature_extractor(encoder, "block9_pool")


# ----------------------------------------------------------------------
# The contract
# ----------------------------------------------------------------------
def test_aet_meets_the_method_contract(tmp_path):
    (x, warped), target = aet_replica_models.batch()
    report = check_method_contract(
        aet_replica_models.build_aet,
        ((x, warped), target),
        tmp_path,
        endpoint_inputs={
            "predict_transform": {"images": x[:4], "transformed": warped[:4]}
        },
    )
    assert report["export"]["endpoints"] == ["embed", "predict_transform"]
    assert report["replicas"]["mirrored_weights_checked"] > 0


# ----------------------------------------------------------------------
# Pairs in tf.data
# ----------------------------------------------------------------------
def test_pairs_follow_the_models_options():
    x = aet_replica_models.images(8)
    identity = {"rotation": 0, "translation": 0, "scale": (1, 1), "shear": 0}
    model = _model(transform_options=identity)
    (same, warped), target = model.make_pairs(x, tf.constant([0, 1]))
    np.testing.assert_array_equal(same, x)
    np.testing.assert_allclose(warped, x, atol=1e-5)
    np.testing.assert_allclose(target, [[1, 0, 0, 0, 0, 0]] * 8, atol=1e-7)
    (_, warped), target = _model().make_pairs(x, tf.constant([0, 1]))
    assert not np.allclose(warped, x)
    assert np.asarray(target).std(axis=0).min() > 0.1


def test_recipe_draws_fresh_transformations_every_epoch_and_on_resume():
    recipe = get_recipe("aet")
    config = recipe.resolve_config({}, "digits")
    data = recipe.load_data("digits", config, seed=0)
    dataset, steps = recipe.train_dataset(data, 100, 0, 0, 2, config)
    batches = list(dataset.take(steps + 1))
    (x0, t0), target0 = batches[0]
    (x1, _), target1 = batches[steps]  # first batch of epoch 1
    assert x0.shape == t0.shape == (100, 16, 16, 1)
    assert target0.shape == (100, 6)
    assert not np.allclose(target0, target1)
    resumed, _ = recipe.train_dataset(data, 100, 0, 1, 2, config)
    (x_resumed, _), target_resumed = next(iter(resumed))
    np.testing.assert_array_equal(x_resumed, x1)
    np.testing.assert_array_equal(target_resumed, target1)
    # The zero fill of the recipe: corners of a rotated digit stay black.
    assert float(np.min(t0)) == 0.0


# ----------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"transform": "rotation"}, "transform must be one of"),
        ({"feature_layer": "block7"}, "feature_layer must name a layer"),
        (
            {"transform_options": {"corner_shift": 2}},
            r"transform_options for 'affine' take .*unknown \['corner_shift'\]",
        ),
        (
            {"transform_options": {"rotation": -5}},
            "rotation must be a number >= 0",
        ),
        (
            {
                "transform": "projective",
                "transform_options": {"target_std": [1]},
            },
            "target_std must be 8 positive numbers",
        ),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AET(small_cnn((8, 8, 1), preset="narrow"), **kwargs)


def test_an_encoder_without_a_feature_vector_is_refused():
    inputs = keras.Input((8, 8, 1))
    maps = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    with pytest.raises(ValueError, match=r"feature vector \(batch, d\)"):
        AET(maps)


@pytest.mark.parametrize(
    "fit, match",
    [
        (
            lambda m, x, w, t: m.fit(x, t, epochs=1, verbose=0),
            r"AET trains on \(\(images, transformed\), target\) batches",
        ),
        (
            lambda m, x, w, t: m.fit((x, w), t[:, :4], epochs=1, verbose=0),
            "affine target of 6 numbers",
        ),
        (
            lambda m, x, w, t: m.fit(
                tf.data.Dataset.from_tensor_slices(x).batch(4), verbose=0
            ),
            "make them in tf.data with",
        ),
    ],
)
def test_bad_fit_data_fails_before_training(fit, match):
    (x, warped), target = aet_replica_models.batch()
    model = _model()
    model(x[:1])
    weights = [np.asarray(w).copy() for w in model.weights]
    with pytest.raises(ValueError, match=match):
        fit(model, x, warped, target)
    for before, after in zip(weights, model.weights, strict=True):
        np.testing.assert_array_equal(before, np.asarray(after))


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("backbone", "resnet", "backbone must be one of small_cnn"),
        ("transform", "crop", "transform must be one of affine, projective"),
        ("max_shift", -1, "max_shift"),
    ],
)
def test_bad_recipe_settings_are_clear_errors(key, value, match):
    recipe = get_recipe("aet")
    config = {**recipe.resolve_config({}, "digits"), key: value}
    with pytest.raises(ValueError, match=match):
        recipe.check_settings(config)


def test_transformation_pairs_refuses_unknown_options():
    with pytest.raises(ValueError, match="transform must be one of"):
        transformation_pairs(np.zeros((2, 8, 8, 1)), [0, 0], "crop")
    with pytest.raises(ValueError, match="unknown"):
        transformation_pairs(np.zeros((2, 8, 8, 1)), [0, 0], shift=1)
