import keras
import numpy as np
import pytest

from keras_ssl.augment import rotations
from keras_ssl.representation import RotationPrediction
from keras_ssl.testing import check_method_contract
from tests.representation import lens_replica_models


def mlp_encoder(shape=(8, 8, 1)):
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(12, activation="tanh")(x)
    return keras.Model(inputs, keras.layers.Dense(6)(x))


def cross_entropy(logits, labels):
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels]


def test_the_loss_is_the_rotation_cross_entropy():
    keras.utils.set_random_seed(0)
    x, rotation = lens_replica_models.batch()
    model = RotationPrediction(mlp_encoder())
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    model(x[:1])
    logits = np.asarray(model.rotation_logits(x))
    history = model.fit(x, rotation, batch_size=16, epochs=1, verbose=0)
    np.testing.assert_allclose(
        history.history["loss"][0],
        cross_entropy(logits, rotation).mean(),
        rtol=1e-5,
    )
    assert history.history["accuracy"][0] == pytest.approx(
        np.mean(logits.argmax(1) == rotation)
    )
    predicted = model.predict_rotation(x)
    np.testing.assert_array_equal(predicted["rotation"], logits.argmax(1))
    np.testing.assert_allclose(
        np.asarray(predicted["rotation_probs"]).sum(1), 1.0, rtol=1e-6
    )
    np.testing.assert_allclose(model.embed(x)["embedding"], model.encoder(x))


def test_two_rotations_train_a_two_way_head():
    x, _ = lens_replica_models.batch()
    copies, rotation = rotations(x[::4], num_rotations=2)
    model = RotationPrediction(mlp_encoder(), num_rotations=2)
    model.compile(optimizer="adam")
    model.fit(copies, rotation, batch_size=8, epochs=1, verbose=0)
    assert model.predict_rotation(x)["rotation_probs"].shape == (16, 2)


def test_rotation_prediction_meets_the_method_contract(tmp_path):
    report = check_method_contract(
        lens_replica_models.build_rotnet,
        lens_replica_models.batch(),
        tmp_path,
    )
    assert report["export"]["endpoints"] == ["embed", "rotation"]
    assert report["replicas"]["mirrored_weights_checked"] > 0


def test_bad_arguments_and_data_are_rejected_before_training():
    with pytest.raises(ValueError, match="num_rotations must be 2 or 4"):
        RotationPrediction(mlp_encoder(), num_rotations=3)
    model = RotationPrediction(mlp_encoder())
    model.compile(optimizer="sgd")
    x, rotation = lens_replica_models.batch()
    with pytest.raises(ValueError, match="y must be the rotation labels"):
        model.fit(x, rotation + 1, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="y must be the rotation labels"):
        model.fit(x, rotation[:4], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="batches without labels|got a batch"):
        model.fit(x, epochs=1, verbose=0)
