import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.core._checks import check_class_ids
from keras_ssl.core._checks import check_number
from keras_ssl.core.distribution import replica_mean
from keras_ssl.uncertainty.softmax_classifier import SoftmaxClassifier

# The OOD scores `classify` offers (`ood_score=`), each larger = more OOD.
SCORES = ("msp", "entropy", "energy", "dempster_shafer", "mutual_information")
# Logits are clipped to [-30, 30] before `exp` in the Dirichlet terms:
# float32 `exp` overflows above about 88 (method note, "Pitfalls"). The
# official code does not clip.
LOGIT_CLIP = 30.0
# Rows of soft targets must sum to 1 within this tolerance.
TARGET_SUM_TOLERANCE = 1e-3


@keras.saving.register_keras_serializable(package="keras_ssl")
class BeliefMatching(SoftmaxClassifier):
    """Belief Matching: a Dirichlet over the class probabilities.

    The network's logits define an approximate posterior `q(z | x) =
    Dir(z | alpha)` over the categorical probability vector `z`, with
    `alpha = exp(logits)` (exponential, not softplus). Training maximises
    the evidence lower bound of the Dirichlet posterior `Dir(beta * 1 +
    e_y)` that one observed label `y` makes of the prior `Dir(beta * 1)`;
    per example the loss is

        kl_weight * KL(Dir(alpha) || Dir(beta * 1))
            - (digamma(alpha_y) - digamma(alpha_0)),

    averaged over the batch, with `alpha_0 = sum_k alpha_k`. As in the
    official code (`loss.py`, reference commit `de18ad1`):

    - The KL is the official form: `tfp.distributions.kl_divergence`
      between two `tfp.distributions.Dirichlet`s, **without** the two
      prior-only terms `-lnGamma(K beta) + K lnGamma(beta)`, which the
      official loss leaves out. They are constant in `alpha`, so the
      gradients are the same; the logged `kl` is `lnGamma(K)` (for
      `beta = 1`) above the full KL, e.g. by 3.178 for `K = 5`.
    - Soft targets `t` (rows of `(batch, num_classes)` probabilities,
      e.g. label smoothing or a teacher's output) replace
      `digamma(alpha_y)` by `sum_k t_k digamma(alpha_k)`, as the official
      semi-supervised code does (`ssl_framework.belief_matching_loss`).
    - The prediction is the Dirichlet mean `alpha / alpha_0`, which is
      exactly `softmax(logits)`: Belief Matching changes training only, so
      the network is a plain softmax classifier (`SoftmaxClassifier`'s
      encoder and dense head) at inference.

    Numerical details: the loss is computed in float32 (also under a
    mixed-precision policy), and the logits are clipped to `[-30, 30]`
    before `exp` in every Dirichlet term (the loss and the
    `alpha`-based outputs of `classify`), because float32 `exp` overflows
    above 88; the method note recommends the clip, the official code has
    none. Inside the clip the values are the official ones; a logit
    beyond it gets no gradient from the loss. The KL to a `beta = 1`
    prior grows as `1 / alpha_k` for small `alpha_k`, which keeps trained
    logits far from `-30`.

    `classify(inputs)` returns, from the same logits (closed forms of
    the method note):

    - `probs` (`softmax(logits)`), `prediction`, `certainty` (the largest
      probability, MSP);
    - `entropy` of `probs`;
    - `precision`, `alpha_0 = sum_k exp(logits_k)`;
    - `energy`, `-log alpha_0 = -logsumexp(logits)`: the energy score of
      Liu et al. (2020), so ranking by precision is ranking by energy;
    - `dempster_shafer`, `K / (K + alpha_0)` (as uncertainty-baselines'
      `DempsterShaferUncertainty`);
    - `mutual_information` between the label and `z`, `H[probs] -
      sum_k probs_k (digamma(alpha_0 + 1) - digamma(alpha_k + 1))`;
    - `ood_score`: the score named by `ood_score`.

    Every score (`ood_score` and the outputs named in `SCORES`) is larger
    for inputs that look more out-of-distribution: `"msp"` is the negated
    certainty, the others are uncertainties as they stand. `precision`
    is a concentration, larger = more in-distribution, and is not a score.

    On near-separable data Belief Matching is *under*-confident: the KL
    to the uniform prior caps `alpha_0`, so its expected calibration
    error can be worse than a softmax classifier's where accuracy is
    near 100% (method note, "Pitfalls"; measured on digits, see the
    README). The paper's calibration gains concern overconfident
    CIFAR-scale networks.

    Reference:
        Joo, Chung and Seo, "Being Bayesian about Categorical
        Probability", ICML 2020 (arXiv:2002.07965); official code
        `tjoo512/belief-matching-framework`.

    Args:
        encoder: a `keras.Model` mapping inputs to a feature vector; a
            dense layer maps the features to `num_classes` logits.
        num_classes: int >= 2.
        prior: float > 0, the concentration `beta` of the symmetric
            Dirichlet prior `Dir(beta * 1)`. Default 1.0 (uniform), the
            official code's `--prior` default and the `beta_coeff = 1` of
            the semi-supervised code; no official run changes it (whether
            the paper studies other values is unverified).
        kl_weight: float >= 0, the KL coefficient `lambda` (the official
            `--coeff`). Default 0.01, the official ResNet-18 / CIFAR-10
            setting (also the semi-supervised code's); the official runs
            use 0.003 (ResNet-18 / CIFAR-100, ResNet-50 / CIFAR-10), 0.001
            (ResNet-50 / CIFAR-100, ResNeXt-50 / ImageNet) and 1e-4
            (ResNeXt-101 / ImageNet). The official `--coeff -1` switch to
            cross-entropy is `keras_ssl.uncertainty.SoftmaxClassifier`.
        ood_score: which score `classify` returns as `ood_score`, one of
            `SCORES`: `"msp"` (default: the maximum-probability baseline,
            negated), `"entropy"`, `"energy"`, `"dempster_shafer"` or
            `"mutual_information"`.
        **kwargs: passed to `keras.Model` (`name`, ...).

    Labels for `fit` are integer class ids in `[0, num_classes)`, or soft
    targets of shape `(batch, num_classes)` whose rows are probability
    vectors; sample weights are supported. Bad NumPy labels raise a
    `ValueError` before training; in a `tf.data` pipeline the step stops
    with an error naming the labels (a no-op under XLA). Logged: `loss`,
    `kl` (the unweighted official-form KL), `expected_nll` (`-(E_q[log
    z_y])`, so `loss = kl_weight * kl + expected_nll`) and `accuracy`.

    Example:

    ```python
    import keras
    import keras_ssl

    (x, y), (x_test, y_test) = keras_ssl.data.two_moons(n_samples=256)
    encoder = keras_ssl.backbones.mlp((2,), hidden=(20, 20))
    model = keras_ssl.uncertainty.BeliefMatching(encoder, num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    out = model.classify(x_test)  # probs, ..., mutual_information
    ```
    """

    family = "uncertainty"
    paper = "Joo et al., ICML 2020 (Belief Matching)"
    tracked_names = ("loss", "kl", "expected_nll", "accuracy")

    def __init__(
        self,
        encoder,
        num_classes,
        prior=1.0,
        kl_weight=0.01,
        ood_score="msp",
        **kwargs,
    ):
        super().__init__(encoder, num_classes, **kwargs)
        self.prior = check_number(prior, "prior", "> 0")
        self.kl_weight = check_number(kl_weight, "kl_weight", ">= 0")
        if ood_score not in SCORES:
            raise ValueError(
                f"ood_score must be one of {', '.join(SCORES)}; "
                f"got {ood_score!r}"
            )
        self.ood_score = ood_score

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def compute_losses(self, data, training=False):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        logits = self(x, training=training)
        targets = self.targets(y)
        kl, log_likelihood = belief_matching_terms(logits, targets, self.prior)
        if sample_weight is not None:
            weight = ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
            kl, log_likelihood = kl * weight, log_likelihood * weight
        losses = {
            "kl": replica_mean(kl),
            "expected_nll": replica_mean(-log_likelihood),
        }
        losses["loss"] = self.kl_weight * losses["kl"] + losses["expected_nll"]
        labels = ops.argmax(targets, axis=-1)
        correct = ops.equal(ops.argmax(logits, axis=-1), labels)
        return losses, {"accuracy": ops.mean(ops.cast(correct, "float32"))}

    def targets(self, y):
        """Float32 targets `(batch, num_classes)`: one-hot for class ids,
        soft targets as they are, checked in the graph."""
        y = ops.convert_to_tensor(y)
        if len(y.shape) == 2 and y.shape[-1] == self.num_classes:
            targets = ops.cast(y, "float32")
            checks = [
                tf.debugging.assert_non_negative(
                    targets, message="soft targets must be >= 0"
                ),
                tf.debugging.assert_less_equal(
                    ops.abs(ops.sum(targets, axis=-1) - 1.0),
                    TARGET_SUM_TOLERANCE,
                    message="soft target rows must sum to 1",
                ),
            ]
        else:
            labels = ops.cast(ops.reshape(y, (-1,)), "int32")
            checks = [
                tf.debugging.assert_non_negative(
                    labels, message="labels must be class ids >= 0"
                ),
                tf.debugging.assert_less(
                    labels,
                    self.num_classes,
                    message=(
                        "labels must be class ids < num_classes "
                        f"({self.num_classes})"
                    ),
                ),
            ]
            targets = ops.one_hot(labels, self.num_classes, dtype="float32")
        with tf.control_dependencies([c for c in checks if c is not None]):
            return tf.identity(targets)

    def check_fit_data(self, x, y):
        if y is None or isinstance(x, tf.data.Dataset):
            return
        y = np.asarray(y)
        soft = y.ndim == 2 and y.shape[1] == self.num_classes
        if soft:
            sums = y.sum(axis=1) if y.size else np.ones(1)
            if np.any(y < 0) or np.any(
                np.abs(sums - 1.0) > TARGET_SUM_TOLERANCE
            ):
                raise ValueError(
                    "y given as soft targets (shape (n, num_classes)) must "
                    "hold probability vectors: entries >= 0, rows summing "
                    "to 1"
                )
            return
        check_class_ids(y, self.num_classes)

    # ------------------------------------------------------------------
    # Inference and export
    # ------------------------------------------------------------------
    def classify(self, inputs):
        """Probabilities, prediction and every closed-form uncertainty.

        See the class docstring for each output; every score is larger
        for more out-of-distribution inputs.
        """
        logits = ops.cast(self(inputs, training=False), "float32")
        probs = ops.softmax(logits, axis=-1)
        certainty = ops.max(probs, axis=-1)
        entropy = -ops.sum(probs * ops.log_softmax(logits, axis=-1), axis=-1)
        log_alpha = ops.clip(logits, -LOGIT_CLIP, LOGIT_CLIP)
        log_precision = ops.logsumexp(log_alpha, axis=-1)
        scores = {
            "msp": -certainty,
            "entropy": entropy,
            "energy": -log_precision,
            # K / (K + alpha_0), without forming alpha_0 + K.
            "dempster_shafer": ops.sigmoid(
                math.log(self.num_classes) - log_precision
            ),
            "mutual_information": mutual_information(log_alpha),
        }
        return {
            "probs": probs,
            "prediction": ops.argmax(probs, axis=-1),
            "certainty": certainty,
            "entropy": entropy,
            "precision": ops.exp(log_precision),
            "energy": scores["energy"],
            "dempster_shafer": scores["dempster_shafer"],
            "mutual_information": scores["mutual_information"],
            "ood_score": scores[self.ood_score],
        }


