"""An encoder's intermediate features, for probing a block other than
the last."""

import keras


def feature_extractor(encoder, feature_layer=None):
    """A model from the encoder's inputs to the output of one of its layers.

    Self-supervised pretexts can make an encoder's last layer specialise
    in the pretext: AET and RotNet evaluate block 2 of their 4-block NIN,
    not the final features, and on a narrow digits encoder AET's final
    features probe worse than random init while its block-2 features do
    not (see the AET method note). `feature_extractor(encoder,
    "block2_pool")` gives the pooled map of block 2 of
    `keras_ssl.backbones.small_cnn` as a flat vector (`"block2_output"`,
    the pooled block 2 of `network_in_network`); the model shares the
    encoder's layers and weights, so it always reads the current encoder.
    A method's `feature_layer` option (e.g. `AET(..., feature_layer=...)`)
    uses it for `call` and `embed`, which is what
    `keras_ssl.evaluation.probe_metrics` and the representation recipes
    probe.

    Args:
        encoder: a functional `keras.Model`.
        feature_layer: the name of one of its layers, or `None` (or `""`)
            for the encoder itself. The layer's output is flattened to
            `(batch, features)`.

    Returns:
        A `keras.Model` (the encoder itself when `feature_layer` is empty).

    Raises:
        ValueError: if `feature_layer` is not a layer of `encoder`, or the
            layer has no single output in the encoder's graph.

    Example:

    ```python
    import numpy as np
    import keras_ssl

    encoder = keras_ssl.backbones.small_cnn((16, 16, 1), preset="narrow")
    block2 = keras_ssl.evaluation.feature_extractor(encoder, "block2_pool")
    block2(np.zeros((2, 16, 16, 1), "float32")).shape  # (2, 128): 4x4x8
    ```
    """
    if feature_layer is None or feature_layer == "":
        return encoder
    names = [layer.name for layer in encoder.layers]
    if not isinstance(feature_layer, str) or feature_layer not in names:
        raise ValueError(
            f"feature_layer must name a layer of the encoder "
            f"{encoder.name!r} (one of {names}); got {feature_layer!r}"
        )
    layer = encoder.get_layer(feature_layer)
    try:
        output = layer.output
    except (AttributeError, ValueError) as error:
        raise ValueError(
            f"feature_layer {feature_layer!r} has no single output in the "
            f"encoder {encoder.name!r}: {error}"
        ) from None
    if isinstance(output, list | tuple | dict):
        raise ValueError(
            f"feature_layer {feature_layer!r} must have one output; it has "
            f"{len(output)}"
        )
    if len(output.shape) > 2:
        output = keras.layers.Flatten(name=f"{feature_layer}_flat")(output)
    return keras.Model(
        encoder.input, output, name=f"{encoder.name}_{feature_layer}"
    )
