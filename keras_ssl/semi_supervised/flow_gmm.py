import math
import random

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.method import Method
from keras_ssl.evaluation.predict_in_batches import predict_in_batches
from keras_ssl.semi_supervised.semi_supervised_classifier import (
    SemiSupervisedClassifier,
)
from keras_ssl.semi_supervised.semi_supervised_classifier import _views

# The official tabular means (`RealNVPTabularWPrior`): two classes sit at
# +-m with |mu_0 - mu_1| = 7.5; more classes are 0.8 * 0.7 * N(0, I).
TWO_CLASS_DISTANCE = 7.5
MEANS_SCALE = 0.56


@keras.saving.register_keras_serializable(package="keras_ssl")
class FlowGMM(Method):
    """FlowGMM: a normalizing flow with a Gaussian-mixture latent.

    An invertible flow `f` (a `keras_ssl.layers.RealNVPFlow` of
    `tfp.bijectors`) maps an input `x` to a latent `z = f(x)` of the same
    size, whose density is a mixture with one Gaussian per class,
    `p(z) = sum_k pi_k N(z; mu_k, Sigma_k)`, with a uniform, fixed class
    prior `pi_k = 1 / K`, fixed means `mu_k` and `Sigma_k = cov_std^2 I`
    (the official defaults: means, covariances and weights not trained).
    Every input then has an exact likelihood, labeled or not:

    - **labeled** (`labeled`): the class-conditional negative
      log-likelihood `-log N(f(x); mu_y, Sigma_y) - log|det df/dx|`, the
      official `SSLGaussMixture.log_prob(z, y)` (no `log pi_y`: a
      constant);
    - **unlabeled** (`unlabeled`): the mixture's negative log-likelihood
      `-logsumexp_k [log pi_k + log N(f(x); mu_k, Sigma_k)] -
      log|det df/dx|` (`tfp.distributions.MixtureSameFamily`);
    - **consistency** (`consistency`, FlowGMM-cons, off by default): with
      two views `x'`, `x''` of each unlabeled input, the pseudo-label
      `y^ = argmax_k p(k | x'')` (no gradient) and the labeled NLL of `x'`
      under `y^`, weighted by `consistency_weight` times the official
      linear ramp-up `min((epoch + 1) / consistency_ramp_up, 1)`.

    The loss is `labeled + unlabeled_weight * unlabeled + consistency_weight
    * ramp_up * consistency` (the official tabular trainer `SemiFlow`:
    `nll(x_l, y_l).mean() + unlab_weight * nll(x_u).mean()`), each term
    averaged over the global batch of its stream, plus the flow's coupled
    L2 weight decay. Logged: `loss`, the three terms (unweighted),
    `consistency_ramp_up` and the labeled-batch `accuracy`.

    Classification is Bayes' rule in the latent space: `p(y=k | x) =
    softmax_k(log pi_k + log N(f(x); mu_k, Sigma_k))`. `classify(x)`
    returns `probs`, `prediction` and `log_prob` (`log p(x)`); the
    `log_prob` endpoint returns `log_prob`, `class_log_prob` (`log p(x |
    y=k)` for every class) and `latent` (`z`); both are exported.
    `sample(class_id, n)` draws `z ~ N(mu_c, Sigma_c)` and returns
    `f^-1(z)`.

    With `unlabeled_weight=0` (and no consistency) it is FlowGMM-Sup, the
    same flow trained on the labeled inputs only: the recipes' control.

    `fit` takes `{"labeled": (x, y), "unlabeled": x_u}` batches
    (`keras_ssl.data.semi_supervised_dataset`): one view of each labeled
    input and one (two with consistency) of each unlabeled input, as
    flat vectors of the flow's size. Validation data may be plain
    `(x, y)`: the logs then hold `labeled` = `-log p(x | y)` and
    `unlabeled` = `-log p(x)` of the validation inputs.
    `set_monitor_data(x, y)` adds the mean log-likelihood (and accuracy)
    of a held-out set to the logs of every epoch
    (`test_log_likelihood`, `test_accuracy`).

    Deviations: the consistency term is applied to the unlabeled stream
    (the official image script adds it on every sample of its mixed batch,
    whose labeled ones have their label anyway). The image objective of
    the official `train_semisup_cons.py` (cross-entropy of the class
    logits for the labeled inputs, the mixture NLL on all inputs) and its
    multi-scale image RealNVP with dequantization are not implemented;
    images are flattened and go through the tabular flow. Means are not
    trainable (official default; `--means_trainable` is not offered).

    Reference:
        Izmailov, Kirichenko, Finzi and Wilson, "Semi-Supervised Learning
        with Normalizing Flows", ICML 2020 (arXiv:1912.13025); official
        code `izmailovpavel/flowgmm` (commit 071285b):
        `flow_ssl/distributions.py`, `flow_ssl/flow_loss.py`,
        `experiments/train_flows/train_semisup_flowgmm_tabular.py`,
        `experiments/train_flows/train_semisup_cons.py`,
        `experiments/synthetic_data/synthetic.ipynb`.

    Args:
        flow: a `keras_ssl.layers.RealNVPFlow` (or a layer with its `dim`,
            `forward_and_log_det` and `inverse`).
        num_classes: int >= 2, the mixture components.
        means: the class means, `num_classes` rows of `flow.dim` numbers,
            fixed. Default `None`: the official tabular rule
            (`RealNVPTabularWPrior`), drawn with `seed`: for 2 classes a
            random direction, `mu_1 = -mu_0`, `|mu_0 - mu_1| = 7.5`; for
            more, `0.56 N(0, I)` (`means_r = 0.8` times 0.7). The official
            two-moons toy uses `[[-3.5, -3.5], [3.5, 3.5]]` (the recipe's
            `two_moons` setting).
        cov_std: float > 0, the standard deviation of every component,
            `Sigma_k = cov_std^2 I`. Default 1.0, `SSLGaussMixture`'s
            default (`softplus(softplus^-1(1)) = 1`). The official tabular
            models pass their `1 / cov_std` where the pre-softplus value
            goes, so their standard deviation is `softplus(1) = 1.3133`
            (the method note's "tabular prior quirk"; the tabular recipes
            set it).
        unlabeled_weight: float >= 0, the weight of the unlabeled term.
            Default 1.0, the official `SemiFlow(unlab_weight=1.)`; the
            official runs use 3 (MiniBooNE) and 10 (HEPMASS). 0 trains on
            the labels only.
        consistency_weight: float >= 0, the weight of the consistency
            term. Default 0.0 (plain FlowGMM, as the official toy and
            tabular scripts); the official image script uses 1.0.
        consistency_ramp_up: int >= 1, epochs of the linear ramp-up of the
            consistency weight. Default 1 (full weight from the first
            epoch), the official `--consistency_rampup` default.
        seed: int >= 0, the draw of the default means. Default `None`:
            drawn from Python's global RNG (seeded by
            `keras.utils.set_random_seed`) and stored.
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    import keras
    import keras_ssl

    (x, y), (x_test, y_test) = keras_ssl.data.two_moons(300, noise=0.05)
    split = keras_ssl.data.semi_supervised_split(x, y, labels_per_class=5)
    dataset, steps = keras_ssl.data.semi_supervised_dataset(
        split, labeled_batch=10, unlabeled_batch=64
    )
    flow = keras_ssl.layers.RealNVPFlow(2, num_couplings=2, hidden_units=(16,))
    model = keras_ssl.semi_supervised.FlowGMM(
        flow, num_classes=2, means=[[-3.5, -3.5], [3.5, 3.5]]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(dataset, steps_per_epoch=steps, verbose=0)
    out = model.classify(x_test[:4])  # probs, prediction, log_prob
    samples = model.sample(class_id=1, n=8, seed=0)  # (8, 2), class 1
    ```
    """

    family = "semi_supervised"
    paper = "Izmailov et al., ICML 2020 (FlowGMM)"
    semi_supervised = True
    tracked_names = (
        "loss",
        "labeled",
        "unlabeled",
        "consistency",
        "consistency_ramp_up",
        "accuracy",
    )

    def __init__(
        self,
        flow,
        num_classes,
        means=None,
        cov_std=1.0,
        unlabeled_weight=1.0,
        consistency_weight=0.0,
        consistency_ramp_up=1,
        seed=None,
        **kwargs,
    ):
        super().__init__(None, **kwargs)
        for attribute in ("dim", "forward_and_log_det", "inverse"):
            if not isinstance(flow, keras.layers.Layer) or not hasattr(
                flow, attribute
            ):
                raise ValueError(
                    "flow must be a keras_ssl.layers.RealNVPFlow (a Keras "
                    "layer with dim, forward_and_log_det and inverse); got "
                    f"{type(flow).__name__}"
                )
        self.flow = flow
        self.num_classes = check_integer(num_classes, 2, "num_classes")
        self.cov_std = check_number(cov_std, "cov_std", "> 0")
        self.unlabeled_weight = check_number(
            unlabeled_weight, "unlabeled_weight", ">= 0"
        )
        self.consistency_weight = check_number(
            consistency_weight, "consistency_weight", ">= 0"
        )
        self.consistency_ramp_up = check_integer(
            consistency_ramp_up, 1, "consistency_ramp_up"
        )
        if seed is None:
            seed = random.randint(0, 2**31 - 1)
        self.seed = check_integer(seed, 0, "seed")
        if means is None:
            values = default_means(self.num_classes, flow.dim, self.seed)
        else:
            values = _check_means(means, self.num_classes, flow.dim)
            means = values.tolist()
        self.means = means
        self.class_means = self.add_state(
            "class_means",
            values.shape,
            initializer=keras.initializers.Constant(values),
        )
        self._monitor = None

    def build(self, input_shape):
        if not self.flow.built:  # a given flow may be built (or trained)
            self.flow.build(input_shape)
        self.built = True

    # ------------------------------------------------------------------
    # The latent mixture
    # ------------------------------------------------------------------
    def prior(self):
        """The latent mixture, a `tfp.distributions.MixtureSameFamily`."""
        from tensorflow_probability import distributions as tfd

        dim = self.flow.dim
        scale = tf.fill((self.num_classes, dim), self.cov_std)
        return tfd.MixtureSameFamily(
            tfd.Categorical(logits=tf.zeros((self.num_classes,))),
            tfd.MultivariateNormalDiag(
                loc=ops.convert_to_tensor(self.class_means), scale_diag=scale
            ),
        )

    def class_log_probs(self, z, prior=None):
        """`log N(z; mu_k, Sigma_k)` for every class, shape `(n, K)`."""
        prior = self.prior() if prior is None else prior
        return prior.components_distribution.log_prob(z[:, None, :])

    def class_logits(self, z):
        """`log pi_k + log N(z; mu_k, Sigma_k)`: Bayes' rule's logits."""
        return self.class_log_probs(z) - math.log(self.num_classes)

    def call(self, inputs, training=False):
        """Class logits of `p(y | x)` (Bayes' rule in the latent space)."""
        return self.class_logits(self.flow(inputs))

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------
    @property
    def expected_views(self):
        """Views per step that `fit` data must carry, by stream."""
        views = 2 if self.consistency_weight > 0 else 1
        return {"labeled": 1, "unlabeled": views}

    def check_fit_data(self, x, y):
        # The family's check of the {"labeled": (x, y), "unlabeled": x_u}
        # structure, the view counts and the shapes (FlowGMM has no
        # encoder, so it checks the flow's size below).
        SemiSupervisedClassifier.check_fit_data(self, x, y)
        spec = x.element_spec
        unlabeled = spec["unlabeled"]
        for view in [spec["labeled"][0], *_views(unlabeled)]:
            if view.shape.rank != 2 or view.shape[-1] not in (
                None,
                self.flow.dim,
            ):
                raise ValueError(
                    "FlowGMM inputs must be flat vectors of the flow's "
                    f"dim {self.flow.dim}, shape (batch, {self.flow.dim}); "
                    f"got {tuple(view.shape)}"
                )

    # ------------------------------------------------------------------
    # Losses
    # ------------------------------------------------------------------
    def compute_losses(self, data, training=False):
        if isinstance(data, dict):
            x, y = data["labeled"]
            unlabeled = _views(data["unlabeled"])
        else:
            x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
            unlabeled = [x]
        y = ops.cast(ops.reshape(y, (-1,)), "int32")
        use_consistency = self.consistency_weight > 0 and len(unlabeled) > 1
        parts = [x, unlabeled[0], *(unlabeled[1:2] if use_consistency else [])]
        sizes = [ops.shape(p)[0] for p in parts]
        # One pass of the flow over every input of the step.
        z, log_det = self.flow.forward_and_log_det(
            ops.concatenate([ops.cast(p, "float32") for p in parts], axis=0)
        )
        prior = self.prior()
        log_probs = self.class_log_probs(z, prior)
        n_l, n_u = sizes[0], sizes[1]
        labeled_nll = -(
            _take(log_probs[:n_l], y) + log_det[:n_l]
        )  # -log p(x | y)
        z_u, log_det_u = z[n_l : n_l + n_u], log_det[n_l : n_l + n_u]
        unlabeled_nll = -(prior.log_prob(z_u) + log_det_u)  # -log p(x)
        losses = {
            "labeled": replica_mean(labeled_nll),
            "unlabeled": replica_mean(unlabeled_nll),
        }
        ramp_up = ops.minimum(
            ops.cast(self.epoch + 1, "float32") / self.consistency_ramp_up,
            1.0,
        )
        if use_consistency:
            pseudo = ops.stop_gradient(
                ops.cast(ops.argmax(log_probs[n_l + n_u :], axis=-1), "int32")
            )
            consistency_nll = -(
                _take(log_probs[n_l : n_l + n_u], pseudo) + log_det_u
            )
            losses["consistency"] = replica_mean(consistency_nll)
        else:
            losses["consistency"] = ops.convert_to_tensor(0.0)
        losses["loss"] = (
            losses["labeled"]
            + self.unlabeled_weight * losses["unlabeled"]
            + self.consistency_weight * ramp_up * losses["consistency"]
        )
        prediction = ops.cast(ops.argmax(log_probs[:n_l], axis=-1), "int32")
        accuracy = ops.mean(ops.cast(ops.equal(prediction, y), "float32"))
        return losses, {"consistency_ramp_up": ramp_up, "accuracy": accuracy}

    # ------------------------------------------------------------------
    # Inference, sampling and export
    # ------------------------------------------------------------------
    def _latent(self, inputs):
        z, log_det = self.flow.forward_and_log_det(
            ops.cast(ops.convert_to_tensor(inputs), "float32")
        )
        return z, log_det, self.class_log_probs(z)

    def classify(self, inputs):
        """`probs` = p(y | x), `prediction`, and `log_prob` = log p(x)."""
        _, log_det, log_probs = self._latent(inputs)
        logits = log_probs - math.log(self.num_classes)
        return {
            "probs": ops.softmax(logits, axis=-1),
            "prediction": ops.argmax(logits, axis=-1),
            "log_prob": ops.logsumexp(logits, axis=-1) + log_det,
        }

    def log_prob(self, inputs):
        """`log_prob` = log p(x), `class_log_prob` = log p(x | y=k) for
        every class `(n, K)`, and the `latent` z = f(x)."""
        z, log_det, log_probs = self._latent(inputs)
        class_log_prob = log_probs + log_det[:, None]
        return {
            "log_prob": ops.logsumexp(class_log_prob, axis=-1)
            - math.log(self.num_classes),
            "class_log_prob": class_log_prob,
            "latent": z,
        }

    def sample(self, class_id, n, seed=None):
        """`n` inputs of class `class_id`: `f^-1(z)`, `z ~ N(mu_c, Sigma_c)`.

        Args:
            class_id: int in `[0, num_classes)`.
            n: int >= 1, the number of samples.
            seed: int >= 0 for a reproducible draw (stateless), or `None`.

        Returns:
            A `(n, dim)` float32 tensor.
        """
        class_id = check_integer(class_id, 0, "class_id")
        if class_id >= self.num_classes:
            raise ValueError(
                f"class_id must be in [0, {self.num_classes}); got {class_id}"
            )
        n = check_integer(n, 1, "n")
        if seed is None:
            seed = random.randint(0, 2**31 - 1)
        seed = check_integer(seed, 0, "seed")
        noise = tf.random.stateless_normal(
            (n, self.flow.dim), seed=[seed, class_id]
        )
        latent = self.class_means[class_id][None, :] + self.cov_std * noise
        return self.flow.inverse(latent)

    def serving_endpoints(self):
        return {"classify": self.classify, "log_prob": self.log_prob}

    @property
    def serving_input_shape(self):
        return (self.flow.dim,)

    # ------------------------------------------------------------------
    # A held-out log-likelihood curve
    # ------------------------------------------------------------------
    def set_monitor_data(self, x, y=None, prefix="test"):
        """Logs the mean `log p(x)` of `x` at the end of every epoch.

        As `{prefix}_log_likelihood` (and `{prefix}_accuracy` with labels
        `y`), into the logs `fit` returns (the recipes draw the test
        log-likelihood curve from them). Not saved with the model.
        """
        x = np.asarray(x, dtype="float32")
        if x.ndim != 2 or x.shape[1] != self.flow.dim:
            raise ValueError(
                f"set_monitor_data needs x of shape (n, {self.flow.dim}); "
                f"got {x.shape}"
            )
        if y is not None:
            y = np.asarray(y)
            if y.shape != (len(x),):
                raise ValueError(
                    f"y must be {len(x)} labels, one per row of x; got "
                    f"shape {y.shape}"
                )
        self._monitor = (x, y, prefix)

    def method_callbacks(self):
        return [] if self._monitor is None else [_Monitor()]

    def monitor_logs(self):
        """`{prefix}_log_likelihood` (and `_accuracy`) of the monitor set."""
        x, y, prefix = self._monitor
        if getattr(self, "_classify_function", None) is None:
            self._classify_function = tf.function(self.classify)
        out = predict_in_batches(self._classify_function, x)
        logs = {f"{prefix}_log_likelihood": float(np.mean(out["log_prob"]))}
        if y is not None:
            logs[f"{prefix}_accuracy"] = float(np.mean(out["prediction"] == y))
        return logs


