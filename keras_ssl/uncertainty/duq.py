import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.core._checks import check_class_ids
from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.distribution import replica_sum
from keras_ssl.core.method import Method
from keras_ssl.core.weight_decay import coupled_weight_decay
from keras_ssl.uncertainty.certainty_floor_callback import (
    CertaintyFloorCallback,
)

# PyTorch's `binary_cross_entropy` clamps each log term at -100.
LOG_CLAMP = -100.0
# The smallest normal float32: the floor of 1 - K before its log (TF may
# flush smaller, denormal numbers to zero).
TINY = 1.1754944e-38
# Added under the square root of the input-gradient norm, so the norm has
# a finite gradient where the input gradient is exactly zero.
NORM_EPSILON = 1e-12


@keras.saving.register_keras_serializable(package="keras_ssl")
class DUQ(Method):
    """Deterministic Uncertainty Quantification: an RBF head with centroids.

    DUQ replaces the softmax layer by one radial basis function per class.
    Each class `c` owns a weight matrix `W_c` (trainable) that maps the
    encoder features `f(x)` to an embedding of size `n`, and a centroid
    `e_c` (not trainable). The kernel value

        K_c(x) = exp(-mean_j (W_c f(x) - e_c)_j ** 2 / (2 * sigma ** 2))

    is in `[0, 1]`; the prediction is `argmax_c K_c`, the certainty
    `max_c K_c` and the OOD score `-max_c K_c` (larger = more OOD, the
    score the official `evaluate_ood.py` hands to `roc_auc_score`). As the
    official code does (reference commit `3a65923`):

    - `W` is one tensor of shape `(embedding_size, num_classes,
      feature_dim)`; the centroids are `e = m / N` with a per-class count
      `N` (shape `(num_classes,)`) and a sum `m` (shape `(embedding_size,
      num_classes)`), both non-trainable weights, so they are saved,
      restored and mirrored with the model.
    - The loss is the binary cross-entropy of `K` against the one-hot label
      for every class, averaged over the batch **and** the classes (so the
      scale of `gradient_penalty` is `num_classes` times smaller than with
      a per-class sum), plus the two-sided gradient penalty
      `gradient_penalty * mean_i (||grad_x sum_c K_c(x_i)||_2 - 1) ** 2`
      on the training inputs, with the unsquared L2 norm of the flattened
      input gradient. It is computed with a nested `tf.GradientTape`; the
      gradient of the batch sum is the per-example gradient because
      examples are independent, except through BatchNorm in training
      mode, which couples the examples of a batch. The official code
      (`model.train()` during the penalty) has the same coupling.
    - After each optimizer step the centroids move on the same batch, with
      the post-step weights and the encoder in inference mode
      (`training=False`, BatchNorm on its moving statistics):
      `N_c <- gamma * N_c + (1 - gamma) * n_c` (`n_c` = number of class-`c`
      examples in the batch) and `m_c <- gamma * m_c + (1 - gamma) *
      sum_{i: y_i = c} W_c f(x_i)`. Under `tf.distribute.MirroredStrategy`
      the batch counts and sums are summed over replicas first
      (`keras_ssl.core.replica_sum`), so every replica holds the same
      centroids and a step on R replicas equals a step on one device. The
      two-moons notebook also clamps `N_c >= 1`; the FashionMNIST and
      CIFAR code does not, and neither does this class (`N_c` stays
      positive: it only decays geometrically while a class is absent).

    Numerical details (same values, safer gradients than a literal port):

    - The cross-entropy is computed in log space: `log K_c` is the exact
      `-d_c / (2 sigma^2)`, clamped at -100 as PyTorch's
      `binary_cross_entropy` does, and `log(1 - K_c) =
      log(-expm1(log K_c))`, with `1 - K_c` floored at the smallest normal
      float32 (so at most 87.3 per term). Wherever float32 resolves `K`
      and `1 - K` this is the official loss value. The gradient differs
      where PyTorch's backward pass underflows: it divides by
      `max(K (1 - K), 1e-12)`, which makes the gradient of a true class
      whose kernel is below about 1e-12 vanish, while here it stays the
      exact gradient of `d_c / (2 sigma^2)` (until the -100 clamp).
      It matters: on the digits protocol of issue 13 at `length_scale`
      0.1 (gamma 0.999) the PyTorch form does not train (test accuracy
      0.24, seeds 0-2, `benchmarks/duq_digits_protocol.py --variant
      sigma_0.1_torch_bce`) and this one does (0.986); at 0.3 they agree.
    - The gradient norm is `sqrt(sum g^2 + 1e-12)`, so the penalty has a
      finite gradient where an input gradient is exactly zero (a norm
      bias of at most 1e-6).
    - `gradient_penalty == 0` skips the inner tape entirely (the logged
      `gradient_penalty` is then 0).

    Weight decay: the official code uses PyTorch SGD's `weight_decay`,
    which adds `wd * theta` to the gradient of every parameter before
    momentum (coupled L2). Keras' `SGD(weight_decay=...)` instead shrinks
    the weights after the update (decoupled), which is a different
    optimizer with momentum. To reproduce the reference settings, use
    `weight_decay` here with a plain `keras.optimizers.SGD`: it adds
    `weight_decay / 2 * sum ||theta||^2` over all trainable variables (the
    encoder, `W`, biases and BatchNorm scales, as PyTorch does) to the
    loss, divided by the replica count like every loss of a method.

    `probs` (from `classify`) are the kernel values normalised to sum to
    one over the classes. They are **not** calibrated posteriors: DUQ
    does not model class probabilities, and `probs` exist only so that
    calibration metrics and reliability diagrams have a probability
    vector to read. Use `certainty` or `ood_score` for uncertainty. The
    certainty mixes what the paper calls epistemic and aleatoric
    uncertainty: a point between two classes is far from both centroids
    too, and DUQ cannot tell the two apart (official repo issue #9).

    Reference:
        van Amersfoort, Smith, Teh and Gal, "Uncertainty Estimation Using a
        Single Deep Deterministic Neural Network", ICML 2020
        (arXiv:2003.02037); official code
        `y0ast/deterministic-uncertainty-quantification`.

    Args:
        encoder: a `keras.Model` mapping inputs to a feature vector
            `(batch, feature_dim)`.
        num_classes: int >= 2.
        embedding_size: int, the size `n` of each class embedding and
            centroid. Default 256, the FashionMNIST code (`train_duq_fm.py`);
            the two-moons notebook uses 10, the CIFAR code 512.
        length_scale: float > 0, the RBF length scale `sigma`. Default 0.1,
            the FashionMNIST gradient-penalty grid and the CIFAR code; the
            two-moons notebook uses 0.3. Fixed, as in every reported run.
        gamma: float in (0, 1), the centroid moving-average decay. Default
            0.999, the FashionMNIST and CIFAR code; the two-moons notebook
            uses 0.99.
        gradient_penalty: float >= 0, the weight `lambda` of the gradient
            penalty. Default 0.5, the official README example and the CIFAR
            default from 2020-10 to 2021-06; the CIFAR default drifted
            0 (release, 2020-06) -> 0.5 -> 0.75 (2021-06 refactor). The
            two-moons notebook uses 1.0; the FashionMNIST lambda was chosen
            from {0, 0.05, ..., 1.0} on NotMNIST AUROC (0.05 per a
            secondary summary, unverified against the paper).
        initial_count: float > 0, the initial `N_c`. Default 12, the
            FashionMNIST code; the two-moons notebook uses 20, the ResNet
            code 13.
        weight_stddev: float > 0, `W` is drawn from `N(0, weight_stddev^2)`.
            Default 0.05, the FashionMNIST code; the two-moons notebook
            uses 1.0 (the ResNet code uses Kaiming normal, not offered
            here).
        centroid_stddev: float > 0, initial centroids `e_c = m_c / N_c` are
            drawn from `N(0, centroid_stddev^2)` (so `m = N(0, 1) *
            centroid_stddev * N`). Default 1.0, the FashionMNIST code and
            the two-moons notebook; the ResNet code uses 0.05.
        weight_decay: float >= 0, coupled L2 as in PyTorch SGD (see above).
            Default 0.0; the official runs use 1e-4 (FashionMNIST,
            two moons) and 5e-4 (CIFAR).
        **kwargs: passed to `keras.Model` (`name`, ...).

    Inference (`call`) returns the kernel values `(batch, num_classes)`.
    `classify(inputs)` returns a dict with `kernels`, `probs`,
    `prediction`, `certainty` and `ood_score`, and is the `classify`
    endpoint of an exported SavedModel (`embed` gives the encoder
    features). Labels for `fit` are integer class ids; ids outside
    `[0, num_classes)` stop training with an error naming the labels
    (the check is a no-op under XLA). Logged: `loss`, `bce`,
    `gradient_penalty` (the unweighted mean penalty), `l2`, `accuracy`
    and `certainty` (the mean largest kernel value of the training
    batches); `CertaintyFloorCallback` warns when that certainty stays
    below 1e-12 for three epochs in a row.

    Example:

    ```python
    import keras
    import keras_ssl

    (x, y), (x_test, y_test) = keras_ssl.data.two_moons(n_samples=256)
    encoder = keras_ssl.backbones.mlp((2,), hidden=(20, 20, 20))
    # The official two-moons notebook settings:
    model = keras_ssl.uncertainty.DUQ(
        encoder, num_classes=2, embedding_size=10, length_scale=0.3,
        gamma=0.99, gradient_penalty=1.0, initial_count=20.0,
        weight_stddev=1.0, weight_decay=1e-4,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    out = model.classify(x_test)  # kernels, probs, certainty, ood_score
    ```
    """

    family = "uncertainty"
    paper = "van Amersfoort et al., ICML 2020 (DUQ)"
    tracked_names = (
        "loss",
        "bce",
        "gradient_penalty",
        "l2",
        "accuracy",
        "certainty",
    )

    def __init__(
        self,
        encoder,
        num_classes,
        embedding_size=256,
        length_scale=0.1,
        gamma=0.999,
        gradient_penalty=0.5,
        initial_count=12.0,
        weight_stddev=0.05,
        centroid_stddev=1.0,
        weight_decay=0.0,
        **kwargs,
    ):
        super().__init__(encoder, **kwargs)
        self.num_classes = check_integer(num_classes, 2, "num_classes")
        self.embedding_size = check_integer(embedding_size, 1, "embedding_size")
        self.length_scale = check_number(length_scale, "length_scale", "> 0")
        self.gamma = check_number(gamma, "gamma", "in (0, 1)")
        self.gradient_penalty = check_number(
            gradient_penalty, "gradient_penalty", ">= 0"
        )
        self.initial_count = check_number(initial_count, "initial_count", "> 0")
        self.weight_stddev = check_number(weight_stddev, "weight_stddev", "> 0")
        self.centroid_stddev = check_number(
            centroid_stddev, "centroid_stddev", "> 0"
        )
        self.weight_decay = check_number(weight_decay, "weight_decay", ">= 0")

    def build(self, input_shape):
        feature_dim = self.encoder.compute_output_shape(input_shape)[-1]
        self.class_kernel = self.add_weight(
            shape=(self.embedding_size, self.num_classes, feature_dim),
            initializer=keras.initializers.RandomNormal(
                stddev=self.weight_stddev
            ),
            name="class_kernel",
        )
        # Identical values are assigned on every replica: the batch
        # statistics are summed over replicas first.
        self.centroid_count = self.add_state(
            "centroid_count",
            (self.num_classes,),
            initializer=keras.initializers.Constant(self.initial_count),
        )
        self.centroid_sum = self.add_state(
            "centroid_sum",
            (self.embedding_size, self.num_classes),
            initializer=keras.initializers.RandomNormal(
                stddev=self.centroid_stddev * self.initial_count
            ),
        )
        self.built = True

    # ------------------------------------------------------------------
    # The RBF head
    # ------------------------------------------------------------------
    @property
    def centroids(self):
        """The class centroids `e = m / N`, shape `(embedding, classes)`."""
        return self.centroid_sum / self.centroid_count

    def embeddings(self, inputs, training=False):
        """`W_c f(x)` for every class, shape `(batch, embedding, classes)`."""
        features = self.encoder(inputs, training=training)
        return ops.einsum("bd,ncd->bnc", features, self.class_kernel)

    def log_kernels(self, inputs, training=False):
        """`log K_c(x) = -mean_j (W_c f(x) - e_c)_j^2 / (2 sigma^2)`."""
        if not self.built:
            # Build through `__call__`, which records the input shape for
            # `.keras` saving (`fit` defers building to the first trace).
            self(inputs)
        difference = self.embeddings(inputs, training) - self.centroids
        distance = ops.mean(ops.square(difference), axis=1)
        return -distance / (2.0 * self.length_scale**2)

    def call(self, inputs, training=False):
        return ops.exp(self.log_kernels(inputs, training=training))

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def compute_losses(self, data, training=False):
        x, y = _unpack(data)
        y = self._checked_labels(y)
        if self.gradient_penalty > 0:
            with tf.GradientTape() as tape:
                tape.watch(x)
                log_k = self.log_kernels(x, training=training)
                kernel_sum = ops.sum(ops.exp(log_k))
            gradients = tape.gradient(kernel_sum, x)
            gradients = ops.reshape(gradients, (ops.shape(gradients)[0], -1))
            norm = ops.sqrt(
                ops.sum(ops.square(gradients), axis=1) + NORM_EPSILON
            )
            penalty = ops.square(norm - 1.0)
        else:
            log_k = self.log_kernels(x, training=training)
            penalty = ops.zeros_like(log_k[:, 0])
        one_hot = ops.one_hot(y, self.num_classes, dtype=log_k.dtype)
        bce = ops.mean(self.kernel_cross_entropy(log_k, one_hot), axis=-1)
        losses = {
            "bce": replica_mean(bce),
            "gradient_penalty": replica_mean(penalty),
            "l2": self.coupled_l2(),
        }
        losses["loss"] = (
            losses["bce"]
            + self.gradient_penalty * losses["gradient_penalty"]
            + losses["l2"]
        )
        correct = ops.equal(ops.cast(ops.argmax(log_k, axis=-1), "int64"), y)
        return losses, {
            "accuracy": ops.mean(ops.cast(correct, "float32")),
            "certainty": ops.mean(ops.exp(ops.max(log_k, axis=-1))),
        }

    def kernel_cross_entropy(self, log_k, one_hot):
        """Per-class binary cross-entropy of `K = exp(log_k)`, in log space
        (see "Numerical details" in the class docstring)."""
        log_k_clamped = ops.maximum(log_k, LOG_CLAMP)
        log_one_minus_k = ops.log(ops.maximum(-ops.expm1(log_k), TINY))
        return -(one_hot * log_k_clamped + (1.0 - one_hot) * log_one_minus_k)

    def coupled_l2(self):
        """`weight_decay / 2 * sum ||theta||^2` over trainable variables,
        divided by the replica count (PyTorch-SGD-style weight decay)."""
        return coupled_weight_decay(self.trainable_weights, self.weight_decay)

    def check_fit_data(self, x, y):
        if y is not None and not isinstance(x, tf.data.Dataset):
            check_class_ids(y, self.num_classes)

    def check_initial_state(self, inputs):
        """Stops a run whose kernels start at the -100 log clamp.

        Below the clamp the loss of the true class is constant, so no
        gradient reaches the network and training "succeeds" without
        learning (`length_scale=0.01` on digits: an initial log-kernel
        near -4,800). Measured on the first batch: the median over its
        samples of the largest log-kernel.
        """
        if inputs is None:
            return
        log_k = ops.convert_to_numpy(self.log_kernels(inputs, training=False))
        start = float(np.median(log_k.max(axis=-1)))
        if not start > LOG_CLAMP:
            raise ValueError(
                f"length_scale={self.length_scale} is too small for these "
                f"inputs: the initial log-kernel of the first batch is "
                f"{start:.4g} (median over samples of the largest class "
                f"kernel), at or below the clamp {LOG_CLAMP:g}, where no "
                "gradient flows. Try a larger length_scale (0.1 or 0.3 on "
                "digits; log K scales as 1 / length_scale**2)."
            )

    def method_callbacks(self):
        return [CertaintyFloorCallback()]

    def after_step(self, data):
        self.update_centroids(*_unpack(data))

    def update_centroids(self, x, y):
        """Moves `N` and `m` towards the batch `(x, y)` (inference mode).

        Called after the optimizer step (`after_step`), so the embeddings
        use the updated weights; batch counts and sums are summed over
        replicas before the moving average.
        """
        embeddings = self.embeddings(x, training=False)
        one_hot = ops.one_hot(
            ops.cast(y, "int32"), self.num_classes, dtype=embeddings.dtype
        )
        counts = replica_sum(ops.sum(one_hot, axis=0))
        sums = replica_sum(ops.einsum("bnc,bc->nc", embeddings, one_hot))
        gamma = self.gamma
        self.centroid_count.assign(
            gamma * self.centroid_count + (1.0 - gamma) * counts
        )
        self.centroid_sum.assign(
            gamma * self.centroid_sum + (1.0 - gamma) * sums
        )

    def _checked_labels(self, y):
        y = ops.cast(ops.reshape(y, (-1,)), "int64")
        checks = [
            tf.debugging.assert_non_negative(
                y, message="labels must be class ids >= 0"
            ),
            tf.debugging.assert_less(
                y,
                ops.cast(self.num_classes, "int64"),
                message=(
                    f"labels must be class ids < num_classes "
                    f"({self.num_classes})"
                ),
            ),
        ]
        with tf.control_dependencies([c for c in checks if c is not None]):
            return tf.identity(y)

    # ------------------------------------------------------------------
    # Inference and export
    # ------------------------------------------------------------------
    def classify(self, inputs):
        """Kernels, normalised kernels, prediction, certainty, OOD score.

        `probs` are `K / sum_c K_c` (a softmax of `log K`, so they stay
        defined where every kernel underflows); they are not calibrated
        posteriors (see the class docstring).
        """
        log_k = self.log_kernels(inputs, training=False)
        kernels = ops.exp(log_k)
        certainty = ops.max(kernels, axis=-1)
        return {
            "kernels": kernels,
            "probs": ops.softmax(log_k, axis=-1),
            "prediction": ops.argmax(log_k, axis=-1),
            "certainty": certainty,
            "ood_score": -certainty,
        }

    def serving_endpoints(self):
        return {"classify": self.classify, "embed": self.embed}


def _unpack(data):
    """`(x, y)` from a batch; sample weights are not supported."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if y is None or sample_weight is not None:
        raise ValueError(
            "DUQ trains on (inputs, integer labels) batches without "
            "sample weights"
        )
    x = ops.convert_to_tensor(x)
    if not x.dtype.is_floating:  # the penalty differentiates w.r.t. x
        x = ops.cast(x, "float32")
    return x, y
