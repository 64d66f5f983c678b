"""What does a PGA training step cost next to a plain autoencoder step?

For each setting the same encoder and decoder are trained three ways on
one fixed batch, interleaved step by step in one process so all three
see the same machine: the plain `Autoencoder` (one forward and backward
pass of encoder and decoder), LPGA and VPGA (the forward passes of their
extra terms, two gradient lists from one persistent tape, one optimizer
step). All use SGD with momentum 0.9, every PGA term on (no warm-up).
Settings:

- `digits`: 8x8 digits, the `keras-ssl train pga` MLP (64-256-256-8
  encoder, 8-256-256-64 decoder);
- `conv_mnist`: 28x28 images in [-1, 1] (uniform noise: the cost does
  not depend on the pixels), the official conv_mnist networks (conv
  64-128, FC 1024; 12-d codes).

Reported per setting and model: median step time (ms), samples/s, and
the ratio of each model's samples/s to the autoencoder's
(`vs_autoencoder`).

    python benchmarks/pga_step.py [--warmup 5] [--steps 50]
        [--settings digits conv_mnist] [--output results.json]
"""

import keras
import numpy as np
import tensorflow as tf
from report import write_report
from step_timing import compiled_step
from step_timing import median_step_seconds
from step_timing import parse_arguments
from step_timing import print_rows
from step_timing import ratio_rows

import keras_ssl
from keras_ssl.generative import PGA
from keras_ssl.generative import Autoencoder

SETTINGS = ("digits", "conv_mnist")
MODELS = ("autoencoder", "lpga", "vpga")


def load(setting, batch_size):
    """A fixed image batch in [-1, 1] and a network factory."""
    if setting == "digits":
        (x, _), _ = keras_ssl.data.digits()
        x = 2.0 * x[:batch_size] - 1.0

        def networks():
            return PGA.mlp_networks(x.shape[1:], 8, hidden=(256, 256))

    else:
        rng = np.random.default_rng(0)
        x = rng.uniform(-1.0, 1.0, (batch_size, 28, 28, 1))

        def networks():
            return PGA.conv_networks(x.shape[1:], 12)

    return (tf.constant(x, "float32"),), networks


def build(kind, networks):
    keras.utils.set_random_seed(0)
    if kind == "autoencoder":
        model = Autoencoder(**networks())
    else:
        model = PGA(**networks(), variant=kind, init_steps=0, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    return model


def main():
    args = parse_arguments(__doc__.split("\n")[0], SETTINGS)
    rows = []
    for setting in args.settings:
        batch, networks = load(setting, args.batch_size)
        steps = {
            kind: compiled_step(build(kind, networks), batch) for kind in MODELS
        }
        medians = median_step_seconds(steps, batch, args.warmup, args.steps)
        rows += ratio_rows(
            setting, medians, args.batch_size, baseline="autoencoder"
        )
    print_rows(rows, baseline="autoencoder")
    if args.output:
        write_report(
            args.output, "pga_step", rows, warmup=args.warmup, steps=args.steps
        )


if __name__ == "__main__":
    main()
