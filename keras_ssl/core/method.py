import inspect

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.core.distribution import num_replicas

_DEFAULT = object()


@keras.saving.register_keras_serializable(package="keras_ssl")
class Method(keras.Model):
    """Base class of every keras_ssl method.

    A method is a `keras.Model` trained with plain `model.fit`. The base
    owns what every method would otherwise solve again, so that a method
    file shows only what its paper adds:

    - **Loss trackers.** `tracked_names` lists what the method logs; each
      name becomes a `keras.metrics.Mean` in `metrics`, reset every epoch
      and shown in the progress bar.
    - **Replica-correct losses.** `compute_losses` returns losses already
      reduced with `keras_ssl.core.replica_mean` (sum over the local batch
      divided by the *global* batch), which is what
      `tf.distribute.MirroredStrategy` needs because it sums gradients
      over replicas. `track` multiplies them back by the replica count
      before logging, so the logs show the true loss on any device count.
    - **Several optimizers.** `optimizer_names` lists the optimizers
      `compile` takes, e.g. `("optimizer", "lens_optimizer")`, and
      `optimizer_variables()` says which variables each one updates. The
      base builds every optimizer before training (inside the strategy
      scope), saves and restores all of them with the model (`.keras` and
      `keras.callbacks.BackupAndRestore`, iterations included), and
      `minimize(tape, loss, optimizer="lens_optimizer")` picks one. A
      post-hoc method (`optimizer_names = ()`) compiles without any.
    - **Mixed precision.** `minimize` scales the loss with the optimizer's
      loss scale (Keras wraps every optimizer in a `LossScaleOptimizer`
      under the `"mixed_float16"` policy), so custom steps train in mixed
      precision like the built-in one.
    - **Hooks.** `after_step(data)` runs after the optimizer step, for
      state that follows the post-step weights (centroids, momentum
      encoders, queues). The `epoch` state variable holds the current
      epoch, set at every epoch start (also after `initial_epoch` or a
      restore). `method_callbacks()` are appended to every `fit`, for
      per-epoch work outside the step (a clustering E-step).
      `check_fit_data(x, y)` rejects bad arrays before any step runs.
    - **State.** `add_state(name, shape)` creates a non-trainable variable
      that every replica holds identically; it is saved, restored and
      mirrored. `keras_ssl.core.replica_reduce` sums, or takes the min or
      max, across replicas before such state is assigned.
    - **Semi-supervised batches.** A method with `semi_supervised = True`
      trains on `{"labeled": (x, y), "unlabeled": x_u}` batches; its
      validation data may be plain `(x, y)` pairs, which `test_step`
      passes on as `{"labeled": (x, y), "unlabeled": x}`.
    - **Serialization.** `get_config` returns every `__init__` argument
      (read from the attribute of the same name) and serializes sub-models
      with `keras.saving.serialize_keras_object`; `from_config` restores
      them, so a `.keras` round trip rebuilds the method and its
      optimizers.
    - **Serving endpoints.** `serving_endpoints()` names the inference
      functions `keras_ssl.export.export_saved_model` writes into a
      SavedModel (`embed`, `classify`, `sample`, ...); an endpoint with
      inputs other than one image batch is a `keras_ssl.core.Endpoint`.

    A method with one loss implements `compute_losses(data, training)`. A
    method that needs more (two optimizers, a host-side solver before the
    loss) overrides `train_step`, and reuses `minimize`, `after_step` and
    `track`.

    Args:
        encoder: a `keras.Model` mapping inputs to features, or `None` for
            a method that is made of other parts (it then overrides
            `serving_input_shape` and `embed`).
        **kwargs: passed to `keras.Model` (`name`, `dtype`, ...).

    Example:

    A method with two optimizers and a state update after each step:

    ```python
    import keras
    import numpy as np
    import tensorflow as tf
    from keras import ops
    import keras_ssl
    from keras_ssl.core import replica_mean, replica_sum

    @keras.saving.register_keras_serializable(package="my_project")
    class TwoHeads(keras_ssl.core.Method):
        tracked_names = ("loss", "head_loss")
        optimizer_names = ("optimizer", "head_optimizer")

        def __init__(self, encoder, **kwargs):
            super().__init__(encoder, **kwargs)
            self.head = keras.layers.Dense(1)
            self.feature_mean = self.add_state("feature_mean", (8,))

        def build(self, input_shape):
            self.head.build(self.encoder.compute_output_shape(input_shape))
            self.built = True

        def optimizer_variables(self):
            return {
                "optimizer": self.encoder.trainable_variables,
                "head_optimizer": self.head.trainable_variables,
            }

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                features = self.encoder(x, training=True)
                loss = replica_mean(ops.sum(ops.square(features), -1))
            self.minimize(tape, loss)
            with tf.GradientTape() as tape:
                prediction = self.head(self.encoder(x))[:, 0]
                head_loss = replica_mean(ops.square(prediction - y))
            self.minimize(tape, head_loss, optimizer="head_optimizer")
            self.after_step(data)
            return self.track({"loss": loss, "head_loss": head_loss})

        def after_step(self, data):
            features = self.encoder(data[0])
            total = replica_sum(ops.sum(features, axis=0))
            count = replica_sum(ops.cast(ops.shape(features)[0], "float32"))
            self.feature_mean.assign(total / count)

    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    model = TwoHeads(keras_ssl.backbones.mlp((4,), hidden=(8,)))
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        head_optimizer=keras.optimizers.Adam(1e-2),
    )
    model.fit(x, x[:, 0], batch_size=8, epochs=2, verbose=0)
    int(model.head_optimizer.iterations)  # 8
    ```
    """

    family = "other"
    paper = ""
    tracked_names = ("loss",)
    # The optimizers `compile` takes; `()` for a post-hoc method.
    optimizer_names = ("optimizer",)
    # True: `fit` takes {"labeled": (x, y), "unlabeled": x_u} batches.
    semi_supervised = False
    # Methods that run host-side NumPy code inside `train_step` set this to
    # False so `compile` keeps XLA off even where `jit_compile="auto"`
    # would turn it on (single GPU).
    xla_compatible = True

    def __init__(self, encoder=None, **kwargs):
        super().__init__(**kwargs)
        if encoder is not None and not isinstance(encoder, keras.Model):
            raise ValueError(
                "encoder must be a keras.Model mapping inputs to features; "
                f"got {type(encoder).__name__}"
            )
        self.encoder = encoder
        self._trackers = {
            name: keras.metrics.Mean(name=name) for name in self.tracked_names
        }
        self.epoch = self.add_state("epoch", (), dtype="int32")

    # ------------------------------------------------------------------
    # State
    # ------------------------------------------------------------------
    def add_state(self, name, shape, dtype="float32", initializer="zeros"):
        """A non-trainable variable every replica holds identically.

        Saved and restored with the model and mirrored under a strategy.
        Assign it from values that are already identical on every replica
        (reduce them with `keras_ssl.core.replica_reduce` or gather them
        with `keras_ssl.core.all_gather` first): the first replica's value
        is what every replica keeps.

        Args:
            name: the variable name.
            shape: its shape.
            dtype: its dtype.
            initializer: a Keras initializer (name, instance or callable).

        Returns:
            The variable.
        """
        return self.add_weight(
            name=name,
            shape=shape,
            dtype=dtype,
            initializer=initializer,
            trainable=False,
            aggregation="only_first_replica",
        )

    # ------------------------------------------------------------------
    # Optimizers
    # ------------------------------------------------------------------
    def compile(self, optimizer=_DEFAULT, auto_scale_loss=True, **kwargs):
        """Configures the method for training.

        Losses are the method's own, so `compile` takes only optimizers,
        one per name in `optimizer_names` (`optimizer="adam"` by default),
        and the usual `keras.Model.compile` options such as
        `steps_per_execution` or `jit_compile`.

        Raises:
            ValueError: for a missing or unknown optimizer, an optimizer
                given to a post-hoc method, or `jit_compile=True` on a
                method with host-side code in its step.
        """
        named = {
            k: kwargs.pop(k) for k in list(kwargs) if k.endswith("_optimizer")
        }
        unknown = sorted(set(named) - set(self.optimizer_names))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}.compile got unknown optimizer(s) "
                f"{', '.join(unknown)}; it takes "
                f"{', '.join(self.optimizer_names) or 'none'}"
            )
        if "optimizer" not in self.optimizer_names:
            if optimizer not in (_DEFAULT, None):
                raise ValueError(
                    f"{type(self).__name__} is fitted without gradients; "
                    f"compile() takes no optimizer, got {optimizer!r}"
                )
            optimizer = None
        elif optimizer is _DEFAULT:
            optimizer = "adam"
        missing = [
            n
            for n in self.optimizer_names
            if n != "optimizer" and n not in named
        ]
        if missing:
            raise ValueError(
                f"{type(self).__name__}.compile needs {', '.join(missing)} "
                "(a keras.optimizers.Optimizer each), besides optimizer"
            )
        if not self.xla_compatible:
            if kwargs.get("jit_compile") is True:
                raise ValueError(
                    f"{type(self).__name__} runs host-side code in its "
                    "training step and cannot be XLA-compiled; got "
                    "jit_compile=True"
                )
            kwargs["jit_compile"] = False
        super().compile(
            optimizer=optimizer, auto_scale_loss=auto_scale_loss, **kwargs
        )
        scale = auto_scale_loss and self.dtype_policy.name == "mixed_float16"
        for name, value in named.items():
            value = keras.optimizers.get(value)
            # Stored unwrapped, as Keras stores `optimizer`; a reload wraps.
            self._compile_config.config[name] = value
            if scale:
                value = keras.optimizers.LossScaleOptimizer(
                    value, name=f"{name}_loss_scale"
                )
            setattr(self, name, value)

    def compile_from_config(self, config):
        # The stock version skips models whose `compile` is overridden.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.build_optimizers()

    @property
    def optimizers(self):
        """The compiled optimizers by name (`{}` before `compile`)."""
        return {
            name: getattr(self, name)
            for name in self.optimizer_names
            if getattr(self, name, None) is not None
        }

    def optimizer_variables(self):
        """Which variables each optimizer updates, by optimizer name.

        The default gives every trainable variable to `optimizer`; a method
        with several optimizers overrides it.
        """
        if len(self.optimizer_names) > 1:
            raise NotImplementedError(
                f"{type(self).__name__} has optimizers "
                f"{', '.join(self.optimizer_names)} and must override "
                "optimizer_variables() to say which variables each updates"
            )
        return {name: self.trainable_variables for name in self.optimizer_names}

    def build_optimizers(self):
        """Creates every optimizer's variables (the model must be built).

        Called before training and after loading, inside the strategy
        scope, so that no optimizer creates variables inside a replicated
        step and every optimizer's saved state has variables to go to.
        """
        optimizers = self.optimizers
        unbuilt = [n for n, o in optimizers.items() if not o.built]
        if not unbuilt:
            return
        variables = self.optimizer_variables()
        with self.distribute_strategy.scope():
            for name in unbuilt:
                optimizers[name].build(variables[name])

    def minimize(self, tape, loss, variables=None, optimizer="optimizer"):
        """Applies the gradient of `loss` recorded on `tape`.

        Args:
            tape: the `tf.GradientTape` that recorded `loss` (it may have
                exited; the loss scaling is recorded on it here).
            loss: the replica-scaled scalar loss.
            variables: what to update; default: the optimizer's variables
                from `optimizer_variables()`.
            optimizer: the name of the optimizer (from `optimizer_names`).
        """
        optimizers = self.optimizers
        if optimizer not in optimizers:
            raise ValueError(
                f"optimizer must name a compiled optimizer of "
                f"{type(self).__name__} ({', '.join(optimizers) or 'none'})"
                f"; got {optimizer!r}"
            )
        chosen = optimizers[optimizer]
        if variables is None:
            variables = self.optimizer_variables()[optimizer]
        with tape:  # loss scaling must be on the tape (mixed precision)
            scaled = chosen.scale_loss(loss)
        gradients = tape.gradient(scaled, variables)
        chosen.apply(gradients, variables)

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    @property
    def metrics(self):
        return list(self._trackers.values())

    def compute_losses(self, data, training=False):
        """Returns `(losses, values)` for one batch.

        `losses` maps tracked names to scalars already reduced with
        `replica_mean` and must hold the total under `"loss"`; `values`
        maps tracked names to plain local statistics (an accuracy, a mean
        certainty) that are logged as they are.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement compute_losses or "
            "override train_step"
        )

    def regularization_loss(self):
        """Layer regularisation losses, scaled for the replica count."""
        if not self.losses:
            return 0.0
        return ops.sum(ops.stack(self.losses)) / num_replicas()

    def track(self, losses=None, values=None):
        """Logs replica-scaled `losses` and plain `values`; returns logs."""
        replicas = num_replicas()
        for name, value in (losses or {}).items():
            self._trackers[name].update_state(value * replicas)
        for name, value in (values or {}).items():
            self._trackers[name].update_state(value)
        return {name: m.result() for name, m in self._trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            losses, values = self.compute_losses(data, training=True)
            total = losses["loss"] + self.regularization_loss()
        self.minimize(tape, total)
        self.after_step(data)
        return self.track(losses, values)

    def test_step(self, data):
        if self.semi_supervised and not isinstance(data, dict):
            x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
            data = {"labeled": (x, y), "unlabeled": x}
        losses, values = self.compute_losses(data, training=False)
        return self.track(losses, values)

    def after_step(self, data):
        """State updates after the optimizer step (default: none).

        Runs inside the replicated step with the post-step weights, on the
        same batch. Reduce across replicas before assigning state.
        """

    def method_callbacks(self):
        """Keras callbacks every `fit` of this method adds (default: none)."""
        return []

    def check_fit_data(self, x, y):
        """Rejects bad `fit` arrays before any step runs (default: none).

        Called by `fit` with its `x` and `y` arguments (a dataset arrives
        as `x`, with `y=None`).
        """

    def check_initial_state(self, inputs):
        """Rejects a model that cannot learn, before any step runs (default:
        none).

        Called by `fit` once the model and its optimizers are built, with
        the model inputs of the first batch (at most 256 samples of the
        arrays, or the first batch of a dataset), e.g. to stop a kernel
        that starts at its floor. Only a method that overrides it makes
        `fit` read that batch (one extra pass over a dataset's first
        element).
        """

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, with the method's checks and callbacks.

        Checks the data (arrays must be non-empty and finite, then the
        method's `check_fit_data`), builds the model from the data's shapes
        and every optimizer, checks the built model on the first batch
        (`check_initial_state`), and puts the epoch counter, a guard that stops
        training on a non-finite loss (`NonFiniteLossError`, naming the
        epoch and step, before any callback saves that state) and the
        method's `method_callbacks()` before the caller's callbacks.
        """
        bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        arguments = dict(bound.arguments)
        arguments.pop("self")
        arguments.update(arguments.pop("kwargs", {}))
        x, y = arguments.get("x"), arguments.get("y")
        _check_arrays(x, "x")
        _check_arrays(y, "y")
        self.check_fit_data(x, y)
        if not self.built and x is not None:
            # Build from the data's shapes (`call` may not touch every
            # layer a custom `train_step` uses; see `build`).
            spec = x.element_spec if isinstance(x, tf.data.Dataset) else (x, y)
            with self.distribute_strategy.scope():
                self._symbolic_build(data_batch=spec)
        if self.built:
            self.build_optimizers()
            overridden = (
                type(self).check_initial_state is not Method.check_initial_state
            )
            if x is not None and overridden:
                # Only then is a batch read: a dataset shuffled with
                # `reshuffle_each_iteration` orders the next pass anew.
                self.check_initial_state(self._first_inputs(x))
        if isinstance(x, tf.data.Dataset):
            # A dataset is shuffled in its pipeline; Keras warns otherwise.
            arguments.setdefault("shuffle", False)
        arguments["callbacks"] = [
            _EpochCounter(self.epoch),
            _StopOnNonFiniteLoss(),
            *self.method_callbacks(),
            *list(arguments.get("callbacks") or []),
        ]
        return super().fit(**arguments)

    def _first_inputs(self, x):
        if isinstance(x, tf.data.Dataset):
            for batch in x.take(1):
                return self.inference_inputs(batch)
            return None
        return tf.nest.map_structure(lambda a: a[:256], x)

    def inference_inputs(self, data):
        """The part of a training batch that `call` takes (to build)."""
        if isinstance(data, dict) and "labeled" in data:
            data = data["labeled"]
        return keras.utils.unpack_x_y_sample_weight(data)[0]

    # ------------------------------------------------------------------
    # Multi-worker training: keras-team/keras#20585 (open) and
    # tensorflow/tensorflow#72388. Keras 3.15's `fit` fails under
    # `MultiWorkerMirroredStrategy` in two places of
    # `keras/src/backend/tensorflow/trainer.py`; both are mended here,
    # and `tests/core/test_multi_worker.py` trains on two worker
    # processes, so a Keras release that fixes or moves them is noticed.
    # ------------------------------------------------------------------
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras averages the first distributed batch over replicas with
        # `strategy.reduce("MEAN", ...)`, which fails eagerly on the
        # PerReplica batch of a multi-worker strategy ("Attempt to convert
        # a value (PerReplica...)"). Building needs only the shapes of
        # one replica's batch.
        if self._distribute_strategy is None:
            return
        strategy = self.distribute_strategy
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: (
                        strategy.experimental_local_results(v)[0]
                        if isinstance(v, tf.distribute.DistributedValues)
                        else v
                    ),
                    next(batches),
                )
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def make_train_function(self, force=False):
        if self.train_function is None or force:
            self.train_function = self._make_function(
                _logs_for_reduction(self.train_step, self.distribute_strategy)
            )
        return self.train_function

    def make_test_function(self, force=False):
        if self.test_function is None or force:
            self.test_function = self._make_function(
                _logs_for_reduction(self.test_step, self.distribute_strategy)
            )
        return self.test_function

    def _symbolic_build(self, iterator=None, data_batch=None):
        # Keras builds the model from the batch's `x` under a strategy;
        # a method's batch may hold more than `call` takes (indices, a
        # labeled/unlabeled dict), and its named optimizers must be built
        # in the strategy scope too.
        # Keras would also build `optimizer` on every trainable variable;
        # `build_optimizers` gives each optimizer its own variables.
        if data_batch is not None:
            data_batch = (self.inference_inputs(data_batch),)
        optimizer, self.optimizer = self.optimizer, None
        try:
            super()._symbolic_build(iterator=iterator, data_batch=data_batch)
        finally:
            self.optimizer = optimizer
        self.build_optimizers()

    # ------------------------------------------------------------------
    # Inference and export
    # ------------------------------------------------------------------
    def call(self, inputs, training=False):
        return self.encoder(inputs, training=training)

    def serving_endpoints(self):
        """Named inference functions for export, first one = default.

        Returns:
            A dict mapping endpoint names to functions that take a batch of
            model inputs and return a dict of named tensors, or to
            `keras_ssl.core.Endpoint`s for other inputs.
        """
        return {"embed": self.embed}

    def embed(self, inputs):
        """Encoder features in inference mode, as `{"embedding": ...}`."""
        return {"embedding": self.encoder(inputs, training=False)}

    @property
    def serving_input_shape(self):
        """Input shape (without batch) of the serving endpoints."""
        return tuple(self.encoder.input_shape[1:])

    # ------------------------------------------------------------------
    # Serialization
    # ------------------------------------------------------------------
    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype_policy.name,
        }
        signature = inspect.signature(type(self).__init__)
        for key, parameter in signature.parameters.items():
            if key == "self" or parameter.kind in (
                parameter.VAR_KEYWORD,
                parameter.VAR_POSITIONAL,
            ):
                continue
            if not hasattr(self, key):
                raise NotImplementedError(
                    f"{type(self).__name__}.__init__ argument {key!r} must "
                    f"be stored as self.{key} so get_config can return it"
                )
            value = getattr(self, key)
            if isinstance(value, keras.layers.Layer):
                value = keras.saving.serialize_keras_object(value)
            elif isinstance(value, tuple | range):
                value = list(value)
            config[key] = value
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key, value in config.items():
            if isinstance(value, dict) and "class_name" in value:
                config[key] = keras.saving.deserialize_keras_object(value)
        return cls(**config)


