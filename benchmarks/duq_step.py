"""What does a DUQ training step cost next to a softmax step?

For each setting the models of `keras-ssl train duq --dataset SETTING`
are built through the DUQ recipe (`keras_ssl.recipes.get_recipe("duq")`:
its trunk, hyperparameters, optimizer and schedule for that dataset) and
trained three ways on one fixed batch of the recipe's training data,
interleaved step by step in one process so all three see the same
machine:

- `softmax`: a `SoftmaxClassifier` on the same trunk, built by the
  recipe as a control (`build_model(..., method=SoftmaxClassifier)`: the
  same optimizer, no weight decay);
- `duq_gp`: the recipe's DUQ (gradient penalty 0.5, a nested tape:
  second-order gradients through the trunk; coupled L2 1e-4);
- `duq_no_gp`: the same with `gradient_penalty=0` (no inner tape).

Settings (the recipe's defaults for the dataset):

- `digits`: classes 0-4 of the 16x16 digits, `duq_cnn` (conv 32-64-64
  with BatchNorm, dense 256), embedding 256, batch 128;
- `two_moons`: the MLP 2-20-20-20, embedding 10, batch 64 (the official
  notebook model).

Every model starts from the same seed (0). Reported per setting and
model: median step time (ms), samples/s, and the ratio of DUQ's
samples/s to the softmax step's (`vs_softmax`).

    python benchmarks/duq_step.py [--warmup 5] [--steps 50]
        [--settings digits two_moons] [--batch-size B] [--output FILE]
"""

import keras
import tensorflow as tf
from report import write_report
from step_timing import compiled_step
from step_timing import median_step_seconds
from step_timing import parse_arguments
from step_timing import print_rows
from step_timing import ratio_rows

from keras_ssl.recipes import get_recipe
from keras_ssl.uncertainty import SoftmaxClassifier

SETTINGS = ("digits", "two_moons")
KINDS = ("softmax", "duq_gp", "duq_no_gp")


def build(kind, recipe, data, config, steps_per_epoch):
    """One of `KINDS`, built and compiled by the DUQ recipe."""
    keras.utils.set_random_seed(0)
    if kind == "softmax":
        return recipe.build_model(
            data, config, steps_per_epoch, method=SoftmaxClassifier
        )
    if kind == "duq_no_gp":
        config = {**config, "gradient_penalty": 0.0}
    return recipe.build_model(data, config, steps_per_epoch)


def main():
    args = parse_arguments(
        __doc__.split("\n")[0], SETTINGS, batch_size=None
    )
    recipe = get_recipe("duq")
    rows = []
    for setting in args.settings:
        config = recipe.resolve_config({}, setting)
        data = recipe.load_data(setting, config, seed=0)
        batch_size = args.batch_size or recipe.training_defaults(setting)[1]
        steps_per_epoch = recipe.steps_per_epoch(data, batch_size)
        batch = (
            tf.constant(data["x_train"][:batch_size]),
            tf.constant(data["y_train"][:batch_size]),
        )
        steps = {
            kind: compiled_step(
                build(kind, recipe, data, config, steps_per_epoch), batch
            )
            for kind in KINDS
        }
        medians = median_step_seconds(steps, batch, args.warmup, args.steps)
        rows += ratio_rows(setting, medians, batch_size)
    print_rows(rows)
    if args.output:
        write_report(
            args.output, "duq_step", rows, warmup=args.warmup, steps=args.steps
        )


if __name__ == "__main__":
    main()
