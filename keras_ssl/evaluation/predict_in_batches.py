import numpy as np


def predict_in_batches(function, x, batch_size=512):
    """Runs an inference function over `x` in batches.

    Args:
        function: takes a float32 batch and returns a dict of tensors
            (e.g. a method's `classify`, wrapped in `tf.function`).
        x: the inputs, an array (or anything `np.asarray` accepts).
        batch_size: inputs per call.

    Returns:
        A dict of NumPy arrays: each output concatenated over the batches.

    Example:

    ```python
    import numpy as np
    from keras_ssl.evaluation import predict_in_batches

    double = lambda x: {"twice": 2 * x}
    predict_in_batches(double, np.ones((5, 2)), batch_size=2)["twice"].shape
    ```
    """
    x = np.asarray(x, dtype="float32")
    if len(x) == 0:
        raise ValueError("x must hold at least one input; got 0")
    parts = [
        function(x[i : i + batch_size]) for i in range(0, len(x), batch_size)
    ]
    return {
        key: np.concatenate([np.asarray(p[key]) for p in parts])
        for key in parts[0]
    }
