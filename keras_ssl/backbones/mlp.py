"""Multi-layer perceptron encoder for vectors (tabular or 2-D toy data)."""

import keras

from keras_ssl.core._checks import check_activation
from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_integers
from keras_ssl.core._checks import check_number


def mlp(
    input_shape,
    hidden=(20, 20, 20),
    activation="relu",
    final_activation=None,
    dropout=0.0,
    name="mlp",
):
    """A stack of dense layers mapping vectors to features.

    Every layer but the last is Dense -> `activation` (-> Dropout when
    `dropout > 0`); the last layer is Dense -> `final_activation` (linear
    by default), so the output is `hidden[-1]`-d. The DUQ two-moons feature
    extractor is `mlp((2,), hidden=(20, 20, 20))`: 2 -> 20 -> 20 -> 20,
    ReLU, last layer linear (official notebook of Van Amersfoort et al.).

    Args:
        input_shape: `(num_features,)`.
        hidden: the width of each dense layer; the last is the output width.
        activation: a Keras activation for every layer but the last.
        final_activation: a Keras activation for the last layer, or `None`
            for a linear output.
        dropout: dropout rate after each hidden activation (not after the
            last layer), in `[0, 1)`.
        name: the model name.

    Returns:
        A functional `keras.Model` mapping `(batch, num_features)` to
        `(batch, hidden[-1])`.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    import numpy as np
    import keras_ssl

    encoder = keras_ssl.backbones.mlp((2,), hidden=(20, 20, 20))
    features = encoder(np.zeros((4, 2), "float32"))  # (4, 20)
    ```

    Reference:
        Van Amersfoort, Smith, Teh & Gal, "Uncertainty Estimation Using a
        Single Deep Deterministic Neural Network", ICML 2020 (two-moons
        network).
    """
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 1:
        raise ValueError(
            f"input_shape must be (num_features,); got {input_shape!r}"
        )
    num_features = check_integer(input_shape[0], 1, "input_shape[0]")
    hidden = check_integers(hidden, 1, "hidden")
    check_activation(activation, "activation")
    check_activation(final_activation, "final_activation", allow_none=True)
    dropout = check_number(dropout, "dropout", "in [0, 1)")

    inputs = keras.Input(shape=(num_features,), name="inputs")
    x = inputs
    for i, units in enumerate(hidden[:-1], start=1):
        dense = keras.layers.Dense(
            units, activation=activation, name=f"dense{i}"
        )
        x = dense(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = keras.layers.Dense(
        hidden[-1], activation=final_activation, name=f"dense{len(hidden)}"
    )(x)
    return keras.Model(inputs, outputs, name=name)
