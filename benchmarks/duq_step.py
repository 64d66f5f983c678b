"""What does a DUQ training step cost next to a softmax step?

For each setting the same encoder is trained three ways on one fixed
batch, interleaved step by step in one process so all three see the same
machine: a `SoftmaxClassifier`, DUQ with the gradient penalty (a nested
tape: second-order gradients through the encoder) and DUQ without it
(`gradient_penalty=0`, no inner tape). All use SGD with momentum 0.9 and
DUQ's coupled L2 is on, as in the official runs. Settings:

- `digits`: 16x16 digits, wide small CNN (32-64-128, BatchNorm), DUQ
  embedding 256, batch 64 (the `keras-ssl train duq --dataset digits`
  model);
- `two_moons`: the MLP 2-20-20-20, DUQ embedding 10, batch 64 (the
  official notebook model).

Reported per setting and model: median step time (ms), samples/s, and
the ratio of DUQ's samples/s to the softmax step's (`vs_softmax`).

    python benchmarks/duq_step.py [--warmup 5] [--steps 50]
        [--settings digits two_moons] [--output results.json]
"""

import argparse
import functools
import time

import keras
import numpy as np
import tensorflow as tf
from report import write_report

import keras_ssl

SETTINGS = {
    "digits": {"embedding_size": 256, "length_scale": 0.1, "gamma": 0.99},
    "two_moons": {"embedding_size": 10, "length_scale": 0.3, "gamma": 0.99},
}


def load(setting, batch_size):
    """A fixed batch, an encoder factory and the number of classes."""
    if setting == "digits":
        (x, y), _ = keras_ssl.data.digits(image_size=16)
        make_encoder = functools.partial(
            keras_ssl.backbones.small_cnn, x.shape[1:], preset="wide"
        )
    else:
        (x, y), _ = keras_ssl.data.two_moons()
        make_encoder = functools.partial(
            keras_ssl.backbones.mlp, x.shape[1:], hidden=(20, 20, 20)
        )
    batch = (tf.constant(x[:batch_size]), tf.constant(y[:batch_size]))
    return batch, make_encoder, int(y.max()) + 1


def build(kind, setting, encoder, num_classes):
    keras.utils.set_random_seed(0)
    if kind == "softmax":
        model = keras_ssl.uncertainty.SoftmaxClassifier(encoder(), num_classes)
    else:
        model = keras_ssl.uncertainty.DUQ(
            encoder(),
            num_classes,
            gradient_penalty=0.5 if kind == "duq_gp" else 0.0,
            weight_decay=1e-4,
            **SETTINGS[setting],
        )
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    return model


def compiled_step(model, batch):
    """The model's `train_step` as one `tf.function` (what `fit` runs per
    step, without callbacks and progress bar)."""
    model(batch[0][:1])
    model.optimizer.build(model.trainable_variables)
    return tf.function(model.train_step)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    rows = []
    for setting in args.settings:
        batch, encoder, num_classes = load(setting, args.batch_size)
        steps = {
            kind: compiled_step(
                build(kind, setting, encoder, num_classes), batch
            )
            for kind in ("softmax", "duq_gp", "duq_no_gp")
        }
        for step in steps.values():  # trace and warm up
            for _ in range(args.warmup):
                step(batch)
        times = {kind: [] for kind in steps}
        for _ in range(args.steps):  # interleaved
            for kind, step in steps.items():
                start = time.perf_counter()
                logs = step(batch)
                float(logs["loss"])  # wait for the step to finish
                times[kind].append(time.perf_counter() - start)
        medians = {kind: float(np.median(t)) for kind, t in times.items()}
        for kind, seconds in medians.items():
            rows.append(
                {
                    "setting": setting,
                    "model": kind,
                    "batch_size": args.batch_size,
                    "step_ms": round(1000 * seconds, 2),
                    "samples_per_s": round(args.batch_size / seconds, 1),
                    "vs_softmax": round(medians["softmax"] / seconds, 3),
                }
            )
    header = ("setting", "model", "step ms", "samples/s", "vs softmax")
    print("{:<10} {:<10} {:>9} {:>10} {:>11}".format(*header))
    for r in rows:
        print(
            f"{r['setting']:<10} {r['model']:<10} {r['step_ms']:>9.2f} "
            f"{r['samples_per_s']:>10.1f} {r['vs_softmax']:>11.3f}"
        )
    if args.output:
        write_report(
            args.output, "duq_step", rows, warmup=args.warmup, steps=args.steps
        )


if __name__ == "__main__":
    main()
