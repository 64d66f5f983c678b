"""What does a DUQ training step cost next to a softmax step?

For each setting the same encoder is trained three ways on one fixed
batch, interleaved step by step in one process so all three see the same
machine: a `SoftmaxClassifier`, DUQ with the gradient penalty (a nested
tape: second-order gradients through the encoder) and DUQ without it
(`gradient_penalty=0`, no inner tape). All use SGD with momentum 0.9 and
DUQ's coupled L2 is on, as in the official runs. Settings:

- `digits`: 16x16 digits, wide small CNN (32-64-128, BatchNorm), DUQ
  embedding 256, batch 64 (the `keras-ssl train duq --dataset digits`
  model before issue 13; the recipe now uses `duq_cnn` and batch 128);
- `two_moons`: the MLP 2-20-20-20, DUQ embedding 10, batch 64 (the
  official notebook model).

Reported per setting and model: median step time (ms), samples/s, and
the ratio of DUQ's samples/s to the softmax step's (`vs_softmax`).

    python benchmarks/duq_step.py [--warmup 5] [--steps 50]
        [--settings digits two_moons] [--output results.json]
"""

import keras
from report import write_report
from step_timing import compiled_step
from step_timing import load
from step_timing import median_step_seconds
from step_timing import parse_arguments
from step_timing import print_rows
from step_timing import ratio_rows

import keras_ssl

SETTINGS = {
    "digits": {"embedding_size": 256, "length_scale": 0.1, "gamma": 0.99},
    "two_moons": {"embedding_size": 10, "length_scale": 0.3, "gamma": 0.99},
}


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


def main():
    args = parse_arguments(__doc__.split("\n")[0], SETTINGS)

    rows = []
    for setting in args.settings:
        batch, encoder, num_classes = load(setting, args.batch_size)
        steps = {
            kind: compiled_step(
                build(kind, setting, encoder, num_classes), batch
            )
            for kind in ("softmax", "duq_gp", "duq_no_gp")
        }
        medians = median_step_seconds(steps, batch, args.warmup, args.steps)
        rows += ratio_rows(setting, medians, args.batch_size)
    print_rows(rows)
    if args.output:
        write_report(
            args.output, "duq_step", rows, warmup=args.warmup, steps=args.steps
        )


if __name__ == "__main__":
    main()
