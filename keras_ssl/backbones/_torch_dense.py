"""PyTorch's default initialisation of `nn.Linear` and `nn.Conv2d`."""

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
    return keras.layers.Dense(
        units, activation, name=name, **torch_initializers(fan_in)
    )


def torch_initializers(fan_in):
    """`{"kernel_initializer", "bias_initializer"}` as PyTorch's default:
    both uniform in `+-1 / sqrt(fan_in)` (`fan_in` = inputs per output,
    `k * k * channels` for a `k x k` convolution)."""
    bound = 1.0 / math.sqrt(fan_in)
    return {
        "kernel_initializer": keras.initializers.RandomUniform(-bound, bound),
        "bias_initializer": keras.initializers.RandomUniform(-bound, bound),
    }
