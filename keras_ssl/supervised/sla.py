import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.augment.rotations import rotations
from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.method import Method
from keras_ssl.core.weight_decay import coupled_weight_decay

# The transforms and their sizes M (official `augmentations.py`).
TRANSFORMS = {
    "rotation": (1, 2, 4),
    "color_permutation": (3, 6),
    "rotation_color_permutation": (6, 12, 24),
}
# (rotations, colour permutations) of the combined transforms.
_COMBINED = {6: (2, 3), 12: (4, 3), 24: (4, 6)}
AGGREGATIONS = ("ag", "si", "sd")


def transformed_copies(images, transforms="rotation", num_transforms=4):
    """Each image followed by its `num_transforms` transformed copies.

    SLA's input transformations `t_1 .. t_M` (`t_1` = identity), as the
    official `augmentations.py` orders them, contiguous and image-major
    (`copies[i * M + j] = t_j(x_i)`):

    - `"rotation"`, M = 4 / 2 / 1: the official `rotation`
      (0/90/180/270), `rotation2` (0/180), none;
    - `"color_permutation"`, M = 6 / 3: `color_perm`, `color_perm3`;
    - `"rotation_color_permutation"`, M = 6 / 12 / 24:
      `rot_color_perm6` (0/180 x 3 cyclic), `rot_color_perm12` (4 x 3
      cyclic), `rot_color_perm24` (4 x 6).

    It is `keras_ssl.augment.rotations` and/or
    `keras_ssl.augment.color_permutations`, so the same function expands
    a training batch in `tf.data` and an inference batch inside an
    exported graph.

    Args:
        images: `(batch, size, size, channels)` images (3 channels for the
            colour permutations).
        transforms: a key of `TRANSFORMS`.
        num_transforms: M, one of `TRANSFORMS[transforms]`.

    Returns:
        The `(batch * M, size, size, channels)` copies.

    Example:

    ```python
    import numpy as np
    from keras_ssl.supervised.sla import transformed_copies

    x = np.random.default_rng(0).random((2, 8, 8, 3), "float32")
    transformed_copies(x, "rotation_color_permutation", 12).shape
    ```
    """
    # Imported here: `keras_ssl.augment` may be what first imports
    # TensorFlow, which registers this package while
    # `augment.color_permutations` is still being initialised.
    from keras_ssl.augment.color_permutations import color_permutations

    _check_transforms(transforms, num_transforms)
    if transforms == "rotation":
        return rotations(images, num_transforms)[0]
    if transforms == "color_permutation":
        return color_permutations(images, num_transforms)[0]
    turns, permutations = _COMBINED[num_transforms]
    return color_permutations(rotations(images, turns)[0], permutations)[0]


def _check_transforms(transforms, num_transforms):
    if transforms not in TRANSFORMS:
        raise ValueError(
            f"transforms must be one of {sorted(TRANSFORMS)}; got "
            f"{transforms!r}"
        )
    if num_transforms not in TRANSFORMS[transforms]:
        raise ValueError(
            f"num_transforms must be one of {TRANSFORMS[transforms]} for "
            f"transforms={transforms!r}; got {num_transforms!r}"
        )


