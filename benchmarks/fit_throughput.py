"""How close does `model.fit` come to the bare training step?

For each case the recipe's own model, data pipeline and batch size are
timed in several ways in one process, interleaved (every round runs each
way once, for `--epochs` timed epochs), so every way sees the same
machine:

- `bare`: the compiled `train_step` alone, one `tf.function` call per
  step on one fixed batch of the pipeline (no `fit` loop, no callbacks,
  no input pipeline); `bare_xla` the same with `jit_compile=True`;
- `before`: `model.fit` as the recipes ran it before
  (`steps_per_execution=1`, XLA only by a recipe's own `jit_compile`
  setting, FlowGMM's);
- `spe`: `model.fit` with the run API's steps per execution
  (`Recipe.execution_options`), without XLA; `spe_xla` with XLA (where
  the method can be compiled);
- `cached`: `spe` (or `spe_xla`, as the recipe chooses) on the same
  batches held in memory (`Dataset.cache()`): the difference to the
  recipe's choice is what the input pipeline (gather, augment, prefetch)
  costs the step;
- `after`: what `keras-ssl train` runs now: `spe`, or `spe_xla` where the
  recipe chooses XLA (the same measurement, not a separate run).

A timed epoch is the time between two `on_epoch_end`s of one `fit` call
(the first epoch of each call, tracing and set-up, is not timed); its
samples/s are the epoch's training samples over the median epoch time.
The `bare` steps are timed over the same number of steps, with the same
`epoch` state. `--cases all_digits` times `before` against `after` only,
for every recipe that trains on digits; `--cases RECIPE@DATASET` the same
for one recipe.

    python benchmarks/fit_throughput.py [--cases moons_duq digits_nat ...]
        [--rounds 3] [--epochs 3] [--output results.json]
"""

import argparse
import os
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from report import write_report

from keras_ssl.recipes import RECIPES
from keras_ssl.recipes import get_recipe

CASES = {
    "moons_softmax": ("softmax", "two_moons", {}),
    "moons_duq": ("duq", "two_moons", {}),
    "moons_duq_no_penalty": ("duq", "two_moons", {"gradient_penalty": 0.0}),
    "moons_sdenet": ("sdenet", "two_moons", {}),
    "moons_belief_matching": ("belief_matching", "two_moons", {}),
    "digits_softmax": ("softmax", "digits", {}),
    "digits_duq": ("duq", "digits", {}),
    "digits_duq_no_penalty": ("duq", "digits", {"gradient_penalty": 0.0}),
    "digits_nat": ("nat", "digits", {}),
}


def clocks():
    """Wall-clock and process CPU seconds (all of this process's threads)."""
    return np.array([time.perf_counter(), time.process_time()])


class EpochClock(keras.callbacks.Callback):
    """`(wall, cpu)` seconds between consecutive `on_epoch_end`s."""

    def __init__(self):
        super().__init__()
        self.ends = []

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(clocks())

    def seconds(self):
        return list(np.diff(np.array(self.ends), axis=0))


class Case:
    """A recipe's data, pipeline and models for one benchmark case."""

    def __init__(self, name, dataset, overrides, epochs, scratch):
        self.recipe = get_recipe(name)
        self.config = self.recipe.resolve_config(overrides, dataset)
        keras.utils.set_random_seed(0)
        data = self.recipe.load_data(dataset, self.config, seed=0)
        self.data = self.recipe.prepare(
            data, self.config, scratch, dataset, 0, verbose=0
        )
        _, batch_size = self.recipe.training_defaults(dataset)
        self.samples = self.recipe.num_train_samples(self.data)
        self.batches, self.steps = self.recipe.train_dataset(
            self.data, batch_size, 0, 0, epochs + 1, self.config
        )
        self.epochs = epochs
        self.options = self.recipe.execution_options(self.data, self.steps)

    def build(self, spe=1, jit=False):
        keras.utils.set_random_seed(0)
        model = self.recipe.build_model(
            self.data, self.config, steps_per_epoch=self.steps
        )
        model(self.recipe.sample_inputs(self.data))
        model.steps_per_execution = spe
        if jit:
            model.jit_compile = True
        model.build_optimizers()
        return model

    def fit_seconds(self, model, batches):
        clock = EpochClock()
        model.fit(
            batches,
            epochs=self.epochs + 1,
            steps_per_epoch=self.steps,
            verbose=0,
            callbacks=[clock],
        )
        return clock.seconds()

    def bare_step(self, jit):
        model = self.build()
        # As `fit` compiles it: Keras traces the step without AutoGraph.
        step = tf.function(model.train_step, jit_compile=jit, autograph=False)
        batch = next(iter(self.batches))
        float(step(batch)["loss"])  # traces

        def epochs_seconds():
            seconds = []
            for epoch in range(1, self.epochs + 1):
                model.epoch.assign(epoch)  # as in fit's timed epochs
                start = clocks()
                for _ in range(self.steps):
                    logs = step(batch)
                float(logs["loss"])  # waits for the last step
                seconds.append(clocks() - start)
            return seconds

        return epochs_seconds


