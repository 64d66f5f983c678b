"""SDE-Net: a neural SDE whose noise grows where the data end.

Kong, Sun & Zhang, "SDE-Net: Equipping Deep Neural Networks with
Uncertainty Estimates" (ICML 2020). The features follow a stochastic
differential equation: a drift net models the data, a diffusion net
(trained to be small on the data and large on noisy copies of it) sets
the strength of the Brownian motion, so predictions far from the data
are averaged over noise. The OOD score is the negated max of the softmax
averaged over 10 stochastic passes; the diffusion output is a second one.

The script trains SDE-Net, prints accuracy, calibration and the OOD
AUROCs of every score (the mean softmax at the run's sigma_test and at
sigma_test 5, 20 and 50, and the diffusion output), draws the OOD-score
and diffusion histograms and a reliability diagram, and exports a
SavedModel whose `classify` endpoint runs the 10 passes in its graph.

    python examples/sdenet.py                     # digits 0-4 vs 5-9, noise
    python examples/sdenet.py --dataset two_moons
    python examples/sdenet.py --dataset mnist --data-dir ~/tensorflow_datasets

`mnist` is the official pair, MNIST in and SVHN out (SVHN test images in
grayscale, resized to 28x28, as the official data loader does; reported
as `svhn_cropped`, the recipe's `tfds_data` naming), with the
official conv net and settings: L = 6 steps to T = 6, sigma 20 in
training and 500 at test, SGD lr 0.1 (x0.1 after epochs 10, 20, 30) for
stem, drift and head and 0.01 (x0.1 after epochs 15, 30) for the
diffusion net, momentum 0.9, weight decay 5e-4, batch 128, 40 epochs.
Both sets must already be prepared for TensorFlow Datasets on this
machine (nothing is downloaded).
"""

import argparse
import json
import os

import keras_ssl
from keras_ssl.recipes import get_recipe

# PyTorch lowers the rate after epoch m, so from epoch m + 1 on.
MNIST_CONFIG = {
    "network": "conv",
    "lr_milestones": (11, 21, 31),
    "diffusion_lr_milestones": (16, 31),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset",
        default="digits",
        choices=("digits", "two_moons", "mnist"),
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="default: 60 (digits, two moons), 40 (mnist, as the paper)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-sdenet")
    args = parser.parse_args()

    # Hyperparameters: SDE-Net's defaults are the official MNIST code; the
    # recipe holds the digits settings (keras_ssl/recipes/sdenet_recipe.py).
    options = {}
    if args.dataset == "mnist":
        try:
            # MNIST in; SVHN (28x28 gray, as the official loader) and
            # uniform noise out. MNIST is 28x28 gray already.
            options["data"] = get_recipe("sdenet").tfds_data(
                "mnist",
                ("svhn_cropped",),
                seed=args.seed,
                image_size=28,
                channels=1,
                data_dir=args.data_dir,
            )
        except ValueError as error:  # a TFDS set not prepared here
            parser.error(
                f"{error}\n--dataset mnist needs the TFDS sets 'mnist' and "
                "'svhn_cropped' prepared locally"
            )
        options["config"] = MNIST_CONFIG
        options["epochs"] = args.epochs or 40
        options["batch_size"] = 128
    run = keras_ssl.run.train(
        "sdenet",
        args.output,
        dataset=args.dataset,
        seed=args.seed,
        **{"epochs": args.epochs, **options},
    )
    metrics = dict(run.metrics)
    metrics["ood_auroc"] = {
        score: {name: values["auroc"] for name, values in sets.items()}
        for score, sets in metrics["ood_by_score"].items()
    }
    print(json.dumps(metrics, indent=2))
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", "sdenet")
    )
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
