"""The training contract the base owns: several optimizers, mixed
precision, hooks, post-hoc methods, semi-supervised batches, export specs.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.core import Endpoint
from keras_ssl.core import Method
from keras_ssl.core import replica_reduce
from keras_ssl.export import export_saved_model
from keras_ssl.testing import check_method_contract
from keras_ssl.testing import check_replica_equivalence
from keras_ssl.testing import run_signatures
from keras_ssl.uncertainty import SoftmaxClassifier
from tests.core import replica_models


def _classification(seed=0, n=16):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, rng.integers(0, 3, n).astype("int32")


# ----------------------------------------------------------------------
# Several optimizers
# ----------------------------------------------------------------------
def test_each_optimizer_updates_only_its_variables():
    x, y = replica_models.regression_batch()
    model = replica_models.build_two_optimizers()
    model(x)
    encoder = [np.asarray(v).copy() for v in model.encoder.weights]
    head = [np.asarray(v).copy() for v in model.head.weights]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert int(model.optimizer.iterations) == 2
    assert int(model.head_optimizer.iterations) == 2
    assert float(model.head_optimizer.learning_rate) == pytest.approx(0.05)
    assert len(model.optimizer.variables) == 2 + 4  # iters, lr, momenta
    assert len(model.head_optimizer.variables) == 2 + 2
    for before, after in zip(encoder, model.encoder.weights, strict=True):
        assert not np.allclose(before, after)
    for before, after in zip(head, model.head.weights, strict=True):
        assert not np.allclose(before, after)
    features = np.asarray(model.encoder(x[8:]))
    np.testing.assert_allclose(
        np.asarray(model.feature_mean), features.mean(0), atol=1e-6
    )


def test_second_optimizer_on_two_replicas_equals_one_device():
    # An unbuilt second optimizer used to fail inside the replicated step
    # ("You must feed a value for placeholder tensor ...").
    report = check_replica_equivalence(
        replica_models.build_two_optimizers,
        replica_models.regression_batch(),
        fit_kwargs={"epochs": 2},
    )
    assert {"loss", "head_loss"} <= set(report["logs"])


def test_second_optimizer_survives_a_keras_round_trip(tmp_path):
    x, y = replica_models.regression_batch()
    model = replica_models.build_two_optimizers()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "two.keras")
    model.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path)
    assert not [w for w in caught if "Skipping variable loading" in str(w)]
    restored = loaded.head_optimizer
    assert isinstance(restored, keras.optimizers.SGD)
    assert restored.momentum == pytest.approx(0.5)
    assert int(restored.iterations) == 4
    for a, b in zip(
        restored.variables, model.head_optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_compile_names_missing_and_unknown_optimizers():
    model = replica_models.TwoOptimizers(replica_models._encoder())
    with pytest.raises(ValueError, match="needs head_optimizer"):
        model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="unknown optimizer.*lens_optimizer"):
        model.compile(optimizer="sgd", head_optimizer="sgd", lens_optimizer=1)


def test_several_optimizers_need_optimizer_variables():
    class Unsaid(Method):
        optimizer_names = ("optimizer", "other_optimizer")

    model = Unsaid(replica_models._encoder())
    model.compile(optimizer="sgd", other_optimizer="sgd")
    with pytest.raises(NotImplementedError, match="optimizer_variables"):
        model.optimizer_variables()


def test_minimize_names_the_compiled_optimizers():
    model = replica_models.build_softmax()
    x, _ = _classification()
    model(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x))
    with pytest.raises(ValueError, match=r"\(optimizer\); got 'lens'"):
        model.minimize(tape, loss, optimizer="lens")


# ----------------------------------------------------------------------
# Mixed precision
# ----------------------------------------------------------------------
def _one_sgd_step(dtype):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    features = keras.layers.Dense(8, activation="tanh", dtype=dtype)(inputs)
    model = SoftmaxClassifier(
        keras.Model(inputs, features), num_classes=3, dtype=dtype
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    x, y = _classification()
    model(x)
    before = [np.asarray(w).copy() for w in model.trainable_weights]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return [
        np.asarray(w) - b
        for w, b in zip(model.trainable_weights, before, strict=True)
    ]


def test_mixed_precision_step_equals_the_float32_step():
    # Without loss scaling in the step, the LossScaleOptimizer divides the
    # unscaled gradients by 2**15 and the weights hardly move.
    full = _one_sgd_step("float32")
    mixed = _one_sgd_step("mixed_float16")
    for a, b in zip(full, mixed, strict=True):
        assert np.max(np.abs(a)) > 1e-3
        np.testing.assert_allclose(b, a, atol=2e-3, rtol=2e-2)


# ----------------------------------------------------------------------
# Epoch counter and callbacks
# ----------------------------------------------------------------------
class EpochLog(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(int(self.model.epoch))


class WithCallback(SoftmaxClassifier):
    def method_callbacks(self):
        self.log = EpochLog()
        return [self.log]


def test_epoch_is_set_before_method_and_user_callbacks():
    model = WithCallback(replica_models._encoder(), num_classes=3)
    model.compile(optimizer="sgd")
    user = EpochLog()
    x, y = _classification()
    model.fit(x, y, epochs=4, initial_epoch=1, callbacks=[user], verbose=0)
    assert model.log.seen == [1, 2, 3]
    assert user.seen == [1, 2, 3]
    assert int(model.epoch) == 3


def test_check_fit_data_runs_before_any_step():
    class Picky(SoftmaxClassifier):
        def check_fit_data(self, x, y):
            if y is not None and np.min(y) < 0:
                raise ValueError("y must be class ids >= 0")

    model = Picky(replica_models._encoder(), num_classes=3)
    model.compile(optimizer="sgd")
    x, y = _classification()
    with pytest.raises(ValueError, match="class ids >= 0"):
        model.fit(x, y - 5, verbose=0)
    assert not model.built or int(model.optimizer.iterations) == 0


# ----------------------------------------------------------------------
# Post-hoc methods and replica reductions
# ----------------------------------------------------------------------
def test_post_hoc_method_fits_saves_loads_and_exports(tmp_path):
    x, _ = _classification(n=32)
    model = replica_models.build_feature_range()
    assert model.optimizer is None and model.optimizers == {}
    model.fit(x, batch_size=8, epochs=1, verbose=0)
    features = np.asarray(model.encoder(x))
    np.testing.assert_allclose(model.low, features.min(0), 1e-6, 1e-6)
    np.testing.assert_allclose(model.high, features.max(0), 1e-6, 1e-6)
    assert np.max(np.asarray(model.score(x)["ood_score"])) < 1e-6
    path = str(tmp_path / "range.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded.low), model.low)
    far = x + 100.0
    np.testing.assert_allclose(
        np.asarray(loaded.score(far)["ood_score"]),
        np.asarray(model.score(far)["ood_score"]),
    )
    exported = export_saved_model(loaded, str(tmp_path), "range")
    out = run_signatures(exported, far, tmp_path)
    np.testing.assert_allclose(
        out["score"]["ood_score"],
        np.asarray(model.score(far)["ood_score"]),
        rtol=1e-6,
        atol=1e-5,
    )


def test_post_hoc_method_takes_no_optimizer():
    model = replica_models.FeatureRange(replica_models._encoder())
    with pytest.raises(ValueError, match="takes no optimizer"):
        model.compile(optimizer="sgd")


def test_min_max_over_two_replicas_equal_one_device():
    x, _ = _classification(n=16)
    report = check_replica_equivalence(
        replica_models.build_feature_range, x, sample_inputs=x
    )
    assert report["logs"]["width"][0] == pytest.approx(
        report["logs"]["width"][1]
    )


def test_replica_reduce_without_a_strategy_is_the_identity():
    value = np.array([1.0, -2.0], dtype="float32")
    for reduction in ("sum", "min", "max"):
        np.testing.assert_array_equal(replica_reduce(value, reduction), value)
    with pytest.raises(ValueError, match="reduction must be"):
        replica_reduce(value, "mean")


# ----------------------------------------------------------------------
# Semi-supervised batches
# ----------------------------------------------------------------------
def test_dict_batches_train_and_validate_on_plain_pairs():
    x, y = _classification(n=32)
    dataset = tf.data.Dataset.from_tensor_slices(
        {"labeled": (x[:8], y[:8]), "unlabeled": x[8:16]}
    ).batch(4)
    model = replica_models.build_entropy_minimization()
    history = model.fit(
        dataset, epochs=2, validation_data=(x[16:], y[16:]), verbose=0
    )
    assert set(history.history) >= {"val_loss", "val_cross_entropy"}
    logits = np.asarray(model(x[16:]))
    expected = keras.losses.sparse_categorical_crossentropy(
        y[16:], logits, from_logits=True
    )
    assert history.history["val_cross_entropy"][-1] == pytest.approx(
        float(np.mean(expected)), rel=1e-5
    )


def test_dict_batches_on_two_replicas_equal_one_device():
    x, y = _classification(n=16)
    batch = {"labeled": (x[:8], y[:8]), "unlabeled": x[8:]}
    check_replica_equivalence(replica_models.build_entropy_minimization, batch)


# ----------------------------------------------------------------------
# Export specs
# ----------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="keras_ssl_tests")
class Decoding(SoftmaxClassifier):
    """Endpoints with inputs of their own."""

    def decode(self, z):
        return {"images": self.classifier(z)}

    def compare(self, inputs, transformed):
        difference = self.encoder(inputs) - self.encoder(transformed)
        return {"distance": keras.ops.sum(keras.ops.abs(difference), -1)}

    def serving_endpoints(self):
        return {
            "classify": self.classify,
            "decode": Endpoint(self.decode, inputs={"z": (4,)}),
            "compare": Endpoint(
                self.compare, inputs={"inputs": None, "transformed": None}
            ),
            "compare_raw": Endpoint(
                self.compare,
                inputs={"inputs": None, "transformed": None},
                preprocess=("inputs",),
            ),
        }


def test_endpoints_take_their_own_inputs_and_preprocessing(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    features = keras.layers.Dense(4)(inputs)
    model = Decoding(keras.Model(inputs, features), num_classes=3)
    model.build((None, 6))
    double = keras.Sequential([keras.Input((6,)), keras.layers.Rescaling(2.0)])
    path = export_saved_model(model, str(tmp_path), "dec", preprocessing=double)
    x, _ = _classification(n=3)
    z = np.random.default_rng(1).normal(size=(3, 4)).astype("float32")
    out = run_signatures(
        path,
        {
            "inputs": x,
            "decode": {"z": z},
            "compare": {"inputs": x, "transformed": 2 * x},
            "compare_raw": {"inputs": x, "transformed": 2 * x},
        },
        tmp_path,
    )
    assert out["signatures"]["decode"] == {"z": [[None, 4], "float32"]}
    assert set(out["signatures"]["compare"]) == {"inputs", "transformed"}
    np.testing.assert_allclose(
        out["decode"]["images"], np.asarray(model.decode(z)["images"]), 1e-5
    )
    # Preprocessing (x2) runs on model inputs only where it is declared.
    np.testing.assert_allclose(
        out["classify"]["probs"],
        np.asarray(model.classify(2 * x)["probs"]),
        atol=1e-6,
    )
    both = np.asarray(model.compare(2 * x, 4 * x)["distance"])
    np.testing.assert_allclose(out["compare"]["distance"], both, atol=1e-5)
    np.testing.assert_allclose(out["compare_raw"]["distance"], 0, atol=1e-5)


def test_endpoint_rejects_bad_specs():
    with pytest.raises(ValueError, match="must be None, a shape tuple"):
        Endpoint(lambda z: z, inputs={"z": "big"})
    with pytest.raises(ValueError, match="preprocess names unknown"):
        Endpoint(lambda z: z, inputs={"z": (4,)}, preprocess=("x",))


def test_a_plain_keras_model_exports_one_serve_endpoint(tmp_path):
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(3, name="out")]
    )
    path = export_saved_model(model, str(tmp_path), "plain")
    x, _ = _classification(n=4)
    out = run_signatures(path, x, tmp_path)
    assert set(out["signatures"]) == {"serve", "serving_default"}
    np.testing.assert_allclose(
        out["serve"]["outputs"], np.asarray(model(x)), atol=1e-6
    )


# ----------------------------------------------------------------------
# The shared contract, on the toy methods
# ----------------------------------------------------------------------
def test_two_optimizer_method_meets_the_contract(tmp_path):
    report = check_method_contract(
        replica_models.build_two_optimizers,
        replica_models.regression_batch(),
        tmp_path,
    )
    assert report["keras"]["optimizers"] == {
        "optimizer": 2,
        "head_optimizer": 2,
    }


class Forgetful(replica_models.TwoOptimizers):
    """Counts its steps in a raw `tf.Variable`, which Keras never saves:
    a resumed fit counts from zero again."""

    def __init__(self, encoder, **kwargs):
        super().__init__(encoder, **kwargs)
        self.steps_seen = tf.Variable(0.0, trainable=False)

    def after_step(self, data):
        super().after_step(data)
        self.steps_seen.assign_add(1.0)
        self.feature_mean.assign(self.feature_mean * 0.0 + self.steps_seen)


def build_forgetful():
    model = Forgetful(replica_models._encoder())
    model.compile(optimizer="sgd", head_optimizer="sgd")
    return model


def test_contract_catches_state_lost_on_resume(tmp_path):
    message = "(?s)resumed weights.*feature_mean"
    with pytest.raises(AssertionError, match=message):
        check_method_contract(
            build_forgetful,
            replica_models.regression_batch(),
            tmp_path,
            checks=("resume",),
        )


def test_contract_comparisons_see_through_infinities():
    from keras_ssl.testing._compare import max_difference

    inf = np.inf
    assert max_difference([inf, -inf, 1.0], [inf, -inf, 1.0]) == 0.0
    assert max_difference([inf, 1.0], [-inf, 1.0]) == inf
    assert max_difference([inf, 1.0], [1.0, 1.0]) == inf
    assert max_difference([np.nan], [np.nan]) == 0.0
    assert max_difference([np.nan], [0.0]) == inf
    assert max_difference([1.0, 2.0], [1.5, 2.0]) == 0.5
    assert max_difference(np.zeros(2), np.zeros(3)) == inf