def _logs_for_reduction(step, strategy):
    """`step`, with scalar logs of rank 1 under a multi-worker strategy.

    Keras reduces the logs of a multi-worker step with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars
    ("Invalid reduction dimension 0 for input with 0 dimensions"); a
    `(1,)` value reduces over the replicas and that axis to the mean.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return step

    def step_with_rank_one_logs(data):
        logs = step(data)
        return {
            k: ops.reshape(v, (1,)) if len(ops.shape(v)) == 0 else v
            for k, v in logs.items()
        }

    return step_with_rank_one_logs


class NonFiniteLossError(ValueError):
    """Training produced a NaN or infinite loss (see `Method.fit`)."""


def _check_arrays(value, name):
    """Non-empty, finite NumPy inputs (datasets are checked as they run)."""
    if value is None or isinstance(value, tf.data.Dataset):
        return
    for array in tf.nest.flatten(value):
        if not isinstance(array, np.ndarray | list):
            continue
        array = np.asarray(array)
        if array.ndim and len(array) == 0:
            raise ValueError(f"{name} holds no samples (shape {array.shape})")
        if np.issubdtype(array.dtype, np.floating):
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            if bad:
                raise ValueError(
                    f"{name} must hold finite values; it has {bad} NaN or "
                    "infinite entries"
                )


class _StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` at the first non-finite `loss` log.

    It runs before the caller's callbacks, so `BackupAndRestore` never
    saves the broken state: the last backup is the last good epoch.
    """

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"training stopped: the loss became {float(loss)} at epoch "
                f"{self.epoch + 1}, step {batch + 1}. Nothing of this epoch "
                "was kept (a resumable run keeps its last good epoch). Try a "
                "smaller learning rate, check the inputs for extreme values, "
                "or check the method's hyperparameters."
            )


class _EpochCounter(keras.callbacks.Callback):
    """Writes the epoch index into a method's `epoch` state."""

    def __init__(self, variable):
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(epoch)