def run_case(case, rounds, only_before_after=False):
    spe = case.options["steps_per_execution"]
    xla_possible = getattr(case.recipe.method, "xla_compatible", True)
    # As `keras_ssl.run.train` decides (a `jit_compile` setting wins).
    if "jit_compile" in case.config:
        default_jit = bool(case.config["jit_compile"]) and xla_possible
    else:
        default_jit = bool(case.options["jit_compile"]) and xla_possible
    # Before: one step per execution, XLA only by a recipe's own setting.
    own_jit = bool(case.config.get("jit_compile", False)) and xla_possible
    ways = {"before": (1, own_jit), "after": (spe, default_jit)}
    if not only_before_after:
        ways = {"before": (1, own_jit), "spe": (spe, False)}
        if xla_possible:
            ways["spe_xla"] = (spe, True)
        ways["cached"] = (spe, default_jit)
    models = {k: case.build(*v) for k, v in ways.items()}
    bare = {}
    if not only_before_after:
        bare["bare"] = case.bare_step(False)
        if xla_possible:
            bare["bare_xla"] = case.bare_step(True)
    take = case.batches.take(case.steps * (case.epochs + 1))
    cached = take.cache()
    for _ in cached:  # fills the cache
        pass
    seconds = {k: [] for k in [*models, *bare]}
    for _ in range(rounds):
        for name, model in models.items():
            batches = cached if name == "cached" else take
            seconds[name] += case.fit_seconds(model, batches)
        for name, epochs_seconds in bare.items():
            seconds[name] += epochs_seconds()
    medians = {k: np.median(np.array(v), axis=0) for k, v in seconds.items()}
    rate = {k: case.samples / v[0] for k, v in medians.items()}
    cpu_rate = {k: case.samples / v[1] for k, v in medians.items()}
    if not only_before_after:
        rate["after"] = rate["spe_xla" if default_jit else "spe"]
        cpu_rate["after"] = cpu_rate["spe_xla" if default_jit else "spe"]
    row = {
        "recipe": case.recipe.name,
        "steps_per_epoch": case.steps,
        "steps_per_execution": spe,
        "jit_compile": default_jit,
        **{f"{k}_samples_per_s": round(v, 1) for k, v in rate.items()},
        **{f"{k}_samples_per_cpu_s": round(v, 1) for k, v in cpu_rate.items()},
        "after_vs_before": round(rate["after"] / rate["before"], 3),
        "after_vs_before_cpu": round(cpu_rate["after"] / cpu_rate["before"], 3),
    }
    if not only_before_after:
        same = "bare_xla" if default_jit else "bare"
        row["after_vs_bare"] = round(rate["after"] / rate[same], 3)
        row["after_vs_bare_cpu"] = round(cpu_rate["after"] / cpu_rate[same], 3)
        row["before_vs_bare"] = round(rate["before"] / rate["bare"], 3)
        row["spe_vs_bare"] = round(rate["spe"] / rate["bare"], 3)
        if xla_possible:
            row["spe_xla_vs_bare_xla"] = round(
                rate["spe_xla"] / rate["bare_xla"], 3
            )
            row["xla_vs_no_xla"] = round(rate["spe_xla"] / rate["spe"], 3)
        row["after_vs_cached"] = round(rate["after"] / rate["cached"], 3)
    return row


def print_row(case, row):
    rates = {
        k[: -len("_samples_per_s")]: v
        for k, v in row.items()
        if k.endswith("_samples_per_s")
    }
    ratios = {k: v for k, v in row.items() if "_vs_" in k}
    print(
        f"{case} (spe {row['steps_per_execution']}/{row['steps_per_epoch']}"
        f", XLA {row['jit_compile']}): samples/s "
        + ", ".join(f"{k} {v:.0f}" for k, v in rates.items())
        + " | "
        + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()),
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        default=list(CASES),
        metavar="CASE",
        help=f"{', '.join(CASES)}, all_digits, or RECIPE@DATASET (before "
        "and after only)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    unknown = [c for c in args.cases if c not in CASES and c != "all_digits"]
    for case in unknown:
        name, _, dataset = case.partition("@")
        if name not in RECIPES or dataset not in get_recipe(name).datasets:
            parser.error(f"unknown case {case!r}")
    plan = [(c, *CASES[c], False) for c in args.cases if c in CASES]
    plan += [(c, *c.split("@"), {}, True) for c in unknown]
    if "all_digits" in args.cases:
        plan += [
            (f"digits_{name}", name, "digits", {}, True)
            for name in RECIPES
            if "digits" in get_recipe(name).datasets
        ]
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for case_name, name, dataset, overrides, only in plan:
            case = Case(name, dataset, overrides, args.epochs, scratch)
            row = {"case": case_name, **run_case(case, args.rounds, only)}
            rows.append(row)
            print_row(case_name, row)
    load_after = os.getloadavg()
    print(
        f"load average (1, 5, 15 min): before {load_before}, after {load_after}"
    )
    if args.output:
        write_report(
            args.output,
            "fit_throughput",
            rows,
            rounds=args.rounds,
            epochs=args.epochs,
            load_average_before=load_before,
            load_average_after=load_after,
        )


if __name__ == "__main__":
    main()