def belief_matching_terms(logits, targets, prior):
    """Per-example `(kl, expected_log_likelihood)` of Belief Matching.

    Args:
        logits: `(batch, K)`; `alpha = exp(clip(logits, -30, 30))`.
        targets: `(batch, K)` one-hot or soft targets.
        prior: the prior concentration `beta`.

    Returns:
        `kl`: `KL(Dir(alpha) || Dir(beta * 1))` without its prior-only
        terms (the official form); `expected_log_likelihood`:
        `sum_k t_k digamma(alpha_k) - digamma(alpha_0)`. Both `(batch,)`,
        float32.
    """
    alpha = ops.exp(
        ops.clip(ops.cast(logits, "float32"), -LOGIT_CLIP, LOGIT_CLIP)
    )
    targets = ops.cast(targets, "float32")
    log_likelihood = ops.sum(
        targets * tf.math.digamma(alpha), axis=-1
    ) - tf.math.digamma(ops.sum(alpha, axis=-1))
    return official_dirichlet_kl(alpha, prior), log_likelihood


def official_dirichlet_kl(alpha, prior):
    """`KL(Dir(alpha) || Dir(prior * 1))` as the official loss has it.

    The full KL from `tfp.distributions` minus its two prior-only terms,
    `-lnGamma(K prior) + K lnGamma(prior)`: for `prior = 1` this is the
    full KL plus `lnGamma(K)`.
    """
    # Imported here so that `import keras_ssl.uncertainty` does not load
    # TFP and tf-keras (about 2 s) for the methods that do not need it.
    import tensorflow_probability as tfp

    distributions = tfp.distributions
    num_classes = alpha.shape[-1]
    full = distributions.kl_divergence(
        distributions.Dirichlet(alpha),
        distributions.Dirichlet(prior * ops.ones_like(alpha)),
    )
    prior_terms = num_classes * math.lgamma(prior) - math.lgamma(
        num_classes * prior
    )
    return full - prior_terms


def mutual_information(log_alpha):
    """`I(y; z)` for `Dir(exp(log_alpha))`, shape `(batch,)`, float32.

    `H[mean] - E[H[Cat(z)]]` with the Dirichlet mean `p = alpha / alpha_0`
    and `E[H] = sum_k p_k (digamma(alpha_0 + 1) - digamma(alpha_k + 1))`.
    Computed in float64: the two terms nearly cancel for a large
    `alpha_0`, where the information is about `(K - 1) / (2 alpha_0)`.
    """
    log_alpha = ops.cast(log_alpha, "float64")
    alpha = ops.exp(log_alpha)
    log_p = ops.log_softmax(log_alpha, axis=-1)
    p = ops.exp(log_p)
    alpha_0 = ops.sum(alpha, axis=-1, keepdims=True)
    expected_entropy = ops.sum(
        p * (tf.math.digamma(alpha_0 + 1.0) - tf.math.digamma(alpha + 1.0)),
        axis=-1,
    )
    information = -ops.sum(p * log_p, axis=-1) - expected_entropy
    return ops.cast(ops.maximum(information, 0.0), "float32")
