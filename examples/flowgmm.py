"""FlowGMM: classify with a normalizing flow from a few labels, export.

Izmailov, Kirichenko, Finzi & Wilson, "Semi-Supervised Learning with
Normalizing Flows" (ICML 2020). A RealNVP flow maps every input to a
latent vector whose density is a Gaussian mixture with one component per
class; labeled inputs are fitted to their own component, unlabeled ones
to the whole mixture, and a test input gets the class whose component
explains its latent best (Bayes' rule), with an exact `log p(x)` besides.

The script trains FlowGMM and, as control, the same flow on the labels
alone (FlowGMM-Sup: same initial weights, batches and optimizer), prints
the test accuracy, ECE, NLL and mean test log-likelihood of both and the
accuracy of a logistic regression on the labels, draws the learning and
log-likelihood curves (and, on two moons, the decision regions, the
latent space and class-conditional samples), and exports a SavedModel
with `classify` (`probs`, `prediction`, `log_prob`) and `log_prob`
(`log_prob`, `class_log_prob`, `latent`) endpoints.

    python examples/flowgmm.py                        # two moons, 10 labels
    python examples/flowgmm.py --dataset wine --labels-per-class 3
    python examples/flowgmm.py --dataset breast_cancer
    python examples/flowgmm.py --dataset digits       # flattened 8x8
    python examples/flowgmm.py --dataset mnist --data-dir DIR

`mnist` (the paper's image set, 100 labels) must already be prepared for
TensorFlow Datasets (nothing is downloaded); its 784 pixels go through
the tabular flow with Gaussian dequantization noise, not the paper's
multi-scale image RealNVP, and a CPU run takes hours.
"""

import argparse
import json
import os

import keras_ssl

BUNDLED = ("two_moons", "wine", "breast_cancer", "digits")


def load_mnist(args, labels_per_class):
    """Prepared TFDS MNIST split into labels and a pool (the recipes'
    `tfds_data`), flattened for the tabular flow."""
    data = keras_ssl.recipes.get_recipe("flowgmm").tfds_data(
        "mnist",
        labels_per_class,
        seed=args.seed,
        channels=None,
        data_dir=args.data_dir,
    )
    for key in ("x_labeled", "x_train", "x_test"):
        data[key] = data[key].reshape(len(data[key]), -1)
    data.update(kind="tabular", input_shape=data["x_test"].shape[1:])
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", default="two_moons", choices=(*BUNDLED, "mnist")
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument(
        "--labels-per-class",
        type=int,
        default=None,
        help="default: 5 (two moons: the official labeled points); MNIST: 10",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="default: the recipe's"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="K=V")
    parser.add_argument("--output", default="runs/example-flowgmm")
    args = parser.parse_args()

    # Hyperparameters: FlowGMM's defaults and the recipe's per-dataset
    # settings, each with its source in keras_ssl/semi_supervised/
    # flow_gmm.py and keras_ssl/recipes/flowgmm_recipe.py.
    config = dict(item.split("=", 1) for item in args.set)
    if args.labels_per_class is not None:
        config["labels_per_class"] = args.labels_per_class
    options = {}
    dataset = args.dataset
    if dataset == "mnist":
        config = {"noise": 0.05, "labeled_batch": 50, **config}
        try:
            options["data"] = load_mnist(
                args, int(config.get("labels_per_class", 10))
            )
        except ValueError as error:  # the TFDS set is not prepared here
            parser.error(f"{error}\n--dataset mnist needs TFDS MNIST locally")
        dataset = "digits"  # the recipe's settings for images
    run = keras_ssl.run.train(
        "flowgmm",
        args.output,
        dataset=dataset,
        epochs=args.epochs,
        seed=args.seed,
        config=config,
        **options,
    )
    print(json.dumps(run.metrics, indent=2))
    gain = run.metrics["accuracy"] - run.metrics["labeled_only_accuracy"]
    print(f"the unlabeled data bought {100 * gain:+.1f} accuracy points")
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", "flowgmm")
    )
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
