import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.core._checks import check_class_ids
from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number
from keras_ssl.core.distribution import all_gather
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.method import Method
from keras_ssl.core.weight_decay import coupled_weight_decay

# Stateless noise streams. The seed of a draw is
# `(seed, NUM_STREAMS * step + stream)`, so no two draws share a seed.
BROWNIAN, PSEUDO_OOD, EVAL_BROWNIAN, EVAL_PSEUDO_OOD, INFERENCE = range(5)
NUM_STREAMS = 5


@keras.saving.register_keras_serializable(package="keras_ssl")
class SDENet(Method):
    """SDE-Net: a neural stochastic differential equation classifier.

    The features `h_0 = stem(x)` follow the SDE `dh_t = f(h_t, t) dt +
    g(h_0) dW_t` for `t` in `[0, t_end]`, and the classification head
    reads `h_T`. The drift net `f` models the data; the diffusion net `g`
    learns to be small on the training data and large on perturbed
    inputs, so that the Brownian motion washes the prediction out where
    the model has not seen data. As the official code does (reference
    commit `d7ae44f`, `MNIST/models/sdenet_mnist.py`):

    - **Euler-Maruyama** with `num_steps` = L steps of `dt = t_end / L`:
      `h_{k+1} = h_k + f(h_k, t_k) dt + sigma * g(h_0) sqrt(dt) eps_k`,
      `t_k = t_end * k / L`, `eps_k ~ N(0, I)`.
    - **One diffusion scalar per sample**, `sigma * sigmoid(d(h_0))`,
      computed once from `h_0` and held constant along the path (and
      broadcast over every state dimension). `sigma` is a fixed number,
      `sigma_train` in training and `sigma_test` at inference.
    - **Two objectives per batch, two optimizers**:
      1. the drift step: the cross-entropy of one stochastic pass at
         `sigma_train` updates stem, drift and head (`optimizer`). As in
         the official code the diffusion term is not detached here, so
         the cross-entropy also reaches the stem through `g(h_0)`; the
         diffusion net itself is left alone;
      2. the diffusion step: with the stem's features detached (and
         recomputed after the drift step, as the official code does), the
         binary cross-entropy `BCE(g(h_0(x)), 0) + BCE(g(h_0(x~)), 1)`,
         with pseudo-OOD inputs `x~ = x + ood_noise_std * N(0, 1)`,
         updates only the diffusion net (`diffusion_optimizer`). For
         images the noise has one channel, broadcast over the channels
         (the SVHN script; MNIST has one channel anyway).
    - **Inference**: the softmax averaged over `num_samples` = M passes at
      `sigma_test` (`test_detection.py` uses 10); the OOD score is the
      negated maximum of that mean (the official detection score is the
      maximum probability; negated so that larger = more OOD).

    `sigma_test` is the most sensitive knob: the official runs use 500
    (MNIST, trained at 20) and 50 (SVHN, trained at 1). With `sigma_test
    = 0` (and `sigma_train = 0`) the network is deterministic, which is
    the control the tests train (the same network without diffusion; its
    diffusion net still trains on the side, but never enters the path).

    Networks. `stem` maps inputs to `h_0`; `drift` maps `h` to `dh/dt`
    of the same shape, or `[h, t]` to it when it has two inputs (`t` of
    shape `(batch, 1)`, the time-conditioned drift of the image code);
    `diffusion` maps `h_0` to one logit per sample, `(batch, 1)` (SDENet
    applies the sigmoid; the official nets end in `nn.Sigmoid`, and the
    BCE is computed here from the logit, `softplus(+-z)`, which is the
    same value without the rounding of `log(sigmoid)`); `head` maps `h_T`
    to class logits. `SDENet.mlp_networks` (the YearMSD MLP with a
    classification head) and `SDENet.conv_networks` (the MNIST / SVHN
    conv net) build them. The official diffusion conv net concatenates
    the time `t = 0` as a channel: that channel is zero, so it is left
    out (the same function).

    Noise and replicas. All noise is drawn with stateless ops from the
    seed `(seed, 5 * step + stream)`, with the step from the optimizer's
    iterations, so a run is reproducible and resumes exactly. Sample `i`
    of a global batch gets row `i` of a draw over the whole global batch:
    under `tf.distribute.MirroredStrategy` each replica draws that global
    batch of noise and keeps its own rows (its offset comes from the
    replica id and an `all_gather` of the local batch sizes), so every
    replica has its own noise and a step on R replicas draws exactly what
    one device draws for the same global batch. (Keras random ops in a
    step would draw the same numbers on every replica.) The price is
    that each replica generates R times its own share of noise. The
    tests check both halves with the noise on: 2 replicas train to the
    weights of 1 device, and the two replicas' paths for the same inputs
    differ.
    Inference (`call`, `classify`, `trajectory`) draws from a fixed seed,
    so the same batch gives the same output in Python and in an exported
    SavedModel; a sample's noise depends on its position in the batch.

    Weight decay: the official code uses PyTorch SGD's coupled
    `weight_decay=5e-4` on both optimizers. Keras' `SGD(weight_decay=)`
    is decoupled, so `weight_decay` here adds `weight_decay / 2 *
    sum ||theta||^2` of each optimizer's variables to its loss (divided
    by the replica count), which is PyTorch's update with plain SGD. Layer
    regularizers of the four networks are not used.

    Reference:
        Kong, Sun and Zhang, "SDE-Net: Equipping Deep Neural Networks with
        Uncertainty Estimates", ICML 2020 (arXiv:2008.10546); official
        code `Lingkai-Kong/SDE-Net`.

    Args:
        stem: a `keras.Model`, inputs -> `h_0` (the downsampling layers).
        drift: a `keras.Model`, `h` (or `[h, t]`) -> `dh/dt`.
        diffusion: a `keras.Model`, `h_0` -> one logit, `(batch, 1)`.
        head: a `keras.Model`, `h_T` -> class logits.
        num_steps: int >= 1, Euler-Maruyama steps L. Default 6, the MNIST
            and SVHN code (`layer_depth=6`); YearMSD uses 4.
        t_end: float > 0, the end time T. Default 6.0, the MNIST and SVHN
            code; YearMSD uses 4.
        sigma_train: float >= 0, the diffusion scale in the drift step.
            Default 20.0, the MNIST training script; SVHN uses 1.
        sigma_test: float >= 0, the diffusion scale at inference. Default
            500.0, the MNIST model's class default, which
            `test_detection.py` uses; SVHN uses 50.
        num_samples: int >= 1, stochastic passes M averaged at inference.
            Default 10, `test_detection.py` (the training scripts' test
            uses 5).
        ood_noise_std: float > 0, the std of the Gaussian noise added to
            make pseudo-OOD inputs. Default 2.0, the MNIST and SVHN code.
        weight_decay: float >= 0, coupled L2 of both optimizers (see
            above). Default 5e-4, every official script.
        sigma_sweep: extra `sigma_test` values; `classify` also returns
            the OOD score (negated max of the mean softmax) at each, as
            `ood_score_sigma_<value>` (e.g. `ood_score_sigma_50`,
            `ood_score_sigma_0p5`). Default `()`: none. Ours, for choosing
            `sigma_test`; each value costs M more passes.
        seed: int >= 0, the seed of every noise draw. Default `None`: drawn
            from NumPy's global generator (which
            `keras.utils.set_random_seed` seeds) and stored, so the config
            holds it.
        **kwargs: passed to `keras.Model` (`name`, ...).

    `call(x, training=False)` returns the logits of one pass (at
    `sigma_train` with `training=True`, else `sigma_test`).
    `classify(x)` returns `probs` (the mean softmax of M passes),
    `prediction`, `certainty` (max of `probs`), `ood_score`
    (`-certainty`), `entropy` (of `probs`, the total uncertainty the
    author names in official repo issue #10), `diffusion` (the diffusion
    net's output `g(h_0)` in `[0, 1]`, before the sigma scale; larger =
    more OOD) and the sweep scores; it is the `classify` endpoint of an
    export, with the M passes in the graph. `trajectory(x, noise)` gives
    the whole Euler-Maruyama path. Labels for `fit` are integer class
    ids; sample weights are not supported. Logged: `loss` (the sum of
    all terms), `cross_entropy`, `bce_in`, `bce_out`, `l2`, `accuracy`
    (of the stochastic training pass), `diffusion_in` and `diffusion_out`
    (mean `g` on the batch and on its pseudo-OOD copy).

    Example:

    ```python
    import keras
    import keras_ssl
    from keras_ssl.uncertainty import SDENet

    (x, y), (x_test, y_test) = keras_ssl.data.two_moons(n_samples=256)
    model = SDENet(
        **SDENet.mlp_networks((2,), num_classes=2, width=16),
        num_steps=4, t_end=4.0, sigma_train=1.0, sigma_test=20.0,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        diffusion_optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
    )
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    out = model.classify(x_test)  # probs, certainty, ood_score, diffusion
    ```
    """

    family = "uncertainty"
    paper = "Kong et al., ICML 2020 (SDE-Net)"
    tracked_names = (
        "loss",
        "cross_entropy",
        "bce_in",
        "bce_out",
        "l2",
        "accuracy",
        "diffusion_in",
        "diffusion_out",
    )
    optimizer_names = ("optimizer", "diffusion_optimizer")

    def __init__(
        self,
        stem,
        drift,
        diffusion,
        head,
        num_steps=6,
        t_end=6.0,
        sigma_train=20.0,
        sigma_test=500.0,
        num_samples=10,
        ood_noise_std=2.0,
        weight_decay=5e-4,
        sigma_sweep=(),
        seed=None,
        **kwargs,
    ):
        super().__init__(None, **kwargs)
        for name, part in (
            ("stem", stem),
            ("drift", drift),
            ("diffusion", diffusion),
            ("head", head),
        ):
            if not isinstance(part, keras.layers.Layer):
                raise ValueError(
                    f"{name} must be a keras.Model (see "
                    f"SDENet.mlp_networks); got {type(part).__name__}"
                )
        self.stem = stem
        self.drift = drift
        self.diffusion = diffusion
        self.head = head
        self.num_steps = check_integer(num_steps, 1, "num_steps")
        self.t_end = check_number(t_end, "t_end", "> 0")
        self.sigma_train = check_number(sigma_train, "sigma_train", ">= 0")
        self.sigma_test = check_number(sigma_test, "sigma_test", ">= 0")
        self.num_samples = check_integer(num_samples, 1, "num_samples")
        self.ood_noise_std = check_number(ood_noise_std, "ood_noise_std", "> 0")
        self.weight_decay = check_number(weight_decay, "weight_decay", ">= 0")
        self.sigma_sweep = _check_sweep(sigma_sweep)
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        self.seed = check_integer(seed, 0, "seed")
        inputs = getattr(drift, "inputs", None) or []
        self.time_conditioned = len(inputs) == 2

    # ------------------------------------------------------------------
    # Networks
    # ------------------------------------------------------------------
    @staticmethod
    def mlp_networks(input_shape, num_classes, width=64, diffusion_width=100):
        """The MLP SDE-Net (official YearMSD code) as a classifier.

        Stem: (Flatten ->) Dense(width); drift: Dense(width) -> ReLU (the
        time is not an input, as in the official code); diffusion:
        Dense(diffusion_width) -> ReLU -> Dense(1); head: ReLU ->
        Dense(num_classes) (the official regression head has 2 outputs,
        mean and std). PyTorch's default initialisation of `nn.Linear`,
        as the official code has it: weights and biases uniform in
        `+-1 / sqrt(fan_in)`.

        Args:
            input_shape: shape of one input; more than one axis is
                flattened.
            num_classes: int >= 2.
            width: int >= 1, the state size. Default 64, the method
                note's digits experiment; YearMSD uses 50.
            diffusion_width: int >= 1, the diffusion net's hidden width.
                Default 100, the official YearMSD code.

        Returns:
            A dict with `stem`, `drift`, `diffusion` and `head` (pass it
            on as `SDENet(**networks, ...)`).
        """
        num_classes = check_integer(num_classes, 2, "num_classes")
        width = check_integer(width, 1, "width")
        diffusion_width = check_integer(diffusion_width, 1, "diffusion_width")
        inputs = keras.Input(tuple(input_shape), name="inputs")
        x = inputs
        if len(input_shape) > 1:
            x = keras.layers.Flatten(name="flatten")(x)
        stem = keras.Model(
            inputs,
            _torch_dense(width, int(np.prod(input_shape)), name="dense")(x),
            name="stem",
        )
        h = keras.Input((width,), name="h")
        drift = keras.Model(
            h,
            _torch_dense(width, width, "relu", name="dense")(h),
            name="drift",
        )
        z = _torch_dense(diffusion_width, width, "relu", name="dense1")(h)
        diffusion = keras.Model(
            h,
            _torch_dense(1, diffusion_width, name="dense2")(z),
            name="diffusion",
        )
        z = keras.layers.ReLU(name="relu")(h)
        head = keras.Model(
            h, _torch_dense(num_classes, width, name="logits")(z), name="head"
        )
        return {
            "stem": stem,
            "drift": drift,
            "diffusion": diffusion,
            "head": head,
        }

    @staticmethod
    def conv_networks(input_shape, num_classes, dim=64):
        """The conv SDE-Net of the official MNIST and SVHN code.

        Stem: Conv3x3(dim, no padding) -> GN -> ReLU -> Conv4x4/2 (padding
        1) -> GN -> ReLU -> Conv4x4/2 (padding 1); drift: [GN, ReLU,
        ConcatConv3x3, GN, ReLU, ConcatConv3x3, GN], where ConcatConv puts
        the time in front of the channels as a constant map; diffusion:
        [GN, ReLU, Conv3x3, GN, ReLU, Conv3x3, GN, ReLU, global average
        pool, Dense(1)] (the MNIST diffusion net); head: [GN, ReLU, global
        average pool, Dense(num_classes)]. GroupNorm with min(32, dim)
        groups and PyTorch's epsilon 1e-5; the official initialisation
        (Kaiming normal, fan-out, for convolutions; N(0, 1e-3) for dense
        weights; zero biases). A 28x28 input gives a 6x6xdim state.

        Args:
            input_shape: `(height, width, channels)` with known sides of
                at least 10 (the state is then at least 2x2).
            num_classes: int >= 2.
            dim: int >= 1, the channels of the state. Default 64, the
                official code.

        Returns:
            A dict with `stem`, `drift`, `diffusion` and `head`.
        """
        num_classes = check_integer(num_classes, 2, "num_classes")
        dim = check_integer(dim, 1, "dim")
        shape = tuple(input_shape)
        if (
            len(shape) != 3
            or not all(isinstance(s, int) and s >= 10 for s in shape[:2])
            or not isinstance(shape[2], int)
            or shape[2] < 1
        ):
            raise ValueError(
                "input_shape must be (height, width, channels) with known "
                "sides >= 10 (smaller images leave a 1x1 state, which "
                f"GroupNorm zeroes); got {input_shape!r}"
            )
        layers = keras.layers
        conv_init = keras.initializers.VarianceScaling(
            2.0, "fan_out", "untruncated_normal"
        )
        dense_init = keras.initializers.RandomNormal(stddev=1e-3)

        def conv(filters, kernel, stride, padding, name):
            return layers.Conv2D(
                filters,
                kernel,
                stride,
                padding=padding,
                kernel_initializer=conv_init,
                name=name,
            )

        def norm(name):
            return layers.GroupNormalization(
                min(32, dim), epsilon=1e-5, name=name
            )

        inputs = keras.Input(shape, name="images")
        x = conv(dim, 3, 1, "valid", "conv1")(inputs)
        x = layers.ReLU(name="relu1")(norm("norm1")(x))
        x = conv(dim, 4, 2, "valid", "conv2")(layers.ZeroPadding2D(1)(x))
        x = layers.ReLU(name="relu2")(norm("norm2")(x))
        x = conv(dim, 4, 2, "valid", "conv3")(layers.ZeroPadding2D(1)(x))
        stem = keras.Model(inputs, x, name="stem")
        state = tuple(stem.output_shape[1:])

        h = keras.Input(state, name="h")
        t = keras.Input((1,), name="t")
        time_map = layers.UpSampling2D(state[:2], name="time_map")(
            layers.Reshape((1, 1, 1), name="time")(t)
        )
        z = h
        for i in (1, 2):
            z = layers.ReLU(name=f"relu{i}")(norm(f"norm{i}")(z))
            z = layers.Concatenate(name=f"concat{i}")([time_map, z])
            z = conv(dim, 3, 1, "same", f"conv{i}")(z)
        drift = keras.Model([h, t], norm("norm3")(z), name="drift")

        z = h
        for i in (1, 2):
            z = layers.ReLU(name=f"relu{i}")(norm(f"norm{i}")(z))
            z = conv(dim, 3, 1, "same", f"conv{i}")(z)
        z = layers.ReLU(name="relu3")(norm("norm3")(z))
        z = layers.GlobalAveragePooling2D(name="pool")(z)
        logit = layers.Dense(1, kernel_initializer=dense_init, name="logit")
        diffusion = keras.Model(h, logit(z), name="diffusion")

        z = layers.ReLU(name="relu")(norm("norm")(h))
        z = layers.GlobalAveragePooling2D(name="pool")(z)
        logits = layers.Dense(
            num_classes, kernel_initializer=dense_init, name="logits"
        )
        head = keras.Model(h, logits(z), name="head")
        return {
            "stem": stem,
            "drift": drift,
            "diffusion": diffusion,
            "head": head,
        }

    def build(self, input_shape):
        if not self.stem.built:
            self.stem.build(input_shape)
        state = tuple(self.stem.compute_output_shape(input_shape))
        drift_in = [state, (state[0], 1)] if self.time_conditioned else state
        drift_out = tuple(self.drift.compute_output_shape(drift_in))
        if drift_out[1:] != state[1:]:
            raise ValueError(
                f"drift must keep the state shape {state[1:]}; it maps it "
                f"to {drift_out[1:]}"
            )
        diffusion_out = tuple(self.diffusion.compute_output_shape(state))
        if diffusion_out[1:] != (1,):
            raise ValueError(
                "diffusion must map the state to one logit per sample, "
                f"(batch, 1); it gives {diffusion_out}"
            )
        head_out = tuple(self.head.compute_output_shape(state))
        if len(head_out) != 2 or not head_out[1] or head_out[1] < 2:
            raise ValueError(
                "head must map the state to (batch, num_classes) logits "
                f"with num_classes >= 2; it gives {head_out}"
            )
        self.built = True

    @property
    def num_classes(self):
        """The number of classes (the head's output width)."""
        return int(self.head.output_shape[-1])

    @property
    def sweep_names(self):
        """The `classify` output names of the `sigma_sweep` scores."""
        return tuple(self.sweep_name(s) for s in self.sigma_sweep)

    @staticmethod
    def sweep_name(sigma):
        """`ood_score_sigma_50` for 50, `ood_score_sigma_0p5` for 0.5."""
        return f"ood_score_sigma_{_label(sigma)}"

    def optimizer_variables(self):
        return {
            "optimizer": (
                self.stem.trainable_variables
                + self.drift.trainable_variables
                + self.head.trainable_variables
            ),
            "diffusion_optimizer": self.diffusion.trainable_variables,
        }

    # ------------------------------------------------------------------
    # The SDE
    # ------------------------------------------------------------------
    def diffusion_gate(self, h0, training=False):
        """`sigmoid(diffusion(h_0))`, shape `(batch,)`: `g` before sigma."""
        logit = self.diffusion(h0, training=training)
        return ops.sigmoid(ops.cast(logit[:, 0], h0.dtype))

    def integrate(self, h0, strength, noise, training=False):
        """The Euler-Maruyama path from `h_0`.

        Args:
            h0: the initial state, `(batch, ...)`.
            strength: `sigma * g(h_0)`, shape `(batch,)`, held constant
                along the path; `None` for the deterministic path.
            noise: `eps`, shape `(num_steps, batch, ...)` (unused when
                `strength` is `None`).
            training: passed to the drift net.

        Returns:
            The list of the `num_steps + 1` states `h_0, ..., h_L`.
        """
        dt = self.t_end / self.num_steps
        if strength is not None:
            scale = ops.reshape(
                strength * math.sqrt(dt), (-1,) + (1,) * (len(h0.shape) - 1)
            )
        path = [h0]
        h = h0
        for k in range(self.num_steps):
            t = self.t_end * k / self.num_steps
            h = h + self._drift(h, t, training) * dt
            if strength is not None:
                h = h + scale * noise[k]
            path.append(h)
        return path

    def _drift(self, h, t, training):
        if not self.time_conditioned:
            return self.drift(h, training=training)
        time = ops.ones((ops.shape(h)[0], 1), dtype=h.dtype) * t
        return self.drift([h, time], training=training)

    def trajectory(self, inputs, noise=None, sigma=None, training=False):
        """The whole stochastic path of `inputs`.

        Args:
            inputs: a batch of inputs.
            noise: `eps`, shape `(num_steps, batch, *state_shape)`;
                default: the inference draw.
            sigma: the diffusion scale; default `sigma_test` (or
                `sigma_train` with `training=True`).
            training: the networks' mode.

        Returns:
            A dict with `states` (`(num_steps + 1, batch, ...)`),
            `strength` (`sigma * g(h_0)`, `(batch,)`) and `logits` (of
            the last state).
        """
        path, strength, logits = self._forward(inputs, sigma, noise, training)
        return {
            "states": ops.stack(path),
            "strength": strength,
            "logits": logits,
        }

    def _forward(self, inputs, sigma, noise, training):
        if sigma is None:
            sigma = self.sigma_train if training else self.sigma_test
        inputs = ops.convert_to_tensor(inputs, self.compute_dtype)
        h0 = self.stem(inputs, training=training)
        if sigma == 0:  # the deterministic path: no diffusion net, no noise
            path = self.integrate(h0, None, None, training)
            strength = ops.zeros((ops.shape(h0)[0],), h0.dtype)
        else:
            strength = sigma * self.diffusion_gate(h0, training)
            if noise is None:
                noise = self._normal(
                    self.noise_seed(INFERENCE),
                    self._path_shape(h0),
                    1,
                    h0.dtype,
                )
            path = self.integrate(h0, strength, noise, training)
        return path, strength, self.head(path[-1], training=training)

    def _path_shape(self, h0):
        return (self.num_steps, *_dynamic_shape(h0))

    # ------------------------------------------------------------------
    # Noise
    # ------------------------------------------------------------------
    def noise_seed(self, stream, step=0):
        """The stateless seed `(seed, 5 * step + stream)` of one draw.

        Streams (module constants): `BROWNIAN` and `PSEUDO_OOD` (the
        training step), `EVAL_BROWNIAN` and `EVAL_PSEUDO_OOD` (`evaluate`),
        `INFERENCE` (`call`, `classify`, `trajectory`; step 0).
        """
        step = ops.cast(step, "int64")
        return ops.stack(
            [
                ops.convert_to_tensor(self.seed, "int64"),
                step * NUM_STREAMS + stream,
            ]
        )

    def _normal(self, seed, shape, batch_axis, dtype="float32"):
        """`N(0, 1)` of `shape` (`batch_axis` = the samples). Under
        several replicas: this replica's rows of the draw over the
        global batch, so sample `i` of the global batch gets row `i`."""
        full = list(shape)
        local = full[batch_axis]
        rows = _replica_rows(local)
        if rows is None:
            return tf.random.stateless_normal(shape, seed, dtype=dtype)
        offset, total = rows
        full[batch_axis] = total
        draw = tf.random.stateless_normal(full, seed, dtype=dtype)
        return tf.gather(draw, offset + tf.range(local), axis=batch_axis)

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def drift_losses(self, x, y, seed, training=False):
        """The drift step's terms and the batch accuracy.

        Args:
            x: a batch of inputs.
            y: integer labels.
            seed: the stateless seed of the Brownian noise
                (`noise_seed(BROWNIAN, step)` in training).
            training: the networks' mode.

        Returns:
            `(losses, values)`: `cross_entropy` of one pass at
            `sigma_train` and `l2` (the drift optimizer's coupled L2),
            both replica-scaled; `accuracy` of that pass.
        """
        h0 = self.stem(x, training=training)
        if self.sigma_train > 0:
            strength = self.sigma_train * self.diffusion_gate(h0, training)
            noise = self._normal(seed, self._path_shape(h0), 1, dtype=h0.dtype)
        else:
            strength = noise = None
        h = self.integrate(h0, strength, noise, training)[-1]
        logits = self.head(h, training=training)
        cross_entropy = keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True
        )
        correct = ops.equal(
            ops.argmax(logits, axis=-1),
            ops.cast(ops.reshape(y, (-1,)), "int64"),
        )
        losses = {
            "cross_entropy": replica_mean(cross_entropy),
            "l2": self._coupled_l2("optimizer"),
        }
        return losses, {"accuracy": ops.mean(ops.cast(correct, "float32"))}

    def diffusion_losses(self, x, seed, training=False):
        """The diffusion step's terms and the mean diffusion outputs.

        Args:
            x: a batch of inputs.
            seed: the stateless seed of the pseudo-OOD noise
                (`noise_seed(PSEUDO_OOD, step)` in training).
            training: the networks' mode.

        Returns:
            `(losses, values)`: `bce_in` = `BCE(g(h_0(x)), 0)`, `bce_out`
            = `BCE(g(h_0(x + ood_noise_std * eps)), 1)` on detached
            features and `l2` (the diffusion optimizer's coupled L2), all
            replica-scaled; `diffusion_in`, `diffusion_out`, the mean `g`.
        """
        shape = _dynamic_shape(x)
        if len(x.shape) == 4:  # one noise channel, broadcast (SVHN code)
            shape = (*shape[:3], 1)
        noise = self._normal(seed, shape, 0, dtype=x.dtype)
        x_out = x + self.ood_noise_std * noise
        logit_in = self.diffusion(
            ops.stop_gradient(self.stem(x, training=training)),
            training=training,
        )[:, 0]
        logit_out = self.diffusion(
            ops.stop_gradient(self.stem(x_out, training=training)),
            training=training,
        )[:, 0]
        logit_in = ops.cast(logit_in, "float32")
        logit_out = ops.cast(logit_out, "float32")
        losses = {
            # -log(1 - sigmoid(z)) and -log(sigmoid(z)), from the logit.
            "bce_in": replica_mean(ops.softplus(logit_in)),
            "bce_out": replica_mean(ops.softplus(-logit_out)),
            "l2": self._coupled_l2("diffusion_optimizer"),
        }
        values = {
            "diffusion_in": ops.mean(ops.sigmoid(logit_in)),
            "diffusion_out": ops.mean(ops.sigmoid(logit_out)),
        }
        return losses, values

    def _coupled_l2(self, optimizer):
        """`weight_decay / 2 * sum ||theta||^2` over one optimizer's
        variables, divided by the replica count (PyTorch-SGD-style)."""
        return coupled_weight_decay(
            self.optimizer_variables()[optimizer], self.weight_decay
        )

    def train_step(self, data):
        x, y = self._unpack(data)
        # Both seeds are read before the first optimizer step moves the
        # iteration counter.
        step = ops.convert_to_tensor(self.optimizer.iterations)
        drift_seed = self.noise_seed(BROWNIAN, step)
        diffusion_seed = self.noise_seed(PSEUDO_OOD, step)
        with tf.GradientTape() as tape:
            drift, values = self.drift_losses(x, y, drift_seed, training=True)
            drift_total = drift["cross_entropy"] + drift["l2"]
        self.minimize(tape, drift_total)
        with tf.GradientTape() as tape:
            diffusion, diffusion_values = self.diffusion_losses(
                x, diffusion_seed, training=True
            )
            diffusion_total = (
                diffusion["bce_in"] + diffusion["bce_out"] + diffusion["l2"]
            )
        self.minimize(tape, diffusion_total, optimizer="diffusion_optimizer")
        losses = _combine(drift, diffusion)
        return self.track(losses, {**values, **diffusion_values})

    def compute_losses(self, data, training=False):
        """Both objectives on one batch (what `evaluate` logs), with the
        evaluation noise streams."""
        x, y = self._unpack(data)
        step = 0
        if getattr(self, "optimizer", None) is not None:
            step = ops.convert_to_tensor(self.optimizer.iterations)
        drift, values = self.drift_losses(
            x, y, self.noise_seed(EVAL_BROWNIAN, step), training
        )
        diffusion, diffusion_values = self.diffusion_losses(
            x, self.noise_seed(EVAL_PSEUDO_OOD, step), training
        )
        return _combine(drift, diffusion), {**values, **diffusion_values}

    def _unpack(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None or sample_weight is not None:
            raise ValueError(
                "SDENet trains on (inputs, integer labels) batches without "
                "sample weights"
            )
        return ops.convert_to_tensor(x, self.compute_dtype), y

    def check_fit_data(self, x, y):
        if y is not None and not isinstance(x, tf.data.Dataset):
            check_class_ids(y, self.num_classes)

    # ------------------------------------------------------------------
    # Inference and export
    # ------------------------------------------------------------------
    def call(self, inputs, training=False):
        return self._forward(inputs, None, None, training)[2]

    def mean_probs(self, h0, gate, sigma, noise=None):
        """The softmax averaged over `num_samples` passes at `sigma`.

        Args:
            h0: stem features, `(batch, ...)`.
            gate: `sigmoid(diffusion(h_0))`, `(batch,)`.
            sigma: the diffusion scale (0: one deterministic pass).
            noise: `(num_steps, num_samples * batch, ...)`, pass `m` of
                sample `b` in row `m * batch + b`; default: the inference
                draw.
        """
        if sigma == 0:
            logits = self.head(self.integrate(h0, None, None)[-1])
            return ops.softmax(ops.cast(logits, "float32"), axis=-1)
        m = self.num_samples
        tiled = ops.tile(h0, (m,) + (1,) * (len(h0.shape) - 1))
        if noise is None:
            noise = self._inference_noise(h0)
        h = self.integrate(tiled, sigma * ops.tile(gate, (m,)), noise)[-1]
        logits = self.head(h, training=False)
        probs = ops.softmax(ops.cast(logits, "float32"), axis=-1)
        return ops.mean(ops.reshape(probs, (m, -1, probs.shape[-1])), axis=0)

    def _inference_noise(self, h0):
        shape = _dynamic_shape(h0)
        shape = (self.num_steps, shape[0] * self.num_samples, *shape[1:])
        return self._normal(self.noise_seed(INFERENCE), shape, 1, h0.dtype)

    def classify(self, inputs):
        """Mean probabilities of M passes at `sigma_test`, prediction,
        certainty, OOD score, entropy, diffusion output, sweep scores."""
        inputs = ops.convert_to_tensor(inputs, self.compute_dtype)
        h0 = self.stem(inputs, training=False)
        gate = self.diffusion_gate(h0)
        needs_noise = self.sigma_test > 0 or any(self.sigma_sweep)
        noise = self._inference_noise(h0) if needs_noise else None
        probs = self.mean_probs(h0, gate, self.sigma_test, noise)
        certainty = ops.max(probs, axis=-1)
        entropy = -ops.sum(probs * ops.log(ops.maximum(probs, 1e-30)), axis=-1)
        out = {
            "probs": probs,
            "prediction": ops.argmax(probs, axis=-1),
            "certainty": certainty,
            "ood_score": -certainty,
            "entropy": entropy,
            "diffusion": ops.cast(gate, "float32"),
        }
        for sigma, name in zip(self.sigma_sweep, self.sweep_names, strict=True):
            swept = (
                probs
                if sigma == self.sigma_test
                else self.mean_probs(h0, gate, sigma, noise)
            )
            out[name] = -ops.max(swept, axis=-1)
        return out

    def embed(self, inputs):
        """The stem features `h_0`, as `{"embedding": ...}`."""
        return {"embedding": self.stem(inputs, training=False)}

    def serving_endpoints(self):
        return {"classify": self.classify}

    @property
    def serving_input_shape(self):
        return tuple(self.stem.input_shape[1:])


def _torch_dense(units, fan_in, activation=None, name=None):
    """`keras.layers.Dense` initialised as PyTorch's `nn.Linear`."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.layers.Dense(
        units,
        activation,
        kernel_initializer=keras.initializers.VarianceScaling(
            1.0 / 3.0, "fan_in", "uniform"
        ),
        bias_initializer=keras.initializers.RandomUniform(-bound, bound),
        name=name,
    )


def _dynamic_shape(x):
    """`x`'s shape with the static sizes as ints, the rest as tensors."""
    dynamic = tf.shape(x)
    return tuple(dynamic[i] if s is None else s for i, s in enumerate(x.shape))


def _replica_rows(local):
    """`(offset, global batch)` of this replica's `local` rows, or `None`
    without several replicas."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    sizes = all_gather(ops.reshape(ops.cast(local, "int32"), (1,)))
    replica = context.replica_id_in_sync_group
    return ops.sum(sizes[:replica]), ops.sum(sizes)


def _combine(drift, diffusion):
    losses = {
        "cross_entropy": drift["cross_entropy"],
        "bce_in": diffusion["bce_in"],
        "bce_out": diffusion["bce_out"],
        "l2": drift["l2"] + diffusion["l2"],
    }
    losses["loss"] = sum(losses.values())
    return losses


def _check_sweep(values):
    try:
        entries = tuple(values)
    except TypeError:
        entries = None
    if entries is None or isinstance(values, str):
        raise ValueError(
            f"sigma_sweep must be a tuple of numbers >= 0; got {values!r}"
        )
    entries = tuple(check_number(v, "sigma_sweep", ">= 0") for v in entries)
    if len({_label(v) for v in entries}) != len(entries):
        raise ValueError(f"sigma_sweep must not repeat a value; got {values!r}")
    return entries


def _label(sigma):
    return f"{sigma:g}".replace(".", "p").replace("-", "m").replace("+", "")
