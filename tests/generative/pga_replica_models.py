"""Module-level PGA builders for the tests (importable by the harness's
worker process)."""

import keras
import numpy as np

from keras_ssl.generative import PGA

SHAPE = (4, 4, 1)
LATENT = 3
# Every term on from the first step (no warm-up, code_weight > 0) and
# weights large enough that each term moves the step, so a wrong replica
# scaling or a wrong noise draw on a replica shows up.
SETTINGS = {
    "latent_weight": 0.5,
    "code_weight": 0.3,
    "nll_weight": 0.2,
    "vae_reconstruction_weight": 0.4,
    "kl_weight": 0.3,
    "init_steps": 0,
    "seed": 5,
}


def batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (n, *SHAPE)).astype("float32")


def pga(variant="lpga", **settings):
    """The tiny PGA of the tests (not compiled, not built)."""
    networks = PGA.mlp_networks(SHAPE, LATENT, hidden=(8,))
    return PGA(**networks, variant=variant, **{**SETTINGS, **settings})


def build_lpga():
    model = pga("lpga")
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def build_vpga():
    model = pga("vpga")
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model
