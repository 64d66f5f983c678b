"""Automatic shortcut removal: a lens that hides what RotNet cheats with.

Minderer, Bachem, Houlsby & Tschannen, "Automatic Shortcut Removal for
Self-Supervised Representation Learning" (ICML 2020). RotNet learns
features by predicting how an image was rotated; if the images carry a
cue that gives the rotation away, it learns the cue instead of the
images. A lens (a small U-Net, the identity at the start) is trained to
make small changes that make the rotation net fail, while the rotation
net keeps learning on the lensed (and the plain) images.

The script trains RotNet (the control) and RotNet with the lens on the
same data: by default `shortcut_digits`, scikit-learn's digits with a
bright block drawn in a corner before rotation. It prints the linear
probe, kNN and rotation accuracies of both (on clean images too), what
the lens changes on the marker against the rest of the image, writes
the plot x / L(x) / |x - L(x)| and exports the lens model with `embed`
and `lens` endpoints.

    python examples/lens.py                          # the shortcut fixture
    python examples/lens.py --dataset digits         # no planted shortcut
    python examples/lens.py --dataset cifar10 --marker --epochs 30 \\
        --max-examples 10000                         # a prepared TFDS set

With `--dataset` a TensorFlow Datasets name (CIFAR-10 by default in the
paper's arrow experiment; nothing is downloaded, the set must be
prepared on this machine), `--marker` draws the block (scaled to the
image size) into every image before rotation, the setting of the
paper's synthetic-shortcut experiment (an arrow there); without it the
lens looks for the set's natural shortcuts.
"""

import argparse
import json
import os

import keras_ssl
from keras_ssl import data


def load_tfds(args):
    """A prepared TFDS image set in the rotnet / lens recipes' format:
    `tfds_split`'s dict, the clean test images and the planted marker."""
    dataset = data.tfds_split(
        args.dataset,
        image_size=args.image_size,
        channels=3,
        data_dir=args.data_dir,
        max_examples=args.max_examples,
    )
    dataset.update(x_clean_test=dataset["x_test"], marker=None)
    if args.marker:
        scale = dataset["input_shape"][0] // 16
        marker = tuple(scale * v for v in data.SHORTCUT_MARKER)
        for key in ("x_train", "x_test"):
            dataset[key] = data.add_shortcut_marker(dataset[key], marker)
        dataset["marker"] = marker
    return dataset


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset",
        default="shortcut_digits",
        help="shortcut_digits, digits or a prepared TFDS name (cifar10)",
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument(
        "--marker", action="store_true", help="plant the block (TFDS sets)"
    )
    # Left out: the recipes' settings (30 epochs, batch 64, wide small
    # CNN, Adam 1e-3 for both networks, reconstruction weight 100).
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--width", default="wide", choices=("narrow", "wide"))
    parser.add_argument("--reconstruction-weight", type=float, default=100.0)
    parser.add_argument(
        "--adversarial",
        default="least_likely",
        choices=("least_likely", "full"),
    )
    parser.add_argument(
        "--no-control", action="store_true", help="skip the RotNet control"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-lens")
    args = parser.parse_args()

    options = {}
    if args.dataset not in ("shortcut_digits", "digits"):
        try:
            options["data"] = load_tfds(args)
        except ValueError as error:  # e.g. a TFDS set not prepared here
            parser.error(str(error))
    common = dict(
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        **options,
    )
    results = {}
    if not args.no_control:
        control = keras_ssl.run.train(
            "rotnet",
            os.path.join(args.output, "rotnet"),
            config={"width": args.width},
            **common,
        )
        results["rotnet"] = control.metrics
    run = keras_ssl.run.train(
        "lens",
        os.path.join(args.output, "lens"),
        config={
            "width": args.width,
            "reconstruction_weight": args.reconstruction_weight,
            "adversarial": args.adversarial,
        },
        **common,
    )
    results["lens"] = run.metrics
    print(json.dumps(results, indent=2))
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", "lens")
    )
    print(f"plots in {args.output}/lens/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
