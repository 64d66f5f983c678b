"""Versioned SavedModels with named endpoints, ready for TF Serving."""

import os
import re

import keras
import tensorflow as tf

from keras_ssl.core.endpoint import Endpoint


def export_saved_model(
    model,
    base_dir="saved_models",
    name=None,
    version=None,
    preprocessing=None,
    input_shape=None,
    input_dtype="float32",
    verbose=False,
):
    """Exports a method's inference endpoints as a TF Serving SavedModel.

    The export holds the encoder and heads, never the trainer: each entry of
    `model.serving_endpoints()` becomes a named signature (`embed`,
    `classify`, `sample`, ...) returning a dict of named outputs, and the
    first one is also `serving_default`. An endpoint that takes a batch of
    model inputs has one input named `inputs`; a `keras_ssl.core.Endpoint`
    declares its own (latent codes, class ids, several named tensors).
    Deterministic preprocessing (for example the rescale and resize of
    `keras_ssl.data.digits_preprocessing`) runs inside the graph on the
    model inputs, so clients send raw inputs; other inputs pass as they
    are. A plain `keras.Model` (an encoder trained in your own code)
    exports with one endpoint, `serve`, returning its outputs as
    `outputs` (or their own names when the model returns a dict).

    The layout is the one TF Serving reads,
    `<base_dir>/<name>/<version>/saved_model.pb`. Without `version` the next
    integer after the highest existing one is used; an existing version is
    never overwritten.

    Args:
        model: a `keras_ssl.core.Method`, or any built `keras.Model`.
        base_dir: directory holding one folder per exported model.
        name: model name (folder under `base_dir`); defaults to the model's
            `name`. Letters, digits, `.`, `_` and `-` only.
        version: positive integer version, or `None` for the next free one.
        preprocessing: optional callable (e.g. a `keras.Sequential`) applied
            to the raw model inputs of every endpoint.
        input_shape: shape (without batch) of the raw inputs the endpoints
            take; defaults to the model's `serving_input_shape` (required
            when `preprocessing` changes the shape).
        input_dtype: dtype of the raw inputs.
        verbose: print Keras' summary of the written endpoints.

    Returns:
        The path of the written version directory.

    Raises:
        ValueError: for a bad `name` or `version`, or a model without a
            known input shape and no `input_shape`.
        FileExistsError: if `<base_dir>/<name>/<version>` already exists.

    Example:

    ```python
    import keras_ssl

    encoder = keras_ssl.backbones.mlp((2,), hidden=(16, 16))
    model = keras_ssl.uncertainty.SoftmaxClassifier(encoder, num_classes=2)
    model.build((None, 2))
    path = keras_ssl.export.export_saved_model(model, "/tmp/exports", "moons")
    # TF Serving: --model_base_path=/tmp/exports/moons
    ```
    """
    name = model.name if name is None else name
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ValueError(
            f"name must be letters, digits, '.', '_' or '-' only; got {name!r}"
        )
    model_dir = os.path.join(base_dir, name)
    if version is None:
        version = next_version(model_dir)
    elif (
        not isinstance(version, int)
        or isinstance(version, bool)
        or (version < 1)
    ):
        raise ValueError(f"version must be a positive integer; got {version!r}")
    path = os.path.join(model_dir, str(version))
    if os.path.exists(path):
        raise FileExistsError(
            f"{path} already exists; exports are never overwritten. Pass "
            "another version or leave version=None for the next free one."
        )
    endpoints = _endpoints(model)
    if not endpoints:
        raise ValueError(f"{type(model).__name__} has no serving endpoints")
    shape = tuple(input_shape or _serving_input_shape(model))

    archive = keras.export.ExportArchive()
    archive.track(model)
    if preprocessing is not None and isinstance(
        preprocessing, keras.layers.Layer
    ):
        archive.track(preprocessing)
    for endpoint_name, endpoint in endpoints.items():
        specs = endpoint.signature(shape, input_dtype)
        archive.add_endpoint(
            endpoint_name,
            _with_preprocessing(endpoint, preprocessing, specs),
            input_signature=specs,
        )
    os.makedirs(model_dir, exist_ok=True)
    archive.write_out(path, verbose=verbose)
    return path


def next_version(model_dir):
    """Next integer version under `model_dir` (1 if there is none)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(v) for v in os.listdir(model_dir) if v.isdigit()]
    return max(versions, default=0) + 1


def _endpoints(model):
    """`{name: Endpoint}` of a method, or one `serve` endpoint of a model."""
    if hasattr(model, "serving_endpoints"):
        return {
            name: e if isinstance(e, Endpoint) else Endpoint(e)
            for name, e in model.serving_endpoints().items()
        }

    def serve(inputs):
        outputs = model(inputs, training=False)
        if isinstance(outputs, dict):
            return outputs
        if isinstance(outputs, list | tuple):
            return {f"output_{i}": o for i, o in enumerate(outputs)}
        return {"outputs": outputs}

    return {"serve": Endpoint(serve)}


def _serving_input_shape(model):
    if hasattr(model, "serving_input_shape"):
        return model.serving_input_shape
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(
            f"{type(model).__name__} has no known input shape: pass "
            "input_shape=(...) (without the batch axis)"
        )
    return tuple(model.inputs[0].shape[1:])


def _with_preprocessing(endpoint, preprocessing, specs):
    """The served function: input checks, preprocessing, empty batches.

    Every input must have the declared shape (the raw shape the model was
    trained on; a resize in the preprocessing would otherwise accept any
    image) and finite values (a NaN pixel is an error, not a guess). An
    empty batch returns empty outputs: it runs on one zero input, and the
    outputs are cut back to zero rows.
    """
    names = list(endpoint.inputs)

    def function(*inputs):
        inputs = [
            _checked(x, spec) for x, spec in zip(inputs, specs, strict=True)
        ]
        size = tf.shape(inputs[0])[0]
        inputs = [
            tf.cond(
                size > 0,
                lambda x=x: x,
                lambda x=x: tf.zeros(
                    tf.concat([[1], tf.shape(x)[1:]], 0), x.dtype
                ),
            )
            for x in inputs
        ]
        if preprocessing is not None:
            inputs = [
                preprocessing(x) if name in endpoint.preprocess else x
                for name, x in zip(names, inputs, strict=True)
            ]
        outputs = endpoint.function(*inputs)
        return {
            key: value[:size] if len(value.shape) else value
            for key, value in outputs.items()
        }

    return function


def _checked(x, spec):
    x = tf.ensure_shape(x, spec.shape)
    if x.dtype.is_floating:
        x = tf.debugging.assert_all_finite(
            x, f"{spec.name} must hold finite values (no NaN or inf)"
        )
    return x
