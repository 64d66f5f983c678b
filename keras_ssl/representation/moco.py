import inspect

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number
from keras_ssl.core.distribution import all_gather
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.method import Method


@keras.saving.register_keras_serializable(package="keras_ssl")
class MoCo(Method):
    """Momentum Contrast: instance discrimination against a queue of keys.

    Each training image comes as two augmented views. The query encoder
    (`encoder`, then a projection head, then L2 normalisation) embeds the
    first view as `q`; a momentum copy of encoder and head embeds the
    second as the key `k+`. The InfoNCE loss is a `1 + queue_size`-way
    softmax cross-entropy over the logits `[q.k+, q.queue^T] / temperature`
    with the positive at column 0, so every target is 0. After each
    optimizer step (`after_step`) the momentum weights follow the query
    weights, `theta_k <- m * theta_k + (1 - m) * theta_q`, and the batch's
    keys replace the oldest rows of the queue (first in, first out). This
    is MoCo v1 as PCL's official `pcl/builder.py` builds it; `PCL`
    subclasses it and adds the prototypes.

    Training data are `((query_view, key_view), index)` batches (the index
    is ignored by MoCo and may be left out): make the two views in the
    `tf.data` pipeline, e.g. with `keras_ssl.augment` and a stateless seed
    per view (`keras-ssl train moco` does). Inference (`call`, `embed`,
    the `embed` export) returns the encoder's features, which is what a
    linear probe uses; the head, the momentum copy and the queue exist for
    training only.

    Distribution: the keys of every replica are all-gathered before they
    enter the queue, so every replica holds the same queue; the momentum
    update runs in replica context on identical values, so the momentum
    weights stay identical too. The queue size must be a multiple of the
    global batch (the official code asserts it); `fit` checks it before
    the first step. A smaller (last) batch still writes the queue in FIFO
    order, wrapping around its end.

    BatchNorm in the momentum encoder (the choice the method note asks to
    document): as in the official code, only the parameters (kernels,
    biases, BN scale and offset: the trainable weights) follow the query
    encoder by EMA; the momentum encoder runs in training mode, so its BN
    layers normalise with the key batch's statistics and keep their own
    moving statistics. The official code also shuffles the key batch
    across GPUs ("shuffling BN") so a query and its key never share BN
    statistics; this is not done here. On one device the official shuffle
    is a no-op (the whole batch is one BN batch either way); on several
    replicas use synchronized BN (`small_cnn(...,
    synchronized_batch_norm=True)`), which makes training equal to one
    device, or accept the per-replica statistics.

    Defaults and sources (see `shared/methods/pcl.md`; MoCo v1 as PCL's
    official code configures it):
        - `projection_dim=128`: official code, `--low-dim 128`.
        - `queue_size=16384`: official code, `--pcl-r` (the same number
          is PCL's count of negative prototypes).
        - `momentum=0.999`: official code, `--moco-m`.
        - `temperature=0.2`: official code (`--temperature` default and
          the README command; `builder.py`'s own default of 0.1 is
          overridden by the script). The paper's statement of tau is
          unverified.
        - `mlp_head=False`: official code, `--mlp` (PCL v2 turns it on:
          Dense(feature_dim) -> ReLU -> Dense(projection_dim)).
        - Optimiser (not part of the model): SGD lr 0.03, momentum 0.9,
          weight decay 1e-4, batch 256, 200 epochs (official code).

    Deviations: the key encoder is updated after the optimizer step
    rather than at the start of the next forward pass; both give the keys
    of step t from the query weights after step t - 1 (the official first
    update is a no-op, the weights start equal), but the saved momentum
    weights here already include the last step. No shuffling BN (above).
    The queue is stored as `(queue_size, projection_dim)` rows.

    Reference:
        He, Fan, Wu, Xie and Girshick, "Momentum Contrast for Unsupervised
        Visual Representation Learning", CVPR 2020, arXiv:1911.05722; as
        used by Li, Zhou, Xiong and Hoi, "Prototypical Contrastive
        Learning of Unsupervised Representations", ICLR 2021. Official
        code: `salesforce/PCL` (`pcl/builder.py`).

    Args:
        encoder: a functional `keras.Model` mapping images to a feature
            vector (it is cloned for the momentum encoder).
        projection_dim: int, dimension of the contrastive embedding.
        queue_size: int, number of keys in the queue (negatives).
        momentum: float in [0, 1), the EMA momentum of the key encoder.
        temperature: float > 0, the InfoNCE temperature.
        mlp_head: bool, a two-layer MLP head instead of a linear one.
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    import keras
    import numpy as np
    import keras_ssl

    (x, _), _ = keras_ssl.data.digits(image_size=16)
    x = x[:256]
    views = (x + 0.05 * np.random.randn(*x.shape), np.roll(x, 1, axis=2))
    encoder = keras_ssl.backbones.small_cnn((16, 16, 1), preset="narrow")
    model = keras_ssl.representation.MoCo(
        encoder, projection_dim=8, queue_size=128, momentum=0.99
    )
    model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.9))
    model.fit(views, batch_size=64, epochs=1, verbose=0)
    model.embed(x[:4])["embedding"].shape  # (4, 16)
    ```
    """

    family = "representation"
    paper = "He et al., CVPR 2020 (MoCo v1, the base of PCL)"
    tracked_names = ("loss", "info_nce", "instance_accuracy")

    def __init__(
        self,
        encoder,
        projection_dim=128,
        queue_size=16384,
        momentum=0.999,
        temperature=0.2,
        mlp_head=False,
        **kwargs,
    ):
        super().__init__(encoder, **kwargs)
        self.projection_dim = check_integer(projection_dim, 1, "projection_dim")
        self.queue_size = check_integer(queue_size, 1, "queue_size")
        self.momentum = check_number(momentum, "momentum", "in [0, 1)")
        self.temperature = check_number(temperature, "temperature", "> 0")
        self.mlp_head = bool(mlp_head)
        if not isinstance(getattr(encoder, "output_shape", None), tuple):
            raise ValueError(
                "encoder must be a functional keras.Model with one output "
                f"(it is cloned for the momentum encoder); got {encoder!r}"
            )
        feature_shape = encoder.output_shape
        self.projection = self._head("projection")
        self.projection.build(feature_shape)
        # The momentum copy: same architecture, weights copied once here.
        self.momentum_encoder = keras.models.clone_model(encoder)
        self.momentum_projection = self._head("momentum_projection")
        self.momentum_projection.build(feature_shape)
        self.momentum_encoder.set_weights(encoder.get_weights())
        self.momentum_projection.set_weights(self.projection.get_weights())
        self._query_weights = [
            *encoder.trainable_weights,
            *self.projection.trainable_weights,
        ]
        self._key_weights = [
            *self.momentum_encoder.trainable_weights,
            *self.momentum_projection.trainable_weights,
        ]
        self.queue = self.add_state(
            "queue",
            (self.queue_size, self.projection_dim),
            initializer=_unit_rows,
        )
        self.queue_pointer = self.add_state("queue_pointer", (), "int32")

    def _head(self, name):
        if not self.mlp_head:
            return keras.layers.Dense(self.projection_dim, name=name)
        width = self.encoder.output_shape[-1]
        return keras.Sequential(
            [
                keras.layers.Dense(width, activation="relu"),
                keras.layers.Dense(self.projection_dim),
            ],
            name=name,
        )

    def build(self, input_shape):
        self.built = True

    # ------------------------------------------------------------------
    # Embeddings
    # ------------------------------------------------------------------
    def project(self, inputs, training=False):
        """L2-normalised query embeddings `q` (encoder, head)."""
        z = self.projection(self.encoder(inputs, training=training))
        return _normalize(z)

    def momentum_project(self, inputs, training=False):
        """L2-normalised key embeddings from the momentum encoder.

        Never differentiated. `training=True` is the key pass of a step
        (batch statistics); `training=False` uses the momentum encoder's
        own BN moving statistics, as PCL's E-step does.
        """
        z = self.momentum_projection(
            self.momentum_encoder(inputs, training=training)
        )
        return ops.stop_gradient(_normalize(z))

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def optimizer_variables(self):
        # The momentum copy is updated by EMA only. It stays `trainable`
        # so that its BatchNorm layers use batch statistics in training
        # mode, as the official key encoder (in train mode) does.
        return {"optimizer": list(self._query_weights)}

    def inference_inputs(self, data):
        views, _ = self._unpack(data)
        return views[0]

    def train_step(self, data):
        (query_view, key_view), index = self._unpack(data)
        keys = self.momentum_project(key_view, training=True)
        with tf.GradientTape() as tape:
            queries = self.project(query_view, training=True)
            losses, values = self.contrastive_losses(queries, keys, index)
            total = losses["loss"] + self.regularization_loss()
        self.minimize(tape, total)
        self.after_step(data, keys=keys)
        return self.track(losses, values)

    def compute_losses(self, data, training=False):
        (query_view, key_view), index = self._unpack(data)
        keys = self.momentum_project(key_view, training=training)
        queries = self.project(query_view, training=training)
        return self.contrastive_losses(queries, keys, index)

    def contrastive_losses(self, queries, keys, index):
        """`(losses, values)` of one batch: InfoNCE and its accuracy.

        `PCL` extends this with the ProtoNCE term.
        """
        logits = info_nce_logits(queries, keys, self.queue, self.temperature)
        targets = ops.zeros((ops.shape(logits)[0],), "int32")
        info_nce = replica_mean(
            keras.losses.sparse_categorical_crossentropy(
                targets, logits, from_logits=True
            )
        )
        accuracy = _accuracy(logits, targets)
        losses = {"loss": info_nce, "info_nce": info_nce}
        return losses, {"instance_accuracy": accuracy}

    def after_step(self, data, keys=None):
        """Momentum update of the key encoder, then the queue update.

        Args:
            data: the training batch.
            keys: the batch's keys from the step's key pass; without them
                they are computed again with the pre-update weights.
        """
        if keys is None:
            (_, key_view), _ = self._unpack(data)
            keys = self.momentum_project(key_view, training=True)
        m = self.momentum
        for key_weight, query_weight in zip(
            self._key_weights, self._query_weights, strict=True
        ):
            key_weight.assign(m * key_weight + (1.0 - m) * query_weight)
        self.enqueue(all_gather(keys))

    def enqueue(self, keys):
        """Writes `keys` (the global batch's) over the oldest queue rows."""
        count = ops.shape(keys)[0]
        rows = (self.queue_pointer + ops.arange(count, dtype="int32")) % (
            self.queue_size
        )
        self.queue.assign(
            ops.scatter_update(
                self.queue,
                ops.expand_dims(rows, -1),
                ops.cast(keys, self.queue.dtype),
            )
        )
        self.queue_pointer.assign(
            (self.queue_pointer + count) % self.queue_size
        )

    # ------------------------------------------------------------------
    # Checks before training
    # ------------------------------------------------------------------
    def fit(self, *args, **kwargs):
        """`Method.fit`, after checking the batch size against the queue.

        Raises:
            ValueError: if the queue size is not a multiple of the global
                batch (or, for `PCL`, a clustering is too small for its
                negative prototypes).
        """
        bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        arguments = dict(bound.arguments)
        arguments.update(arguments.pop("kwargs", {}))
        self._check_fit(arguments)
        return super().fit(*args, **kwargs)

    def _check_fit(self, arguments):
        batch = _global_batch(arguments.get("x"), arguments.get("batch_size"))
        if batch is not None:
            self.check_batch_size(batch)

    def check_batch_size(self, batch_size):
        """Raises a ValueError if `batch_size` does not suit the queue."""
        if batch_size > self.queue_size or self.queue_size % batch_size:
            raise ValueError(
                f"queue_size ({self.queue_size}) must be a multiple of the "
                f"global batch size; got a batch of {batch_size}"
            )

    def _unpack(self, data):
        x, index, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError(
                f"{type(self).__name__} does not support sample weights"
            )
        if not isinstance(x, tuple | list) or len(x) != 2:
            raise ValueError(
                f"{type(self).__name__} trains on two views per image: "
                "batches ((query_view, key_view), index) or (query_view, "
                "key_view); make the views in the tf.data pipeline"
            )
        return tuple(x), index


