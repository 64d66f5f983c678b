"""What do TS+ME and NS3L training steps cost next to a supervised step?

The recipe's digits network (conv_dense: Conv32, Conv32, max-pool,
Dense128, dropout 0.3, a 10-class head) is trained six ways on one fixed
batch of the `keras-ssl train tsme` / `ns3l` stream (50 labeled + 128
unlabeled digits, shifted and noised views), interleaved step by step in
one process so all of them see the same machine:

- `supervised`: the labeled-only control (`Supervised`): one view of the
  50 labeled images, the unlabeled ones ignored;
- `ts`: `StabilityME` with the ME term off (the Pi-model), 2 passes of
  all 178 images;
- `tsme`: `StabilityME` with its defaults (2 passes, TS + ME);
- `tsme_4`: `StabilityME` with 4 passes (4 views of every image);
- `ns3l`: `NS3L` with its defaults: a target pass of the 50 labeled and
  the 128 unlabeled images (first view), a prediction pass of the 128
  (second view) with BatchNorm updates dropped;
- `ts_ns3l`: TS + NS3L, `StabilityME` with ME off and
  `negative_sampling_weight=1` (2 passes of all 178 images).

All use Adam 1e-3, as the recipe. Reported per model: median step time
(ms), samples/s (the 178 labeled + unlabeled images of a batch per
second, for every model alike, so the ratio is the inverse ratio of step
times) and the ratio to the supervised step (`vs_supervised`).

    python benchmarks/tsme_step.py [--warmup 5] [--steps 50]
        [--models supervised ts tsme tsme_4 ns3l ts_ns3l]
        [--output results.json]
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from report import write_report

from keras_ssl.recipes import get_recipe

# kind: (recipe, settings).
MODELS = {
    "supervised": ("tsme", {}),
    "ts": ("tsme", {"mutual_exclusivity_weight": 0.0}),
    "tsme": ("tsme", {}),
    "tsme_4": ("tsme", {"num_passes": 4}),
    "ns3l": ("ns3l", {}),
    "ts_ns3l": (
        "tsme",
        {"mutual_exclusivity_weight": 0.0, "negative_sampling_weight": 1.0},
    ),
}


def build(kind, data):
    """The model and one training batch of its stream."""
    name, settings = MODELS[kind]
    recipe = get_recipe(name)
    config = recipe.resolve_config(settings, "digits")
    keras.utils.set_random_seed(0)
    views = 1 if kind == "supervised" else None  # None: the recipe's
    dataset, steps = recipe.train_dataset(
        data, recipe.batch_size, 0, 0, 1, config, views=views
    )
    batch = next(iter(dataset))
    build_fn = (
        recipe.build_control if kind == "supervised" else recipe.build_model
    )
    model = build_fn(data, config, steps)
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
    if "supervised" not in args.models:
        parser.error("--models must include supervised (the baseline)")

    recipe = get_recipe("tsme")  # the same data as `ns3l`'s
    data = recipe.load_data("digits", recipe.resolve_config({}, "digits"), 0)
    steps, batches = {}, {}
    for kind in args.models:
        model, batches[kind] = build(kind, data)
        steps[kind] = tf.function(model.train_step)
    first = batches["supervised"]
    samples = int(first["labeled"][1].shape[0] + first["unlabeled"].shape[0])
    for kind, step in steps.items():  # trace and warm up
        for _ in range(args.warmup):
            step(batches[kind])
    times = {kind: [] for kind in steps}
    for _ in range(args.steps):  # interleaved
        for kind, step in steps.items():
            start = time.perf_counter()
            logs = step(batches[kind])
            float(logs["loss"])  # wait for the step to finish
            times[kind].append(time.perf_counter() - start)
    medians = {kind: float(np.median(t)) for kind, t in times.items()}
    rows = [
        {
            "model": kind,
            "samples_per_step": samples,
            "step_ms": round(1000 * seconds, 2),
            "samples_per_s": round(samples / seconds, 1),
            "vs_supervised": round(medians["supervised"] / seconds, 3),
        }
        for kind, seconds in medians.items()
    ]
    header = ("model", "step ms", "samples/s", "vs supervised")
    print("{:<11} {:>9} {:>10} {:>14}".format(*header))
    for r in rows:
        print(
            f"{r['model']:<11} {r['step_ms']:>9.2f} "
            f"{r['samples_per_s']:>10.1f} {r['vs_supervised']:>14.3f}"
        )
    if args.output:
        write_report(
            args.output, "tsme_step", rows, warmup=args.warmup, steps=args.steps
        )


if __name__ == "__main__":
    main()
