"""TS+ME: learn digits from 50 labels and 1,207 unlabeled images, export.

Sajjadi, Javanmardi & Tasdizen, "Regularization With Stochastic
Transformations and Perturbations for Deep Semi-Supervised Learning"
(NIPS 2016). Every image, labeled or not, passes through the network
twice, each time with its own random shift, noise and dropout; the
predictions of the two passes are pulled together (transformation /
stability loss) and pushed towards one-hot (mutual exclusivity loss),
next to the cross-entropy of the few labels.

The script trains TS+ME and, as control, the same network on the labels
alone (same initial weights, batches, augmentation and optimizer), prints
the test accuracy, ECE and NLL of both, draws their learning curves and
the confusion matrix, and exports a SavedModel whose `classify` endpoint
returns `probs` and `prediction`.

    python examples/tsme.py                       # digits, 5 labels per class
    python examples/tsme.py --labels-per-class 10
    python examples/tsme.py --dataset cifar10 --data-dir DIR
    python examples/tsme.py --dataset svhn_cropped --data-dir DIR

`cifar10` and `svhn_cropped` must already be prepared for TensorFlow
Datasets (nothing is downloaded). They use the Oliver et al. (2018)
protocol's label counts (CIFAR-10: 4,000 labels, SVHN: 1,000), its
WRN-28-2, 2-pixel shifts and Gaussian noise 0.15 (off for SVHN, as there)
and the ramp-up over the first 40% of the steps; the horizontal flips
Oliver et al. add on CIFAR-10 are not applied. On a CPU these runs take
days: they are for machines with the data and time.
"""

import argparse
import json
import os

import keras_ssl

RECIPE = keras_ssl.recipes.get_recipe("tsme")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", default="digits", choices=("digits", *RECIPE.tfds_settings)
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument(
        "--labels-per-class",
        type=int,
        default=None,
        help="default: 5 on digits, the Oliver et al. counts on TFDS sets",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="default: the recipe's (100)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-tsme")
    args = parser.parse_args()

    # Hyperparameters: StabilityME's defaults (num_passes=2, weights 1 and
    # 0.1, dropout 0.3) and the recipe's digits settings, each with its
    # source in keras_ssl/semi_supervised/stability_me.py and
    # keras_ssl/recipes/tsme_recipe.py.
    config = {}
    options = {}
    if args.labels_per_class is not None:
        config["labels_per_class"] = args.labels_per_class
    if args.dataset in RECIPE.tfds_settings:
        try:
            options["data"], config = RECIPE.tfds_run(
                args.dataset, config, args.seed, args.epochs, args.data_dir
            )
        except ValueError as error:  # a TFDS set not prepared here
            parser.error(
                f"{error}\n--dataset {args.dataset} needs the TFDS set "
                "prepared locally"
            )
    run = keras_ssl.run.train(
        "tsme",
        args.output,
        dataset=args.dataset,
        epochs=args.epochs,
        seed=args.seed,
        config=config,
        **options,
    )
    print(json.dumps(run.metrics, indent=2))
    gain = run.metrics["accuracy"] - run.metrics["labeled_only_accuracy"]
    print(f"the unlabeled data bought {100 * gain:+.1f} accuracy points")
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", "tsme")
    )
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
