"""Softmax baseline: train, measure calibration and OOD detection, export.

The maximum-softmax-probability detector of Hendrycks & Gimpel (ICLR 2017)
is the control every uncertainty method in keras_ssl is compared with.
This script trains it on digits 0-4 (or two moons), scores digits 5-9 and
uniform noise (or far-away points) as out-of-distribution, writes a
reliability diagram and OOD histograms, and exports a SavedModel.

    python examples/softmax_baseline.py                      # digits
    python examples/softmax_baseline.py --dataset two_moons
"""

import argparse
import json
import os

import keras_ssl


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", default="digits", choices=("digits", "two_moons")
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-softmax")
    args = parser.parse_args()

    # What `keras-ssl train softmax` does: data, model, fit, metrics, plots.
    run = keras_ssl.run.train(
        "softmax",
        args.output,
        dataset=args.dataset,
        epochs=args.epochs,
        seed=args.seed,
    )
    metrics = dict(run.metrics)
    metrics["ood_auroc"] = {k: v["auroc"] for k, v in metrics["ood"].items()}
    print(json.dumps(metrics, indent=2))
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", "softmax")
    )
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
