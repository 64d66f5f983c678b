import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import unet_lens
from keras_ssl.representation import ShortcutLens
from keras_ssl.testing import check_method_contract
from tests.representation import lens_replica_models
from tests.representation.test_rotation_prediction import cross_entropy
from tests.representation.test_rotation_prediction import mlp_encoder

WEIGHT = 3.0


def _model(feature_rate=0.0, lens_rate=0.0, **kwargs):
    """A BatchNorm-free F and a lens that is not the identity, so every
    loss term is a plain function of the weights."""
    keras.utils.set_random_seed(0)
    lens = unet_lens((8, 8, 1), widths=(4, 8))
    residual = lens.get_layer("residual")
    rng = np.random.default_rng(1)
    residual.kernel.assign(0.2 * rng.normal(size=residual.kernel.shape))
    residual.bias.assign([0.05])
    kwargs.setdefault("reconstruction_weight", WEIGHT)
    model = ShortcutLens(mlp_encoder(), lens=lens, **kwargs)
    model.compile(
        optimizer=keras.optimizers.SGD(feature_rate),
        lens_optimizer=keras.optimizers.SGD(lens_rate),
    )
    x, _ = lens_replica_models.batch()
    model(x[:1])
    return model


def _one_step(model):
    x, rotation = lens_replica_models.batch()
    history = model.fit(x, rotation, batch_size=16, epochs=1, verbose=0)
    return {k: v[0] for k, v in history.history.items()}


def _reference(model, adversarial="least_likely"):
    x, rotation = lens_replica_models.batch()
    lensed = np.asarray(model.lens(x))
    lensed_logits = np.asarray(model.rotation_logits(lensed))
    unlensed_logits = np.asarray(model.rotation_logits(x))
    lensed_loss = cross_entropy(lensed_logits, rotation).mean()
    unlensed_loss = cross_entropy(unlensed_logits, rotation).mean()
    if adversarial == "least_likely":
        target = lensed_logits.argmin(axis=1)
        adversarial_loss = cross_entropy(lensed_logits, target).mean()
    else:
        adversarial_loss = -lensed_loss
    reconstruction = np.mean((x - lensed) ** 2)
    lens_loss = adversarial_loss + WEIGHT * reconstruction
    return {
        "lensed_loss": lensed_loss,
        "unlensed_loss": unlensed_loss,
        "feature_loss": lensed_loss + unlensed_loss,
        "adversarial_loss": adversarial_loss,
        "reconstruction": reconstruction,
        "lens_loss": lens_loss,
        "loss": lensed_loss + unlensed_loss + lens_loss,
        "lensed_accuracy": np.mean(lensed_logits.argmax(1) == rotation),
        "accuracy": np.mean(unlensed_logits.argmax(1) == rotation),
    }


@pytest.mark.parametrize("adversarial", ["least_likely", "full"])
def test_every_loss_term_matches_numpy(adversarial):
    # Both rates 0: the step changes nothing, so the logged terms are the
    # reference computed from the weights before it.
    model = _model(adversarial=adversarial)
    expected = _reference(model, adversarial)
    assert expected["reconstruction"] > 1e-4  # the lens is not the identity
    logs = _one_step(model)
    assert set(logs) == set(expected)
    for name, value in expected.items():
        assert logs[name] == pytest.approx(value, rel=1e-5, abs=1e-7), name


def test_the_least_likely_label_is_the_argmin_of_the_prediction():
    logits = tf.constant([[1.0, 0.0, 3.0, 2.0], [2.0, 5.0, -1.0, 0.0]])
    labels = ShortcutLens.least_likely_labels(logits)
    np.testing.assert_array_equal(labels, [1, 2])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        target = tf.cast(ShortcutLens.least_likely_labels(logits), "float32")
    assert tape.gradient(target, logits) is None


def test_each_optimizer_updates_only_its_own_network():
    model = _model(feature_rate=0.1)
    lens_before = [w.numpy() for w in model.lens.weights]
    features_before = [
        w.numpy() for w in model.optimizer_variables()["optimizer"]
    ]
    _one_step(model)
    for before, after in zip(lens_before, model.lens.weights, strict=True):
        np.testing.assert_array_equal(before, after)
    changed = [
        not np.allclose(b, a)
        for b, a in zip(
            features_before,
            model.optimizer_variables()["optimizer"],
            strict=True,
        )
    ]
    assert all(changed)

    model = _model(lens_rate=0.1)
    features_before = [w.numpy() for w in model.encoder.weights]
    head_before = [w.numpy() for w in model.rotation_head.weights]
    lens_before = [w.numpy() for w in model.lens.trainable_variables]
    _one_step(model)
    for before, after in zip(
        features_before + head_before,
        model.encoder.weights + model.rotation_head.weights,
        strict=True,
    ):
        np.testing.assert_array_equal(before, after)
    assert not np.allclose(lens_before[-2], model.lens.trainable_variables[-2])


