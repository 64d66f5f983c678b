"""The BatchNorm layer every backbone uses (private)."""

import keras


def batch_norm(momentum, epsilon, name, synchronized=True):
    """`keras.layers.BatchNormalization`, synchronized across replicas.

    A synchronized layer normalises with the moments of the global batch,
    so R replicas train the same model as one device; on one device it
    computes the same moments with the same formula (`E[x^2] - E[x]^2`,
    where the unsynchronized TensorFlow layer uses a two-pass variance),
    which is what makes the two runs agree to float rounding rather than
    drift apart. `synchronized=False` gives per-replica BatchNorm.
    """
    return keras.layers.BatchNormalization(
        momentum=momentum,
        epsilon=epsilon,
        synchronized=bool(synchronized),
        name=name,
    )
