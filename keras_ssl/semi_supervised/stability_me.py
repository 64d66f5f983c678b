import keras
from keras import ops

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.ramp_up import gaussian_ramp_up
from keras_ssl.semi_supervised.negative_sampling import negative_sampling_loss
from keras_ssl.semi_supervised.semi_supervised_classifier import (
    SemiSupervisedClassifier,
)


@keras.saving.register_keras_serializable(package="keras_ssl")
class StabilityME(SemiSupervisedClassifier):
    """Stochastic transformations + mutual exclusivity (TS+ME).

    Every sample, labeled or not, goes through the network `num_passes`
    times, each pass with its own random input transformation (a view made
    in `tf.data`) and its own dropout mask. Two unsupervised terms, on all
    samples of the batch (and an optional third on the unlabeled ones),
    join the cross-entropy of the labeled ones:

    - **transformation/stability (TS)**: the sum over all unordered pairs
      of passes of the squared L2 distance between their softmax outputs,
      `l_TS(x) = sum_{j<k} ||f^j(T_j(x)) - f^k(T_k(x))||^2` (paper Eq. 1,
      pairwise form; see `stability_loss`);
    - **mutual exclusivity (ME)**, summed over the passes:
      `l_ME(x) = sum_j -sum_k f^j_k(x) prod_{l != k} (1 - f^j_l(x))`,
      minimal (-1 per pass) at a one-hot prediction (companion ICIP 2016
      paper; see `mutual_exclusivity_loss`), computed in log space from
      the logits, so the product never underflows for many classes;
    - **negative sampling (NS3L)**, off by default: on the unlabeled
      samples, the NS3L loss of Chen, Shah & Kyrillidis (ICML 2020)
      between every ordered pair of passes `(j, k)`, the classes pass `j`
      rates below `negative_sampling_threshold` (detached) being negative
      labels for pass `k`, averaged over the `n (n - 1)` pairs (see
      `negative_sampling.negative_sampling_loss`). With
      `negative_sampling_weight > 0` this is TS + NS3L; the note's
      experiment "applies NS3L between the two TS passes" and leaves the
      direction open, so both directions count (unverified).

    The loss is `supervised + r(t) * (stability_weight * l_TS +
    mutual_exclusivity_weight * l_ME + negative_sampling_weight *
    l_NS)`, each term averaged over the samples of the global batch (the
    paper sums them over the data set: the weights absorb the scale; l_NS
    over the unlabeled ones), `supervised` the cross-entropy
    averaged over the labeled passes, and `r(t)` the Gaussian ramp-up
    `exp(-5 (1 - t)^2)` of `keras_ssl.core.gaussian_ramp_up`, `t` the
    optimizer step over `ramp_up_steps` (restored on resume). Logged:
    `loss`, `supervised`, `stability`, `mutual_exclusivity` and
    `negative_sampling` (unweighted; the last also at weight 0, where it
    only measures), `ramp_up` and the labeled-batch `accuracy`.

    `num_passes=2` with `mutual_exclusivity_weight=0` is the Pi-model of
    Laine & Aila (2017), whose squared error is averaged over the classes
    (`l_TS / num_classes`); `stop_gradient_target=True` makes the first
    pass of each pair a fixed target, as USB's Pi-model does.

    How the passes run: the `num_passes` views of the labeled and the
    unlabeled batch are concatenated and go through the encoder in one
    call, so batch statistics are computed over the replicated batch, as
    the original implementation did by replicating each sample inside
    the mini-batch (unverified: no official code exists). Each view then
    gets its own dropout mask on the features before the classifier
    (drawn statelessly, so resumed and replicated runs draw the same
    masks; see `SemiSupervisedClassifier`). `fit` data must carry
    `num_passes` views of both streams: `semi_supervised_dataset(...,
    views=num_passes)`.

    Deviations: the paper's other perturbation, fractional max-pooling
    (random pooling regions per pass), has no Keras core layer and is not
    offered; the stochasticity comes from the views' augmentation and the
    dropout. The cross-entropy is applied to every labeled pass (the
    replicated-batch reading of the paper; unverified).

    Reference:
        Sajjadi, Javanmardi and Tasdizen, "Regularization With Stochastic
        Transformations and Perturbations for Deep Semi-Supervised
        Learning", NIPS 2016 (arXiv:1606.04586); "Mutual Exclusivity Loss
        for Semi-Supervised Deep Learning", ICIP 2016 (arXiv:1606.03141).
        No official code was found; the method note
        (`shared/methods/tsme.md`) marks which details are unverified.

    Args:
        encoder: a `keras.Model` mapping inputs to a feature vector.
        num_classes: int >= 2.
        num_passes: int >= 2, the passes `n` per sample. Default 2, the
            note's digits experiment and the Pi-model; the paper uses
            small `n`, e.g. 4-5 for some data sets (unverified).
        stability_weight: float >= 0, `lambda_2` of the TS loss. Default
            1.0 (method note; unverified against the paper).
        mutual_exclusivity_weight: float >= 0, `lambda_1` of the ME loss.
            Default 0.1 (method note; unverified against the paper).
        ramp_up_steps: int >= 0, steps of the Gaussian ramp-up of both
            unsupervised terms. Default 0 (no ramp-up): the paper does not
            emphasise one (unverified); Oliver et al. (2018) ramp over
            200,000 steps; the digits recipe uses the first 40% of its
            steps, as the note's experiment.
        stop_gradient_target: bool. Default False: symmetric, as in the
            paper; True detaches the first pass of every pair (USB).
        negative_sampling_weight: float >= 0, the weight of the NS3L
            term. Default 0.0 (off: TS+ME as the paper); 1.0 is the NS3L
            method note's starting point (its TS + NS3L run).
        negative_sampling_threshold: float in (0, 1), NS3L's `T`.
            Default 0.04, the official NS3L code.
        dropout: float in [0, 1), dropout on the features before the
            classifier, a fresh mask per pass. Default 0.3, the note's
            digits network (the paper's rates are not known).
        seed: int >= 0, the key of the dropout masks (default: drawn from
            Python's global RNG and stored).
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    import keras_ssl
    from keras_ssl import augment

    (x, y), (x_test, y_test) = keras_ssl.data.digits()
    split = keras_ssl.data.semi_supervised_split(x, y, labels_per_class=5)
    dataset, steps = keras_ssl.data.semi_supervised_dataset(
        split, labeled_batch=50, unlabeled_batch=128, views=2,
        augment=lambda x, seed: augment.random_shift(x, 1, seed),
    )
    encoder = keras_ssl.backbones.small_cnn((8, 8, 1), preset="narrow")
    model = keras_ssl.semi_supervised.StabilityME(encoder, num_classes=10)
    model.compile(optimizer="adam")
    model.fit(dataset, steps_per_epoch=steps, verbose=0)
    model.classify(x_test[:4])["prediction"]
    ```
    """

    paper = "Sajjadi et al., NIPS 2016 (TS+ME)"
    tracked_names = (
        "loss",
        "supervised",
        "stability",
        "mutual_exclusivity",
        "negative_sampling",
        "ramp_up",
        "accuracy",
    )

    def __init__(
        self,
        encoder,
        num_classes,
        num_passes=2,
        stability_weight=1.0,
        mutual_exclusivity_weight=0.1,
        ramp_up_steps=0,
        stop_gradient_target=False,
        negative_sampling_weight=0.0,
        negative_sampling_threshold=0.04,
        dropout=0.3,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            encoder, num_classes, dropout=dropout, seed=seed, **kwargs
        )
        self.num_passes = check_integer(num_passes, 2, "num_passes")
        self.stability_weight = check_number(
            stability_weight, "stability_weight", ">= 0"
        )
        self.mutual_exclusivity_weight = check_number(
            mutual_exclusivity_weight, "mutual_exclusivity_weight", ">= 0"
        )
        self.ramp_up_steps = check_integer(ramp_up_steps, 0, "ramp_up_steps")
        if not isinstance(stop_gradient_target, bool):
            raise ValueError(
                "stop_gradient_target must be True or False; got "
                f"{stop_gradient_target!r}"
            )
        self.stop_gradient_target = stop_gradient_target
        self.negative_sampling_weight = check_number(
            negative_sampling_weight, "negative_sampling_weight", ">= 0"
        )
        self.negative_sampling_threshold = check_number(
            negative_sampling_threshold,
            "negative_sampling_threshold",
            "in (0, 1)",
        )

    @property
    def expected_views(self):
        return {"labeled": self.num_passes, "unlabeled": self.num_passes}

    def compute_losses(self, data, training=False):
        x, y, x_u = self.unpack_batch(data)
        if len(x) != self.num_passes or len(x_u) != self.num_passes:
            raise ValueError(
                f"StabilityME(num_passes={self.num_passes}) needs that many "
                f"views of both streams; got {len(x)} labeled and "
                f"{len(x_u)} unlabeled"
            )
        logits = self.view_logits({"labeled": x, "unlabeled": x_u}, training)
        supervised, accuracy = self.supervised_loss(logits["labeled"], y)
        passes = [
            ops.concatenate([lab, unl], axis=0)
            for lab, unl in zip(
                logits["labeled"], logits["unlabeled"], strict=True
            )
        ]
        stability = stability_loss(
            [ops.softmax(p, axis=-1) for p in passes],
            self.stop_gradient_target,
        )
        exclusivity = ops.sum(
            ops.stack([mutual_exclusivity_loss(p) for p in passes]), axis=0
        )
        unlabeled = logits["unlabeled"]
        negative = ops.mean(
            ops.stack(
                [
                    negative_sampling_loss(
                        ops.softmax(unlabeled[j], axis=-1),
                        unlabeled[k],
                        self.negative_sampling_threshold,
                    )
                    for j in range(self.num_passes)
                    for k in range(self.num_passes)
                    if j != k
                ]
            ),
            axis=0,
        )
        losses = {
            "supervised": supervised,
            "stability": replica_mean(stability),
            "mutual_exclusivity": replica_mean(exclusivity),
            "negative_sampling": replica_mean(negative),
        }
        ramp_up = gaussian_ramp_up(self.step_count, self.ramp_up_steps)
        losses["loss"] = supervised + ramp_up * (
            self.stability_weight * losses["stability"]
            + self.mutual_exclusivity_weight * losses["mutual_exclusivity"]
            + self.negative_sampling_weight * losses["negative_sampling"]
        )
        return losses, {"ramp_up": ramp_up, "accuracy": accuracy}


