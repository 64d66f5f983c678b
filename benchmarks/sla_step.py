"""What does an SLA training step cost next to a plain classifier's?

An SLA step sees every image in its M transformed copies (an M-times
larger batch through the encoder) and adds one `Dense(N * M)` head (and,
with self-distillation, a `Dense(N)` head and its KL term). Models, each
`keras_ssl.supervised.SLA` on one fixed batch of digits at 16x16,
interleaved step by step in one process, plain SGD with momentum:

- `baseline`: `SLA(num_transforms=1)`, plain cross-entropy (the control);
- `sla`: 4 rotations (`num_transforms=4`);
- `sla_sd`: the same with the self-distillation head.

Settings: `wide` (the small CNN 32-64-128) and `narrow` (4-8-16).
`--batch-size` counts original images; reported per setting and model:
median step time (ms), original images per second and the ratio to the
baseline's (`vs_baseline`).

    python benchmarks/sla_step.py [--settings wide narrow] \\
        [--batch-size 64] [--warmup 5] [--steps 50] [--output results.json]
"""

import keras
import numpy as np
import tensorflow as tf
from report import write_report
from step_timing import median_step_seconds
from step_timing import parse_arguments
from step_timing import print_rows
from step_timing import ratio_rows

import keras_ssl
from keras_ssl.supervised.sla import transformed_copies

SETTINGS = ("wide", "narrow")
MODELS = {"baseline": (1, False), "sla": (4, False), "sla_sd": (4, True)}


def compiled_step(width, num_transforms, self_distillation, x, y):
    """The model's `train_step` on its expanded batch, as one function."""
    keras.utils.set_random_seed(0)
    model = keras_ssl.supervised.SLA(
        keras_ssl.backbones.small_cnn((16, 16, 1), preset=width),
        num_classes=10,
        num_transforms=num_transforms,
        self_distillation=self_distillation,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    copies = transformed_copies(x, num_transforms=num_transforms)
    batch = (copies, tf.repeat(y, num_transforms))
    model(x[:1])
    model.build_optimizers()
    step = tf.function(model.train_step)
    return lambda _: step(batch)


def main():
    args = parse_arguments(__doc__.split("\n")[0], SETTINGS)
    (x, y), _ = keras_ssl.data.digits(image_size=16)
    x, y = x[: args.batch_size], np.asarray(y[: args.batch_size])
    rows = []
    for setting in args.settings:
        steps = {
            name: compiled_step(setting, m, sd, x, y)
            for name, (m, sd) in MODELS.items()
        }
        medians = median_step_seconds(steps, None, args.warmup, args.steps)
        rows += ratio_rows(setting, medians, len(x), baseline="baseline")
    print_rows(rows, baseline="baseline")
    if args.output:
        write_report(
            args.output,
            "sla_step",
            rows,
            warmup=args.warmup,
            steps=args.steps,
            images_per_batch=len(x),
        )


if __name__ == "__main__":
    main()
