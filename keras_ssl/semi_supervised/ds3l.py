import keras
import tensorflow as tf
from keras import ops

from keras_ssl.backbones._torch_dense import torch_dense
from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.distribution import replica_sum
from keras_ssl.core.ramp_up import gaussian_ramp_up
from keras_ssl.semi_supervised.semi_supervised_classifier import (
    SemiSupervisedClassifier,
)
from keras_ssl.semi_supervised.stability_me import stability_loss

# Keys of the dropout masks of one step (`view_logits(call=...)`): the
# virtual model's pass at theta, its pass at theta', the real pass.
_VIRTUAL, _META, _REAL = 0, 1, 2
# Hidden width of the default weight network (official `WNet(6, 100, 1)`).
WEIGHT_NET_HIDDEN = 100


@keras.saving.register_keras_serializable(package="keras_ssl")
class DS3L(SemiSupervisedClassifier):
    """Safe deep semi-supervised learning for unseen-class unlabeled data.

    When the unlabeled data hold classes the labels never show, a plain
    consistency regulariser can make a classifier worse than training on
    the labels alone. DS3L gives every unlabeled sample a weight
    `w(x) = weight_net(softmax(f(x)))` in `(0, 1)` on its Pi-model
    consistency loss, and meta-learns the weight network so that the
    unlabeled loss helps the *labeled* loss (a bilevel problem):

    - inner: `theta*(alpha) = argmin_theta CE_l(theta) + lambda *
      sum_j w(x_j; alpha) Omega(x_j; theta) / sum_j w(x_j; alpha)`;
    - outer: `alpha* = argmin_alpha CE_l(theta*(alpha))`.

    Each training step does what the official code does (`train.py`):

    1. **Virtual loss.** The batch goes through the network at its
       current weights `theta` twice: pass 1 (labeled view and unlabeled
       view 0) gives the cross-entropy of the labels, the detached target
       and the weight network's input `softmax(pass 1)` (not detached,
       as in the official code); pass 2 (unlabeled view 1, another
       dropout mask) is compared with the target. `Omega(x) =
       mean_c (softmax(pass 2)_c - stop_gradient(softmax(pass 1))_c)^2`,
       the Pi-model MSE of the official code (`stability_loss` of the
       two passes over the number of classes), on the unlabeled samples
       only. `loss_hat = n_l / (n_l + n_u) * CE + lambda(t) * sum_j w_j
       Omega_j / sum_j w_j`: the official code averages the cross-entropy
       over the concatenated labeled and unlabeled batch, unlabeled rows
       counting 0 (`labeled_fraction`; a half at its equal batch sizes).
       This scale matters: with the plain labeled mean the virtual step
       is another step, and on digits the weights separated far less
       (below).
    2. **Virtual step.** `theta' = theta - meta_lr * grad_theta loss_hat`,
       one plain SGD step whatever the real optimizer is, kept in the
       graph (second order). The virtual model is the same network
       evaluated functionally at `theta'` with Keras 3's stateless
       machinery: `keras.StatelessScope`, what `Layer.stateless_call`
       runs inside, here around the family's `view_logits`, so the
       virtual passes use the same replica-consistent dropout. The real
       weights are not touched, and BatchNorm statistics updated by the
       virtual passes are discarded, as the official code discards its
       meta copy.
    3. **Meta step.** The meta loss is the cross-entropy of the virtual
       model at `theta'` on the labeled batch (training mode, its own
       dropout mask); its gradient, through the virtual step and both
       nested `tf.GradientTape`s, updates the weight network with
       `weight_optimizer`.
    4. **Real step.** A fresh pass of the real network at `theta` (new
       dropout masks, the same views), weights from the *updated* weight
       network under `stop_gradient`, the same loss formula, and a step
       of `optimizer` on the encoder and the classifier.

    `lambda(t) = consistency_weight * exp(-5 (1 - t)^2)` with `t` the
    optimizer step over `ramp_up_steps` (`keras_ssl.core.gaussian_ramp_up`;
    official `coef = 10 exp(-5 (1 - min(t / 200000, 1))^2)`).
    `normalize_weights=False` replaces the batch-normalised sum by the
    plain mean of `w_j Omega_j` over the unlabeled batch, so that the
    weights are absolute and the meta-learner can switch the unlabeled
    loss off (the note's "safe fallback" variant).

    Logged: `loss` (real step), `supervised` (its cross-entropy, the
    mean over the labeled batch, before the `n_l / (n_l + n_u)` scale),
    `consistency` (the unweighted mean of `Omega` over the unlabeled
    batch), `weighted_consistency` (the weighted term `lambda(t)`
    multiplies), `meta` (the meta loss at `theta'`), `weight` (the mean
    weight of the unlabeled batch, from the updated weight network),
    `ramp_up` and the labeled-batch `accuracy`. `sample_weights(x)` gives
    the learned weights of any inputs (the recipe compares them on seen-
    and unseen-class unlabeled samples).

    Replicas: the inner gradient is summed over replicas (a
    differentiable all-reduce) before the virtual step and `sum_j w_j` is
    the global batch's, so a step on R replicas equals a step on one
    device, meta-gradient and both optimizers included.

    Deviations from the official code, on purpose:

    - The official loss also adds `mean(Omega)` of the labeled rows, which
      its mask makes identically zero; it is left out.
    - The perturbations are the views' augmentation (made in `tf.data`)
      and the head dropout; the official MNIST network has dropout only,
      its CIFAR network augments inside its forward pass. The labeled
      batch needs one view (pass 2 is the unlabeled view 1 only: the
      official pass 2 also runs the labeled rows, whose term is masked
      out), and one encoder call runs all views, so BatchNorm statistics
      are those of the whole step batch (the family's convention).
    - Mixed precision: the real and meta losses are loss-scaled (by
      `minimize`); the inner gradient of the virtual step is not.

    Measured on digits (class mismatch 0.5, the digits recipe: 2,100
    steps, the official MNIST network `backbones.ds3l_cnn` on centred
    inputs, dropout 0.5, full unlabeled batches): the unseen-class
    images get lower weights, unseen/seen mean-weight ratio 0.70 of the
    means over 10 seeds (0.58-0.79 per seed, weight AUROC 0.72), where
    the official PyTorch code on the same splits and fixed views gives
    0.65 (AUROC 0.71). Full batches mattered most (a last unlabeled
    batch of 16 kept DS3L's weights high: 0.81), then the network
    (`conv_dense`: 0.82); the centred inputs with dropout 0.5 kept every
    seed below 0.8 (on [0, 1] inputs with dropout 0.3, two of ten seeds
    were above 1). The weight network's input, the first pass's
    softmax, is near one-hot once the classifier fits its labels, so it
    learns about one weight per *predicted class*, and the margin varies
    over seeds. The cross-entropy scale of the official code (its mean
    over the concatenated labeled and unlabeled batch) also matters:
    in the official code on this protocol the plain labeled mean gave
    0.80 against 0.57 (5 seeds). Keras' Adam adds its epsilon before the
    bias correction, so it moves the tiny meta-gradients less than
    PyTorch's in the first steps (0.57 to 0.62 there); the digits recipe
    gives the weight optimizer PyTorch's 1e-8.

    Reference:
        Guo, Zhang, Jiang, Li and Zhou, "Safe Deep Semi-Supervised
        Learning for Unseen-Class Unlabeled Data", ICML 2020 (PMLR 119);
        official code `guolz-ml/DS3L` (PyTorch, reference commit
        `ede547c`). The paper's notation is reconstructed from the method
        note (unverified against the paper); the algorithm follows the
        official code.

    Args:
        encoder: a `keras.Model` mapping inputs to a feature vector.
        num_classes: int >= 2, the seen classes.
        weight_net: a `keras.Model` mapping `(batch, num_classes)`
            probabilities to `(batch, 1)` weights in `(0, 1)`. Default
            `None`: the official `WNet(K, 100, 1)`, Dense 100 + ReLU,
            Dense 1 + sigmoid, initialised as the official code's
            PyTorch layers (`default_weight_net`).
        consistency_weight: float >= 0, the maximum `lambda` of the
            weighted consistency loss. Default 10.0 (official `coef`).
        ramp_up_steps: int >= 0, steps of the Gaussian ramp-up of
            `lambda`. Default 200,000 (official `--warmup`); the digits
            recipe uses 40% of its steps, as the method note's experiment.
        meta_lr: float > 0, the learning rate of the virtual SGD step.
            Default 1e-3 (official `--meta_lr`, for 200,000 iterations);
            the note's 2,000-step digits experiment uses 0.1.
        normalize_weights: bool. Default True: weights divided by their
            batch sum, as the official code. False: the plain mean of
            `w * Omega` (method note's variant).
        dropout: float in [0, 1), dropout on the encoder features before
            the classifier, a fresh mask per pass. Default 0.5, the
            official MNIST network's dropout before its last layer, which
            the digits recipe uses too (the note's experiment: 0.3).
        seed: int >= 0, the key of the dropout masks (default: drawn from
            Python's global RNG and stored).
        **kwargs: passed to `keras.Model` (`name`, ...).

    `compile` takes two optimizers: `optimizer` (encoder and classifier;
    official: SGD 1e-3 on MNIST, Adam 3e-4 on CIFAR-10) and
    `weight_optimizer` (the weight network; official: Adam with
    `--lr_wnet` 6e-5, "needs to be carefully tuned for different
    settings"; the note's digits experiment uses Adam 1e-3, and 1e-2
    saturated the sigmoid).

    Example:

    ```python
    import keras
    import keras_ssl
    from keras_ssl import augment

    (x, y), _ = keras_ssl.data.digits()
    split = keras_ssl.data.semi_supervised_split(
        x, y, labels_per_class=5, labeled_classes=range(6),
        mismatch_ratio=0.5, num_unlabeled=128,
    )
    dataset, steps = keras_ssl.data.semi_supervised_dataset(
        split, labeled_batch=30, unlabeled_batch=64, views=2,
        labeled_views=1,
        augment=lambda x, seed: augment.random_shift(x, 1, seed),
    )
    encoder = keras_ssl.backbones.conv_dense((8, 8, 1), (8,), units=16)
    model = keras_ssl.semi_supervised.DS3L(
        encoder, num_classes=6, ramp_up_steps=100, meta_lr=0.1
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        weight_optimizer=keras.optimizers.Adam(1e-3),
    )
    model.fit(dataset, steps_per_epoch=steps, verbose=0)
    model.sample_weights(split["unlabeled"][:4])  # (4,) in (0, 1)
    ```
    """

    paper = "Guo et al., ICML 2020 (DS3L)"
    tracked_names = (
        "loss",
        "supervised",
        "consistency",
        "weighted_consistency",
        "meta",
        "weight",
        "ramp_up",
        "accuracy",
    )
    optimizer_names = ("optimizer", "weight_optimizer")

    def __init__(
        self,
        encoder,
        num_classes,
        weight_net=None,
        consistency_weight=10.0,
        ramp_up_steps=200_000,
        meta_lr=1e-3,
        normalize_weights=True,
        dropout=0.5,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            encoder, num_classes, dropout=dropout, seed=seed, **kwargs
        )
        self.consistency_weight = check_number(
            consistency_weight, "consistency_weight", ">= 0"
        )
        self.ramp_up_steps = check_integer(ramp_up_steps, 0, "ramp_up_steps")
        self.meta_lr = check_number(meta_lr, "meta_lr", "> 0")
        if not isinstance(normalize_weights, bool):
            raise ValueError(
                "normalize_weights must be True or False; got "
                f"{normalize_weights!r}"
            )
        self.normalize_weights = normalize_weights
        if weight_net is None:
            weight_net = default_weight_net(self.num_classes)
        self.weight_net = _check_weight_net(weight_net, self.num_classes)

    def build(self, input_shape):
        super().build(input_shape)
        if not self.weight_net.built:
            self.weight_net.build((None, self.num_classes))

    @property
    def expected_views(self):
        return {"labeled": 1, "unlabeled": 2}

    def classifier_variables(self):
        """The trainable variables of the classifier: encoder and head
        (`theta`, what the virtual step moves and `optimizer` updates)."""
        return [
            *self.encoder.trainable_variables,
            *self.classifier.trainable_variables,
        ]

    def optimizer_variables(self):
        return {
            "optimizer": self.classifier_variables(),
            "weight_optimizer": self.weight_net.trainable_variables,
        }

    # ------------------------------------------------------------------
    # Losses
    # ------------------------------------------------------------------
    def sample_weights(self, inputs):
        """The learned weight of each input, `(batch,)` in `(0, 1)`:
        the weight network on the classifier's softmax (inference)."""
        probs = ops.softmax(
            ops.cast(self(inputs, training=False), "float32"), axis=-1
        )
        return self._weights(probs)

    def _weights(self, probs):
        return ops.cast(ops.reshape(self.weight_net(probs), (-1,)), "float32")

    def step_losses(self, data, call, training, weights_fixed):
        """The DS3L loss of one pass pair, its terms and the weights."""
        x, y, x_u = self.unpack_batch(data)
        logits = self.view_logits(
            {"labeled": x, "unlabeled": x_u}, training, call=call
        )
        supervised, accuracy = self.supervised_loss(logits["labeled"], y)
        labeled_share = labeled_fraction(y, x_u[0])
        first, second = (ops.softmax(z, axis=-1) for z in logits["unlabeled"])
        cost = consistency_cost(first, second)
        weights = self._weights(first)
        if weights_fixed:
            weights = ops.stop_gradient(weights)
        weighted = weighted_consistency(weights, cost, self.normalize_weights)
        ramp_up = gaussian_ramp_up(self.step_count, self.ramp_up_steps)
        losses = {
            "loss": labeled_share * supervised
            + self.consistency_weight * ramp_up * weighted,
            "supervised": supervised,
            "consistency": replica_mean(cost),
            "weighted_consistency": weighted,
            "weight": replica_mean(weights),
        }
        return losses, {"ramp_up": ramp_up, "accuracy": accuracy}

    def compute_losses(self, data, training=False):
        """The real step's losses (weights from the weight network as it
        is, under `stop_gradient`)."""
        return self.step_losses(data, _REAL, training, weights_fixed=True)

    def virtual_step(self, data):
        """`(theta', virtual_losses)`: one SGD step of the virtual loss.

        Differentiable with respect to the weight network (call it inside
        a `tf.GradientTape` that watches it). The network is evaluated at
        its current weights in a `keras.StatelessScope`, so nothing it
        would assign (BatchNorm statistics) reaches the real variables.
        """
        variables = self.classifier_variables()
        theta = [tf.identity(v.value) for v in variables]
        with tf.GradientTape(watch_accessed_variables=False) as inner:
            inner.watch(theta)
            with keras.StatelessScope(
                state_mapping=list(zip(variables, theta, strict=True))
            ):
                losses, _ = self.step_losses(
                    data, _VIRTUAL, training=True, weights_fixed=False
                )
        gradients = inner.gradient(losses["loss"], theta)
        # Replica-scaled losses: the sum over replicas is the gradient of
        # the global batch (all-reduce is differentiable, so the meta-
        # gradient is the global one too).
        gradients = replica_sum(gradients)
        fast = [
            t - ops.cast(self.meta_lr, t.dtype) * g
            for t, g in zip(theta, gradients, strict=True)
        ]
        return fast, losses

    def meta_loss(self, data):
        """The labeled cross-entropy of the virtual model at `theta'`."""
        fast, _ = self.virtual_step(data)
        x, y, _ = self.unpack_batch(data)
        variables = self.classifier_variables()
        with keras.StatelessScope(
            state_mapping=list(zip(variables, fast, strict=True))
        ):
            logits = self.view_logits({"labeled": x}, training=True, call=_META)
        loss, _ = self.supervised_loss(logits["labeled"], y)
        return loss

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def train_step(self, data):
        with tf.GradientTape() as tape:
            meta = self.meta_loss(data)
        self.minimize(tape, meta, optimizer="weight_optimizer")
        with tf.GradientTape() as tape:
            losses, values = self.compute_losses(data, training=True)
            total = losses["loss"] + self.regularization_loss()
        self.minimize(tape, total)
        return self.track({**losses, "meta": meta}, values)

    def serving_endpoints(self):
        # The weight network is a training device: only the classifier.
        return {"classify": self.classify}


