"""What does a DS3L training step cost next to a Pi-model step?

The `keras-ssl train ds3l` network (ds3l_cnn, the official MNIST trunk:
Conv32, Conv32, max-pool, Dense128 on centred inputs, dropout 0.5, a
6-class head) and one fixed batch of its
class-mismatch stream (30 labeled digits of classes 0-5, 64 unlabeled
digits, half of them from 6-9; shifted and noised views), trained three
ways, interleaved step by step in one process so all see the same
machine:

- `supervised`: the labeled-only control (`Supervised`), one view of the
  30 labeled images;
- `pi_model`: the Pi-model, `StabilityME` with 2 passes, the ME term off
  and the target detached (what `examples/ds3l.py --compare` trains), 2
  views of all 94 images;
- `ds3l`: `DS3L` with the recipe's settings: the virtual loss (2 passes),
  the virtual SGD step, the meta loss at theta' and its second-order
  gradient to the weight network, then the real step (2 more passes).

All start from the same encoder weights; Adam 1e-3 (the weight network:
Adam 1e-3), as the recipe. Reported per model: median step time (ms),
samples/s (the 94 labeled + unlabeled images of a batch per second, for
every model alike, so the ratio is the inverse ratio of step times) and
the ratio to the Pi-model step (`vs_pi_model`).

    python benchmarks/ds3l_step.py [--warmup 5] [--steps 50]
        [--models supervised pi_model ds3l] [--output results.json]
"""

import argparse

import keras
import tensorflow as tf
from report import write_report
from step_timing import median_step_seconds
from step_timing import print_rows
from step_timing import ratio_rows

from keras_ssl.recipes import get_recipe
from keras_ssl.semi_supervised import StabilityME

MODELS = ("supervised", "pi_model", "ds3l")


def build(kind, recipe, data, config):
    """The model and one training batch of its stream."""
    views = {"supervised": 1, "pi_model": 2, "ds3l": None}[kind]
    keras.utils.set_random_seed(0)  # the same encoder weights for all
    dataset, steps = recipe.train_dataset(
        data, recipe.batch_size, 0, 0, 1, config, views=views
    )
    batch = next(iter(dataset))
    if kind == "supervised":
        model = recipe.build_control(data, config, steps)
    elif kind == "pi_model":
        settings = recipe.pi_model_arguments(config, data["num_classes"])
        model = recipe.build_model(
            data, {**config, **settings}, steps, method=StabilityME
        )
    else:
        model = recipe.build_model(data, config, steps)
    model(data["x_train"][:2])
    model.build_optimizers()
    return model, batch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument(
        "--models", nargs="+", default=list(MODELS), choices=MODELS
    )
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    if "pi_model" not in args.models:
        parser.error("--models must include pi_model (the baseline)")

    recipe = get_recipe("ds3l")
    config = recipe.resolve_config({}, "digits")
    data = recipe.load_data("digits", config, 0)
    steps, batches = {}, {}
    for kind in args.models:
        model, batches[kind] = build(kind, recipe, data, config)
        step = tf.function(model.train_step)
        # `median_step_seconds` feeds every step one batch: bind each
        # model's own (the views differ).
        steps[kind] = lambda _, step=step, batch=batches[kind]: step(batch)
    batch = batches["pi_model"]
    samples = int(batch["labeled"][1].shape[0] + batch["unlabeled"][0].shape[0])
    medians = median_step_seconds(steps, None, args.warmup, args.steps)
    rows = ratio_rows("digits", medians, samples, baseline="pi_model")
    print_rows(rows, baseline="pi_model")
    if args.output:
        write_report(
            args.output, "ds3l_step", rows, warmup=args.warmup, steps=args.steps
        )


if __name__ == "__main__":
    main()
