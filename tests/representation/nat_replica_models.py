"""Module-level NAT builders for the replica tests (importable by the
harness's worker process), and a worker that checks a reassigning epoch
on two replicas."""

import json
import sys

import keras
import numpy as np

from keras_ssl.backbones import small_cnn
from keras_ssl.representation import NAT

NUM_SAMPLES = 16


def batch():
    rng = np.random.default_rng(0)
    x = rng.random((NUM_SAMPLES, 8, 8, 1)).astype("float32")
    return x, np.arange(NUM_SAMPLES, dtype="int64")


def build_nat():
    encoder = small_cnn(
        (8, 8, 1), preset="narrow", synchronized_batch_norm=True
    )
    model = NAT(encoder, num_samples=NUM_SAMPLES, target_dim=8, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


def mlp_encoder():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(12, activation="tanh")(x)
    return keras.Model(inputs, keras.layers.Dense(6)(x))


def reassigning_epoch_on_two_replicas():
    """Trains one reassigning step on 2 CPU replicas; prints a report."""
    import tensorflow as tf

    from keras_ssl.representation.nat import assign_targets

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    keras.utils.set_random_seed(0)
    x, index = batch()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = NAT(mlp_encoder(), num_samples=NUM_SAMPLES, target_dim=4)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        model(x[:1])
    # Reference: each replica gets one contiguous half of the global batch
    # and solves its own assignment on the pre-step features.
    before = np.asarray(model.assignment)
    z = np.asarray(model.project(x))
    targets = np.asarray(model.targets)
    expected = before.copy()
    half = NUM_SAMPLES // 2
    for part in (slice(0, half), slice(half, NUM_SAMPLES)):
        owned = before[index[part]]
        columns = assign_targets(z[part] @ targets[owned].T)
        expected[index[part]] = owned[columns]
    dataset = tf.data.Dataset.from_tensors((x, index))
    model.fit(dataset, epochs=1, verbose=0)
    copies = [np.asarray(v) for v in model.assignment.value.values]
    print(
        json.dumps(
            {
                "before": before.tolist(),
                "expected": expected.tolist(),
                "copies": [c.tolist() for c in copies],
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["reassign"]:
        reassigning_epoch_on_two_replicas()