def info_nce_logits(queries, keys, queue, temperature):
    """MoCo's logits: the positive key at column 0, then the queue.

    Args:
        queries: `(b, d)` normalised query embeddings.
        keys: `(b, d)` normalised keys, row `i` the positive of query `i`.
        queue: `(r, d)` normalised negative keys.
        temperature: the softmax temperature.

    Returns:
        `(b, 1 + r)` logits `[q.k+, q.queue^T] / temperature`; the
        InfoNCE target of every row is 0.
    """
    positive = ops.sum(queries * keys, axis=-1, keepdims=True)
    negative = ops.matmul(queries, ops.transpose(ops.cast(queue, "float32")))
    return ops.concatenate([positive, negative], axis=-1) / temperature


def _accuracy(logits, targets):
    hits = ops.equal(ops.argmax(logits, axis=-1), ops.cast(targets, "int64"))
    return ops.mean(ops.cast(hits, "float32"))


def _normalize(z):
    z = ops.cast(z, "float32")
    return z / ops.maximum(ops.norm(z, axis=-1, keepdims=True), 1e-12)


def _unit_rows(shape, dtype=None):
    # Official: torch.randn(dim, r), normalised along dim.
    rows = keras.initializers.RandomNormal(stddev=1.0)(shape, dtype)
    return rows / ops.norm(rows, axis=-1, keepdims=True)


def _global_batch(x, batch_size):
    """The global batch size `fit` will use, when it can be known."""
    if isinstance(x, tf.data.Dataset):
        leaves = tf.nest.flatten(x.element_spec)
        size = leaves[0].shape[0] if leaves and leaves[0].shape.rank else None
        if size is None:
            first = next(iter(x.take(1)), None)
            if first is None:
                return None
            size = int(np.shape(tf.nest.flatten(first)[0])[0])
        return int(size)
    if isinstance(x, np.ndarray | tuple | list | dict):
        leaves = tf.nest.flatten(x)
        total = len(leaves[0]) if leaves else 0
        return min(32 if batch_size is None else int(batch_size), total)
    return None
