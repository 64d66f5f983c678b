import random

import keras
import tensorflow as tf
from keras import ops

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number
from keras_ssl.core.distribution import all_gather
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.method import Method

STREAMS = ("labeled", "unlabeled")


@keras.saving.register_keras_serializable(package="keras_ssl")
class SemiSupervisedClassifier(Method):
    """Base of the semi-supervised classifiers: what TS+ME, NS3L, DS3L and
    FlowGMM share, so each method file shows only its own losses.

    - **Data.** `fit` takes a `tf.data.Dataset` of
      `{"labeled": (x, y), "unlabeled": x_u}` batches, as
      `keras_ssl.data.semi_supervised_dataset` makes them. `x` and `x_u`
      are one tensor, or a tuple of differently augmented views of the
      same inputs; `expected_views` says how many views of each stream a
      method needs, and `check_fit_data` rejects a dataset with another
      structure, another number of views or inputs of another shape
      before any step runs.
    - **Network.** `call(x)` is `encoder -> Dense(num_classes)` and
      returns logits. During training `view_logits` runs the encoder once
      on every view of both streams concatenated (batch statistics over
      the whole replicated batch), applies dropout with rate `dropout` to
      the features (the perturbation of each pass), and returns the
      float32 logits of every view.
    - **Dropout that resumes and replicates.** Keras `Dropout` layers
      draw from seed generators whose state is not saved (a resumed run
      draws other masks) and is identical on every replica (each replica
      would mask its part of the batch alike). The head dropout here is
      stateless instead: its mask is drawn for the *global* batch from a
      key of `(seed, optimizer iterations, call, stream, view)`, and each
      replica keeps the rows of its own examples. So a resumed run, a
      `.keras` reload and a run on R replicas draw exactly the masks of
      an uninterrupted run on one device. Dropout layers *inside* the
      encoder keep the Keras behaviour: such an encoder trains, but a
      resumed run and a replicated run draw other masks than an
      uninterrupted one on one device (put the dropout here instead).
    - **Supervised part.** `supervised_loss` is the cross-entropy of the
      labeled views, averaged over views and replica-correct, and their
      accuracy. Validation data are plain `(x, y)` pairs (or the training
      dicts, whose labeled part is used); `test_step` logs `loss` (=
      `supervised`), `supervised` and `accuracy` without dropout.
    - **Inference and export.** `classify(x)` returns `probs` and
      `prediction`; it is the `classify` endpoint of an export (`embed`
      gives the encoder features).

    A subclass sets `tracked_names`, overrides `expected_views` if it
    needs several views, and implements `compute_losses(data, training)`
    with `unpack_batch`, `view_logits` and `supervised_loss`.

    Args:
        encoder: a `keras.Model` mapping inputs to a feature vector.
        num_classes: int >= 2.
        dropout: float in [0, 1), dropout rate on the encoder features
            before the classifier, in training only. Default 0.0.
        seed: int >= 0, the key of the dropout masks. Default `None`:
            drawn from Python's global RNG (seeded by
            `keras.utils.set_random_seed`) and stored, so `get_config`
            and a `.keras` reload keep it.
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    import keras
    import keras_ssl
    from keras_ssl.semi_supervised import SemiSupervisedClassifier

    class EntropyMinimization(SemiSupervisedClassifier):
        tracked_names = ("loss", "supervised", "entropy", "accuracy")

        def compute_losses(self, data, training=False):
            x, y, x_u = self.unpack_batch(data)
            logits = self.view_logits(
                {"labeled": x, "unlabeled": x_u}, training
            )
            supervised, accuracy = self.supervised_loss(logits["labeled"], y)
            p = keras.ops.softmax(logits["unlabeled"][0])
            entropy = -keras.ops.sum(p * keras.ops.log(p + 1e-8), -1)
            losses = {
                "supervised": supervised,
                "entropy": keras_ssl.core.replica_mean(entropy),
            }
            losses["loss"] = supervised + losses["entropy"]
            return losses, {"accuracy": accuracy}

    (x, y), _ = keras_ssl.data.digits()
    split = keras_ssl.data.semi_supervised_split(x, y, labels_per_class=5)
    dataset, steps = keras_ssl.data.semi_supervised_dataset(
        split, labeled_batch=50, unlabeled_batch=128
    )
    encoder = keras_ssl.backbones.small_cnn((8, 8, 1), preset="narrow")
    model = EntropyMinimization(encoder, num_classes=10, dropout=0.3)
    model.compile(optimizer="adam")
    model.fit(dataset, steps_per_epoch=steps, verbose=0)
    model.classify(x[:4])["prediction"]
    ```
    """

    family = "semi_supervised"
    semi_supervised = True
    tracked_names = ("loss", "supervised", "accuracy")

    def __init__(self, encoder, num_classes, dropout=0.0, seed=None, **kwargs):
        super().__init__(encoder, **kwargs)
        self.num_classes = check_integer(num_classes, 2, "num_classes")
        self.dropout = check_number(dropout, "dropout", "in [0, 1)")
        if seed is None:
            seed = random.randint(0, 2**31 - 1)
        self.seed = check_integer(seed, 0, "seed")
        self.classifier = keras.layers.Dense(self.num_classes, name="logits")

    def build(self, input_shape):
        self.classifier.build(self.encoder.compute_output_shape(input_shape))
        self.built = True

    def call(self, inputs, training=False):
        return self.classifier(self.encoder(inputs, training=training))

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------
    @property
    def expected_views(self):
        """Views per step that `fit` data must carry, by stream."""
        return {"labeled": 1, "unlabeled": 1}

    def unpack_batch(self, data):
        """`(labeled_views, y, unlabeled_views)` from a training batch.

        The views are lists of tensors (one entry for a plain tensor).
        """
        if not isinstance(data, dict):  # plain (x, y): no unlabeled data
            x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
            return _views(x), y, []
        x, y = data["labeled"]
        return _views(x), y, _views(data["unlabeled"])

    def inference_inputs(self, data):
        if isinstance(data, dict) and "labeled" in data:
            data = data["labeled"]
        x = keras.utils.unpack_x_y_sample_weight(data)[0]
        return _views(x)[0]

    def check_fit_data(self, x, y):
        name = type(self).__name__
        expected = self.expected_views
        if not isinstance(x, tf.data.Dataset):
            raise ValueError(
                f"{name}.fit takes a tf.data.Dataset of "
                '{"labeled": (x, y), "unlabeled": x_u} batches (see '
                "keras_ssl.data.semi_supervised_dataset); got "
                f"{type(x).__name__}"
            )
        spec = x.element_spec
        if (
            not isinstance(spec, dict)
            or set(spec) != set(STREAMS)
            or not isinstance(spec["labeled"], tuple)
            or len(spec["labeled"]) != 2
        ):
            raise ValueError(
                f'{name}.fit data must be {{"labeled": (x, y), '
                f'"unlabeled": x_u}} batches; got elements {spec}'
            )
        streams = {
            "labeled": _views(spec["labeled"][0]),
            "unlabeled": _views(spec["unlabeled"]),
        }
        labeled_shape = streams["labeled"][0].shape[1:]
        encoder_shape = getattr(self.encoder, "input_shape", None)
        for stream, views in streams.items():
            if len(views) != expected[stream]:
                raise ValueError(
                    f"{name} needs {expected[stream]} view(s) of each "
                    f"{stream} input per step (views in "
                    f"semi_supervised_dataset); got {len(views)}"
                )
            for view in views:
                shape = view.shape[1:]
                if encoder_shape is not None and not tf.TensorShape(
                    encoder_shape[1:]
                ).is_compatible_with(shape):
                    raise ValueError(
                        f"{stream} inputs must have the encoder's input "
                        f"shape {tuple(encoder_shape[1:])}; got "
                        f"{tuple(shape)}"
                    )
                if not labeled_shape.is_compatible_with(shape):
                    raise ValueError(
                        f"{stream} inputs must have the labeled inputs' "
                        f"shape {tuple(labeled_shape)}; got {tuple(shape)}"
                    )

    # ------------------------------------------------------------------
    # Training pieces
    # ------------------------------------------------------------------
    @property
    def step_count(self):
        """The optimizer's step count (0 before `compile`): the clock of
        ramp-ups and dropout keys, saved and restored with the model."""
        optimizer = getattr(self, "optimizer", None)
        if optimizer is None:
            return ops.convert_to_tensor(0, "int64")
        return optimizer.iterations

    def view_logits(self, streams, training=False, call=0, dropout=None):
        """Float32 logits of every view, from one encoder pass.

        Args:
            streams: a dict mapping stream names (`"labeled"`,
                `"unlabeled"`) to lists of view tensors.
            training: the encoder's mode (BatchNorm batch statistics and
                their moving averages, the encoder's own dropout).
            call: an integer that keys the dropout masks; give each
                `view_logits` call of one step its own number.
            dropout: whether the head dropout is on (default: `training`),
                e.g. `training=False, dropout=True` for a perturbed pass
                that leaves the BatchNorm statistics alone (NS3L).

        Returns:
            A dict of the same streams, each a list of `(batch,
            num_classes)` float32 logits.
        """
        unknown = sorted(set(streams) - set(STREAMS))
        if unknown:
            raise ValueError(f"streams must be among {STREAMS}; got {unknown}")
        names = [s for s in STREAMS if len(streams.get(s, ()))]
        tensors = [view for s in names for view in streams[s]]
        sizes = [ops.shape(view)[0] for view in tensors]
        features = self.encoder(
            ops.concatenate(tensors, axis=0), training=training
        )
        parts = []
        start = 0
        for size in sizes:
            parts.append(features[start : start + size])
            start = start + size
        if dropout is None:
            dropout = training
        if dropout and self.dropout > 0:
            key = tf.stack(
                [
                    ops.convert_to_tensor(self.seed, "int64"),
                    ops.cast(self.step_count, "int64"),
                ]
            )
            key = tf.random.experimental.stateless_fold_in(key, call)
            position = 0
            for name in names:
                stream_key = tf.random.experimental.stateless_fold_in(
                    key, STREAMS.index(name)
                )
                for view in range(len(streams[name])):
                    parts[position] = _replica_consistent_dropout(
                        parts[position],
                        self.dropout,
                        tf.random.experimental.stateless_fold_in(
                            stream_key, view
                        ),
                    )
                    position += 1
        logits = [ops.cast(self.classifier(p), "float32") for p in parts]
        out = {s: [] for s in streams}
        position = 0
        for name in names:
            out[name] = logits[position : position + len(streams[name])]
            position += len(streams[name])
        return out

    def supervised_loss(self, logits, y):
        """Cross-entropy of the labeled views and their accuracy.

        Args:
            logits: a list of `(batch, num_classes)` logits, one per view.
            y: integer labels, shape `(batch,)`.

        Returns:
            `(loss, accuracy)`: the per-example cross-entropy averaged over
            the views and reduced with `replica_mean`, and the local mean
            accuracy over the views.
        """
        y = ops.cast(ops.reshape(y, (-1,)), "int32")
        per_example = ops.mean(
            ops.stack(
                [
                    keras.losses.sparse_categorical_crossentropy(
                        y, view, from_logits=True
                    )
                    for view in logits
                ]
            ),
            axis=0,
        )
        correct = [
            ops.cast(
                ops.equal(ops.cast(ops.argmax(view, -1), "int32"), y),
                "float32",
            )
            for view in logits
        ]
        accuracy = ops.mean(ops.stack(correct))
        return replica_mean(per_example), accuracy

    def test_step(self, data):
        if isinstance(data, dict):
            data = data["labeled"]
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        logits = self.view_logits({"labeled": _views(x)}, training=False)
        loss, accuracy = self.supervised_loss(logits["labeled"], y)
        logs = self.track(
            {"loss": loss, "supervised": loss}, {"accuracy": accuracy}
        )
        return {k: logs[k] for k in ("loss", "supervised", "accuracy")}

    # ------------------------------------------------------------------
    # Inference and export
    # ------------------------------------------------------------------
    def classify(self, inputs):
        """Class probabilities and the predicted class (inference)."""
        probs = ops.softmax(
            ops.cast(self(inputs, training=False), "float32"), axis=-1
        )
        return {"probs": probs, "prediction": ops.argmax(probs, axis=-1)}

    def serving_endpoints(self):
        return {"classify": self.classify, "embed": self.embed}


def _views(x):
    """A list of views: the tuple's entries, or `[x]` for one tensor."""
    return list(x) if isinstance(x, tuple | list) else [x]


def _replica_consistent_dropout(features, rate, key):
    """Dropout whose mask row `i` belongs to global example `i`.

    The mask is drawn for the global batch (every replica draws the same
    numbers from `key`) and each replica keeps the rows of its examples,
    which `MirroredStrategy` hands out as consecutive blocks.
    """
    shape = tf.shape(features)
    local = shape[0]
    offset, total = 0, local
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        sizes = all_gather(tf.reshape(local, (1,)))
        replica = context.replica_id_in_sync_group
        before = tf.range(context.num_replicas_in_sync) < replica
        offset = tf.reduce_sum(tf.where(before, sizes, 0))
        total = tf.reduce_sum(sizes)
    noise = tf.random.stateless_uniform(
        tf.concat([[total], shape[1:]], axis=0), key
    )[offset : offset + local]
    keep = tf.cast(noise >= rate, features.dtype)
    return features * keep / tf.cast(1.0 - rate, features.dtype)
