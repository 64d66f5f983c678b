import keras
import numpy as np
from keras import ops

from keras_ssl.augment.rotations import NUM_ROTATIONS
from keras_ssl.core._checks import check_integer
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.method import Method


@keras.saving.register_keras_serializable(package="keras_ssl")
class RotationPrediction(Method):
    """RotNet: learn features by predicting how an image was rotated.

    Every training image is shown in its `num_rotations` rotations (0,
    90, 180 and 270 degrees by default) and a linear head on the encoder's
    features classifies which rotation it sees, with cross-entropy. To
    tell the rotations apart the network must find the objects' up and
    down, which needs features of what the image shows; it is also the
    pretext (and the no-lens control) of `ShortcutLens`.

    Training data are the rotated copies with their rotation labels, made
    in `tf.data` by `keras_ssl.augment.rotations` (all rotations of an
    image in one batch, as the official code does):
    `model.fit(*keras_ssl.augment.rotations(x))`. Inference (`call`,
    `embed`) returns the encoder's features; `predict_rotation(x)` the
    head's rotation probabilities and prediction.

    Defaults and sources:
        - `num_rotations=4` (official code: 0/90/180/270, the four
          copies of an image contiguous in the batch). 2 gives 0/180.
        - The head: one `Dense` layer on the encoder's pooled features.
          The official head is a small network (NIN blocks or fully
          connected layers) on top of a chosen conv block; a linear head
          keeps the features the probe reads as the ones that solve the
          pretext.
        - Optimiser (not part of the model): the official code uses SGD
          0.1 with Nesterov momentum 0.9, weight decay 5e-4, batch 128
          images (512 copies) and steps at epochs 60/120/160 of 200
          (`config/CIFAR10_RotNet_NIN4blocks.py`); the
          `keras-ssl train rotnet` recipe uses the Lens note's digits
          setting (Adam 1e-3).

    Reference:
        Gidaris, Singh and Komodakis, "Unsupervised Representation
        Learning by Predicting Image Rotations", ICLR 2018,
        arXiv:1803.07728. Official code: `gidariss/FeatureLearningRotNet`.

    Args:
        encoder: a `keras.Model` mapping images to a feature vector.
        num_rotations: 2 or 4 (the rotations of
            `keras_ssl.augment.rotations`).
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    import keras
    import keras_ssl

    (x, _), _ = keras_ssl.data.digits(image_size=16)
    encoder = keras_ssl.backbones.small_cnn((16, 16, 1), preset="narrow")
    model = keras_ssl.representation.RotationPrediction(encoder)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    copies, rotation = keras_ssl.augment.rotations(x[:256])
    model.fit(copies, rotation, batch_size=128, epochs=1, verbose=0)
    model.predict_rotation(x[:4])["rotation"].shape  # (4,)
    ```
    """

    family = "representation"
    paper = "Gidaris et al., ICLR 2018 (RotNet)"
    tracked_names = ("loss", "accuracy")

    def __init__(self, encoder, num_rotations=4, **kwargs):
        super().__init__(encoder, **kwargs)
        self.num_rotations = check_integer(num_rotations, 2, "num_rotations")
        if self.num_rotations not in NUM_ROTATIONS:
            raise ValueError(
                f"num_rotations must be 2 or 4 (the rotations of "
                f"keras_ssl.augment.rotations); got {num_rotations}"
            )
        self.rotation_head = keras.layers.Dense(
            self.num_rotations, name="rotation_logits"
        )

    def build(self, input_shape):
        self.rotation_head.build(self.encoder.compute_output_shape(input_shape))
        self.built = True

    # ------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------
    def rotation_logits(self, inputs, training=False):
        """The head's rotation logits, `(batch, num_rotations)`."""
        return self.rotation_head(self.encoder(inputs, training=training))

    def predict_rotation(self, inputs):
        """Rotation probabilities and the predicted rotation (inference)."""
        probs = ops.softmax(self.rotation_logits(inputs), axis=-1)
        return {
            "rotation_probs": probs,
            "rotation": ops.argmax(probs, axis=-1),
        }

    def serving_endpoints(self):
        return {"embed": self.embed, "rotation": self.predict_rotation}

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def check_fit_data(self, x, y):
        if x is None or y is None or hasattr(x, "element_spec"):
            return
        y = np.asarray(y)
        if (
            y.ndim != 1
            or len(y) != len(x)
            or not np.issubdtype(y.dtype, np.integer)
            or (len(y) and (y.min() < 0 or y.max() >= self.num_rotations))
        ):
            raise ValueError(
                "y must be the rotation labels of x (1-D integers in [0, "
                f"num_rotations={self.num_rotations}), one per image, as "
                "keras_ssl.augment.rotations returns them); got dtype "
                f"{y.dtype} and shape {y.shape}"
            )

    def rotation_loss(self, logits, rotation):
        """Replica-scaled cross-entropy and the local accuracy."""
        rotation = ops.cast(ops.reshape(rotation, (-1,)), "int32")
        per_example = keras.losses.sparse_categorical_crossentropy(
            rotation, logits, from_logits=True
        )
        correct = ops.equal(
            ops.argmax(logits, axis=-1), ops.cast(rotation, "int64")
        )
        return replica_mean(per_example), ops.mean(ops.cast(correct, "float32"))

    def compute_losses(self, data, training=False):
        x, rotation = self.unpack(data)
        loss, accuracy = self.rotation_loss(
            self.rotation_logits(x, training=training), rotation
        )
        return {"loss": loss}, {"accuracy": accuracy}

    def unpack(self, data):
        """`(images, rotation labels)` of a batch; a clear error otherwise."""
        x, rotation, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if rotation is None:
            raise ValueError(
                f"{type(self).__name__} trains on (rotated images, rotation "
                "labels) batches, e.g. model.fit(*keras_ssl.augment."
                "rotations(x)); got a batch without labels"
            )
        if sample_weight is not None:
            raise ValueError(
                f"{type(self).__name__} does not support sample weights"
            )
        return x, rotation
