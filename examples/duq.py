"""DUQ: a single deterministic network that knows when it does not know.

van Amersfoort, Smith, Teh & Gal, "Uncertainty Estimation Using a Single
Deep Deterministic Neural Network" (ICML 2020). The softmax layer is
replaced by one RBF kernel per class around a centroid that moves with the
data; a gradient penalty on the inputs keeps out-of-distribution inputs
from collapsing onto a centroid. The certainty is the largest kernel value
and the OOD score its negation.

The script trains DUQ, prints accuracy, calibration of the normalised
kernels and OOD AUROCs, draws the certainty map (2-D data), OOD-score
histograms and a reliability diagram, and exports a SavedModel whose
`classify` endpoint returns `probs`, `certainty` and `ood_score`.

    python examples/duq.py                      # two moons (notebook settings)
    python examples/duq.py --dataset digits     # digits 0-4 vs 5-9 and noise
    python examples/duq.py --dataset fashion_mnist --data-dir ~/tfds

`fashion_mnist` trains on Fashion-MNIST and scores MNIST as OOD with the
official FashionMNIST settings (DUQ's defaults, SGD 0.05 with momentum 0.9
and coupled weight decay 1e-4, lr x0.2 at epochs 10 and 20, batch 128);
both sets must already be prepared for TensorFlow Datasets on this machine
(nothing is downloaded). The recipe's wide small CNN stands in for the
official CNN.
"""

import argparse
import json
import os

import keras_ssl
from keras_ssl.recipes import get_recipe


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset",
        default="two_moons",
        choices=("two_moons", "digits", "fashion_mnist"),
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument(
        "--epochs", type=int, default=None, help="default: 30 (as the paper)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-duq")
    args = parser.parse_args()

    # Hyperparameters: DUQ's defaults are the official FashionMNIST code;
    # the recipe holds the two-moons notebook and the digits settings
    # (see keras_ssl/recipes/duq_recipe.py for each source).
    options = {}
    if args.dataset == "fashion_mnist":
        try:  # Fashion-MNIST in; MNIST and uniform noise out
            options["data"] = get_recipe("duq").tfds_data(
                "fashion_mnist",
                ("mnist",),
                seed=args.seed,
                channels=1,
                data_dir=args.data_dir,
            )
        except ValueError as error:  # a TFDS set not prepared here
            parser.error(
                f"{error}\n--dataset fashion_mnist needs the TFDS sets "
                "'fashion_mnist' and 'mnist' prepared locally"
            )
        options["config"] = {"weight_decay": 1e-4, "lr_milestones": (10, 20)}
        options["epochs"] = args.epochs or 30
        options["batch_size"] = 128
    run = keras_ssl.run.train(
        "duq",
        args.output,
        dataset=args.dataset,
        seed=args.seed,
        **{"epochs": args.epochs, **options},
    )
    metrics = dict(run.metrics)
    metrics["ood_auroc"] = {k: v["auroc"] for k, v in metrics["ood"].items()}
    print(json.dumps(metrics, indent=2))
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", "duq")
    )
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
