"""LeNet-5 style encoder."""

import keras

from keras_ssl.core._checks import check_activation
from keras_ssl.core._checks import check_image_shape
from keras_ssl.core._checks import check_integer


def lenet(input_shape, features=84, activation="relu", name="lenet"):
    """A LeNet-5 style CNN ending in a dense feature layer.

    Conv 6@5x5 -> max-pool 2x2 -> Conv 16@5x5 -> max-pool 2x2 -> flatten
    -> Dense 120 -> Dense `features`, every layer followed by `activation`.
    Unlike the 1998 network, both convolutions use padding "same" (so 8x8
    digits and 16x16 images work), pooling is max-pooling and the default
    activation is ReLU instead of a scaled tanh. The output is the
    activated `features`-d layer (LeNet-5's F6); put a classifier on top.

    Args:
        input_shape: `(height, width, channels)` with known height and width
            of at least 4.
        features: the width of the last dense layer (the output).
        activation: a Keras activation for every layer.
        name: the model name.

    Returns:
        A functional `keras.Model` mapping images to `(batch, features)`.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    import numpy as np
    import keras_ssl

    encoder = keras_ssl.backbones.lenet((8, 8, 1))
    features = encoder(np.zeros((2, 8, 8, 1), "float32"))  # (2, 84)
    ```

    Reference:
        LeCun, Bottou, Bengio & Haffner, "Gradient-Based Learning Applied to
        Document Recognition", Proc. IEEE 1998.
    """
    input_shape = check_image_shape(input_shape, min_size=4, allow_none=False)
    features = check_integer(features, 1, "features")
    check_activation(activation, "activation")

    inputs = keras.Input(shape=input_shape, name="images")
    x = keras.layers.Conv2D(
        6, 5, padding="same", activation=activation, name="conv1"
    )(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(
        16, 5, padding="same", activation=activation, name="conv2"
    )(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(120, activation=activation, name="fc1")(x)
    outputs = keras.layers.Dense(features, activation=activation, name="fc2")(x)
    return keras.Model(inputs, outputs, name=name)
