"""Gram-matrix OOD detection: bounds on a trained classifier's features.

Sastry & Oore, "Detecting Out-of-Distribution Examples with Gram
Matrices" (ICML 2020). A softmax classifier is trained first; the detector
then records, per predicted class, the range of the higher-order Gram
features of every post-activation conv output on the training data, and
scores how far an input's features fall outside its class's range,
divided by its maximum softmax probability and normalised per layer on 10%
of the in-distribution test set. No OOD data and no gradients are used.

The script prints accuracy and the OOD metrics of the Gram score and of
the classifier's maximum softmax probability side by side (on the split-1
test set, and averaged over the official 10 validation splits), writes the
OOD histograms and the per-tap deviations, and exports a SavedModel whose
`classify` endpoint returns `probs`, `prediction` and `ood_score`.

    python examples/gram.py                       # digits 0-4 vs 5-9, noise
    python examples/gram.py --classifier-run runs/softmax-digits
    python examples/gram.py --dataset cifar10 --data-dir ~/tensorflow_datasets

`cifar10` trains a CIFAR ResNet-18 (`keras_ssl.backbones.cifar_resnet`)
on CIFAR-10 and scores the SVHN test set and uniform noise as OOD
(reported as `svhn_cropped` and `uniform_noise`: the data come from the
recipe's `tfds_data`), the paper's CIFAR-10 / ResNet vs SVHN cell; the
sets `cifar10` and `svhn_cropped` must already be prepared for
TensorFlow Datasets on this machine (nothing is downloaded). The paper
uses a pretrained ResNet-34; this trains its own, so expect other
numbers (and hours on a CPU).
"""

import argparse
import json
import os

import keras

import keras_ssl
from keras_ssl.recipes import get_recipe


def cifar10(args, parser):
    """The recipe's steps written out, with a ResNet classifier."""
    recipe = get_recipe("gram")
    try:  # CIFAR-10 in; SVHN and uniform noise out
        data = recipe.tfds_data(
            "cifar10", ("svhn_cropped",), seed=args.seed, data_dir=args.data_dir
        )
    except ValueError as error:  # a TFDS set not prepared here
        parser.error(
            f"{error}\n--dataset cifar10 needs the TFDS sets 'cifar10' and "
            "'svhn_cropped' prepared locally"
        )
    config = recipe.resolve_config(
        {"validation_splits": args.validation_splits}
    )
    data = recipe.split(data, config)  # 10% of the test set calibrates
    keras.utils.set_random_seed(args.seed)
    encoder = keras_ssl.backbones.cifar_resnet(data["input_shape"], depth=18)
    classifier = keras_ssl.uncertainty.SoftmaxClassifier(encoder, 10)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3))
    classifier.fit(
        data["x_train"],
        data["y_train"],
        batch_size=128,
        epochs=args.classifier_epochs or 30,
    )
    detector = keras_ssl.uncertainty.GramDetector(classifier)
    detector.compile()
    detector.fit(data["x_train"], batch_size=128, epochs=1)
    detector.calibrate(data["x_val"])
    os.makedirs(args.output, exist_ok=True)
    metrics = recipe.evaluate(detector, data, args.output)
    path = keras_ssl.export.export_saved_model(
        detector, os.path.join(args.output, "saved_models"), "gram"
    )
    return metrics, path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", default="digits", choices=("digits", "cifar10")
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument(
        "--classifier-epochs",
        type=int,
        default=None,
        help="default: 10 on digits (the softmax recipe), 30 on CIFAR-10",
    )
    parser.add_argument(
        "--classifier-run",
        default="",
        help="digits: a finished `keras-ssl train softmax` run to reuse",
    )
    parser.add_argument(
        "--validation-splits",
        type=int,
        default=10,
        help="validation splits averaged (the paper: 10)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-gram")
    args = parser.parse_args()

    if args.dataset == "cifar10":
        metrics, path = cifar10(args, parser)
    else:
        # What `keras-ssl train gram` does: the softmax classifier (trained
        # or reused), one pass for the bounds, calibration, metrics, plots.
        config = {"validation_splits": args.validation_splits}
        if args.classifier_epochs:
            config["classifier_epochs"] = args.classifier_epochs
        if args.classifier_run:
            config["classifier_run"] = args.classifier_run
        run = keras_ssl.run.train(
            "gram", args.output, seed=args.seed, config=config
        )
        metrics = run.metrics
        path = keras_ssl.run.export(
            run.run_dir, os.path.join(args.output, "saved_models", "gram")
        )
    summary = {
        "accuracy": metrics["accuracy"],
        "ood_auroc": {
            score: {k: v["auroc"] for k, v in by_set.items()}
            for score, by_set in metrics["ood_by_score"].items()
        },
    }
    if "validation_splits" in metrics:
        summary["ood_auroc_split_average"] = {
            score: {k: v["auroc"] for k, v in by_set.items()}
            for score, by_set in metrics["validation_splits"]["mean"].items()
        }
    print(json.dumps(summary, indent=2))
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