@keras.saving.register_keras_serializable(package="keras_ssl")
class SLA(Method):
    """Self-supervised label augmentation: one joint label per class and
    transform.

    Data augmentation with rotations asks a classifier to be invariant to
    them, which hurts when the transform changes what an image looks like.
    SLA instead augments the *labels*: with M transforms `t_j` (`t_1` the
    identity) and N classes, one `Dense(N * M)` head classifies the joint
    label `(class i, transform j)` of `t_j(x)`, with the class-major index
    `i * M + j`, and the loss is the cross-entropy of the joint label,
    averaged over the M copies of every image, `L_SLA = (1/M) sum_j -log
    rho_{y, j}(t_j(x))` (`large_loss=True`: times M, the sum over
    transforms, the official `--with-large-loss`).

    Training batches hold every image's M copies, contiguous
    (`transformed_copies`, made in `tf.data`), with the class label of
    every copy: `(copies, labels)`, both of length `batch * M`; the
    transform of a copy is its position modulo M, and every group of M
    rows must share one label (checked, also inside the graph, since
    shuffled copies would silently train on the wrong joint labels).

    Inference, from one forward pass of the M copies of every image:

    - **AG** (aggregated): the conditional logits of copy j are the
      columns of transform j, `w_{i,j} . f(t_j(x))`, i.e. the `[j::M,
      j::M]` slice of the batch's joint logits; their mean over j is the
      prediction (`probs` for `aggregation="ag"`).
    - **SI** (single): the identity copy's conditional logits
      (`single_probs`).
    - **SD** (self-distilled, `self_distillation=True`): a second head
      `Dense(N)` on the identity copy's features, trained with the
      official loss `CE(sd, y) + T^2 KL(softmax(agg / T) || softmax(sd /
      T))` with the aggregated logits *detached* (`sd_probs`); at test
      time it needs one pass, not M.

    `classify(x)` (the export's `classify` endpoint) makes the M copies
    inside the graph and returns `probs` and `prediction` (what
    `aggregation` selects), `single_probs`, `aggregated_probs` and, with
    the SD head, `sd_probs`. `call(x)` returns the selected logits.

    With `num_transforms=1` (`transforms="rotation"`) the joint head is an
    N-way head and SLA is the plain cross-entropy baseline (the official
    `--mode baseline`), with the same weight decay and code path.

    Tracked: `loss`, `joint_loss`, `weight_decay`, `joint_accuracy`,
    `accuracy` (AG) and `single_accuracy` (SI) on the training batch, and
    with the SD head `sd_loss`, `distillation_loss` and `sd_accuracy`.

    Defaults and sources (official code `hankook/SLA`, see
    `shared/methods/sla.md`):
        - `num_transforms=4`, `transforms="rotation"`: the paper's main
          setting (CIFAR, `--aug rotation`).
        - `self_distillation=False`; `temperature=1.0` (`--T`) and the
          SD weights (CE weight beta = 1, KL weight T^2): `trainers.py`.
        - `aggregation="ag"`: the paper's headline inference (SLA+AG).
        - `weight_decay=1e-4`: `train.py`'s `--wd`, PyTorch SGD's coupled
          L2 on every parameter (train with a plain
          `keras.optimizers.SGD`; see `keras_ssl.core.
          coupled_weight_decay`).
        - `large_loss=False` (`--with-large-loss`, for ImageNet /
          iNaturalist in the README).
        - Optimiser (not part of the model): SGD lr 0.1, momentum 0.9,
          batch 128 images (x M after expansion), 80,000 iterations, lr
          x0.1 at 40k and 60k (`train.py`).

    Deviations: the official SD model computes the SD head on every
    copy and keeps the identity rows; here it runs on the identity rows
    only (the same values). MT and DA baselines are not built (the
    official `train.py` raises `NotImplementedError` for them).

    Reference:
        Lee, Hwang and Shin, "Self-supervised Label Augmentation via Input
        Transformations", ICML 2020, arXiv:1910.05872. Official code:
        `hankook/SLA`.

    Args:
        encoder: a `keras.Model` mapping images to a feature vector.
        num_classes: int >= 2, N.
        num_transforms: M (see `transformed_copies`).
        transforms: `"rotation"`, `"color_permutation"` or
            `"rotation_color_permutation"`.
        self_distillation: bool, add the SD head and its losses.
        temperature: float > 0, T of the distillation.
        aggregation: `"ag"`, `"si"` or `"sd"` (needs the SD head): what
            `call` and `classify`'s `probs` return.
        weight_decay: float >= 0, coupled L2 on every trainable variable.
        large_loss: bool, multiply the joint loss by M.
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    import keras
    import numpy as np
    import keras_ssl
    from keras_ssl.supervised.sla import transformed_copies

    (x, y), _ = keras_ssl.data.digits(image_size=16)
    encoder = keras_ssl.backbones.small_cnn((16, 16, 1), preset="narrow")
    model = keras_ssl.supervised.SLA(encoder, num_classes=10)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    copies, labels = transformed_copies(x[:64]), np.repeat(y[:64], 4)
    model.fit(copies, labels, batch_size=128, shuffle=False, verbose=0)
    model.classify(x[:2])["probs"].shape  # (2, 10), aggregated over 4
    ```
    """

    family = "supervised"
    paper = "Lee et al., ICML 2020 (self-supervised label augmentation)"

    def __init__(
        self,
        encoder,
        num_classes,
        num_transforms=4,
        transforms="rotation",
        self_distillation=False,
        temperature=1.0,
        aggregation="ag",
        weight_decay=1e-4,
        large_loss=False,
        **kwargs,
    ):
        # Read by `tracked_names` while the base builds the trackers.
        self._with_sd = bool(self_distillation)
        super().__init__(encoder, **kwargs)
        self.num_classes = check_integer(num_classes, 2, "num_classes")
        _check_transforms(transforms, num_transforms)
        self.num_transforms = int(num_transforms)
        self.transforms = transforms
        self.self_distillation = bool(self_distillation)
        self.temperature = check_number(temperature, "temperature", "> 0")
        if aggregation not in AGGREGATIONS:
            raise ValueError(
                f"aggregation must be one of {AGGREGATIONS}; got "
                f"{aggregation!r}"
            )
        if aggregation == "sd" and not self.self_distillation:
            raise ValueError(
                'aggregation="sd" needs the SD head: pass '
                "self_distillation=True"
            )
        self.aggregation = aggregation
        self.weight_decay = check_number(weight_decay, "weight_decay", ">= 0")
        self.large_loss = bool(large_loss)
        self.joint_head = keras.layers.Dense(
            self.num_classes * self.num_transforms, name="joint_logits"
        )
        self.sd_head = (
            keras.layers.Dense(self.num_classes, name="sd_logits")
            if self.self_distillation
            else None
        )

    @property
    def tracked_names(self):
        names = ("loss", "joint_loss", "weight_decay")
        if self._with_sd:
            names += ("sd_loss", "distillation_loss")
        names += ("joint_accuracy", "accuracy", "single_accuracy")
        return names + (("sd_accuracy",) if self._with_sd else ())

    def build(self, input_shape):
        feature_shape = self.encoder.compute_output_shape(input_shape)
        self.joint_head.build(feature_shape)
        if self.sd_head is not None:
            self.sd_head.build(feature_shape)
        self.built = True

    # ------------------------------------------------------------------
    # The joint logits and their slices
    # ------------------------------------------------------------------
    def transform(self, images):
        """The model's M contiguous copies of every image (in-graph)."""
        return transformed_copies(images, self.transforms, self.num_transforms)

    def conditional_logits(self, joint_logits):
        """`(batch, M, N)`: for every image and transform j, the logits of
        the classes under transform j, the `[j::M, j::M]` slices of the
        joint logits of the image's M contiguous copies."""
        m, n = self.num_transforms, self.num_classes
        grouped = ops.reshape(joint_logits, (-1, m, n, m))
        # grouped[b, j, i, k] = joint_logits[b * M + j, i * M + k]; keep k = j.
        diagonal = ops.eye(m, dtype=grouped.dtype)[None, :, None, :]
        return ops.sum(grouped * diagonal, axis=-1)

    def inference_logits(self, inputs, training=False):
        """`{"ag", "si"[, "sd"]}` logits of `inputs` (the M copies are made
        here)."""
        features = self.encoder(self.transform(inputs), training=training)
        conditional = self.conditional_logits(self.joint_head(features))
        logits = {
            "ag": ops.mean(conditional, axis=1),
            "si": conditional[:, 0],
        }
        if self.sd_head is not None:
            logits["sd"] = self.sd_head(features[:: self.num_transforms])
        return logits

    def call(self, inputs, training=False):
        if self.aggregation == "ag":
            return self.inference_logits(inputs, training)["ag"]
        features = self.encoder(inputs, training=training)
        if self.aggregation == "sd":
            return self.sd_head(features)
        m, n = self.num_transforms, self.num_classes
        joint = ops.reshape(self.joint_head(features), (-1, n, m))
        return joint[:, :, 0]

    def classify(self, inputs):
        """Probabilities and prediction of `aggregation`, and of AG, SI
        (and SD), in inference mode."""
        logits = self.inference_logits(inputs)
        probs = {k: ops.softmax(v, axis=-1) for k, v in logits.items()}
        chosen = probs[self.aggregation]
        outputs = {
            "probs": chosen,
            "prediction": ops.argmax(chosen, axis=-1),
            "aggregated_probs": probs["ag"],
            "single_probs": probs["si"],
        }
        if "sd" in probs:
            outputs["sd_probs"] = probs["sd"]
        return outputs

    def serving_endpoints(self):
        return {"classify": self.classify, "embed": self.embed}

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def check_fit_data(self, x, y):
        if x is None or y is None or hasattr(x, "element_spec"):
            return
        y = np.asarray(y)
        m = self.num_transforms
        if (
            y.ndim != 1
            or len(y) != len(x)
            or len(y) % m
            or not np.issubdtype(y.dtype, np.integer)
            or (len(y) and (y.min() < 0 or y.max() >= self.num_classes))
        ):
            raise ValueError(
                f"y must hold one class label in [0, {self.num_classes}) "
                f"per copy, as many as x and a multiple of num_transforms="
                f"{m}; got dtype {y.dtype}, shape {y.shape} for {len(x)} "
                "inputs"
            )
        if np.any(y.reshape(-1, m) != y[::m, None]):
            raise ValueError(
                f"x must hold the {m} transformed copies of every image "
                "contiguously (keras_ssl.supervised.sla.transformed_copies)"
                f" and y their labels; found groups of {m} rows with "
                "different labels (were the copies shuffled? fit with "
                "shuffle=False and a batch_size that is a multiple of "
                f"{m})"
            )

    def compute_losses(self, data, training=False):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None or sample_weight is not None:
            raise ValueError(
                "SLA trains on (transformed copies, labels) batches without "
                "sample weights"
            )
        m = self.num_transforms
        y = ops.cast(ops.reshape(y, (-1,)), "int32")
        y, y_single = self._grouped_labels(y)
        features = self.encoder(x, training=training)
        joint_logits = self.joint_head(features)
        position = ops.arange(ops.shape(y)[0], dtype="int32") % m
        joint_labels = y * m + position
        joint_loss = replica_mean(
            keras.losses.sparse_categorical_crossentropy(
                joint_labels, joint_logits, from_logits=True
            )
        )
        if self.large_loss:
            joint_loss = joint_loss * m
        decay = coupled_weight_decay(
            self.trainable_variables, self.weight_decay
        )
        conditional = self.conditional_logits(joint_logits)
        aggregated = ops.mean(conditional, axis=1)
        losses = {"joint_loss": joint_loss, "weight_decay": decay}
        values = {
            "joint_accuracy": _accuracy(joint_logits, joint_labels),
            "accuracy": _accuracy(aggregated, y_single),
            "single_accuracy": _accuracy(conditional[:, 0], y_single),
        }
        total = joint_loss + decay
        if self.sd_head is not None:
            sd_logits = self.sd_head(features[::m])
            sd_loss = replica_mean(
                keras.losses.sparse_categorical_crossentropy(
                    y_single, sd_logits, from_logits=True
                )
            )
            distillation = self.distillation_loss(aggregated, sd_logits)
            losses.update(sd_loss=sd_loss, distillation_loss=distillation)
            values["sd_accuracy"] = _accuracy(sd_logits, y_single)
            total = total + sd_loss + distillation
        losses["loss"] = total
        return losses, values

    def distillation_loss(self, aggregated_logits, sd_logits):
        """`T^2 KL(softmax(agg / T) || softmax(sd / T))`, replica-scaled,
        with the aggregated logits detached (official `trainers.py`)."""
        t = self.temperature
        target = ops.softmax(ops.stop_gradient(aggregated_logits) / t, -1)
        log_target = ops.log_softmax(ops.stop_gradient(aggregated_logits) / t)
        log_student = ops.log_softmax(sd_logits / t, axis=-1)
        kl = ops.sum(target * (log_target - log_student), axis=-1)
        return t**2 * replica_mean(kl)

    def _grouped_labels(self, y):
        """`y` (checked: one label per group of M rows) and the groups'
        labels."""
        m = self.num_transforms
        count = ops.shape(y)[0]
        checks = [
            tf.debugging.assert_equal(
                count % m,
                0,
                message=f"SLA: a batch must hold whole groups of the "
                f"{m} transformed copies of each image (a local batch "
                "that is a multiple of num_transforms)",
            )
        ]
        with tf.control_dependencies(checks):
            grouped = ops.reshape(y, (-1, m))
        checks = [
            tf.debugging.assert_equal(
                grouped,
                ops.repeat(grouped[:, :1], m, axis=1),
                message="SLA: the labels of an image's transformed copies "
                "differ; the copies must stay contiguous (unshuffled)",
            )
        ]
        with tf.control_dependencies(checks):
            return ops.reshape(grouped, (-1,)), grouped[:, 0]


def _accuracy(logits, labels):
    correct = ops.equal(ops.argmax(logits, axis=-1), ops.cast(labels, "int64"))
    return ops.mean(ops.cast(correct, "float32"))
