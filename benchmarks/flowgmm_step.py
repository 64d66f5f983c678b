"""What does a FlowGMM training step cost next to a plain flow's?

The recipe's flow (`RealNVPFlow`: 5 couplings of two 512-unit hidden
layers, coupled weight decay) is trained three ways on one fixed batch of
the `keras-ssl train flowgmm` stream, interleaved step by step in one
process so all of them see the same machine:

- `density` (the baseline): the same flow fitted as a plain density
  model, the NLL of every input of the batch under one N(0, I) (RealNVP
  maximum likelihood, what the flow itself costs);
- `flowgmm`: FlowGMM with the recipe's settings (labeled NLL under each
  input's class, mixture NLL of the unlabeled inputs);
- `flowgmm_cons`: FlowGMM-cons (`consistency_weight=1`): a second view of
  every unlabeled input for the pseudo-label.

Settings: `two_moons` (10 labeled + 10 unlabeled 2-D points, the
official toy batch) and `digits` (50 labeled + 64 unlabeled flattened
8x8 digits). All use Adam 1e-4 and no XLA (`fit` in the recipe turns XLA
on; its compile is timed out of these steps either way). Reported per
model: median step ms, samples/s (labeled + unlabeled inputs per second,
counted alike for every model, so the ratio is the inverse ratio of step
times) and the ratio to the baseline (`vs_density`).

    python benchmarks/flowgmm_step.py [--settings two_moons digits]
        [--hidden 512] [--warmup 5] [--steps 50] [--output results.json]
"""

import argparse
import math

import keras
import tensorflow as tf
from keras import ops
from report import write_report
from step_timing import median_step_seconds
from step_timing import print_rows
from step_timing import ratio_rows

from keras_ssl.recipes import get_recipe

SETTINGS = ("two_moons", "digits")
MODELS = {"flowgmm": {}, "flowgmm_cons": {"consistency_weight": 1.0}}


def density_step(model):
    """A step of `model.flow` as a plain density model (the baseline)."""
    flow = model.flow
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(flow.trainable_variables)
    constant = 0.5 * flow.dim * math.log(2 * math.pi)

    @tf.function
    def step(batch):
        x = ops.concatenate([batch["labeled"][0], batch["unlabeled"]], 0)
        with tf.GradientTape() as tape:
            z, log_det = flow.forward_and_log_det(x)
            nll = 0.5 * ops.sum(z * z, -1) + constant - log_det
            loss = ops.mean(nll) + ops.sum(ops.stack(flow.losses))
        gradients = tape.gradient(loss, flow.trainable_variables)
        optimizer.apply(gradients, flow.trainable_variables)
        return {"loss": loss}

    return step


def steps_and_batches(setting, hidden):
    recipe = get_recipe("flowgmm")
    base = {"hidden_units": (hidden, hidden), "jit_compile": False}
    steps, batches = {}, {}
    for kind, overrides in {"density": {}, **MODELS}.items():
        config = recipe.resolve_config({**base, **overrides}, setting)
        keras.utils.set_random_seed(0)
        data = recipe.load_data(setting, config, 0)
        _, batch_size = recipe.training_defaults(setting)
        dataset, per_epoch = recipe.train_dataset(
            data, batch_size, 0, 0, 1, config
        )
        batches[kind] = next(iter(dataset))
        model = recipe.build_model(data, config, per_epoch)
        model(data["x_train"][:2])
        model.build_optimizers()
        if kind == "density":
            steps[kind] = density_step(model)
        else:
            steps[kind] = tf.function(model.train_step)
    first = batches["density"]
    samples = int(first["labeled"][1].shape[0] + first["unlabeled"].shape[0])
    return steps, batches, samples


def _bound(step, batch):
    """`step` on its own fixed batch, ignoring the shared one."""
    return lambda _: step(batch)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS
    )
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    rows = []
    for setting in args.settings:
        steps, batches, samples = steps_and_batches(setting, args.hidden)
        # Each model runs on its own stream's batch (cons: two views).
        medians = median_step_seconds(
            {k: _bound(step, batches[k]) for k, step in steps.items()},
            None,
            args.warmup,
            args.steps,
        )
        rows += ratio_rows(setting, medians, samples, baseline="density")
    print_rows(rows, baseline="density")
    if args.output:
        write_report(
            args.output,
            "flowgmm_step",
            rows,
            hidden=args.hidden,
            warmup=args.warmup,
            steps=args.steps,
        )


if __name__ == "__main__":
    main()
