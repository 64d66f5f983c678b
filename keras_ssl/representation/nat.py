import keras
import numpy as np
import tensorflow as tf
from keras import ops
from scipy.optimize import linear_sum_assignment

from keras_ssl.core._checks import assert_sample_index
from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_sample_index
from keras_ssl.core.distribution import all_gather
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.method import Method
from keras_ssl.layers.sobel import Sobel


@keras.saving.register_keras_serializable(package="keras_ssl")
class NAT(Method):
    """Noise As Targets: learn features by predicting fixed random targets.

    Every training image owns one target, a fixed vector drawn uniformly on
    the unit sphere; no two images share one. The network (encoder, then a
    linear projection to `target_dim`, then L2 normalisation) is trained to
    put each image onto its target with the squared L2 loss
    `||f(x_i) - c_{P(i)}||^2`, averaged over the batch. The assignment `P`
    starts as a random permutation. In every `reassign_every`-th epoch the
    targets owned by a batch's images are re-permuted among those images,
    on every batch of that epoch and before that step's loss, by an exact
    Hungarian assignment (`scipy.optimize.linear_sum_assignment`) that
    maximises the summed feature-target similarity. This is "stochastic
    batch reassignment" as in the official `main.lua`: "every 3 epochs"
    means every batch of every third epoch, the two epochs in between
    reassign nothing. Epochs are counted from 0 as Keras (and torchnet)
    count them, so the first epoch reassigns.

    Training data are `(images, index)` pairs, where `index` is the
    sample's position in `[0, num_samples)`: `model.fit(x, indices)` with
    `indices = np.arange(len(x))`, or a `tf.data.Dataset` of such pairs
    (`keras_ssl.data.with_index`). A batch must not hold the same index
    twice. Inference (`call`, `embed`) returns the encoder's features,
    which is what a probe or a downstream task uses; the projection and
    the targets exist for training only.

    The targets, the assignment table and the base's epoch counter (which
    decides whether an epoch reassigns) are non-trainable variables: they
    are saved with the model, restored by `keras.saving.load_model`, and
    mirrored under `MirroredStrategy`. With
    several replicas, each replica solves the assignment for its local
    batch (cost `O((B/R)^3)`), then the replicas gather the batch indices
    and new targets and apply the same table update, so the table stays a
    permutation and identical on every replica. The host-side solver runs
    in a `tf.numpy_function`, so NAT never compiles with XLA
    (`xla_compatible = False`); it stays out of `call` and of exports.

    Defaults and sources (see `shared/methods/nat.md`):
        - `reassign_every=3` (official code, `-permute 3`; the paper found
          3 best).
        - `target_dim`: the official ImageNet code uses 2048; there is no
          default because it must suit the encoder (the digits recipe uses
          32 for a 16-d encoder).
        - `sobel=False`: the official code always uses the Sobel front end
          on ImageNet; it is optional here because it only makes sense for
          natural images.
        - Optimiser (not part of the model): the official code uses plain
          SGD, lr 0.01, no momentum, no weight decay, batch 256, crop and
          flip augmentation. Put augmentation in the `tf.data` pipeline.

    Deviations: the official C Hungarian solver works on scores rescaled to
    integers in `[0, 100000]`; scipy solves the float problem exactly, so
    no rescaling is done. The official loss is the batch *sum* of squared
    errors (`nn.MSECriterion` with `sizeAverage = false`; only the log
    divides by the batch size), so its lr 0.01 equals lr `0.01 * B` on
    the batch mean used here; the mean keeps the learning rate independent
    of the batch size and is what replica-correct training needs. The
    official loader drops the last partial batch (`skip-last`); Keras
    keeps it. The scores come from the training-mode forward
    pass of the same step, as in the official code. Under several replicas
    the assignment is solved per replica (as the issue asks), so a
    reassigning step on R replicas permutes within each replica's
    sub-batch, not within the global batch; non-reassigning steps are
    identical to one device.

    Reference:
        Bojanowski and Joulin, "Unsupervised Learning by Predicting Noise",
        ICML 2017, arXiv:1704.05310. Official code:
        `facebookresearch/noise-as-targets`.

    Args:
        encoder: a `keras.Model` mapping images to a feature vector. With
            `sobel=True` it must take 2-channel inputs (dx, dy).
        num_samples: int, number of training images (one target each).
        target_dim: int, dimension of the targets and of the projection.
        reassign_every: int >= 0, the reassignment period in epochs; 0
            never reassigns (a fixed random assignment).
        sobel: bool, put the frozen `keras_ssl.layers.Sobel` front end
            before the encoder.
        seed: optional int for the targets and the initial permutation;
            `None` uses the global seed (`keras.utils.set_random_seed`).
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    import keras
    import numpy as np
    import keras_ssl

    (x, _), _ = keras_ssl.data.digits(image_size=16)
    encoder = keras_ssl.backbones.small_cnn((16, 16, 1), preset="narrow")
    model = keras_ssl.representation.NAT(
        encoder, num_samples=len(x), target_dim=32
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model.fit(x, np.arange(len(x)), batch_size=100, epochs=1, verbose=0)
    model.embed(x[:4])["embedding"].shape  # (4, 16)
    ```
    """

    family = "representation"
    paper = "Bojanowski & Joulin, ICML 2017 (Noise As Targets)"
    tracked_names = ("loss", "reassigned_fraction")
    xla_compatible = False

    def __init__(
        self,
        encoder,
        num_samples,
        target_dim,
        reassign_every=3,
        sobel=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(encoder, **kwargs)
        if sobel and encoder.input_shape[-1] != 2:
            raise ValueError(
                "with sobel=True the encoder must take 2-channel images (the "
                f"dx, dy gradients); got input shape {encoder.input_shape}"
            )
        self.num_samples = check_integer(num_samples, 1, "num_samples")
        self.target_dim = check_integer(target_dim, 1, "target_dim")
        self.reassign_every = check_integer(reassign_every, 0, "reassign_every")
        self.sobel = bool(sobel)
        self.seed = seed
        self.front = Sobel(name="sobel") if self.sobel else None
        self.projection = keras.layers.Dense(self.target_dim, name="projection")

        rng = np.random.default_rng(seed) if seed is not None else np.random
        targets = rng.standard_normal((self.num_samples, self.target_dim))
        targets /= np.linalg.norm(targets, axis=1, keepdims=True)
        permutation = rng.permutation(self.num_samples)
        self.targets = self.add_weight(
            shape=(self.num_samples, self.target_dim),
            initializer=_constant(targets.astype("float32")),
            trainable=False,
            name="targets",
        )
        # assignment[i] = index of the target image i owns.
        self.assignment = self.add_state(
            "assignment",
            (self.num_samples,),
            dtype="int32",
            initializer=_constant(permutation.astype("int32")),
        )

    def build(self, input_shape):
        shape = input_shape
        if self.front is not None:
            shape = self.front.compute_output_shape(shape)
        self.projection.build(self.encoder.compute_output_shape(shape))
        self.built = True

    # ------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------
    def call(self, inputs, training=False):
        if self.front is not None:
            inputs = self.front(inputs)
        return self.encoder(inputs, training=training)

    def project(self, inputs, training=False):
        """L2-normalised projections, the vectors matched to the targets."""
        features = self.projection(self(inputs, training=training))
        return features / ops.maximum(
            ops.norm(features, axis=-1, keepdims=True), 1e-12
        )

    def embed(self, inputs):
        return {"embedding": self(inputs, training=False)}

    @property
    def serving_input_shape(self):
        shape = tuple(self.encoder.input_shape[1:])
        return (*shape[:-1], None) if self.sobel else shape

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def check_fit_data(self, x, y):
        if isinstance(x, tf.data.Dataset) or y is None:
            return
        check_sample_index(y, self.num_samples, unique=True)

    def compute_losses(self, data, training=False):
        x, index = self._unpack(data)
        owned = ops.take(self.assignment, index)
        targets = ops.take(self.targets, owned, axis=0)
        per_example = ops.sum(
            ops.square(self.project(x, training) - targets), axis=-1
        )
        return {"loss": replica_mean(per_example)}, {}

    def train_step(self, data):
        x, index = self._unpack(data)
        with tf.GradientTape() as tape:
            z = self.project(x, training=True)
            owned = ops.take(self.assignment, index)
            if self.reassign_every:
                reassign = ops.equal(self.epoch % self.reassign_every, 0)
                new = tf.cond(
                    reassign,
                    lambda: _hungarian(
                        ops.stop_gradient(z), ops.take(self.targets, owned, 0)
                    ),
                    lambda: ops.arange(ops.shape(owned)[0], dtype="int32"),
                )
                new_owned = ops.take(owned, new)
                self.update_assignment(index, owned, new_owned)
            else:
                new_owned = owned
            targets = ops.take(self.targets, new_owned, axis=0)
            per_example = ops.sum(ops.square(z - targets), axis=-1)
            loss = replica_mean(per_example)
            total = loss + self.regularization_loss()
        self.minimize(tape, total)
        changed = ops.cast(ops.not_equal(new_owned, owned), "float32")
        return self.track(
            {"loss": loss}, {"reassigned_fraction": ops.mean(changed)}
        )

    def update_assignment(self, index, owned, new_owned):
        """Writes the rows of the table that this step changed.

        The batch indices and their new targets are gathered from every
        replica and only the changed rows are scattered, so every replica
        applies the same update, and a step costs O(batch), not
        O(num_samples): nothing is written in the epochs that do not
        reassign.
        """
        index, owned, new_owned = (
            all_gather(t) for t in (index, owned, new_owned)
        )
        changed = ops.not_equal(owned, new_owned)
        self.assignment.value.scatter_update(
            tf.IndexedSlices(
                tf.boolean_mask(new_owned, changed),
                tf.boolean_mask(index, changed),
            )
        )

    def _unpack(self, data):
        x, index, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if index is None or not isinstance(data, tuple | list):
            raise ValueError(
                "NAT trains on (images, index) pairs, e.g. model.fit(x, "
                "np.arange(len(x))); got a batch without sample indices"
            )
        if sample_weight is not None:
            raise ValueError("NAT does not support sample weights")
        return x, assert_sample_index(index, self.num_samples)


def assign_targets(scores):
    """Exact maximum-score assignment of a square score matrix.

    Args:
        scores: `(b, b)` array, `scores[i, j]` = similarity of image `i` and
            the `j`-th target owned by the batch.

    Returns:
        int32 array `columns` of length `b`: image `i` gets target
        `columns[i]`; `columns` is a permutation maximising
        `sum_i scores[i, columns[i]]`.
    """
    rows, columns = linear_sum_assignment(np.asarray(scores), maximize=True)
    result = np.empty(len(rows), dtype=np.int32)
    result[rows] = columns
    return result


def _hungarian(z, targets):
    scores = ops.matmul(z, ops.transpose(targets))
    columns = tf.numpy_function(assign_targets, [scores], tf.int32)
    return ops.reshape(columns, (ops.shape(z)[0],))


def _constant(value):
    def initializer(shape, dtype=None):
        return ops.cast(ops.convert_to_tensor(value), dtype)

    return initializer
