import keras
from keras import ops

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_integers
from keras_ssl.core._checks import check_number


@keras.saving.register_keras_serializable(package="keras_ssl")
class RealNVPFlow(keras.layers.Layer):
    """A RealNVP flow of `tfp.bijectors` with Keras 3 coupling networks.

    `num_couplings` affine couplings (`tfp.bijectors.RealNVP`) alternated
    with `tfp.bijectors.Permute` (reversed order), mapping a data vector
    `x` to a latent vector `z = f(x)` of the same size. Coupling `i` keeps
    the first `dim // 2` units `x_a` of its input and transforms the rest,
    `z_b = x_b * exp(s(x_a)) + t(x_a)`, so `log|det df/dx|` is the sum of
    the log-scales `s` over the couplings. Each coupling's network is a
    Keras 3 MLP (`hidden_units`, ReLU) whose output `2 (dim - dim // 2)`
    splits into the shift `t` and a raw log-scale, bounded as
    `s = w * tanh(raw)` with a trainable per-unit factor `w` (ones at
    start), as the official `RealNVPTabular` of FlowGMM does.

    The three TFP facts this layer is built around (method note
    `shared/methods/flowgmm.md`; each is pinned by a test in
    `tests/semi_supervised/test_flow_gmm.py`):

    - **TFP does not see Keras 3 variables**: a `tfb.Chain` of these
      couplings reports no `trainable_variables`. The variables belong to
      this layer's networks, which Keras tracks, so a model holding the
      layer trains, saves and restores them.
    - **Bijector caching can silently kill gradients**: a bijector caches
      its results keyed on the input tensor, so a call outside a
      `tf.GradientTape` followed by one inside on the same tensor returns
      the untaped result and every gradient is `None`. `bijector()`
      therefore builds a *new* chain for every pass (`call`,
      `forward_and_log_det`, `inverse`); nothing is cached between calls.
    - **`tfb.BatchNormalization` is Keras 2 only** (TFP 0.25 accepts only a
      `tf_keras` or `tf.compat.v1` BatchNormalization layer): the flow has
      none, as the official tabular flows have none.

    Deviations from the official `RealNVPTabular`: TFP scales then shifts
    (`x_b exp(s) + t`) where the official code shifts then scales
    (`(x_b + t) exp(s)`): the same log-determinant and function class,
    another parameterisation. The coupling network sees the kept units
    `x_a` (TFP's interface) where the official one sees the masked full
    vector (zeros in place of `x_b`), which is the same function class.
    The per-unit factor `w` is a plain weight (weight norm on a vector
    reduces to it). The official tabular flows put Dropout(0.5) after the
    first hidden layer; this flow has no dropout (off in the official toy
    flow), because a Keras dropout mask is not reproducible on resume or
    across replicas.

    TFP evaluates a coupling's network once for the transform and once
    more for the log-determinant (TFP 0.25 has no joint
    forward-and-log-det), so `forward_and_log_det` runs each network
    twice; `benchmarks/flowgmm_step.py` measures the cost of a step.

    Reference:
        Dinh, Sohl-Dickstein and Bengio, "Density estimation using Real
        NVP", ICLR 2017; Izmailov et al., "Semi-Supervised Learning with
        Normalizing Flows", ICML 2020 (official code
        `izmailovpavel/flowgmm`, `flow_ssl/realnvp/coupling_layer.py`,
        `CouplingLayerTabular`).

    Args:
        dim: int >= 2, the size of the data (and latent) vectors.
        num_couplings: int >= 1, affine couplings. Default 5, the official
            toy flow (`RealNVPTabular(num_coupling_layers=5)`).
        hidden_units: the widths of the hidden layers of each coupling
            network. Default `(512, 512)`, the official toy flow
            (`hidden_dim=512, num_layers=1`: two hidden ReLU layers).
        weight_decay: float >= 0, coupled L2 weight decay on every weight
            of the flow: each gradient gets `weight_decay * w`, as
            PyTorch's `Adam(weight_decay=...)` of the official toy recipe
            (added as `L2(weight_decay / 2)` regularizers, so it enters
            the loss). Default 0.
        zero_init: bool, start the last layer of every coupling network at
            zero (the flow starts as the identity), the official
            `init_zeros` option. Default False, the official default.
        **kwargs: passed to `keras.layers.Layer` (`name`, ...).

    Example:

    ```python
    import numpy as np
    import keras_ssl

    flow = keras_ssl.layers.RealNVPFlow(2, num_couplings=2, hidden_units=(8,))
    x = np.random.default_rng(0).normal(size=(4, 2)).astype("float32")
    z, log_det = flow.forward_and_log_det(x)  # (4, 2), (4,)
    np.abs(flow.inverse(z) - x).max() < 1e-5  # True
    ```
    """

    def __init__(
        self,
        dim,
        num_couplings=5,
        hidden_units=(512, 512),
        weight_decay=0.0,
        zero_init=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dim = check_integer(dim, 2, "dim")
        self.num_couplings = check_integer(num_couplings, 1, "num_couplings")
        self.hidden_units = check_integers(hidden_units, 1, "hidden_units")
        self.weight_decay = check_number(weight_decay, "weight_decay", ">= 0")
        if not isinstance(zero_init, bool):
            raise ValueError(
                f"zero_init must be True or False; got {zero_init!r}"
            )
        self.zero_init = zero_init
        self.num_kept = self.dim // 2
        self.couplings = [
            _CouplingNetwork(
                self.dim - self.num_kept,
                self.hidden_units,
                self.weight_decay,
                self.zero_init,
                name=f"coupling_{i}",
            )
            for i in range(self.num_couplings)
        ]

    def build(self, input_shape=None):
        for network in self.couplings:
            network.build((None, self.num_kept))
        self.built = True

    def bijector(self):
        """A new `tfb.Chain` whose `forward` is `f` (data -> latent).

        Built afresh at every call, so no bijector cache outlives a pass
        (see the class docstring).
        """
        from tensorflow_probability import bijectors as tfb

        reverse = list(range(self.dim))[::-1]
        steps = []
        for i, network in enumerate(self.couplings):
            if i:
                steps.append(tfb.Permute(reverse, name=f"permute_{i}"))
            steps.append(
                tfb.RealNVP(
                    num_masked=self.num_kept,
                    shift_and_log_scale_fn=_conditioner(network),
                    name=f"real_nvp_{i}",
                )
            )
        # A Chain applies its last bijector first.
        return tfb.Chain(steps[::-1], name="real_nvp_flow")

    def call(self, inputs):
        """The latent vectors `z = f(x)`."""
        return self.bijector().forward(inputs)

    def forward_and_log_det(self, inputs):
        """`(z, log|det df/dx|)`: latent vectors `(n, dim)` and `(n,)`."""
        bijector = self.bijector()
        x = ops.cast(inputs, self.compute_dtype)
        return bijector.forward(x), bijector.forward_log_det_jacobian(
            x, event_ndims=1
        )

    def inverse(self, latent):
        """The data vectors `x = f^-1(z)` (sampling direction)."""
        return self.bijector().inverse(ops.cast(latent, self.compute_dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_couplings": self.num_couplings,
            "hidden_units": list(self.hidden_units),
            "weight_decay": self.weight_decay,
            "zero_init": self.zero_init,
        }


def _conditioner(network):
    """TFP's `shift_and_log_scale_fn` for one network (bound now, so each
    coupling keeps its own network: no late-binding closure)."""

    def shift_and_log_scale(kept, output_units, **condition_kwargs):
        del output_units, condition_kwargs  # fixed by the network
        return network(kept)

    return shift_and_log_scale


class _CouplingNetwork(keras.layers.Layer):
    """MLP `x_a -> (t, s)` of one coupling, `s = w * tanh(raw)`."""

    def __init__(self, units, hidden_units, weight_decay, zero_init, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        regularizer = (
            keras.regularizers.L2(weight_decay / 2) if weight_decay else None
        )
        self.regularizer = regularizer
        self.hidden = [
            keras.layers.Dense(
                width,
                activation="relu",
                kernel_regularizer=regularizer,
                bias_regularizer=regularizer,
                name=f"hidden_{j}",
            )
            for j, width in enumerate(hidden_units)
        ]
        self.output_layer = keras.layers.Dense(
            2 * units,
            kernel_initializer="zeros" if zero_init else "glorot_uniform",
            kernel_regularizer=regularizer,
            bias_regularizer=regularizer,
            name="shift_and_raw_log_scale",
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.hidden:
            layer.build(shape)
            shape = (shape[0], layer.units)
        self.output_layer.build(shape)
        self.log_scale_factor = self.add_weight(
            name="log_scale_factor",
            shape=(self.units,),
            initializer="ones",
            regularizer=self.regularizer,
        )
        self.built = True

    def call(self, kept):
        h = kept
        for layer in self.hidden:
            h = layer(h)
        out = self.output_layer(h)
        shift, raw = out[..., : self.units], out[..., self.units :]
        return shift, self.log_scale_factor * ops.tanh(raw)