def labeled_fraction(labels, unlabeled):
    """`n_l / (n_l + n_u)`, the official code's scale of the cross-entropy.

    The official loss averages the cross-entropy over the concatenated
    labeled and unlabeled batch, the unlabeled rows counting 0, which is
    the labeled mean times this fraction (a half at its equal batches).

    Args:
        labels: the `(n_l,)` labels of the labeled batch.
        unlabeled: the `(n_u, ...)` unlabeled inputs of one view.

    Returns:
        A float32 scalar.
    """
    n_l = ops.cast(ops.shape(labels)[0], "float32")
    n_u = ops.cast(ops.shape(unlabeled)[0], "float32")
    return n_l / (n_l + n_u)


def consistency_cost(target_probs, probs):
    """The Pi-model cost of DS3L's official code, per sample:
    `mean_c (probs_c - stop_gradient(target_probs)_c)^2`.

    Args:
        target_probs: `(batch, classes)` probabilities of pass 1 (the
            target, detached).
        probs: `(batch, classes)` probabilities of pass 2.

    Returns:
        A `(batch,)` tensor.
    """
    total = stability_loss([target_probs, probs], True)
    return total / ops.cast(ops.shape(probs)[-1], total.dtype)


def weighted_consistency(weights, cost, normalize=True):
    """The weighted unlabeled loss of the step's global batch.

    Args:
        weights: `(batch,)` weights of the local unlabeled batch.
        cost: `(batch,)` per-sample consistency costs.
        normalize: True: `sum_j w_j cost_j / sum_j w_j` over the global
            batch (official code; the plain `sum_j w_j cost_j` where the
            weights sum to 0); False: `mean_j w_j cost_j`.

    Returns:
        A replica-scaled scalar (the summed value over replicas is the
        global one, as `replica_mean`).
    """
    if not normalize:
        return replica_mean(weights * cost)
    total = replica_sum(ops.sum(weights))
    safe = ops.where(total > 0, total, ops.ones_like(total))
    return ops.sum(weights * cost) / safe


