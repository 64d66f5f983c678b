"""Module-level SDE-Net builders for the replica tests (importable by the
harness's worker process), and the worker of the replica-noise test.

Run as a module (`python -m tests.uncertainty.sdenet_replica_models
OUTPUT_JSON`, from the repository root) it starts two logical CPU devices
and writes what each replica draws.
"""

import json
import sys

import keras

from keras_ssl.uncertainty import SDENet

# Noise on in both steps, weight decay on, a time-conditioned drift: every
# part of the step matters, so a wrong replica scaling or a noise draw
# that differs from the single-device one shows up.
SETTINGS = {
    "num_steps": 3,
    "t_end": 1.5,
    "sigma_train": 2.0,
    "sigma_test": 3.0,
    "num_samples": 3,
    "ood_noise_std": 2.0,
    "weight_decay": 1e-2,
    "sigma_sweep": (1.0,),
    "seed": 7,
}
FEATURES, WIDTH, CLASSES = 6, 8, 3


def time_conditioned_drift(width):
    """`tanh(Dense([h, t]))`: a drift with the time as a second input."""
    h = keras.Input((width,), name="h")
    t = keras.Input((1,), name="t")
    z = keras.layers.Concatenate(name="concat")([h, t])
    out = keras.layers.Dense(width, activation="tanh", name="dense")(z)
    return keras.Model([h, t], out, name="drift")


def sdenet_mlp(**settings):
    """The small MLP SDE-Net of the tests (not compiled)."""
    parts = SDENet.mlp_networks(
        (FEATURES,), CLASSES, width=WIDTH, diffusion_width=5
    )
    parts["drift"] = time_conditioned_drift(WIDTH)
    return SDENet(**parts, **{**SETTINGS, **settings})


def build_sdenet_mlp():
    model = sdenet_mlp()
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        diffusion_optimizer=keras.optimizers.SGD(0.05),
    )
    return model


def _replica_noise(output):
    """What each of 2 replicas draws for a global batch whose two halves
    are the same samples, next to what one device draws for it."""
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    rng = np.random.default_rng(0)
    half = rng.random((4, FEATURES)).astype("float32")
    x = np.concatenate([half, half])
    y = np.tile(np.arange(4) % CLASSES, 2).astype("int32")

    def step(model, x, y):
        seed = model.noise_seed(0, step=3)
        losses, _ = model.diffusion_losses(x, model.noise_seed(1, 3))
        return {
            "states": model.trajectory(x, sigma=2.0)["states"],
            "cross_entropy": model.drift_losses(x, y, seed)[0]["cross_entropy"],
            "bce_out": losses["bce_out"],
        }

    single = sdenet_mlp()
    single(x)
    one = {k: np.asarray(v) for k, v in step(single, x, y).items()}
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        multi = sdenet_mlp()
        multi(x)
        multi.set_weights(single.get_weights())
    batch = next(
        iter(
            strategy.experimental_distribute_dataset(
                tf.data.Dataset.from_tensors((x, y))
            )
        )
    )
    results = strategy.run(
        tf.function(lambda x, y: step(multi, x, y)), args=batch
    )
    local = {
        k: [np.asarray(v) for v in strategy.experimental_local_results(r)]
        for k, r in results.items()
    }
    report = {
        "single": {k: v.tolist() for k, v in one.items()},
        "replicas": {k: [v.tolist() for v in vs] for k, vs in local.items()},
    }
    with open(output, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    _replica_noise(sys.argv[1])
