"""What does an AET training step cost next to a supervised step?

The same encoder is trained three ways on one fixed batch of 16x16
digits, interleaved step by step in one process so all three see the same
machine: a supervised `SoftmaxClassifier` on the images, AET-affine and
AET-projective on `(x, t(x))` pairs of the same images (made once, before
timing, as `tf.data` makes them during training). All use Adam 1e-3, the
digits recipe's optimiser. An AET step runs the encoder on two images per
sample, so about half the supervised throughput is expected. The pair
sampler alone (`transformation_pairs`, what the input pipeline adds per
batch) is timed too. Settings:

- `recipe`: the `keras-ssl train aet` encoder (small CNN 16-32-64);
- `narrow`: the method note's narrow small CNN (4-8-16).

Reported per setting and model: median step time (ms), samples/s (images
for the supervised step, pairs for AET) and the ratio of samples/s to
the supervised step's (`vs_softmax`); then the median time of making one
batch of pairs.

    python benchmarks/aet_step.py [--warmup 5] [--steps 50]
        [--batch-size 64] [--settings recipe narrow] [--output results.json]
"""

import time

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
from keras_ssl.representation.aet import transformation_pairs

SETTINGS = {"recipe": (16, 32, 64), "narrow": (4, 8, 16)}
# The digits recipe's zero fill (the official CIFAR fill is gray).
FILL = {"fill_value": 0.0}


def build(kind, widths, shape):
    keras.utils.set_random_seed(0)
    encoder = keras_ssl.backbones.small_cnn(shape, widths=widths)
    if kind == "softmax":
        model = keras_ssl.uncertainty.SoftmaxClassifier(encoder, 10)
    else:
        transform = kind.removeprefix("aet_")
        options = FILL if transform == "affine" else {**FILL, "corner_shift": 2}
        model = keras_ssl.representation.AET(
            encoder, transform=transform, transform_options=options
        )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def pair_maker(images, transform, options):
    """One compiled call of the pair sampler, as `tf.data` traces it."""

    @tf.function(autograph=False)
    def make(seed):
        return transformation_pairs(images, seed, transform, **options)

    return make


def main():
    args = parse_arguments(__doc__.split("\n")[0], SETTINGS)
    (x, y), _ = keras_ssl.data.digits(image_size=16)
    images = tf.constant(x[: args.batch_size])
    labelled = (images, tf.constant(y[: args.batch_size]))
    seed = tf.constant([0, 1])
    pairs = {
        "affine": transformation_pairs(images, seed, "affine", **FILL),
        "projective": transformation_pairs(
            images, seed, "projective", corner_shift=2, **FILL
        ),
    }
    rows = []
    for setting in args.settings:
        steps = {}
        for kind in ("softmax", "aet_affine", "aet_projective"):
            batch = labelled if kind == "softmax" else pairs[kind[4:]]
            step = compiled_step(
                build(kind, SETTINGS[setting], x.shape[1:]), batch
            )
            # Each model trains on its own fixed batch.
            steps[kind] = lambda _, step=step, batch=batch: step(batch)
        medians = median_step_seconds(steps, None, args.warmup, args.steps)
        rows += ratio_rows(setting, medians, args.batch_size)
    print_rows(rows)

    sampler_ms = {}
    for transform, options in (
        ("affine", FILL),
        ("projective", {**FILL, "corner_shift": 2}),
    ):
        make = pair_maker(images, transform, options)
        times = []
        for i in range(args.warmup + args.steps):
            start = time.perf_counter()
            float(make(tf.constant([0, i]))[1][0, 0])
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
        sampler_ms[transform] = round(1000 * float(np.median(times)), 2)
        print(
            f"pairs ({transform}), batch {args.batch_size}: "
            f"{sampler_ms[transform]:.2f} ms"
        )
    if args.output:
        write_report(
            args.output,
            "aet_step",
            rows,
            warmup=args.warmup,
            steps=args.steps,
            batch_size=args.batch_size,
            pairs_ms=sampler_ms,
        )


if __name__ == "__main__":
    main()
