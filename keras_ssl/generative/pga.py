import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.distribution import replica_rows
from keras_ssl.core.distribution import replica_sum
from keras_ssl.core.ordering import after_forward_pass
from keras_ssl.generative.autoencoder import Autoencoder

VARIANTS = ("lpga", "vpga")
# The official warm-up by variant: `train_lpga.py --init_steps 3000`; the
# VPGA script has none.
INIT_STEPS = {"lpga": 3000, "vpga": 0}
# Stateless noise streams. The seed of a draw is
# `(seed, NUM_STREAMS * step + stream)`, so no two draws share a seed.
PRIOR, PERTURBATION, EVAL_PRIOR, EVAL_PERTURBATION = range(4)
NUM_STREAMS = 4
# LPGA's perturbation norm is `DIRECTION_SCALE * sqrt(d)` (official code).
DIRECTION_SCALE = 1e-2
# VPGA's log-variance head starts at sigma = 0.1 (official code).
LOG_VARIANCE_BIAS = 2.0 * math.log(0.1)
LOG_2PI = math.log(2.0 * math.pi)


@keras.saving.register_keras_serializable(package="keras_ssl")
class PGA(Autoencoder):
    """Perceptual generative autoencoder: LPGA and VPGA.

    An autoencoder whose latent space is pushed to `N(0, I)` in a way
    that carries over to the images: the data `x` and the generated
    images `D(z)`, `z ~ N(0, I)`, are both mapped into the latent space by
    the encoder `E`, and matched there. With `f = E o D`, `d` =
    `latent_dim`, `sg` = stop-gradient and every "MSE" the mean over all
    elements (TF1's `tf.losses.mean_squared_error`), the terms are, as the
    official code computes them (`zj10/PGA`, reference commit `aa90855`,
    `train_lpga.py` and `train_vpga.py`):

    - `reconstruction` = MSE(x, D(E(x))) (`E(x)` is the mean `mu` for
      VPGA);
    - `latent_reconstruction` = MSE(z, f(z)) for prior samples `z ~
      N(0, I)`, one per example of the batch;
    - `code_reconstruction` = MSE(sg E(x), f(sg E(x))), only computed and
      logged when `code_weight > 0`;
    - LPGA: `nll_encoder` = `-mean log N(E(x); 0, I) / d` and
      `nll_decoder` = `mean[(d / 2) log ||(f(z + delta) - f(z)) / eps||^2]
      / d` with `z = sg E(x)` and `delta` a uniformly random direction of
      norm `eps = 0.01 sqrt(d)`: a one-sample stochastic surrogate of `log
      |det df/dz|` (noisy by design);
    - VPGA: the encoder also outputs `log sigma^2` (a second linear head
      whose bias starts at `2 ln 0.1`, so `sigma = 0.1`);
      `vae_reconstruction` = MSE(f~(sg mu) / s, f~(sg mu + sigma * eps) /
      s), `eps ~ N(0, I)`, with `s` the per-dimension root mean square of
      `mu` over the batch (stop-gradient) and `f~(z) = f(z) - E(sg D(z))
      + sg f(z)`, the same value as `f(z)` whose gradient reaches the
      decoder through the encoder's input Jacobian but not the encoder's
      weights (the encoder receives this term only through `sigma`); `kl`
      = mean over batch and dimensions of `KL(N(mu, sigma^2) || N(0,
      1))`.

    The split of gradients is the official one: the **encoder** (trunk and
    heads) is updated only with the gradient of

        L_enc = reconstruction + latent_weight * latent_reconstruction
                + code_weight * code_reconstruction
                + nll_weight * nll_encoder                    (LPGA)
                + vae_reconstruction_weight * vae_reconstruction
                + kl_weight * kl                              (VPGA)

    and the **decoder** only with the gradient of

        L_dec = reconstruction + nll_weight * nll_decoder     (LPGA)
                + vae_reconstruction_weight * vae_reconstruction  (VPGA).

    Both gradient lists go to one optimizer in one `apply` (the official
    code's one `MomentumOptimizer.apply_gradients` on their union), so the
    optimizer's `iterations` count steps as the official `global_step`
    does. A single summed loss would be a different algorithm.

    Warm-up: for the first `init_steps` steps (counted by the optimizer's
    iterations) every weight but the reconstruction's is 0, a pure
    autoencoder. Default: 3000 for LPGA (`train_lpga.py`), none for VPGA
    (the VPGA script has no warm-up). The official condition is
    `global_step > init_steps`, one pure-autoencoder step more than
    `init_steps`; here `init_steps=0` means no warm-up.

    Noise and replicas: the prior samples, LPGA's directions and VPGA's
    `eps` are drawn with stateless ops from the seed `(seed, 4 * step +
    stream)`, with the step from the optimizer's iterations, for the
    whole global batch; under `tf.distribute.MirroredStrategy` each
    replica keeps the rows of its own examples
    (`keras_ssl.core.replica_rows`), and VPGA's `s` is the root mean
    square over the global batch (`replica_sum`). So a run resumes
    exactly and R replicas take the step of one device. Validation
    batches (`evaluate`) draw from other streams.

    Not implemented: LVPGA (`train_lvpga.py`, the hybrid of both).

    Reference:
        Zhang, Zhang, Li, Bengio and Paull, "Perceptual Generative
        Autoencoders", ICML 2020 (arXiv:1906.10335); official code
        `zj10/PGA`.

    Args:
        encoder: a `keras.Model`, images -> features: the trunk without
            the last linear layer, which is PGA's `latent` head (and, for
            VPGA, its `log_variance` head), as in the official encoders.
        decoder: a `keras.Model`, codes `(batch, latent_dim)` -> images of
            the encoder's input shape (the official decoders end in tanh,
            for images in `[-1, 1]`).
        variant: `"lpga"` (default) or `"vpga"`.
        latent_weight: float >= 0, `--zn_rec`, the weight of
            `latent_reconstruction`. Default 6e-2, the official MNIST
            default of both scripts (CIFAR-10 and CelebA: 3e-2).
        code_weight: float >= 0, `--zh_rec`, the weight of
            `code_reconstruction`. Default 0, the official default (CelebA:
            1e-2).
        nll_weight: float >= 0, `--nll`, LPGA's weight of both NLL terms.
            Default 1.5e-2, the official default (CelebA: 1e-2). Ignored
            by VPGA.
        vae_reconstruction_weight: float >= 0, `--vrec`, VPGA's weight of
            `vae_reconstruction`. Default 1e-2, the official MNIST default
            (CIFAR-10: 5e-3; the CelebA command keeps this script default,
            1e-2 in every version of `train_vpga.py`, where the method
            note's table says 2e-2). Ignored by LPGA.
        kl_weight: float >= 0, `--vkld`, VPGA's weight of `kl`. Default
            2e-2, the official MNIST default (CIFAR-10: 3e-2; CelebA:
            2e-3). Ignored by LPGA.
        init_steps: int >= 0, the warm-up steps; default `None`: the
            official value for the variant (3000 for LPGA, 0 for VPGA).
        seed: int >= 0, the seed of every noise draw. Default `None`:
            drawn from NumPy's global generator (which
            `keras.utils.set_random_seed` seeds) and stored, so the config
            holds it.
        **kwargs: passed to `keras.Model` (`name`, ...).

    Optimizer (official code): `keras.optimizers.SGD(0.1, momentum=0.9)`,
    a constant rate (CIFAR-10 0.2, CelebA 0.4), batch 64; the official
    MNIST runs train 600 epochs with `latent_dim` 12 (LPGA) or 32 (VPGA).

    Inference as `keras_ssl.generative.Autoencoder` (`encode`, `decode`,
    `reconstruct`, `sample`, and the `sample`, `encode` and
    `reconstruct` endpoints); VPGA's `encode` also returns
    `log_variance`, and its code is the mean. Logged: `loss` (every term
    once with its warm-up weight: `reconstruction` plus the weighted other
    terms), `reconstruction`, `latent_reconstruction`,
    (`code_reconstruction`,) and `nll_encoder`, `nll_decoder` (LPGA) or
    `vae_reconstruction`, `kl` (VPGA), all unweighted.

    Example:

    ```python
    import keras
    import keras_ssl

    (x, _), _ = keras_ssl.data.digits()
    x = 2.0 * x - 1.0  # [-1, 1], for the decoder's tanh
    networks = keras_ssl.generative.PGA.mlp_networks(
        x.shape[1:], latent_dim=8, hidden=(32,)
    )
    model = keras_ssl.generative.PGA(**networks, init_steps=5, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(x, batch_size=64, epochs=1, verbose=0)
    codes = model.encode(x[:4])["latent"]  # (4, 8)
    images = model.sample(4, seed=0)["images"]  # (4, 8, 8, 1)
    ```
    """

    paper = "Zhang et al., ICML 2020 (PGA)"

    def __init__(
        self,
        encoder,
        decoder,
        variant="lpga",
        latent_weight=6e-2,
        code_weight=0.0,
        nll_weight=1.5e-2,
        vae_reconstruction_weight=1e-2,
        kl_weight=2e-2,
        init_steps=None,
        seed=None,
        **kwargs,
    ):
        if variant not in VARIANTS:
            raise ValueError(
                f"variant must be one of {VARIANTS}; got {variant!r}"
            )
        # Read by `tracked_names` in the base's __init__.
        self.variant = variant
        self.code_weight = check_number(code_weight, "code_weight", ">= 0")
        super().__init__(encoder, decoder, **kwargs)
        self.latent_weight = check_number(
            latent_weight, "latent_weight", ">= 0"
        )
        self.nll_weight = check_number(nll_weight, "nll_weight", ">= 0")
        self.vae_reconstruction_weight = check_number(
            vae_reconstruction_weight, "vae_reconstruction_weight", ">= 0"
        )
        self.kl_weight = check_number(kl_weight, "kl_weight", ">= 0")
        if init_steps is not None:
            init_steps = check_integer(init_steps, 0, "init_steps")
        self.init_steps = init_steps
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        self.seed = check_integer(seed, 0, "seed")
        self.log_variance_head = None
        if variant == "vpga":
            self.log_variance_head = keras.layers.Dense(
                self.latent_dim,
                bias_initializer=keras.initializers.Constant(LOG_VARIANCE_BIAS),
                name="log_variance",
            )

    @property
    def tracked_names(self):
        names = ["loss", "reconstruction", "latent_reconstruction"]
        if self.code_weight > 0:
            names.append("code_reconstruction")
        if self.variant == "lpga":
            names += ["nll_encoder", "nll_decoder"]
        else:
            names += ["vae_reconstruction", "kl"]
        return tuple(names)

    @property
    def warmup_steps(self):
        """The warm-up in use: `init_steps`, or the variant's default."""
        if self.init_steps is None:
            return INIT_STEPS[self.variant]
        return self.init_steps

    def build(self, input_shape):
        super().build(input_shape)
        if self.log_variance_head is not None:
            features = self.encoder.compute_output_shape(input_shape)
            self.log_variance_head.build(features)

    @property
    def encoder_variables(self):
        heads = []
        if self.log_variance_head is not None:
            heads = self.log_variance_head.trainable_variables
        return [*super().encoder_variables, *heads]

    # ------------------------------------------------------------------
    # The networks
    # ------------------------------------------------------------------
    def posterior(self, images, training=False):
        """`(mu, log_variance)` of the images; `log_variance` is `None`
        for LPGA, whose code is `mu`."""
        features = self.encoder(images, training=training)
        mu = self.latent_head(features)
        if self.log_variance_head is None:
            return mu, None
        return mu, self.log_variance_head(features)

    def decode_encode(self, z, training=False):
        """`f(z) = E(D(z))` (the code of the decoded image)."""
        return self.latent(self.decoder(z, training=training), training)

    def _decode_encode_decoder_only(self, z, training):
        """`f(z) - E(sg D(z)) + sg f(z)`: the value of `f(z)`, whose
        gradient reaches the decoder through `E`'s input Jacobian and
        never `E`'s weights (the official `no_enc_grad=True`)."""
        images = self.decoder(z, training=training)
        code = self.latent(images, training)
        frozen = self.latent(ops.stop_gradient(images), training)
        return code - frozen + ops.stop_gradient(code)

    # ------------------------------------------------------------------
    # Noise
    # ------------------------------------------------------------------
    def noise_seed(self, stream, step=0):
        """The stateless seed `(seed, 4 * step + stream)` of one draw.

        Streams (module constants): `PRIOR` and `PERTURBATION` (training),
        `EVAL_PRIOR` and `EVAL_PERTURBATION` (`evaluate`).
        """
        step = ops.cast(step, "int64")
        return ops.stack(
            [
                ops.convert_to_tensor(self.seed, "int64"),
                step * NUM_STREAMS + stream,
            ]
        )

    def draw_noise(self, local_batch, step, evaluation=False):
        """The noise of one step: `{"prior": z, "perturbation": ...}`.

        `prior` holds the `N(0, I)` samples of `latent_reconstruction`;
        `perturbation` LPGA's directions `delta` (norm `0.01 sqrt(d)`) or
        VPGA's `eps ~ N(0, I)`. Each is this replica's rows of a draw for
        the global batch, `(local_batch, latent_dim)`.

        Args:
            local_batch: this replica's batch size.
            step: the optimizer's iterations before the step.
            evaluation: draw from the evaluation streams.
        """
        prior_stream, perturbation_stream = (
            (EVAL_PRIOR, EVAL_PERTURBATION)
            if evaluation
            else (PRIOR, PERTURBATION)
        )
        prior = self._global_normal(
            self.noise_seed(prior_stream, step), local_batch
        )
        draw = self._global_normal(
            self.noise_seed(perturbation_stream, step), local_batch
        )
        if self.variant == "lpga":
            norm = ops.sqrt(ops.sum(ops.square(draw), axis=1, keepdims=True))
            draw = draw / norm * self.perturbation_norm
        return {"prior": prior, "perturbation": draw}

    @property
    def perturbation_norm(self):
        """LPGA's `eps = 0.01 sqrt(d)`."""
        return DIRECTION_SCALE * math.sqrt(self.latent_dim)

    def _global_normal(self, seed, local_batch):
        offset, total = replica_rows(local_batch)
        draw = tf.random.stateless_normal(
            ops.stack([total, self.latent_dim]), seed
        )
        return draw[offset : offset + ops.cast(local_batch, "int32")]

    # ------------------------------------------------------------------
    # Losses
    # ------------------------------------------------------------------
    def loss_terms(self, images, noise, training=False):
        """Every term, unweighted, each reduced with `replica_mean`.

        Args:
            images: a batch of images.
            noise: the step's `draw_noise(...)`.
            training: the networks' training mode.

        Returns:
            A dict with the tracked terms (all but `loss`).
        """
        mu, log_variance = self.posterior(images, training)
        rebuilt = self.decoder(mu, training=training)
        terms = {"reconstruction": replica_mean(ops.square(images - rebuilt))}
        prior = ops.cast(noise["prior"], mu.dtype)
        terms["latent_reconstruction"] = replica_mean(
            ops.square(prior - self.decode_encode(prior, training))
        )
        code = ops.stop_gradient(mu)
        if self.code_weight > 0:
            terms["code_reconstruction"] = replica_mean(
                ops.square(code - self.decode_encode(code, training))
            )
        perturbation = ops.cast(noise["perturbation"], mu.dtype)
        d = self.latent_dim
        if self.variant == "lpga":
            squared_norm = ops.sum(ops.square(mu), axis=-1)
            terms["nll_encoder"] = replica_mean(
                (0.5 * squared_norm + 0.5 * d * LOG_2PI) / d
            )
            moved = self.decode_encode(
                code + perturbation, training
            ) - self.decode_encode(code, training)
            stretch = ops.sum(
                ops.square(moved / self.perturbation_norm), axis=-1
            )
            # (d / 2) log ||.||^2, averaged, then divided by d.
            terms["nll_decoder"] = replica_mean(0.5 * ops.log(stretch))
            return terms
        local = ops.cast(ops.shape(mu)[0], "float32")
        mean_square = replica_sum(
            ops.sum(ops.square(ops.cast(mu, "float32")), axis=0)
        ) / replica_sum(local)
        scale = ops.cast(ops.stop_gradient(ops.sqrt(mean_square)), mu.dtype)
        sigma = ops.exp(0.5 * log_variance)
        centre = self._decode_encode_decoder_only(code, training)
        moved = self._decode_encode_decoder_only(
            code + sigma * perturbation, training
        )
        terms["vae_reconstruction"] = replica_mean(
            ops.square(centre / scale - moved / scale)
        )
        terms["kl"] = replica_mean(
            -0.5 * (1.0 + log_variance - ops.square(mu) - ops.exp(log_variance))
        )
        return terms

    def objectives(self, terms, step):
        """`{"encoder": L_enc, "decoder": L_dec, "loss": the logged total}`
        with the warm-up applied at `step` (the optimizer's iterations)."""
        on = ops.cast(
            ops.greater_equal(ops.cast(step, "int64"), self.warmup_steps),
            "float32",
        )
        rec = terms["reconstruction"]
        weighted = {
            "latent_reconstruction": self.latent_weight,
            "code_reconstruction": self.code_weight,
            "nll_encoder": self.nll_weight,
            "nll_decoder": self.nll_weight,
            "vae_reconstruction": self.vae_reconstruction_weight,
            "kl": self.kl_weight,
        }
        parts = {
            name: on * weight * terms[name]
            for name, weight in weighted.items()
            if name in terms
        }
        if self.variant == "lpga":
            encoder_terms = ("latent_reconstruction", "code_reconstruction")
            encoder_terms += ("nll_encoder",)
            decoder_terms = ("nll_decoder",)
        else:
            encoder_terms = ("latent_reconstruction", "code_reconstruction")
            encoder_terms += ("vae_reconstruction", "kl")
            decoder_terms = ("vae_reconstruction",)
        encoder = rec + sum(parts[n] for n in encoder_terms if n in parts)
        decoder = rec + sum(parts[n] for n in decoder_terms)
        return {
            "encoder": encoder,
            "decoder": decoder,
            "loss": rec + sum(parts.values()),
        }

    def split_gradients(self, images, noise, step):
        """The gradients of one training step and what they came from.

        Returns:
            `(encoder_gradients, decoder_gradients, terms, objectives)`:
            the gradient of `L_enc` for `encoder_variables` and of `L_dec`
            for `decoder_variables` (scaled by the optimizer's loss scale
            under mixed precision, which its `apply` undoes), the terms of
            `loss_terms` and the three `objectives`.
        """
        optimizer = getattr(self, "optimizer", None)
        with tf.GradientTape(persistent=True) as tape:
            terms = self.loss_terms(images, noise, training=True)
            objectives = self.objectives(terms, step)
            regularization = self.regularization_loss()
            encoder_loss = objectives["encoder"] + regularization
            decoder_loss = objectives["decoder"] + regularization
            if optimizer is not None:
                encoder_loss = optimizer.scale_loss(encoder_loss)
                decoder_loss = optimizer.scale_loss(decoder_loss)
        encoder_gradients = tape.gradient(encoder_loss, self.encoder_variables)
        decoder_gradients = tape.gradient(decoder_loss, self.decoder_variables)
        del tape
        return encoder_gradients, decoder_gradients, terms, objectives

    def train_step(self, data):
        images = self.images(data)
        # The noise seeds are read before the step moves the counter.
        step = ops.convert_to_tensor(self.optimizer.iterations)
        noise = self.draw_noise(ops.shape(images)[0], step)
        encoder_gradients, decoder_gradients, terms, objectives = (
            self.split_gradients(images, noise, step)
        )
        # One optimizer step on both lists, as the official code does.
        with after_forward_pass(objectives, terms):
            self.optimizer.apply(
                [*encoder_gradients, *decoder_gradients],
                [*self.encoder_variables, *self.decoder_variables],
            )
        return self.track({**terms, "loss": objectives["loss"]})

    def compute_losses(self, data, training=False):
        images = self.images(data)
        step = 0
        if getattr(self, "optimizer", None) is not None:
            step = ops.convert_to_tensor(self.optimizer.iterations)
        noise = self.draw_noise(ops.shape(images)[0], step, evaluation=True)
        terms = self.loss_terms(images, noise, training)
        return {**terms, "loss": self.objectives(terms, step)["loss"]}, {}

    # ------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------
    def encode(self, images):
        """`{"latent": mu}` (and `log_variance` for VPGA), inference mode."""
        mu, log_variance = self.posterior(images)
        if log_variance is None:
            return {"latent": mu}
        return {"latent": mu, "log_variance": log_variance}
