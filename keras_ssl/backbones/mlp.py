"""Multi-layer perceptron encoder for vectors (tabular or 2-D toy data)."""

import keras

from keras_ssl.backbones._checks import check_activation
from keras_ssl.backbones._checks import check_positive_int
from keras_ssl.backbones._checks import check_rate
from keras_ssl.backbones._checks import is_positive_int


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
    num_features = check_positive_int(input_shape[0], "input_shape[0]")
    if (
        not isinstance(hidden, (tuple, list))
        or len(hidden) == 0
        or not all(is_positive_int(units) for units in hidden)
    ):
        raise ValueError(
            f"hidden must be a non-empty tuple of positive ints; got {hidden!r}"
        )
    hidden = tuple(int(units) for units in hidden)
    check_activation(activation, "activation")
    check_activation(final_activation, "final_activation", allow_none=True)
    check_rate(dropout, "dropout")

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
