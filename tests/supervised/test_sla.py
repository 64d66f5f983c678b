import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.supervised import SLA
from keras_ssl.supervised.sla import transformed_copies
from keras_ssl.testing import check_method_contract
from tests.supervised import sla_replica_models

M = 4
N = sla_replica_models.NUM_CLASSES


def mlp_encoder(shape=(8, 8, 1)):
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(12, activation="tanh")(x)
    return keras.Model(inputs, keras.layers.Dense(6)(x))


def _model(**kwargs):
    keras.utils.set_random_seed(0)
    model = SLA(mlp_encoder(), num_classes=N, **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    x, _ = sla_replica_models.batch()
    model(x[:M])
    return model


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_joint_label_bookkeeping_is_exact():
    # joint[b * M + j, i * M + k] encodes (b, j, i, k): every slice
    # [j::M, j::M] must come back as transform j's conditional logits.
    model = _model()
    b, j, i, k = np.meshgrid(
        np.arange(5), np.arange(M), np.arange(N), np.arange(M), indexing="ij"
    )
    joint = (1000 * b + 100 * j + 10 * i + k).astype("float32")
    joint = joint.reshape(5 * M, N * M)
    conditional = np.asarray(model.conditional_logits(joint))
    assert conditional.shape == (5, M, N)
    for t in range(M):
        np.testing.assert_array_equal(conditional[:, t], joint[t::M, t::M])
    # The joint label of copy j of an image of class y is y * M + j: its
    # column lies in slice j at the class's position.
    y = np.array([2, 0, 1, 1, 0])
    labels = np.repeat(y, M) * M + np.tile(np.arange(M), 5)
    for t in range(M):
        np.testing.assert_array_equal(labels[t::M] // M, y)
        np.testing.assert_array_equal(labels[t::M] % M, t)


def test_digits_six_and_nine_confuse_the_joint_but_not_the_conditional():
    # The note's caveat: (6, 180 deg) looks like (9, 0 deg). A joint head
    # that cannot tell them apart still gives AG the right class,
    # because AG reads only the columns of each copy's own transform.
    model = SLA(mlp_encoder(), num_classes=10)
    joint = np.zeros((M, 10 * M), "float32")
    joint[0, 6 * M + 0] = joint[0, 9 * M + 2] = 5.0  # identity copy
    joint[2, 6 * M + 2] = joint[2, 9 * M + 0] = 5.0  # 180-degree copy
    joint[1, 6 * M + 1] = joint[3, 6 * M + 3] = 5.0
    conditional = np.asarray(model.conditional_logits(joint))
    assert np.argmax(conditional.mean(axis=1)[0]) == 6


def _reference(model, x, y, temperature=1.0):
    features = np.asarray(model.encoder(x))
    joint = np.asarray(model.joint_head(features))
    labels = y * M + np.tile(np.arange(M), len(y) // M)
    joint_loss = -log_softmax(joint)[np.arange(len(y)), labels].mean()
    decay = (
        0.5
        * model.weight_decay
        * sum(float(np.sum(np.square(v))) for v in model.trainable_variables)
    )
    conditional = np.stack([joint[t::M, t::M] for t in range(M)], axis=1)
    aggregated = conditional.mean(axis=1)
    y_single = y[::M]
    expected = {
        "joint_loss": joint_loss,
        "weight_decay": decay,
        "joint_accuracy": np.mean(joint.argmax(1) == labels),
        "accuracy": np.mean(aggregated.argmax(1) == y_single),
        "single_accuracy": np.mean(conditional[:, 0].argmax(1) == y_single),
    }
    total = joint_loss + decay
    if model.sd_head is not None:
        sd = np.asarray(model.sd_head(features[::M]))
        sd_loss = -log_softmax(sd)[np.arange(len(y_single)), y_single].mean()
        log_p = log_softmax(aggregated / temperature)
        kl = (np.exp(log_p) * (log_p - log_softmax(sd / temperature))).sum(1)
        distillation = temperature**2 * kl.mean()
        expected.update(
            sd_loss=sd_loss,
            distillation_loss=distillation,
            sd_accuracy=np.mean(sd.argmax(1) == y_single),
        )
        total += sd_loss + distillation
    expected["loss"] = total
    return expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"weight_decay": 0.01, "large_loss": True},
        {"self_distillation": True, "temperature": 2.0},
    ],
)
def test_every_loss_term_matches_numpy(kwargs):
    model = _model(**kwargs)
    x, y = sla_replica_models.batch()
    expected = _reference(model, x, y, kwargs.get("temperature", 1.0))
    if kwargs.get("large_loss"):
        expected["loss"] += (M - 1) * expected["joint_loss"]
        expected["joint_loss"] *= M
    history = model.fit(
        x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0
    )
    logs = {k: v[0] for k, v in history.history.items()}
    assert set(logs) == set(expected)
    for name, value in expected.items():
        assert logs[name] == pytest.approx(value, rel=1e-5, abs=1e-7), name


