"""What does a ShortcutLens training step cost next to a RotNet step?

A `ShortcutLens` step is two steps: the feature network's (a forward
pass of the lens, then forward and backward passes of the encoder on the
lensed and on the plain images) and the lens's (forward and backward
passes of the lens *and* of the encoder, frozen). Both models train on
one fixed batch of rotated shortcut digits (`keras_ssl.data.
shortcut_digits`, 16x16), interleaved step by step in one process so
both see the same machine, with Adam (the recipes' optimiser). Models:

- `rotnet`: `RotationPrediction`, the control;
- `lens`: `ShortcutLens` with the recipe's lens (U-Net 16-32-64) and
  its defaults (F also trained on unlensed images);
- `lens_lensed_only`: the same with `unlensed_loss=False` (the paper's
  core objective: one encoder pass fewer in the feature step).

Settings: `wide` (the small CNN 32-64-128 of `keras-ssl train lens`)
and `narrow` (4-8-16, the learning tests' encoder). `--batch-size`
counts images; a step sees their 4 rotations. Reported per setting and
model: median step time (ms), rotated copies per second and the ratio
to RotNet's (`vs_rotnet`).

    python benchmarks/lens_step.py [--settings wide narrow] \\
        [--batch-size 64] [--warmup 5] [--steps 50] [--output results.json]
"""

import keras
import tensorflow as tf
from report import write_report
from step_timing import median_step_seconds
from step_timing import parse_arguments
from step_timing import print_rows
from step_timing import ratio_rows

import keras_ssl

SETTINGS = ("wide", "narrow")
MODELS = ("rotnet", "lens", "lens_lensed_only")


def build(kind, width):
    keras.utils.set_random_seed(0)
    encoder = keras_ssl.backbones.small_cnn((16, 16, 1), preset=width)
    if kind == "rotnet":
        model = keras_ssl.representation.RotationPrediction(encoder)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        return model
    model = keras_ssl.representation.ShortcutLens(
        encoder, unlensed_loss=kind == "lens"
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        lens_optimizer=keras.optimizers.Adam(1e-3),
    )
    return model


def compiled_step(model, batch):
    """`train_step` as one `tf.function`, every optimizer built."""
    model(batch[0][:1])
    model.build_optimizers()
    return tf.function(model.train_step)


def main():
    args = parse_arguments(__doc__.split("\n")[0], SETTINGS)
    (x, _), _ = keras_ssl.data.shortcut_digits()
    batch = keras_ssl.augment.rotations(x[: args.batch_size])
    copies = int(batch[0].shape[0])
    rows = []
    for setting in args.settings:
        steps = {
            kind: compiled_step(build(kind, setting), batch) for kind in MODELS
        }
        medians = median_step_seconds(steps, batch, args.warmup, args.steps)
        rows += ratio_rows(setting, medians, copies, baseline="rotnet")
    print_rows(rows, baseline="rotnet")
    if args.output:
        write_report(
            args.output,
            "lens_step",
            rows,
            warmup=args.warmup,
            steps=args.steps,
            images_per_batch=args.batch_size,
        )


if __name__ == "__main__":
    main()
