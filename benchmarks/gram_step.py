"""What does Gram-detector scoring cost next to the bare classifier?

For each setting one classifier is scored three ways on one fixed batch,
interleaved call by call in one process so all three see the same
machine: the classifier alone (`SoftmaxClassifier.classify`: logits,
softmax, maximum probability), the Gram detector with the official orders
1-10 (`GramDetector.classify`: the same forward pass plus the row-summed
Gram features of every tap in float64 and the deviations from the
bounds), and the detector with order 1 only. Each is one `tf.function`,
as an export serves it. The detectors are fitted and calibrated on the
batch first (the bounds' values do not change the cost). Settings:

- `digits`: 16x16 digits, the wide small CNN (32-64-128, BatchNorm),
  3 taps, 5 classes (the `keras-ssl train gram --dataset digits` model);
- `cifar_resnet20`: 32x32x3 inputs (uniform noise), ResNet-20 (16-32-64),
  19 taps (stem, and the inner ReLU and output of each block), 10
  classes, random weights.

Reported per setting and model: median time per batch (ms), images/s,
and the ratio of its images/s to the classifier's (`vs_classifier`).

    python benchmarks/gram_step.py [--warmup 3] [--steps 30]
        [--settings digits cifar_resnet20] [--output results.json]
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from report import write_report

import keras_ssl


def load(setting, batch_size):
    """A fixed batch and the classifier for a setting."""
    keras.utils.set_random_seed(0)
    if setting == "digits":
        (x, y), _ = keras_ssl.data.digits(image_size=16)
        x = x[y < 5]
        encoder = keras_ssl.backbones.small_cnn(x.shape[1:], preset="wide")
        num_classes = 5
    else:
        x = np.random.default_rng(0).random((batch_size, 32, 32, 3))
        encoder = keras_ssl.backbones.cifar_resnet((32, 32, 3), depth=20)
        num_classes = 10
    classifier = keras_ssl.uncertainty.SoftmaxClassifier(encoder, num_classes)
    classifier.build((None, *x.shape[1:]))
    return tf.constant(x[:batch_size], "float32"), classifier


def detector(classifier, batch, powers):
    model = keras_ssl.uncertainty.GramDetector(classifier, powers=powers)
    model.compile()
    model.fit(batch, batch_size=len(batch), verbose=0)
    model.calibrate(np.asarray(batch))
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["digits", "cifar_resnet20"],
        choices=("digits", "cifar_resnet20"),
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    rows = []
    for setting in args.settings:
        batch, classifier = load(setting, args.batch_size)
        gram = detector(classifier, batch, range(1, 11))
        functions = {
            "classifier": tf.function(classifier.classify),
            "gram": tf.function(gram.classify),
            "gram_order_1": tf.function(
                detector(classifier, batch, (1,)).classify
            ),
        }
        for function in functions.values():  # trace and warm up
            for _ in range(args.warmup):
                function(batch)
        times = {kind: [] for kind in functions}
        for _ in range(args.steps):  # interleaved
            for kind, function in functions.items():
                start = time.perf_counter()
                out = function(batch)
                float(out["ood_score"][0])  # wait for the result
                times[kind].append(time.perf_counter() - start)
        medians = {kind: float(np.median(t)) for kind, t in times.items()}
        for kind, seconds in medians.items():
            rows.append(
                {
                    "setting": setting,
                    "model": kind,
                    "taps": len(gram.tap_names),
                    "batch_size": args.batch_size,
                    "batch_ms": round(1000 * seconds, 2),
                    "images_per_s": round(args.batch_size / seconds, 1),
                    "vs_classifier": round(medians["classifier"] / seconds, 3),
                }
            )
    header = ("setting", "model", "taps", "batch ms", "images/s", "vs clf")
    print("{:<15} {:<13} {:>5} {:>9} {:>10} {:>7}".format(*header))
    for r in rows:
        print(
            f"{r['setting']:<15} {r['model']:<13} {r['taps']:>5} "
            f"{r['batch_ms']:>9.2f} {r['images_per_s']:>10.1f} "
            f"{r['vs_classifier']:>7.3f}"
        )
    if args.output:
        write_report(
            args.output, "gram_step", rows, warmup=args.warmup, steps=args.steps
        )


if __name__ == "__main__":
    main()
