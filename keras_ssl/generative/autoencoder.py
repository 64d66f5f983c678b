import keras
import numpy as np
from keras import ops

from keras_ssl.backbones import mlp
from keras_ssl.backbones._batch_norm import batch_norm
from keras_ssl.core._checks import check_image_shape
from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_integers
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.endpoint import Endpoint
from keras_ssl.core.method import Method

# The official DCGAN-like networks (`zj10/PGA`, `src/models.py`) by image
# size: stride-2 convolutions of the encoder, the channels of each as a
# multiple of `dim`, which of them have BatchNorm, and the encoder's FC
# layer (conv_mnist only).
_CONV = {
    28: {"convs": (1, 2), "bn": (False, True), "fc": 1024, "start": 7},
    32: {"convs": (1, 2, 4), "bn": (False, True, True), "fc": None, "start": 4},
    64: {
        "convs": (1, 2, 4, 8),
        "bn": (False, False, True, True),
        "fc": None,
        "start": 4,
    },
}
# slim.batch_norm's defaults in the official code.
_BN_MOMENTUM, _BN_EPSILON = 0.999, 1e-3


@keras.saving.register_keras_serializable(package="keras_ssl")
class Autoencoder(Method):
    """A plain autoencoder: the base and the control of the generative family.

    An encoder trunk `encoder` maps images to features, a linear head
    (`latent_head`, `Dense(latent_dim)`) maps the features to the code
    `z = E(x)`, and `decoder` maps codes back to images. It trains on the
    reconstruction loss alone,

        reconstruction = mean over all elements of (x - D(E(x)))^2,

    the full-element mean of TF1's `tf.losses.mean_squared_error` that the
    PGA code uses (reduced with `keras_ssl.core.replica_mean`, so it is
    replica-correct). `keras_ssl.generative.PGA` is this model plus the
    terms that make its latent space match `N(0, I)`; trained with the
    same networks, optimizer and steps, this class is the control its
    figures are compared with (`keras-ssl train pga` trains both).

    Images are expected in `[-1, 1]` (the official decoders end in tanh);
    `latent_dim` is the decoder's input size.

    Args:
        encoder: a `keras.Model` mapping images to a feature vector
            `(batch, features)`, the trunk without the last linear layer
            (the official encoders' last layer is this class's head).
        decoder: a `keras.Model` mapping codes `(batch, latent_dim)` to
            images of the encoder's input shape.
        **kwargs: passed to `keras.Model` (`name`, ...).

    Inference: `call(x)` and `encode(x)["latent"]` give the code,
    `decode(z)["images"]` and `reconstruct(x)["images"]` images in the
    decoder's range, and `sample(n, seed)` decodes `n` draws of
    `N(0, I)`. The exported SavedModel has `sample` (a batch of codes `z`
    in, no preprocessing, `images` out: the decoder), `encode` and
    `reconstruct` endpoints; the last two take model inputs (raw digits
    for the digits recipe) and run the export's preprocessing. Logged:
    `loss` (= `reconstruction`).

    `Autoencoder.mlp_networks` and `Autoencoder.conv_networks` build
    encoder and decoder pairs.

    Example:

    ```python
    import keras
    import keras_ssl

    (x, _), _ = keras_ssl.data.digits()
    x = 2.0 * x - 1.0  # [-1, 1]
    networks = keras_ssl.generative.Autoencoder.mlp_networks(
        x.shape[1:], latent_dim=8, hidden=(32,)
    )
    model = keras_ssl.generative.Autoencoder(**networks)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(x, batch_size=64, epochs=1, verbose=0)
    images = model.sample(4, seed=0)["images"]  # (4, 8, 8, 1)
    ```
    """

    family = "generative"
    paper = "plain autoencoder (the control of the generative family)"
    tracked_names = ("loss", "reconstruction")

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(encoder, **kwargs)
        self.decoder = _check_decoder(encoder, decoder)
        self.latent_dim = int(decoder.input_shape[-1])
        self.latent_head = keras.layers.Dense(self.latent_dim, name="latent")

    def build(self, input_shape):
        features = self.encoder.compute_output_shape(input_shape)
        self.latent_head.build(features)
        self.built = True

    # ------------------------------------------------------------------
    # Networks
    # ------------------------------------------------------------------
    @staticmethod
    def mlp_networks(
        input_shape, latent_dim, hidden=(256, 256), activation="leaky_relu"
    ):
        """An MLP encoder trunk and decoder (the method note's digits nets).

        Encoder: Flatten -> Dense(h) -> `activation` for each `h` of
        `hidden` (the latent head is the method's); decoder: Dense(h) ->
        `activation` for each `h`, then Dense(prod(input_shape)) -> tanh
        -> Reshape. Keras' default initialisation (Glorot uniform, zero
        biases), as TF-slim's in the official code.

        Args:
            input_shape: the image shape, e.g. `(8, 8, 1)`.
            latent_dim: int >= 1, the code size `d`.
            hidden: widths of the hidden layers. Default `(256, 256)`, the
                note's digits experiment (64 -> 256 -> 256 -> 8).
            activation: default `"leaky_relu"` (slope 0.2, as
                `tf.nn.leaky_relu` in the official encoders).

        Returns:
            `{"encoder": ..., "decoder": ...}` (pass on as
            `Autoencoder(**networks)`).
        """
        shape = tuple(input_shape)
        latent_dim = check_integer(latent_dim, 1, "latent_dim")
        hidden = check_integers(hidden, 1, "hidden")
        size = int(np.prod(shape))
        inputs = keras.Input(shape, name="images")
        flat = keras.layers.Flatten(name="flatten")(inputs)
        trunk = mlp(
            (size,),
            hidden=hidden,
            activation=activation,
            final_activation=activation,
            name="encoder_mlp",
        )
        encoder = keras.Model(inputs, trunk(flat), name="encoder")
        z = keras.Input((latent_dim,), name="z")
        body = mlp(
            (latent_dim,),
            hidden=(*hidden, size),
            activation=activation,
            final_activation="tanh",
            name="decoder_mlp",
        )
        images = keras.layers.Reshape(shape, name="images")(body(z))
        return {
            "encoder": encoder,
            "decoder": keras.Model(z, images, name="decoder"),
        }

    @staticmethod
    def conv_networks(input_shape, latent_dim, dim=64, use_batch_norm=False):
        """The official DCGAN-like encoder trunk and decoder for its sizes.

        `zj10/PGA` `src/models.py`, chosen by the image size: `conv_mnist`
        (28x28), `conv_32` (32x32) and `conv_64` (64x64). Encoder: 5x5
        stride-2 convolutions with `dim` times 1, 2 (, 4 (, 8)) channels,
        leaky ReLU (slope 0.2); `conv_mnist` adds FC 1024 -> leaky ReLU.
        Decoder: (FC 1024 -> ReLU for `conv_mnist`,) FC to the first
        feature map -> ReLU, 5x5 stride-2 transposed convolutions back
        (ReLU), the last to the image channels with tanh. With
        `use_batch_norm`, the layers the official code normalises (all
        but the first one or two of the encoder, the FC of `conv_mnist`,
        the middle transposed convolutions) get a synchronized BatchNorm
        (momentum 0.999, epsilon 1e-3, slim's defaults) instead of a bias.

        Args:
            input_shape: `(28, 28, C)`, `(32, 32, C)` or `(64, 64, C)`.
            latent_dim: int >= 1, the code size.
            dim: int >= 1, the base width. Default 64, the official code.
            use_batch_norm: default False, the official MNIST runs; the
                CIFAR-10 and CelebA runs use True.

        Returns:
            `{"encoder": ..., "decoder": ...}`.

        Raises:
            ValueError: for an image size other than 28, 32 or 64.
        """
        shape = check_image_shape(tuple(input_shape), allow_none=False)
        latent_dim = check_integer(latent_dim, 1, "latent_dim")
        dim = check_integer(dim, 1, "dim")
        size, width, channels = shape
        if size != width or size not in _CONV:
            raise ValueError(
                "input_shape must be (28, 28, C), (32, 32, C) or (64, 64, C)"
                f" for the official conv networks; got {tuple(input_shape)!r}"
            )
        spec = _CONV[size]
        norms = spec["bn"] if use_batch_norm else (False,) * len(spec["bn"])

        def lrelu(x):
            return keras.layers.LeakyReLU(0.2)(x)

        def relu(x):
            return keras.layers.ReLU()(x)

        def layer(kind, units, norm, name, activation):
            def apply(x):
                if kind == "conv":
                    x = keras.layers.Conv2D(
                        units, 5, 2, "same", use_bias=not norm, name=name
                    )(x)
                elif kind == "deconv":
                    x = keras.layers.Conv2DTranspose(
                        units, 5, 2, "same", use_bias=not norm, name=name
                    )(x)
                else:
                    x = keras.layers.Dense(units, use_bias=not norm, name=name)(
                        x
                    )
                if norm:
                    x = batch_norm(_BN_MOMENTUM, _BN_EPSILON, f"{name}_bn")(x)
                return activation(x)

            return apply

        inputs = keras.Input(shape, name="images")
        x = inputs
        for i, (factor, norm) in enumerate(
            zip(spec["convs"], norms, strict=True), 1
        ):
            x = layer("conv", dim * factor, norm, f"conv{i}", lrelu)(x)
        x = keras.layers.Flatten(name="flatten")(x)
        if spec["fc"]:
            x = layer("dense", spec["fc"], bool(use_batch_norm), "fc", lrelu)(x)
        encoder = keras.Model(inputs, x, name="encoder")

        start, top = spec["start"], dim * spec["convs"][-1]
        z = keras.Input((latent_dim,), name="z")
        y = z
        if spec["fc"]:
            y = layer("dense", spec["fc"], False, "fc", relu)(y)
        # conv_mnist normalises its second FC layer, the others do not.
        first_norm = bool(use_batch_norm) and bool(spec["fc"])
        y = layer("dense", start * start * top, first_norm, "fc_map", relu)(y)
        y = keras.layers.Reshape((start, start, top), name="map")(y)
        middle = spec["convs"][-2::-1]
        for i, factor in enumerate(middle, 1):
            # The official decoders normalise every transposed convolution
            # but the last hidden one (and conv_mnist none).
            norm = bool(use_batch_norm) and not spec["fc"] and i < len(middle)
            y = layer("deconv", dim * factor, norm, f"deconv{i}", relu)(y)
        images = layer(
            "deconv",
            channels,
            False,
            f"deconv{len(middle) + 1}",
            keras.layers.Activation("tanh", name="images"),
        )(y)
        decoder = keras.Model(z, images, name="decoder")
        return {"encoder": encoder, "decoder": decoder}

    # ------------------------------------------------------------------
    # The networks in use
    # ------------------------------------------------------------------
    def latent(self, images, training=False):
        """The code `E(x)` (the mean for VPGA), `(batch, latent_dim)`."""
        return self.latent_head(self.encoder(images, training=training))

    @property
    def encoder_variables(self):
        """What the encoder's gradient updates: trunk and heads."""
        return [
            *self.encoder.trainable_variables,
            *self.latent_head.trainable_variables,
        ]

    @property
    def decoder_variables(self):
        """What the decoder's gradient updates."""
        return list(self.decoder.trainable_variables)

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def images(self, data):
        """The image batch of a training batch (labels are ignored)."""
        if isinstance(data, tuple | list):
            data = keras.utils.unpack_x_y_sample_weight(tuple(data))[0]
        return ops.convert_to_tensor(data, self.compute_dtype)

    def compute_losses(self, data, training=False):
        x = self.images(data)
        rebuilt = self.decoder(self.latent(x, training), training=training)
        loss = replica_mean(ops.square(x - rebuilt))
        return {"loss": loss, "reconstruction": loss}, {}

    def check_fit_data(self, x, y):
        if x is None or not isinstance(x, np.ndarray):
            return
        expected = tuple(self.encoder.input_shape[1:])
        if x.ndim != len(expected) + 1 or any(
            e is not None and e != s
            for e, s in zip(expected, x.shape[1:], strict=True)
        ):
            raise ValueError(
                f"x must be a batch of images of shape (n, {expected}), the "
                f"encoder's input; got an array of shape {x.shape}"
            )

    # ------------------------------------------------------------------
    # Inference and export
    # ------------------------------------------------------------------
    def call(self, inputs, training=False):
        return self.latent(inputs, training=training)

    def encode(self, images):
        """`{"latent": E(x)}` in inference mode."""
        return {"latent": self.latent(images)}

    def decode(self, z):
        """`{"images": D(z)}` in inference mode."""
        z = ops.convert_to_tensor(z, self.compute_dtype)
        return {"images": self.decoder(z, training=False)}

    def reconstruct(self, images):
        """`{"images": D(E(x))}` in inference mode."""
        return self.decode(self.latent(images))

    def sample(self, num_samples, seed=None):
        """Decodes `num_samples` draws of `z ~ N(0, I)`.

        Args:
            num_samples: int >= 1.
            seed: the seed of the draws (NumPy's `default_rng`); default:
                fresh entropy.

        Returns:
            `{"images": D(z), "latent": z}` (NumPy arrays).
        """
        num_samples = check_integer(num_samples, 1, "num_samples")
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((num_samples, self.latent_dim))
        z = z.astype("float32")
        return {"images": np.asarray(self.decode(z)["images"]), "latent": z}

    def serving_endpoints(self):
        return {
            "sample": Endpoint(self.decode, inputs={"z": (self.latent_dim,)}),
            "encode": self.encode,
            "reconstruct": self.reconstruct,
        }


def _check_decoder(encoder, decoder):
    if not isinstance(decoder, keras.Model):
        raise ValueError(
            "decoder must be a keras.Model mapping codes (batch, latent_dim)"
            f" to images; got {type(decoder).__name__}"
        )
    code = tuple(decoder.input_shape)
    if len(code) != 2 or not isinstance(code[1], int):
        raise ValueError(
            "decoder must take codes of shape (batch, latent_dim); its "
            f"input shape is {code}"
        )
    images = tuple(encoder.input_shape[1:])
    out = tuple(decoder.output_shape[1:])
    if out != images:
        raise ValueError(
            f"decoder must return images of the encoder's input shape "
            f"{images}; it returns {out}"
        )
    features = tuple(encoder.output_shape)
    if len(features) != 2:
        raise ValueError(
            "encoder must map images to a feature vector (batch, features);"
            f" its output shape is {features}"
        )
    return decoder
