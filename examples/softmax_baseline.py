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

import keras
import numpy as np

import keras_ssl
from keras_ssl import data
from keras_ssl import evaluation


def load(dataset, seed):
    if dataset == "two_moons":
        (x, y), (x_test, y_test) = data.two_moons(seed=seed)
        encoder = keras_ssl.backbones.mlp((2,), hidden=(20, 20, 20))
        return x, y, x_test, y_test, {"far": data.far_points(x)}, encoder
    (x, y), (x_test, y_test) = data.digits(image_size=16, seed=seed)
    (x, y), _ = data.held_out_classes(x, y, (0, 1, 2, 3, 4))
    (x_test, y_test), unseen = data.held_out_classes(
        x_test, y_test, (0, 1, 2, 3, 4)
    )
    ood = {
        "digits_5_9": unseen,
        "uniform_noise": data.uniform_noise(len(x_test), x.shape[1:]),
    }
    encoder = keras_ssl.backbones.small_cnn(x.shape[1:], preset="wide")
    return x, y, x_test, y_test, ood, encoder


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", default="digits", choices=("digits", "two_moons")
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-softmax")
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    x, y, x_test, y_test, ood, encoder = load(args.dataset, args.seed)
    model = keras_ssl.uncertainty.SoftmaxClassifier(
        encoder, num_classes=int(y.max()) + 1
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x, y, batch_size=64, epochs=args.epochs)

    test = {k: np.asarray(v) for k, v in model.classify(x_test).items()}
    metrics = evaluation.calibration_metrics(test["probs"], y_test)
    scores = {
        name: np.asarray(model.classify(x_out)["ood_score"])
        for name, x_out in ood.items()
    }
    metrics["ood_auroc"] = {
        name: evaluation.ood_metrics(test["ood_score"], s)["auroc"]
        for name, s in scores.items()
    }
    print(json.dumps(metrics, indent=2))

    os.makedirs(args.output, exist_ok=True)
    evaluation.reliability_diagram(
        test["probs"], y_test, path=os.path.join(args.output, "reliability.png")
    )
    evaluation.ood_histograms(
        test["ood_score"], scores, path=os.path.join(args.output, "ood.png")
    )
    path = keras_ssl.export.export_saved_model(
        model, os.path.join(args.output, "saved_models"), "softmax"
    )
    print(f"plots in {args.output}, SavedModel in {path}")


if __name__ == "__main__":
    main()
