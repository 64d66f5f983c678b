"""What does PCL add to a MoCo step, and what does its E-step cost?

The same encoder (digits at 16x16, narrow small CNN, the recipe's 32-d
head, queue 400) trains with MoCo, with PCL in its warm-up (InfoNCE only)
and with PCL after the warm-up (InfoNCE plus ProtoNCE over 3 clusterings
with k = 120/160/240 and 20 sampled negatives each, the `keras-ssl train
pcl` settings). Each model's `train_step` is one `tf.function` (what
`fit` runs per step) on the same fixed two-view batch, interleaved step
by step in one process. Reported: median step time, samples/s and the
ratio to MoCo; and the E-step PCL runs at the start of each epoch (embed
the 1,257 training images with the momentum encoder, 3 faiss k-means,
phi) against the time of the epoch's steps.

    python benchmarks/pcl_step.py [--batch-size 100] [--warmup 5]
        [--steps 50] [--output results.json]
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from report import write_report

from keras_ssl.recipes import get_recipe


def build(name, warm, data):
    recipe = get_recipe(name)
    config = recipe.resolve_config({}, "digits")
    keras.utils.set_random_seed(0)
    model = recipe.build_model(data, config)
    model(data["x_train"][:1])
    model.build_optimizers()
    if warm:
        model.epoch.assign(model.warmup_epochs)
        model.e_step()
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    recipe = get_recipe("pcl")
    config = recipe.resolve_config({}, "digits")
    data = recipe.load_data("digits", config, seed=0)
    dataset, _ = recipe.train_dataset(data, args.batch_size, 0, 0, 1, config)
    batch = next(iter(dataset))
    models = {
        "moco": build("moco", False, data),
        "pcl_warmup": build("pcl", False, data),
        "pcl": build("pcl", True, data),
    }
    steps = {name: tf.function(m.train_step) for name, m in models.items()}
    for step in steps.values():  # trace and warm up
        for _ in range(args.warmup):
            step(batch)
    times = {name: [] for name in steps}
    for _ in range(args.steps):  # interleaved
        for name, step in steps.items():
            start = time.perf_counter()
            float(step(batch)["loss"])  # wait for the step to finish
            times[name].append(time.perf_counter() - start)
    medians = {name: float(np.median(t)) for name, t in times.items()}
    pcl = models["pcl"]
    estep = []
    for _ in range(3):
        start = time.perf_counter()
        pcl.e_step()
        estep.append(time.perf_counter() - start)
    epoch_steps = recipe.steps_per_epoch(data, args.batch_size)
    rows = [
        {
            "model": name,
            "batch_size": args.batch_size,
            "step_ms": round(1000 * seconds, 2),
            "samples_per_s": round(args.batch_size / seconds, 1),
            "vs_moco": round(medians["moco"] / seconds, 3),
        }
        for name, seconds in medians.items()
    ]
    rows.append(
        {
            "model": "pcl_estep",
            "estep_ms": round(1000 * float(np.median(estep)), 1),
            "epoch_steps_ms": round(1000 * epoch_steps * medians["pcl"], 1),
        }
    )
    print(
        "{:<11} {:>9} {:>10} {:>8}".format(
            "model", "step ms", "samples/s", "vs moco"
        )
    )
    for r in rows[:-1]:
        print(
            f"{r['model']:<11} {r['step_ms']:>9.2f} "
            f"{r['samples_per_s']:>10.1f} {r['vs_moco']:>8.3f}"
        )
    print(
        f"E-step {rows[-1]['estep_ms']:.1f} ms per epoch vs "
        f"{rows[-1]['epoch_steps_ms']:.1f} ms for the epoch's "
        f"{epoch_steps} PCL steps"
    )
    if args.output:
        write_report(
            args.output, "pcl_step", rows, warmup=args.warmup, steps=args.steps
        )


if __name__ == "__main__":
    main()
