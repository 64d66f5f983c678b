import tensorflow as tf


class Endpoint:
    """An inference function and the inputs its serving signature takes.

    `Method.serving_endpoints()` maps names to plain functions, which take
    one batch of model inputs, or to `Endpoint`s, for functions that take
    something else: latent codes (`sample(z)`, `decode(z)`), class ids, or
    several named tensors (`predict_transform(x, t(x))`).
    `keras_ssl.export.export_saved_model` turns each into a signature
    whose inputs carry these names.

    Args:
        function: called with the inputs positionally, in the order of
            `inputs`; returns a dict of named tensors.
        inputs: a dict mapping input names to `None` (a batch of the
            model's own inputs, with the export's raw input shape and
            dtype), a shape without the batch axis (float32), or a
            `tf.TensorSpec` (full shape and dtype). Default: one model
            input named `"inputs"`.
        preprocess: the names of the inputs the export's preprocessing
            (e.g. the rescale and resize of raw digits) applies to.
            Default: the inputs given as `None`.

    Example:

    ```python
    import tensorflow as tf
    from keras_ssl.core import Endpoint

    decoder = lambda z: {"images": tf.zeros((tf.shape(z)[0], 8, 8, 1))}
    endpoint = Endpoint(decoder, inputs={"z": (16,)})
    [spec.name for spec in endpoint.signature((8, 8, 1), "float32")]  # ['z']
    ```
    """

    def __init__(self, function, inputs=None, preprocess=None):
        if not callable(function):
            raise ValueError(f"function must be callable; got {function!r}")
        inputs = {"inputs": None} if inputs is None else dict(inputs)
        if not inputs:
            raise ValueError("inputs must name at least one input")
        for name, spec in inputs.items():
            if not (
                spec is None
                or isinstance(spec, tf.TensorSpec)
                or (
                    isinstance(spec, tuple | list)
                    and all(d is None or isinstance(d, int) for d in spec)
                )
            ):
                raise ValueError(
                    f"inputs[{name!r}] must be None, a shape tuple or a "
                    f"tf.TensorSpec; got {spec!r}"
                )
        if preprocess is None:
            preprocess = tuple(n for n, s in inputs.items() if s is None)
        unknown = sorted(set(preprocess) - set(inputs))
        if unknown:
            raise ValueError(
                f"preprocess names unknown input(s) {unknown}; inputs are "
                f"{list(inputs)}"
            )
        self.function = function
        self.inputs = inputs
        self.preprocess = tuple(preprocess)

    def signature(self, model_shape, model_dtype):
        """The `tf.TensorSpec`s of the inputs, in order.

        Args:
            model_shape: shape (without batch) of a model input, used for
                the inputs declared as `None`.
            model_dtype: dtype of a model input.
        """
        specs = []
        for name, spec in self.inputs.items():
            if spec is None:
                spec = tf.TensorSpec((None, *model_shape), model_dtype)
            elif not isinstance(spec, tf.TensorSpec):
                spec = tf.TensorSpec((None, *spec), "float32")
            specs.append(tf.TensorSpec(spec.shape, spec.dtype, name=name))
        return specs
