"""The small CNN of the keras_ssl CPU experiments."""

import keras

from keras_ssl.backbones._batch_norm import batch_norm
from keras_ssl.core._checks import check_image_shape
from keras_ssl.core._checks import check_integers
from keras_ssl.core._checks import check_number

SMALL_CNN_PRESETS = {"narrow": (4, 8, 16), "wide": (32, 64, 128)}


def small_cnn(
    input_shape,
    widths=None,
    preset=None,
    width_multiplier=1.0,
    synchronized_batch_norm=True,
    name="small_cnn",
):
    """A small CNN: conv blocks with max-pooling, then global average pooling.

    Each block is Conv3x3 (no bias, padding "same") -> BatchNorm -> ReLU. A
    2x2 max-pool follows every block but the last, and global average
    pooling gives the feature vector. With three widths this is the encoder
    of the keras_ssl digits experiments (see the NAT, AET and SLA method
    notes): `"wide"` = 32-64-128 (128-d features), `"narrow"` = 4-8-16
    (16-d features). On 8x8 digits the wide encoder is already near
    ceiling at random init; self-supervised tests use the narrow one.
    BatchNorm uses PyTorch's defaults (Keras `momentum=0.9`, `epsilon=1e-5`)
    like the other backbones: with Keras' 0.99 the moving statistics lag
    far behind the weights on a 1,000-image set, and inference-mode
    accuracy collapses for the first few hundred steps.

    Layers are named `block{i}_conv`, `block{i}_bn`, `block{i}_relu` and
    `block{i}_pool` (i from 1), so intermediate features can be read with
    `keras.Model(model.input, model.get_layer("block2_pool").output)`.

    Args:
        input_shape: `(height, width, channels)`; height and width may be
            `None`. Known sides must be at least `2 ** (len(widths) - 1)`.
        widths: the number of filters of each block. Defaults to
            `(32, 64, 128)` (the `"wide"` preset). Give either `widths` or
            `preset`, not both.
        preset: `"narrow"` or `"wide"`, a key of `SMALL_CNN_PRESETS`.
        width_multiplier: scales every width (rounded, at least 1).
        synchronized_batch_norm: bool, default `True`: BatchNorm computes
            its batch moments over the global batch of all replicas
            (`BatchNormalization(synchronized=True)`, TensorFlow only), so
            training on R replicas equals training on one device (on one
            device it is the same layer with the same formula). With
            `False` each replica normalises with its local batch, as in
            most frameworks.
        name: the model name.

    Returns:
        A functional `keras.Model` mapping images to features of shape
        `(batch, widths[-1] * width_multiplier)`.

    Raises:
        ValueError: if an argument is out of range, or both `widths` and
            `preset` are given.

    Example:

    ```python
    import numpy as np
    import keras_ssl

    encoder = keras_ssl.backbones.small_cnn((16, 16, 1), preset="narrow")
    features = encoder(np.zeros((2, 16, 16, 1), "float32"))  # (2, 16)
    ```

    Reference:
        Bojanowski & Joulin, "Unsupervised Learning by Predicting Noise",
        ICML 2017 (the small-experiment encoder of keras_ssl's NAT note).
    """
    if widths is not None and preset is not None:
        raise ValueError(
            f"give either widths or preset, not both; got widths={widths!r} "
            f"and preset={preset!r}"
        )
    if preset is not None:
        if preset not in SMALL_CNN_PRESETS:
            raise ValueError(
                f"preset must be one of {sorted(SMALL_CNN_PRESETS)}; "
                f"got {preset!r}"
            )
        widths = SMALL_CNN_PRESETS[preset]
    if widths is None:
        widths = SMALL_CNN_PRESETS["wide"]
    widths = check_integers(widths, 1, "widths")
    width_multiplier = check_number(width_multiplier, "width_multiplier", "> 0")
    input_shape = check_image_shape(
        input_shape, min_size=2 ** (len(widths) - 1)
    )

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for i, width in enumerate(widths, start=1):
        filters = max(1, int(round(width * width_multiplier)))
        x = keras.layers.Conv2D(
            filters, 3, padding="same", use_bias=False, name=f"block{i}_conv"
        )(x)
        x = batch_norm(0.9, 1e-5, f"block{i}_bn", synchronized_batch_norm)(x)
        x = keras.layers.ReLU(name=f"block{i}_relu")(x)
        if i < len(widths):
            x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, outputs, name=name)
