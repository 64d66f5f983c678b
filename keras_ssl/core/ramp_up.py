"""The Gaussian ramp-up of an unsupervised loss weight."""

from keras import ops

from keras_ssl.core._checks import check_integer


def gaussian_ramp_up(step, length):
    """`exp(-5 (1 - t)^2)` with `t = clip(step / length, 0, 1)`.

    The weight schedule of consistency losses in semi-supervised learning
    (Laine & Aila 2017; Oliver et al. 2018; DS3L's official code
    `coef(t) = 10 exp(-5 (1 - min(t / 200000, 1))^2)` is 10 times this
    with `length=200000`). It rises from `exp(-5) = 0.0067` at step 0 to 1
    at `step = length` and stays 1 after. `length=0` means no ramp-up (1
    from the first step).

    Pass the optimizer's iteration count as `step`
    (`model.optimizer.iterations`): it is saved with the model and
    restored by `keras.callbacks.BackupAndRestore`, so the weight of a
    resumed run continues where the interrupted one stopped.

    Args:
        step: the current step, an integer or integer tensor (scalar).
        length: the number of ramp-up steps, an int >= 0.

    Returns:
        A float32 scalar tensor in `(0, 1]`.

    Example:

    ```python
    from keras_ssl.core import gaussian_ramp_up

    float(gaussian_ramp_up(50, 100))  # exp(-5 * 0.25) = 0.2865
    ```
    """
    length = check_integer(length, 0, "length")
    if length == 0:
        return ops.convert_to_tensor(1.0, "float32")
    t = ops.clip(ops.cast(step, "float32") / float(length), 0.0, 1.0)
    return ops.exp(-5.0 * ops.square(1.0 - t))
