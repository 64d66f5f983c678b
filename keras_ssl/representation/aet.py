import inspect

import keras
import tensorflow as tf
from keras import ops

from keras_ssl import augment
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.endpoint import Endpoint
from keras_ssl.core.method import Method
from keras_ssl.evaluation.feature_extractor import feature_extractor

# The target's components by group, for the per-group errors.
TARGET_GROUPS = {
    "affine": {
        "rotation": (0, 1),  # cos, sin
        "translation": (2, 3),
        "scale": (4,),
        "shear": (5,),
    },
    "projective": {
        "linear": (0, 1, 3, 4),  # a, b, d, e
        "translation": (2, 5),  # c, f
        "perspective": (6, 7),  # g, h
    },
}
TARGET_NAMES = {
    "affine": ("cos", "sin", "tx", "ty", "scale", "shear"),
    "projective": ("a", "b", "c", "d", "e", "f", "g", "h"),
}
SAMPLERS = {
    "affine": augment.random_affine,
    "projective": augment.random_projective,
}


@keras.saving.register_keras_serializable(package="keras_ssl")
class AET(Method):
    """Auto-Encoding Transformations: learn features by predicting a warp.

    Every training image `x` comes with a randomly transformed copy
    `t(x)` and the normalised parameters of `t`. One encoder `E`, shared,
    embeds both; a decoder on the concatenation `[E(x), E(t(x))]`
    regresses the parameters, and encoder and decoder minimise the mean
    squared error (official code: `nn.MSELoss` on the normalised
    parameter vector). Two parametric families, as in the official CIFAR
    code:

    - `transform="affine"`: rotation, whole-pixel translation, isotropic
      scale and shear, a 6-d target in `[-1, 1]`
      (`keras_ssl.augment.random_affine`); the decoder ends in `tanh`;
    - `transform="projective"`: a homography from scaled, 90-degree
      cyclically shifted and jittered corners, its 8 coefficients
      normalised (`keras_ssl.augment.random_projective`); linear decoder.

    Training data are `((images, transformed), target)` batches made in
    `tf.data` (`model.make_pairs(images, seed)`, or
    `transformation_pairs`, with stateless seeds, so every
    epoch sees fresh transformations and a resumed run the same ones):
    never inside `train_step`, where every replica would draw the same
    numbers. The loss is logged as `loss`, and the mean squared error of
    each group of components as `<group>_error`: `rotation` (cos, sin),
    `translation`, `scale`, `shear` (affine); `linear` (a, b, d, e),
    `translation` (c, f), `perspective` (g, h) (projective).

    Inference (`call`, `embed`) gives the representation: the encoder's
    features, or with `feature_layer` the flattened output of that
    intermediate layer (`keras_ssl.evaluation.feature_extractor`). The
    AET and RotNet evaluations probe block 2 of a 4-block NIN, not the
    last block, which specialises in the pretext; on a narrow digits
    encoder AET's final features probe worse than random init while its
    block-2 features tie (method note). `predict_transform(images,
    transformed)` returns the decoder's estimate of the normalised
    parameters; both are export endpoints.

    Defaults and sources (see `shared/methods/aet.md`):
        - `transform="affine"`: the official code has both; the paper's
          best CIFAR-10 result is projective (the note's digits
          experiment is affine).
        - Decoder: one `Dense` on the concatenated pooled features
          (official `Regressor`: `nn.Linear(384, 6 or 8)`), the PyTorch
          default weight init `U(+-1/sqrt(fan_in))` and a zero bias
          (official code), `tanh` for affine only (official code).
        - The encoder runs separately on `x` and on `t(x)` (two calls, as
          the official `forward`), so BatchNorm normalises each half
          with its own batch statistics.
        - Transformation ranges and target constants: the arguments of
          the samplers (official CIFAR defaults there).
        - Optimiser (not part of the model): the official CIFAR code uses
          SGD lr 0.1, Nesterov momentum 0.9, weight decay 5e-4, batch 512
          and 1500 epochs (lr x0.2 at 240, 480, 640, 800, then linear);
          the digits recipe uses the note's Adam 1e-3, batch 100.

    Reference:
        Zhang, Qi, Wang & Luo, "AET vs. AED: Unsupervised Representation
        Learning by Auto-Encoding Transformations rather than Data",
        CVPR 2019, arXiv:1901.04596 (title as in the official README).
        Official code: `maple-research-lab/AET`.

    Args:
        encoder: a `keras.Model` mapping images to a feature vector
            `(batch, d)`.
        transform: `"affine"` or `"projective"`.
        feature_layer: optional name of an encoder layer whose flattened
            output `call` and `embed` return (e.g. `"block2_pool"` of
            `small_cnn`, `"block2_output"` of `network_in_network`);
            `None` (or `""`): the encoder's output. Training is the same
            either way.
        transform_options: optional dict of the sampler's ranges and
            constants (`rotation`, `translation`, `scale`, `shear`,
            `fill_value` for affine; `corner_scale`, `corner_shift`,
            `target_mean`, `target_std`, `fill_value` for projective);
            what is not given keeps the sampler's official default.
            `make_pairs` uses them, and so should the training pipeline.
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    import keras
    import tensorflow as tf
    import keras_ssl

    (x, _), _ = keras_ssl.data.digits(image_size=16)
    encoder = keras_ssl.backbones.small_cnn((16, 16, 1), preset="narrow")
    model = keras_ssl.representation.AET(encoder, feature_layer="block2_pool")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    pairs = (
        tf.data.Dataset.from_tensor_slices(x[:200])
        .batch(100)
        .enumerate()
        .map(lambda i, b: model.make_pairs(b, tf.stack([0, i])))
    )
    model.fit(pairs, epochs=1, verbose=0)
    model.embed(x[:4])["embedding"].shape  # (4, 128): block 2, 4x4x8
    ```
    """

    family = "representation"
    paper = "Zhang et al., CVPR 2019 (AET)"

    def __init__(
        self,
        encoder,
        transform="affine",
        feature_layer=None,
        transform_options=None,
        **kwargs,
    ):
        self.transform_options = check_transform_options(
            transform, transform_options
        )
        # The sampler checks its ranges now, not in the first epoch.
        SAMPLERS[transform](
            tf.zeros((1, 4, 4, 1)),
            tf.constant([0, 0]),
            **self.transform_options,
        )
        # Read by `tracked_names` in the base's __init__.
        self.transform = transform
        super().__init__(encoder, **kwargs)
        if len(encoder.output.shape) != 2:
            raise ValueError(
                "encoder must map images to a feature vector (batch, d); "
                f"its output has shape {encoder.output.shape}"
            )
        self.feature_layer = feature_layer or None
        self.features = feature_extractor(encoder, self.feature_layer)
        self.decoder = keras.layers.Dense(
            len(TARGET_NAMES[transform]),
            activation="tanh" if transform == "affine" else None,
            kernel_initializer=keras.initializers.VarianceScaling(
                1 / 3, mode="fan_in", distribution="uniform"
            ),
            bias_initializer="zeros",
            name="decoder",
        )

    @property
    def tracked_names(self):
        groups = TARGET_GROUPS[self.transform]
        return ("loss", *(f"{group}_error" for group in groups))

    def build(self, input_shape):
        features = self.encoder.compute_output_shape(input_shape)
        self.decoder.build((features[0], 2 * features[-1]))
        self.built = True

    # ------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------
    def call(self, inputs, training=False):
        return self.features(inputs, training=training)

    def embed(self, inputs):
        return {"embedding": self.features(inputs, training=False)}

    def predict_parameters(self, images, transformed, training=False):
        """The decoder's estimate of the normalised transformation."""
        features = ops.concatenate(
            [
                self.encoder(images, training=training),
                self.encoder(transformed, training=training),
            ],
            axis=-1,
        )
        return ops.cast(self.decoder(features), "float32")

    def predict_transform(self, images, transformed):
        """`{"transform": ...}`: the estimated normalised parameters of
        the map from `images` to `transformed` (inference mode)."""
        return {"transform": self.predict_parameters(images, transformed)}

    def serving_endpoints(self):
        return {
            "embed": self.embed,
            "predict_transform": Endpoint(
                self.predict_transform,
                inputs={"images": None, "transformed": None},
            ),
        }

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def make_pairs(self, images, seed):
        """`transformation_pairs` with this model's transformation."""
        return transformation_pairs(
            images, seed, self.transform, **self.transform_options
        )

    def inference_inputs(self, data):
        pair = keras.utils.unpack_x_y_sample_weight(data)[0]
        return pair[0] if isinstance(pair, tuple | list) else pair

    def check_fit_data(self, x, y):
        size = len(TARGET_NAMES[self.transform])
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            ok = (
                isinstance(spec, tuple)
                and len(spec) == 2
                and isinstance(spec[0], tuple)
                and len(spec[0]) == 2
                and spec[1].shape[-1] == size
            )
        else:
            ok = (
                isinstance(x, tuple | list)
                and len(x) == 2
                and y is not None
                and tuple(ops.shape(x[0])) == tuple(ops.shape(x[1]))
                and tuple(ops.shape(y)) == (ops.shape(x[0])[0], size)
            )
        if not ok:
            raise ValueError(
                "AET trains on ((images, transformed), target) batches with "
                f"a {self.transform} target of {size} numbers per image; make "
                "them in tf.data with keras_ssl.representation.aet."
                f"transformation_pairs(images, seed, {self.transform!r})"
            )

    def compute_losses(self, data, training=False):
        (images, transformed), target, weight = (
            keras.utils.unpack_x_y_sample_weight(data)
        )
        if weight is not None:
            raise ValueError("AET does not support sample weights")
        predicted = self.predict_parameters(images, transformed, training)
        squared = ops.square(predicted - ops.cast(target, "float32"))
        losses = {"loss": replica_mean(ops.mean(squared, axis=-1))}
        for group, columns in TARGET_GROUPS[self.transform].items():
            part = ops.take(squared, list(columns), axis=1)
            losses[f"{group}_error"] = replica_mean(ops.mean(part, axis=-1))
        return losses, {}