def _expected_sgd_step(model, variables, loss_fn, rate):
    with tf.GradientTape() as tape:
        loss = loss_fn()
    gradients = tape.gradient(loss, variables)
    return [
        v.numpy() - rate * g.numpy()
        for v, g in zip(variables, gradients, strict=True)
    ]


def test_the_steps_follow_the_gradients_of_their_own_losses():
    x, rotation = lens_replica_models.batch()

    def ce(logits):
        return tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(
                rotation, logits, from_logits=True
            )
        )

    # Feature step: the lensed + unlensed CE, the lens held fixed.
    model = _model(feature_rate=0.1)
    variables = model.optimizer_variables()["optimizer"]
    expected = _expected_sgd_step(
        model,
        variables,
        lambda: (
            ce(model.rotation_logits(model.lens(x)))
            + ce(model.rotation_logits(x))
        ),
        0.1,
    )
    _one_step(model)
    for want, got in zip(expected, variables, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    # Lens step: least-likely CE + weight * reconstruction through the
    # frozen F (no feature-step gradient reaches the lens).
    model = _model(lens_rate=0.1)
    variables = model.lens.trainable_variables

    def lens_loss():
        lensed = model.lens(x)
        logits = model.rotation_logits(lensed)
        target = tf.argmin(tf.stop_gradient(logits), axis=1)
        adversarial = tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(
                target, logits, from_logits=True
            )
        )
        return adversarial + WEIGHT * tf.reduce_mean(tf.square(x - lensed))

    expected = _expected_sgd_step(model, variables, lens_loss, 0.1)
    _one_step(model)
    for want, got in zip(expected, variables, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_unlensed_loss_off_trains_features_on_lensed_images_only():
    x, rotation = lens_replica_models.batch()
    model = _model(feature_rate=0.1, unlensed_loss=False)
    expected = _reference(model)
    variables = model.optimizer_variables()["optimizer"]
    want = _expected_sgd_step(
        model,
        variables,
        lambda: tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(
                rotation, model.rotation_logits(model.lens(x)), from_logits=True
            )
        ),
        0.1,
    )
    logs = _one_step(model)
    for w, got in zip(want, variables, strict=True):
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)
    assert logs["feature_loss"] == pytest.approx(expected["lensed_loss"])
    # Still logged (inference mode, after the feature step).
    assert logs["unlensed_loss"] > 0 and 0 <= logs["accuracy"] <= 1


def test_embeddings_and_the_lens_endpoint():
    x, _ = lens_replica_models.batch()
    model = _model()
    lensed = np.asarray(model.lens(x))
    f_lensed = np.asarray(model.encoder(lensed))
    f_plain = np.asarray(model.encoder(x))
    np.testing.assert_allclose(
        model.embed(x)["embedding"],
        np.concatenate([f_lensed, f_plain], 1),
        rtol=1e-6,
    )
    np.testing.assert_allclose(model.lensed_images(x)["lensed"], lensed)
    for embedding, expected in (("lensed", f_lensed), ("unlensed", f_plain)):
        other = ShortcutLens(
            model.encoder, lens=model.lens, embedding=embedding
        )
        np.testing.assert_allclose(other(x), expected, rtol=1e-6)
    assert set(model.serving_endpoints()) == {"embed", "lens"}


def test_validation_reports_every_loss_term():
    x, rotation = lens_replica_models.batch()
    model = _model()
    expected = _reference(model)
    logs = model.evaluate(
        x, rotation, batch_size=16, verbose=0, return_dict=True
    )
    for name, value in expected.items():
        assert logs[name] == pytest.approx(value, rel=1e-5, abs=1e-7), name


def test_shortcut_lens_meets_the_method_contract(tmp_path):
    report = check_method_contract(
        lens_replica_models.build_lens,
        lens_replica_models.batch(),
        tmp_path,
    )
    assert report["export"]["endpoints"] == ["embed", "lens"]
    assert report["keras"]["optimizers"] == {
        "optimizer": 2,
        "lens_optimizer": 2,
    }


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"adversarial": "negative"}, "adversarial must be one of"),
        ({"embedding": "sum"}, "embedding must be one of"),
        ({"reconstruction_weight": -1.0}, "reconstruction_weight must be"),
        ({"num_rotations": 8}, "num_rotations must be 2 or 4"),
        ({"lens": mlp_encoder()}, "same shape"),
        ({"lens": "unet"}, "lens must be a keras.Model"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShortcutLens(mlp_encoder(), **kwargs)