def test_the_distillation_target_is_detached():
    model = _model(self_distillation=True)
    x, y = sla_replica_models.batch()
    with tf.GradientTape(persistent=True) as tape:
        features = model.encoder(x)
        joint = model.joint_head(features)
        aggregated = tf.reduce_mean(model.conditional_logits(joint), axis=1)
        kl = model.distillation_loss(aggregated, model.sd_head(features[::M]))
    joint_gradients = tape.gradient(kl, model.joint_head.trainable_variables)
    sd_gradients = tape.gradient(kl, model.sd_head.trainable_variables)
    assert all(g is None for g in joint_gradients)
    assert all(np.abs(g).max() > 0 for g in sd_gradients)


def test_classify_aggregates_the_transforms_in_the_graph():
    model = _model(self_distillation=True)
    x, _ = sla_replica_models.batch()
    images = x[::M]
    joint = np.asarray(model.joint_head(model.encoder(x)))
    conditional = np.stack([joint[t::M, t::M] for t in range(M)], axis=1)
    out = tf.function(model.classify)(images)

    def softmax(z):
        return np.exp(log_softmax(z))

    np.testing.assert_allclose(
        out["probs"], softmax(conditional.mean(1)), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        out["single_probs"], softmax(conditional[:, 0]), rtol=1e-5, atol=1e-6
    )
    sd = np.asarray(model.sd_head(model.encoder(images)))
    np.testing.assert_allclose(out["sd_probs"], softmax(sd), rtol=1e-5)
    np.testing.assert_array_equal(
        out["prediction"], conditional.mean(1).argmax(1)
    )
    for aggregation, logits in (
        ("si", conditional[:, 0]),
        ("sd", sd),
    ):
        other = SLA(
            model.encoder,
            num_classes=N,
            self_distillation=True,
            aggregation=aggregation,
        )
        other(images)
        other.joint_head.set_weights(model.joint_head.get_weights())
        other.sd_head.set_weights(model.sd_head.get_weights())
        np.testing.assert_allclose(other(images), logits, rtol=1e-5, atol=1e-6)


def test_sla_meets_the_method_contract(tmp_path):
    x, _ = sla_replica_models.batch()
    report = check_method_contract(
        sla_replica_models.build_sla,
        sla_replica_models.batch(),
        tmp_path,
        sample_inputs=x[::M],
    )
    assert report["export"]["endpoints"] == ["classify", "embed"]


def test_bad_arguments_and_data_are_rejected_before_training():
    for kwargs, match in (
        ({"num_transforms": 3}, "num_transforms must be one of"),
        ({"transforms": "flip"}, "transforms must be one of"),
        ({"aggregation": "sd"}, "needs the SD head"),
        ({"aggregation": "mean"}, "aggregation must be one of"),
        ({"temperature": 0.0}, "temperature must be"),
        ({"weight_decay": -1.0}, "weight_decay must be"),
    ):
        with pytest.raises(ValueError, match=match):
            SLA(mlp_encoder(), num_classes=N, **kwargs)
    model = _model()
    x, y = sla_replica_models.batch()
    with pytest.raises(ValueError, match="contiguously"):
        model.fit(x, np.roll(y, 1), shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="multiple of num_transforms"):
        model.fit(x[:6], y[:6], shuffle=False, verbose=0)
    assert transformed_copies(x[:2]).shape == (8, 8, 8, 1)