def transformation_pairs(images, seed, transform="affine", **options):
    """One AET training batch: `((images, t(images)), target)`.

    Args:
        images: `(batch, height, width, channels)` tensor.
        seed: shape-`(2,)` integer tensor (a stateless seed).
        transform: `"affine"` (`keras_ssl.augment.random_affine`) or
            `"projective"` (`keras_ssl.augment.random_projective`).
        **options: the sampler's ranges and constants (e.g.
            `rotation=45.0`, `fill_value=0.0`).

    Returns:
        `((images, transformed), target)` as `AET.fit` takes it.
    """
    check_transform_options(transform, options)
    images = tf.cast(images, tf.float32)
    transformed, target = SAMPLERS[transform](images, seed, **options)
    return (images, transformed), target


def sampler_defaults(transform):
    """The options of a transformation's sampler and their defaults."""
    if transform not in SAMPLERS:
        raise ValueError(
            f"transform must be one of {sorted(SAMPLERS)}; got {transform!r}"
        )
    parameters = inspect.signature(SAMPLERS[transform]).parameters
    return {
        name: p.default
        for name, p in parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def check_transform_options(transform, options):
    """`options` as a dict of the sampler's options (a ValueError for
    an unknown transform or option); `None` is `{}`."""
    known = sampler_defaults(transform)
    options = dict(options or {})
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"transform_options for {transform!r} take {sorted(known)}; got "
            f"unknown {unknown}"
        )
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in options.items()
    }
