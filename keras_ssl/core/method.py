import inspect

import keras
import tensorflow as tf
from keras import ops

from keras_ssl.core.distribution import num_replicas


@keras.saving.register_keras_serializable(package="keras_ssl")
class Method(keras.Model):
    """Base class of every keras_ssl method.

    A method is a `keras.Model` trained with plain `model.fit`. The base
    class gives every method the same four things:

    - **Loss trackers.** Subclasses list the names they log in
      `tracked_names`; each becomes a `keras.metrics.Mean` in `metrics`, so
      Keras resets it every epoch and shows it in the progress bar.
    - **Replica-correct training.** `compute_losses` returns losses already
      reduced with `keras_ssl.core.replica_mean` (sum over the local batch
      divided by the *global* batch), which is what `MirroredStrategy`
      needs because it sums gradients over replicas. `track` multiplies
      those values back by the replica count before logging, so the
      progress bar shows the true loss on any number of devices.
    - **Serialization.** `get_config` returns every `__init__` argument
      (read from the attribute of the same name) and serializes sub-models
      with `keras.saving.serialize_keras_object`; `from_config` restores
      them, so a `.keras` save/load round trip rebuilds the method.
    - **Serving endpoints.** `serving_endpoints()` names the inference
      functions `keras_ssl.export.export_saved_model` puts into a
      SavedModel (`embed`, `classify`, `ood_score`, ...).

    A subclass with a single loss implements `compute_losses(data,
    training)`; one that needs more (two optimizers, a state update after
    the step, a host-side solver before it) overrides `train_step` and
    reuses `minimize` and `track`.

    Args:
        encoder: a `keras.Model` mapping inputs to features.
        **kwargs: passed to `keras.Model` (`name`, `dtype`, ...).

    Example:

    ```python
    import keras
    from keras import ops
    import keras_ssl

    @keras.saving.register_keras_serializable(package="my_project")
    class L2Features(keras_ssl.core.Method):
        tracked_names = ("loss",)

        def compute_losses(self, data, training=False):
            features = self.encoder(data, training=training)
            per_example = ops.sum(ops.square(features), axis=-1)
            return {"loss": keras_ssl.core.replica_mean(per_example)}, {}

    encoder = keras_ssl.backbones.mlp((4,), hidden=(8,))
    model = L2Features(encoder)
    model.compile(optimizer="sgd")
    model.fit(keras.random.normal((32, 4)), epochs=1, verbose=0)
    ```
    """

    family = "other"
    paper = ""
    tracked_names = ("loss",)
    # Methods that run host-side NumPy code inside `train_step` set this to
    # False so `compile` keeps XLA off even where `jit_compile="auto"`
    # would turn it on (single GPU).
    xla_compatible = True

    def __init__(self, encoder, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.Model):
            raise ValueError(
                "encoder must be a keras.Model mapping inputs to features; "
                f"got {type(encoder).__name__}"
            )
        self.encoder = encoder
        self._trackers = {
            name: keras.metrics.Mean(name=name) for name in self.tracked_names
        }

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def compile(self, optimizer="adam", **kwargs):
        """Configures the method for training.

        Losses are the method's own, so `compile` takes only an optimizer
        (and the usual `keras.Model.compile` options such as
        `steps_per_execution` or `jit_compile`).
        """
        if not self.xla_compatible:
            if kwargs.get("jit_compile") is True:
                raise ValueError(
                    f"{type(self).__name__} runs host-side code in its "
                    "training step and cannot be XLA-compiled; got "
                    "jit_compile=True"
                )
            kwargs["jit_compile"] = False
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # The stock version skips models whose `compile` is overridden.
        # Ours only adds a default and an XLA guard, so restore the same way.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

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

    def minimize(self, tape, loss, variables=None, optimizer=None):
        """Applies the gradient of `loss` recorded on `tape`."""
        variables = self.trainable_variables if variables is None else variables
        optimizer = self.optimizer if optimizer is None else optimizer
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))

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
        return self.track(losses, values)

    def test_step(self, data):
        losses, values = self.compute_losses(data, training=False)
        return self.track(losses, values)

    # ------------------------------------------------------------------
    # Inference and export
    # ------------------------------------------------------------------
    def call(self, inputs, training=False):
        return self.encoder(inputs, training=training)

    def serving_endpoints(self):
        """Named inference functions for export, first one = default.

        Returns:
            A dict mapping endpoint names to functions that take a batch of
            model inputs and return a dict of named tensors.
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
        config = {"name": self.name, "trainable": self.trainable}
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
            elif isinstance(value, tuple):
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
