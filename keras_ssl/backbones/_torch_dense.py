"""A `keras.layers.Dense` initialised as PyTorch's `nn.Linear`."""

import math

import keras


def torch_dense(units, fan_in, activation=None, name=None):
    """`keras.layers.Dense` with PyTorch's default `nn.Linear` init.

    PyTorch draws the weights with `kaiming_uniform_(a=sqrt(5))` and the
    biases uniformly, both in `+-1 / sqrt(fan_in)`; Keras' Glorot uniform
    kernel and zero bias differ. For methods whose official code keeps
    PyTorch's default (SDE-Net, DS3L's weight network).

    Args:
        units: the output width.
        fan_in: the input width (the bias bound needs it before build).
        activation: a Keras activation or `None`.
        name: the layer name.

    Returns:
        A `keras.layers.Dense`.
    """
    bound = 1.0 / math.sqrt(fan_in)
    return keras.layers.Dense(
        units,
        activation,
        kernel_initializer=keras.initializers.VarianceScaling(
            1.0 / 3.0, "fan_in", "uniform"
        ),
        bias_initializer=keras.initializers.RandomUniform(-bound, bound),
        name=name,
    )
