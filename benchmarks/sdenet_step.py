"""What do an SDE-Net training step and its M-pass inference cost?

For each setting SDE-Net and the deterministic network of the same size
(the same stem, drift and head, the Euler steps without noise and without
the diffusion net, trained by cross-entropy alone with one optimizer) are
timed side by side in one process, interleaved step by step, on one fixed
batch:

- training: one `train_step` as a `tf.function` (what `fit` runs per
  step). SDE-Net's step is a stochastic pass with its cross-entropy step,
  then the diffusion net's step on the batch and on a noisy copy.
- inference: `classify` as a `tf.function`; SDE-Net averages M = 10
  stochastic passes (the stem and the diffusion net run once), the
  deterministic network runs one pass. No sweep scores.

Settings:

- `digits_mlp`: the `keras-ssl train sdenet --dataset digits` model: 8x8
  digits, the MLP SDE-Net (width 64, L = 4 steps), batch 128;
- `digits_conv`: the official conv net (64 channels, L = 6 steps) on
  16x16 digits, batch 128.

All use SGD with momentum 0.9. Reported per setting, phase and model:
median time per call (ms), samples/s and the ratio of SDE-Net's samples/s
to the deterministic network's (`vs_deterministic`).

    python benchmarks/sdenet_step.py [--warmup 3] [--steps 30]
        [--settings digits_mlp digits_conv] [--output results.json]
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from report import write_report

import keras_ssl
from keras_ssl.uncertainty import SDENet

SETTINGS = {
    "digits_mlp": {
        "image_size": 8,
        "network": "mlp",
        "sde": {"num_steps": 4, "t_end": 4.0, "sigma_train": 1.0},
    },
    "digits_conv": {
        "image_size": 16,
        "network": "conv",
        "sde": {"num_steps": 6, "t_end": 6.0, "sigma_train": 20.0},
    },
}


class DeterministicNetwork(keras.Model):
    """SDE-Net's stem, drift and head with the Euler steps of the drift
    alone (SDE-Net at sigma = 0), without a diffusion net."""

    def __init__(self, sdenet):
        super().__init__()
        self.stem = sdenet.stem
        self.drift = sdenet.drift
        self.head = sdenet.head
        self._integrate = sdenet.integrate

    def call(self, x, training=False):
        h0 = self.stem(x, training=training)
        return self.head(self._integrate(h0, None, None, training)[-1])

    def classify(self, x):
        return {"probs": keras.ops.softmax(self(x))}


def networks(setting, x, num_classes):
    keras.utils.set_random_seed(0)
    shape = x.shape[1:]
    if SETTINGS[setting]["network"] == "mlp":
        return SDENet.mlp_networks(shape, num_classes)
    return SDENet.conv_networks(shape, num_classes)


def build(kind, setting, x, num_classes):
    sdenet = SDENet(
        **networks(setting, x, num_classes),
        sigma_sweep=(),
        seed=0,
        **SETTINGS[setting]["sde"],
    )
    sgd = keras.optimizers.SGD
    if kind == "sdenet":
        sdenet.compile(
            optimizer=sgd(0.01, momentum=0.9),
            diffusion_optimizer=sgd(0.01, momentum=0.9),
        )
        sdenet(x[:1])
        sdenet.build_optimizers()
        return sdenet
    model = DeterministicNetwork(sdenet)
    model.compile(
        optimizer=sgd(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model(x[:1])
    model.optimizer.build(model.trainable_variables)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    rows = []
    for setting in args.settings:
        (x, y), _ = keras_ssl.data.digits(
            image_size=SETTINGS[setting]["image_size"]
        )
        x = tf.constant(x[: args.batch_size])
        y = tf.constant(y[: args.batch_size])
        num_classes = 10
        models = {
            kind: build(kind, setting, x, num_classes)
            for kind in ("deterministic", "sdenet")
        }
        calls = {}  # (phase, model) -> (function, its argument, output)
        for kind, model in models.items():
            calls["train", kind] = (
                tf.function(model.train_step),
                (x, y),
                "loss",
            )
            calls["inference", kind] = (tf.function(model.classify), x, "probs")
        for function, argument, output in calls.values():  # trace, warm up
            for _ in range(args.warmup):
                np.asarray(function(argument)[output])
        times = {key: [] for key in calls}
        for _ in range(args.steps):  # interleaved
            for key, (function, argument, output) in calls.items():
                start = time.perf_counter()
                np.asarray(function(argument)[output])  # wait for it
                times[key].append(time.perf_counter() - start)
        medians = {key: float(np.median(t)) for key, t in times.items()}
        for (phase, kind), seconds in medians.items():
            rows.append(
                {
                    "setting": setting,
                    "phase": phase,
                    "model": kind,
                    "batch_size": args.batch_size,
                    "ms": round(1000 * seconds, 2),
                    "samples_per_s": round(args.batch_size / seconds, 1),
                    "vs_deterministic": round(
                        medians[(phase, "deterministic")] / seconds, 3
                    ),
                }
            )
    header = ("setting", "phase", "model", "ms", "samples/s", "vs determ.")
    print("{:<12} {:<10} {:<14} {:>9} {:>10} {:>11}".format(*header))
    for r in rows:
        print(
            f"{r['setting']:<12} {r['phase']:<10} {r['model']:<14} "
            f"{r['ms']:>9.2f} {r['samples_per_s']:>10.1f} "
            f"{r['vs_deterministic']:>11.3f}"
        )
    if args.output:
        write_report(
            args.output,
            "sdenet_step",
            rows,
            warmup=args.warmup,
            steps=args.steps,
        )


if __name__ == "__main__":
    main()
