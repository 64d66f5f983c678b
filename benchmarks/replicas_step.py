"""Training throughput on 1 device and on 2 logical CPU replicas.

The softmax baseline and DUQ (with its gradient penalty) train on the
digits recipe's model (16x16 digits 0-4, the wide small CNN with
synchronized BatchNorm, batch 64), once on the default device and once
under `tf.distribute.MirroredStrategy` over two logical CPU devices of the
same process, one `fit` epoch after another, alternating, so both see the
same machine. Reported per method: median samples/s of an epoch on each,
and the ratio `replicas_2 / device_1`.

On a CPU the two "replicas" share the same cores, so the ratio is not a
speed-up (and the all-reduces cost something); it is here so that a GPU
run of the same script can be compared with it later.

    python benchmarks/replicas_step.py [--methods softmax duq] [--repeats 5]
        [--output results.json]
"""

import argparse
import time

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from report import write_report  # noqa: E402

from keras_ssl.recipes import get_recipe  # noqa: E402


def build(method, data, config, strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = get_recipe(method).build_model(data, config)
        model(data["x_train"][:2])
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=["softmax", "duq"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    strategies = {
        "device_1": tf.distribute.get_strategy(),
        "replicas_2": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
    }
    rows = []
    for method in args.methods:
        recipe = get_recipe(method)
        config = recipe.resolve_config({}, "digits")
        data = recipe.load_data("digits", config, seed=0)
        dataset, steps = recipe.train_dataset(
            data, args.batch_size, 0, 0, args.repeats + 1, config
        )
        models = {
            name: build(method, data, config, strategy)
            for name, strategy in strategies.items()
        }
        seconds = {name: [] for name in models}
        for epoch in range(args.repeats + 1):  # epoch 0 traces and warms
            for name, model in models.items():
                start = time.perf_counter()
                model.fit(
                    dataset.skip(epoch * steps).take(steps),
                    epochs=1,
                    verbose=0,
                )
                if epoch:
                    seconds[name].append(time.perf_counter() - start)
        samples = len(data["x_train"])
        rate = {k: samples / float(np.median(v)) for k, v in seconds.items()}
        rows.append(
            {
                "method": method,
                "device_1_samples_per_s": round(rate["device_1"], 1),
                "replicas_2_samples_per_s": round(rate["replicas_2"], 1),
                "replicas_2_vs_device_1": round(
                    rate["replicas_2"] / rate["device_1"], 3
                ),
            }
        )
    print(f"{'method':>8} {'1 device':>12} {'2 replicas':>12} {'ratio':>7}")
    for r in rows:
        print(
            f"{r['method']:>8} {r['device_1_samples_per_s']:>12.1f} "
            f"{r['replicas_2_samples_per_s']:>12.1f} "
            f"{r['replicas_2_vs_device_1']:>7.3f}"
        )
    if args.output:
        write_report(
            args.output,
            "replicas_step",
            rows,
            batch_size=args.batch_size,
            repeats=args.repeats,
        )


if __name__ == "__main__":
    main()
