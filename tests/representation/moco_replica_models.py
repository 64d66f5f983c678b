"""Module-level MoCo and PCL builders for the replica tests (importable by
the harness's worker process), and a worker that checks the queue after a
step on two replicas."""

import json
import sys

import keras
import numpy as np

from keras_ssl.backbones import small_cnn
from keras_ssl.representation import PCL
from keras_ssl.representation import MoCo

BATCH = 16
NUM_SAMPLES = 32  # PCL clusters more images than one batch holds


def images(count=NUM_SAMPLES, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((count, 8, 8, 1)).astype("float32")


def batch():
    """((query_view, key_view), index) for the first BATCH images."""
    x = images()[:BATCH]
    rng = np.random.default_rng(1)
    query = x + 0.1 * rng.standard_normal(x.shape).astype("float32")
    key = np.roll(x, 1, axis=2)
    return (query, key), np.arange(BATCH, dtype="int64")


def encoder():
    return small_cnn((8, 8, 1), preset="narrow", synchronized_batch_norm=True)


def build_moco():
    model = MoCo(
        encoder(), projection_dim=6, queue_size=2 * BATCH, momentum=0.9
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


def build_pcl():
    model = PCL(
        encoder(),
        num_samples=NUM_SAMPLES,
        num_clusters=(18, 24),
        num_negative_prototypes=2,
        warmup_epochs=1,
        projection_dim=6,
        queue_size=2 * BATCH,
        momentum=0.9,
        seed=3,
        kmeans_threads=1,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.set_cluster_data(images())
    return model


def queue_after_a_step_on_two_replicas():
    """One MoCo step on 2 CPU replicas; prints the queue copies and the
    keys a single-device twin computes for the whole batch."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    keras.utils.set_random_seed(0)
    (query, key), index = batch()
    single = build_moco()
    single(query[:1])
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build_moco()
        model(query[:1])
        model.set_weights(single.get_weights())
    before = np.asarray(model.queue).copy()
    expected = np.asarray(single.momentum_project(key, training=True))
    dataset = tf.data.Dataset.from_tensors(((query, key), index))
    model.fit(dataset, epochs=1, verbose=0)
    print(
        json.dumps(
            {
                "before": before.tolist(),
                "keys": expected.tolist(),
                "queues": [
                    v.numpy().tolist() for v in model.queue.value.values
                ],
                "pointers": [
                    int(v.numpy()) for v in model.queue_pointer.value.values
                ],
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["queue"]:
        queue_after_a_step_on_two_replicas()
