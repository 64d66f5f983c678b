"""How close does `model.fit` come to the bare training step?

For each case the recipe's own model, data pipeline and batch size are
trained, one epoch at a time and alternating, in several ways in one
process, so every way sees the same machine:

- `bare`: the compiled `train_step` alone on one fixed batch of the
  pipeline (no `fit` loop, no callbacks, no input pipeline), with and
  without XLA;
- `fit_before`: `model.fit` as the recipes ran it before
  (`steps_per_execution=1`, no XLA);
- `fit_spe`: `model.fit` with the run API's steps per execution
  (`Recipe.execution_options`), without XLA;
- `fit_spe_xla`: the same with `jit_compile=True` (where the method can
  be compiled);
- `fit_default`: what `keras-ssl train` runs now (steps per execution and
  the recipe's XLA choice).

Reported per case: samples/s of each (training samples of one epoch over
the median epoch time; for `bare`, the batch over the median step time),
and `fit_default / bare` (same XLA setting) and
`fit_default / fit_before`.

    python benchmarks/fit_throughput.py [--cases moons_duq digits_nat ...]
        [--epochs 4] [--steps 60] [--output results.json]
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from report import write_report
from step_timing import median_step_seconds

from keras_ssl.recipes import get_recipe

CASES = {
    "moons_softmax": ("softmax", "two_moons", {}),
    "moons_duq": ("duq", "two_moons", {}),
    "moons_duq_no_penalty": ("duq", "two_moons", {"gradient_penalty": 0.0}),
    "digits_softmax": ("softmax", "digits", {}),
    "digits_duq": ("duq", "digits", {}),
    "digits_nat": ("nat", "digits", {}),
}


def build(recipe, data, config, steps, spe, jit):
    keras.utils.set_random_seed(0)
    model = recipe.build_model(data, config, steps_per_epoch=steps)
    model(recipe.sample_inputs(data))
    model.steps_per_execution = spe
    if jit and model.xla_compatible:
        model.jit_compile = True
    model.build_optimizers()
    return model


def epoch_rates(models, batches, steps, samples, epochs):
    """Samples/s of `fit` over one epoch, median of `epochs` epochs."""
    seconds = {name: [] for name in models}
    for epoch in range(epochs + 1):  # epoch 0 traces and warms up
        part = batches.skip(epoch * steps).take(steps)
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(part, epochs=1, verbose=0)
            if epoch:
                seconds[name].append(time.perf_counter() - start)
    return {k: samples / float(np.median(v)) for k, v in seconds.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cases", nargs="+", default=list(CASES), choices=list(CASES)
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    rows = []
    for case in args.cases:
        name, dataset, overrides = CASES[case]
        recipe = get_recipe(name)
        config = recipe.resolve_config(overrides, dataset)
        data = recipe.load_data(dataset, config, seed=0)
        _, batch_size = recipe.training_defaults(dataset)
        batches, steps = recipe.train_dataset(
            data, batch_size, 0, 0, args.epochs + 1, config
        )
        options = recipe.execution_options(data, steps)
        spe, default_jit = (
            options["steps_per_execution"],
            options["jit_compile"],
        )
        variants = {
            "fit_before": (1, False),
            "fit_spe": (spe, False),
            "fit_spe_xla": (spe, True),
            "fit_default": (spe, default_jit),
        }
        models = {
            key: build(recipe, data, config, steps, *setting)
            for key, setting in variants.items()
        }
        xla_possible = models["fit_spe_xla"].jit_compile
        if not xla_possible:
            del models["fit_spe_xla"]
        samples = recipe.num_train_samples(data)
        rates = epoch_rates(models, batches, steps, samples, args.epochs)

        batch = next(iter(batches))
        bare = {}
        for jit in (False, True) if xla_possible else (False,):
            model = build(recipe, data, config, steps, 1, jit)
            bare[jit] = tf.function(model.train_step, jit_compile=jit)
        seconds = median_step_seconds(
            {str(k): v for k, v in bare.items()}, batch, 5, args.steps
        )
        size = len(tf.nest.flatten(batch)[0])
        bare_rate = {k: size / v for k, v in seconds.items()}
        row = {
            "case": case,
            "steps_per_epoch": steps,
            "steps_per_execution": spe,
            "default_jit_compile": bool(default_jit and xla_possible),
            "bare_samples_per_s": round(bare_rate["False"], 1),
            "bare_xla_samples_per_s": round(bare_rate.get("True", 0.0), 1),
            **{f"{k}_samples_per_s": round(v, 1) for k, v in rates.items()},
        }
        same_jit = str(row["default_jit_compile"])
        row["fit_default_vs_bare"] = round(
            rates["fit_default"] / bare_rate[same_jit], 3
        )
        row["fit_default_vs_before"] = round(
            rates["fit_default"] / rates["fit_before"], 3
        )
        rows.append(row)
        print(
            f"{case:>22}: bare {row['bare_samples_per_s']:>9.0f}"
            f" (XLA {row['bare_xla_samples_per_s']:>9.0f}) | fit before "
            f"{rates['fit_before']:>9.0f}, spe {rates['fit_spe']:>9.0f}, "
            f"spe+XLA {rates.get('fit_spe_xla', 0):>9.0f}, default "
            f"{rates['fit_default']:>9.0f} samples/s | default/bare "
            f"{row['fit_default_vs_bare']:.2f}, default/before "
            f"{row['fit_default_vs_before']:.2f}",
            flush=True,
        )
    if args.output:
        write_report(
            args.output,
            "fit_throughput",
            rows,
            epochs=args.epochs,
            steps=args.steps,
        )


if __name__ == "__main__":
    main()