def stability_loss(probs, stop_gradient_target=False):
    """The TS loss of each sample: `sum_{j<k} ||p_j - p_k||^2`.

    Args:
        probs: a list of `n >= 2` probability tensors `(batch, classes)`,
            one per pass.
        stop_gradient_target: detach `p_j`, the first pass of each pair.

    Returns:
        A `(batch,)` tensor (the paper's Eq. 1 before the sum over
        samples).
    """
    if len(probs) < 2:
        raise ValueError(f"stability_loss needs >= 2 passes; got {len(probs)}")
    total = 0.0
    for j in range(len(probs)):
        target = probs[j]
        if stop_gradient_target:
            target = ops.stop_gradient(target)
        for k in range(j + 1, len(probs)):
            total = total + ops.sum(ops.square(target - probs[k]), axis=-1)
    return total


def mutual_exclusivity_loss(logits):
    """The ME loss of each sample, `-sum_k p_k prod_{l != k} (1 - p_l)`.

    Computed in log space from the logits `z`: `log(1 - p_l)` is
    `logsumexp_{m != l} z_m - logsumexp_m z_m`, exact even where `p_l`
    rounds to 1, and the sum over `k` is a `logsumexp` of
    `log p_k + sum_{l != k} log(1 - p_l)`.

    Args:
        logits: `(batch, classes)` logits of one pass.

    Returns:
        A `(batch,)` tensor in `[-1, 0)`; -1 at a one-hot prediction.
    """
    logits = ops.cast(logits, "float32")
    classes = ops.shape(logits)[-1]
    eye = ops.eye(classes, dtype="bool")
    total = ops.logsumexp(logits, axis=-1, keepdims=True)
    others = ops.where(eye[None], -float("inf"), logits[:, None, :])
    log_not = ops.logsumexp(others, axis=-1) - total  # log(1 - p_l)
    log_not_others = ops.matmul(log_not, 1.0 - ops.cast(eye, "float32"))
    log_terms = logits - total + log_not_others
    return -ops.exp(ops.logsumexp(log_terms, axis=-1))