def default_means(num_classes, dim, seed):
    """The official tabular means (`RealNVPTabularWPrior`), as float32.

    Two classes: `mu_0` along a random direction, `mu_1 = -mu_0`,
    `|mu_0 - mu_1| = 7.5`; more classes: `0.56 N(0, I)` per class.
    """
    rng = np.random.default_rng(seed)
    draws = rng.normal(size=(num_classes, dim))
    if num_classes == 2:
        first = draws[0] * (TWO_CLASS_DISTANCE / 2) / np.linalg.norm(draws[0])
        return np.stack([first, -first]).astype("float32")
    return (MEANS_SCALE * draws).astype("float32")


def _check_means(means, num_classes, dim):
    values = np.asarray(means, dtype="float64")
    if values.shape != (num_classes, dim) or not np.all(np.isfinite(values)):
        raise ValueError(
            f"means must be num_classes={num_classes} rows of dim={dim} "
            f"finite numbers; got an array of shape {values.shape}"
        )
    return values.astype("float32")


def _take(log_probs, y):
    """`log_probs[i, y_i]`."""
    return ops.take_along_axis(log_probs, y[:, None], axis=-1)[:, 0]


class _Monitor(keras.callbacks.Callback):
    """Adds the monitor set's log-likelihood to every epoch's logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.model.monitor_logs())
