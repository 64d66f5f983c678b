"""DS3L: semi-supervised learning when the unlabeled data hold unseen classes.

Guo, Zhang, Jiang, Li & Zhou, "Safe Deep Semi-Supervised Learning for
Unseen-Class Unlabeled Data" (ICML 2020). Every unlabeled image gets a
weight on its Pi-model consistency loss from a small weight network; the
weight network is meta-learned through a virtual SGD step of the
classifier, so that the unlabeled loss helps the labeled loss, which
should push the weights of unseen-class images down.

The script trains DS3L under class mismatch (digits 0-5 labeled, 5 labels
each; 400 unlabeled digits, a fraction `--mismatch` of them from 6-9;
test on 0-5), prints the test accuracy of DS3L and of the labeled-only
control and the mean learned weights of seen- and unseen-class unlabeled
digits, draws the weight histograms, and exports a SavedModel whose
`classify` endpoint returns `probs` and `prediction` (the classifier
only). `--compare` also trains the Pi-model on the same split
(`StabilityME` with 2 passes, ME off, target detached, the same
consistency weight per sample, ramp-up, network and optimizer, and as
many steps) and prints the three accuracies side by side.

    python examples/ds3l.py                        # mismatch 0.5
    python examples/ds3l.py --mismatch 0.75 --compare
    python examples/ds3l.py --dataset cifar10 --data-dir DIR

`cifar10` is the note's CIFAR-10 protocol: the six animal classes seen
(bird, cat, deer, dog, frog, horse: labels 2-7), 400 labels per class,
20,000 unlabeled images with a fraction `--mismatch` from airplane,
automobile, ship and truck, and the official settings (WRN-28-2, batches
of 50 + 50, Adam 3e-4, weight network Adam 6e-5, `meta_lr` 1e-3, 2-pixel
shifts and noise 0.15, no dropout; the ramp-up over the first 40% of the
steps). The official code also uses GCN + ZCA whitening and horizontal
flips, which are not applied here. The set must be prepared for
TensorFlow Datasets (nothing is downloaded); on a CPU it takes days.
"""

import argparse
import json
import os

import keras_ssl
from keras_ssl import data as ssl_data
from keras_ssl.recipes import get_recipe

# The note's CIFAR-10 protocol and the official CIFAR settings.
CIFAR_SEEN = (2, 3, 4, 5, 6, 7)
CIFAR = {
    "labels_per_class": 400,
    "num_unlabeled": 20_000,
    "backbone": "wide_resnet",
    "max_shift": 2,
    "noise": 0.15,
    "dropout": 0.0,
    "labeled_batch": 50,
    "learning_rate": 3e-4,
    "weight_learning_rate": 6e-5,
    "meta_lr": 1e-3,
}
CIFAR_BATCH = 50


def pi_model_config(recipe, config, num_classes):
    """The Pi-model (`tsme` recipe) settings that match a DS3L config."""
    keys = ("labeled_batch", "learning_rate", "dropout", "ramp_up_steps")
    keys += ("max_shift", "noise", "backbone")
    return {
        **{k: config[k] for k in keys},
        **recipe.pi_model_arguments(config, num_classes),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", default="digits", choices=("digits", "cifar10")
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument(
        "--mismatch", type=float, default=None, help="default: 0.5"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="default: the recipe's (350)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--output", default="runs/example-ds3l")
    args = parser.parse_args()

    recipe = get_recipe("ds3l")
    epochs = args.epochs or recipe.epochs
    batch_size = recipe.batch_size
    overrides = {}
    if args.dataset == "cifar10":
        overrides, batch_size = dict(CIFAR), CIFAR_BATCH
    if args.mismatch is not None:
        overrides["mismatch"] = args.mismatch
    config = recipe.resolve_config(overrides, "digits")
    if args.dataset == "cifar10":
        try:
            data = recipe.mismatch_data(
                *ssl_data.load_dataset(
                    "cifar10", channels=3, data_dir=args.data_dir
                ),
                CIFAR_SEEN,
                config,
                args.seed,
            )
        except ValueError as error:  # a TFDS set not prepared here
            parser.error(
                f"{error}\n--dataset cifar10 needs the TFDS set prepared "
                "locally"
            )
        options = {"data": data, "dataset": "cifar10-mismatch"}
    else:
        data = recipe.load_data("digits", config, args.seed)
        options = {"dataset": "digits"}
    steps = recipe.steps_per_epoch(data, batch_size)  # full batches only
    if args.dataset == "cifar10" or args.epochs is not None:
        # The ramp-up over the first 40% of the steps, as the recipe.
        overrides["ramp_up_steps"] = int(0.4 * epochs * steps)
    config = recipe.resolve_config(overrides, "digits")
    run = keras_ssl.run.train(
        "ds3l",
        args.output,
        epochs=epochs,
        batch_size=batch_size,
        seed=args.seed,
        config=overrides,
        **options,
    )
    metrics = run.metrics
    print(json.dumps(metrics, indent=2))
    rows = {"labeled only": metrics["labeled_only_accuracy"]}
    if args.compare:
        # The tsme recipe keeps the last, smaller unlabeled batch (7 steps
        # an epoch on digits, DS3L's 6): as many epochs as give the
        # Pi-model DS3L's number of steps.
        pi_steps = get_recipe("tsme").steps_per_epoch(data, batch_size)
        pi = keras_ssl.run.train(
            "tsme",
            os.path.join(args.output, "pi_model"),
            dataset=f"{args.dataset}-mismatch",
            epochs=max(1, round(epochs * steps / pi_steps)),
            batch_size=batch_size,
            seed=args.seed,
            config=pi_model_config(recipe, config, data["num_classes"]),
            data=data,
        )
        rows["Pi-model"] = pi.metrics["accuracy"]
    rows["DS3L"] = metrics["accuracy"]
    print(f"test accuracy on the seen classes, mismatch {config['mismatch']}:")
    for name, accuracy in rows.items():
        print(f"  {name:<13} {accuracy:.3f}")
    unseen = metrics["mean_weight_unseen"]
    print(
        "mean learned weight of the unlabeled images: seen classes "
        f"{metrics['mean_weight_seen']:.3f}, unseen classes "
        + ("none" if unseen is None else f"{unseen:.3f}")
    )
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", "ds3l")
    )
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
