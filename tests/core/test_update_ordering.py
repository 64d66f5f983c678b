"""A step's weight updates wait for its forward pass (Grappler race)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.core import Method
from keras_ssl.core import after_forward_pass
from keras_ssl.testing import check_method_contract
from keras_ssl.testing import unordered_weight_reads


class TwoPasses(Method):
    """PGA's pattern: an encoder E and a decoder D with their own losses,
    and a pass D(sg E(x)) that only E's loss uses, so no gradient of D
    needs that pass's reads of D's weights; one update on both lists,
    optionally waiting for the forward pass."""

    tracked_names = ("loss", "code_reconstruction")

    def __init__(self, encoder, wait=True, **kwargs):
        super().__init__(encoder, **kwargs)
        self.wait = wait
        self.decoder = keras.layers.Dense(4, name="decoder")

    def call(self, inputs, training=False):
        return self.encoder(inputs, training=training)

    def build(self, input_shape):
        self.decoder.build(self.encoder.compute_output_shape(input_shape))
        self.built = True

    def train_step(self, data):
        x, _ = data
        encoder_variables = self.encoder.trainable_variables
        decoder_variables = self.decoder.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            code = self.encoder(x)
            loss = tf.reduce_mean(tf.square(x - self.decoder(code)))
            frozen = tf.stop_gradient(code)
            code_reconstruction = tf.reduce_mean(
                tf.square(frozen - self.encoder(self.decoder(frozen)))
            )
            encoder_loss = loss + code_reconstruction
        gradients = [
            *tape.gradient(encoder_loss, encoder_variables),
            *tape.gradient(loss, decoder_variables),
        ]
        del tape
        variables = [*encoder_variables, *decoder_variables]
        if self.wait:
            with after_forward_pass(loss, code_reconstruction):
                self.optimizer.apply(gradients, variables)
        else:
            self.optimizer.apply(gradients, variables)
        return self.track(
            {"loss": loss, "code_reconstruction": code_reconstruction}
        )


def _built(wait):
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, activation="tanh")]
    )
    model = TwoPasses(encoder, wait=wait)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def _batch():
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    return (x, np.zeros(8, "int32"))


def _fitted(wait):
    model = _built(wait)
    batch = _batch()
    model.fit(
        tf.data.Dataset.from_tensors(batch).repeat(),
        epochs=1,
        steps_per_epoch=1,
        verbose=0,
    )
    return model, batch


@pytest.mark.parametrize("wait", [False, True])
def test_second_pass_races_the_update_unless_the_update_waits(wait):
    model, batch = _fitted(wait)
    races = unordered_weight_reads(model, batch)
    if wait:
        assert races == []
    else:
        # Grappler's dependency optimizer drops the read-before-write
        # edge of the logged second pass: the checker must see it.
        assert races, "expected the unwaited step to race"
        assert all("ReadVariableOp" in read for read, _ in races)


def test_after_forward_pass_orders_a_logged_read_before_an_update():
    v = tf.Variable(1.0)

    @tf.function
    def step():
        logged = v * 2.0
        with after_forward_pass({"logged": logged, "skip": None}, 3):
            v.assign_sub(0.5)
        return logged

    values = {float(step()) for _ in range(1)}
    assert values == {2.0}
    assert float(v) == 0.5


@pytest.mark.parametrize("wait", [False, True])
def test_the_contract_ordering_check_finds_the_race_on_its_own(
    wait, tmp_path
):
    # The check fits the contract's first model once (shared with the
    # export check); alone, it must still build, fit and judge it.
    def build():
        return _built(wait)

    if wait:
        report = check_method_contract(
            build, _batch(), tmp_path, checks=("ordering",)
        )
        assert report == {"ordering": {"races": 0}}
    else:
        with pytest.raises(AssertionError, match="not ordered"):
            check_method_contract(
                build, _batch(), tmp_path, checks=("ordering",)
            )