def default_weight_net(num_classes, hidden=WEIGHT_NET_HIDDEN):
    """The official weight network `WNet(K, 100, 1)`: Dense(hidden) +
    ReLU, Dense(1) + sigmoid, on `(batch, num_classes)` probabilities,
    with PyTorch's default `nn.Linear` initialisation (weights and biases
    uniform in `+-1 / sqrt(fan_in)`), which the official `MetaLinear`
    layers keep."""
    inputs = keras.Input((num_classes,), name="probabilities")
    hidden_units = torch_dense(hidden, num_classes, "relu", name="dense1")
    output = torch_dense(1, hidden, "sigmoid", name="dense2")
    return keras.Model(inputs, output(hidden_units(inputs)), name="weight_net")


def _check_weight_net(weight_net, num_classes):
    if not isinstance(weight_net, keras.Model):
        raise ValueError(
            "weight_net must be a keras.Model mapping (batch, num_classes) "
            f"probabilities to (batch, 1) weights; got {weight_net!r}"
        )
    try:
        shape = tuple(weight_net.compute_output_shape((None, num_classes)))
    except Exception as error:  # noqa: BLE001 - any failure is bad input
        raise ValueError(
            f"weight_net must take (batch, num_classes={num_classes}) "
            f"inputs; it failed with {error}"
        ) from None
    if shape[1:] != (1,):
        raise ValueError(
            "weight_net must map (batch, num_classes) to (batch, 1); it "
            f"gives {shape}"
        )
    return weight_net
