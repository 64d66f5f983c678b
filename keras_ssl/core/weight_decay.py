"""PyTorch-SGD-style (coupled) weight decay as a loss term."""

from keras import ops

from keras_ssl.core.distribution import num_replicas


def coupled_weight_decay(variables, weight_decay):
    """`weight_decay / 2 * sum ||theta||^2`, divided by the replica count.

    PyTorch's `SGD(weight_decay=wd)` adds `wd * theta` to every gradient
    before momentum (coupled L2); Keras' `SGD(weight_decay=...)` shrinks
    the weights after the update instead (decoupled), a different
    optimizer with momentum. Adding this term to a method's loss and
    training with a plain `keras.optimizers.SGD` reproduces PyTorch's
    update. Like every loss of a method it is divided by the replica
    count, so the summed gradients of R replicas are `wd * theta`.

    Args:
        variables: the variables to decay (PyTorch decays every
            parameter: kernels, biases and BatchNorm scales alike).
        weight_decay: float >= 0.

    Returns:
        A float32 scalar (0 for `weight_decay == 0` or no variables).

    Example:

    ```python
    import keras
    from keras_ssl.core import coupled_weight_decay

    w = keras.Variable([3.0, 4.0])
    float(coupled_weight_decay([w], 0.1))  # 0.05 * 25 = 1.25
    ```
    """
    if weight_decay == 0 or not variables:
        return ops.convert_to_tensor(0.0)
    total = ops.sum(
        ops.stack(
            [ops.sum(ops.square(ops.cast(v, "float32"))) for v in variables]
        )
    )
    return 0.5 * weight_decay * total / num_replicas()
