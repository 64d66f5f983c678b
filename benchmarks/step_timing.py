"""Training steps timed side by side against a baseline (shared).

The step benchmarks (`duq_step.py`, `belief_matching_step.py`) train each
model on one fixed batch, interleaved step by step in one process so all
see the same machine, and report each model's samples/s as a ratio to
the baseline's.
"""

import argparse
import functools
import time

import numpy as np
import tensorflow as tf

import keras_ssl


def parse_arguments(description, settings, batch_size=64):
    """`--settings`, `--batch-size` (default `batch_size`; None: the
    benchmark's own per setting), `--warmup` (5), `--steps` (50) and
    `--output` (a JSON report) of a step benchmark."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--settings", nargs="+", default=list(settings), choices=settings
    )
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--output", default=None)
    return parser.parse_args()


def load(setting, batch_size):
    """A fixed batch, an encoder factory and the number of classes.

    `digits`: 16x16 digits and the wide small CNN; `two_moons`: the MLP
    2-20-20-20.
    """
    if setting == "digits":
        (x, y), _ = keras_ssl.data.digits(image_size=16)
        make_encoder = functools.partial(
            keras_ssl.backbones.small_cnn, x.shape[1:], preset="wide"
        )
    else:
        (x, y), _ = keras_ssl.data.two_moons()
        make_encoder = functools.partial(
            keras_ssl.backbones.mlp, x.shape[1:], hidden=(20, 20, 20)
        )
    batch = (tf.constant(x[:batch_size]), tf.constant(y[:batch_size]))
    return batch, make_encoder, int(y.max()) + 1


def compiled_step(model, batch):
    """The model's `train_step` as one `tf.function` (what `fit` runs per
    step, without callbacks and progress bar)."""
    model(batch[0][:1])
    model.optimizer.build(model.trainable_variables)
    return tf.function(model.train_step)


def median_step_seconds(steps, batch, warmup, repeats):
    """Median seconds per step of each compiled step, interleaved.

    Args:
        steps: `{name: step}`; each step takes `batch` and returns logs
            with a `"loss"`.
        batch: the fixed batch.
        warmup: untimed steps of each (tracing included) before timing.
        repeats: timed steps of each.
    """
    for step in steps.values():
        for _ in range(warmup):
            step(batch)
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            logs = step(batch)
            float(logs["loss"])  # wait for the step to finish
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def ratio_rows(setting, medians, batch_size, baseline="softmax"):
    """One report row per model: step ms, samples/s, `vs_<baseline>`."""
    return [
        {
            "setting": setting,
            "model": name,
            "batch_size": batch_size,
            "step_ms": round(1000 * seconds, 2),
            "samples_per_s": round(batch_size / seconds, 1),
            f"vs_{baseline}": round(medians[baseline] / seconds, 3),
        }
        for name, seconds in medians.items()
    ]


def print_rows(rows, baseline="softmax"):
    """The rows of `ratio_rows` as a table."""
    width = max(10, *(len(r["model"]) for r in rows))
    header = ("setting", "model", "step ms", "samples/s", f"vs {baseline}")
    print(f"{{:<10}} {{:<{width}}} {{:>9}} {{:>10}} {{:>11}}".format(*header))
    for r in rows:
        print(
            f"{r['setting']:<10} {r['model']:<{width}} {r['step_ms']:>9.2f} "
            f"{r['samples_per_s']:>10.1f} {r[f'vs_{baseline}']:>11.3f}"
        )
