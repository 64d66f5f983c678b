"""What does a Belief Matching training step cost next to a softmax step?

Belief Matching changes only the loss: the same encoder and dense head
are trained with the Dirichlet KL (`tfp.distributions`) and digamma terms
instead of the softmax cross-entropy. For each setting both models train
on one fixed batch, interleaved step by step in one process so both see
the same machine, with SGD and momentum 0.9. Settings (from
`step_timing.py`):

- `digits`: 16x16 digits, wide small CNN (32-64-128, BatchNorm), batch
  64 (the `keras-ssl train belief_matching --dataset digits` model);
- `two_moons`: the MLP 2-20-20-20, batch 64.

Reported per setting and model: median step time (ms), samples/s, and
the ratio of Belief Matching's samples/s to the softmax step's
(`vs_softmax`, expected near 1).

    python benchmarks/belief_matching_step.py [--warmup 5] [--steps 50]
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

SETTINGS = ("digits", "two_moons")
MODELS = ("softmax", "belief_matching")


def build(kind, encoder, num_classes):
    keras.utils.set_random_seed(0)
    if kind == "softmax":
        model = keras_ssl.uncertainty.SoftmaxClassifier(encoder(), num_classes)
    else:
        model = keras_ssl.uncertainty.BeliefMatching(encoder(), num_classes)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    return model


def main():
    args = parse_arguments(__doc__.split("\n")[0], SETTINGS)

    rows = []
    for setting in args.settings:
        batch, encoder, num_classes = load(setting, args.batch_size)
        steps = {
            kind: compiled_step(build(kind, encoder, num_classes), batch)
            for kind in MODELS
        }
        medians = median_step_seconds(steps, batch, args.warmup, args.steps)
        rows += ratio_rows(setting, medians, args.batch_size)
    print_rows(rows)
    if args.output:
        write_report(
            args.output,
            "belief_matching_step",
            rows,
            warmup=args.warmup,
            steps=args.steps,
        )


if __name__ == "__main__":
    main()
