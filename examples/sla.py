"""SLA: self-supervised label augmentation against a plain classifier.

Lee, Hwang & Shin, "Self-supervised Label Augmentation via Input
Transformations" (ICML 2020). Instead of asking a classifier to be
invariant to rotations, SLA classifies the joint label (class, rotation)
of every rotated copy of an image with one N*M-way head; at test time
the class logits of the M copies are averaged (AG), the identity copy
alone gives SI, and a self-distilled head gives SD at one pass.

The script trains SLA (with the SD head) and the recipe's plain
cross-entropy baseline (same network, optimizer, epochs and batches),
prints the test accuracy and ECE of AG, SI, SD and the baseline, draws
confusion matrices, a reliability diagram and learning curves into
OUTPUT/plots, and exports a SavedModel whose `classify` endpoint rotates
its inputs inside the graph.

    python examples/sla.py                        # 20-label digits
    python examples/sla.py --dataset cifar10 --data-dir ~/tfds

`cifar10` reads CIFAR-10 from TensorFlow Datasets, which must already be
prepared on this machine (nothing is downloaded), and trains the note's
CIFAR network (`cresnet32`) with the official optimiser (SGD 0.1,
momentum 0.9, weight decay 1e-4, batch 128, lr x0.1 at 50% and 75% of
the epochs) on the whole training split. Unlike the official recipe it
keeps no 5k validation split and uses no crop/flip augmentation.
"""

import argparse
import json
import os

import keras_ssl
from keras_ssl import data


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", default="digits", choices=("digits", "cifar10")
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument(
        "--max-examples", type=int, default=None, help="CIFAR: first N only"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="default: digits 200, CIFAR 180",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-sla")
    args = parser.parse_args()

    options = {"epochs": args.epochs}
    if args.dataset == "cifar10":
        try:
            options["data"] = data.tfds_split(
                "cifar10",
                channels=3,
                data_dir=args.data_dir,
                max_examples=args.max_examples,
            )
        except ValueError as error:  # the TFDS set is not prepared here
            parser.error(
                f"{error}\n--dataset cifar10 needs the TFDS set 'cifar10' "
                "prepared locally"
            )
        # The official CIFAR recipe: 80k steps of 128 on 45k images is
        # about 228 epochs; 180 keeps the schedule's shape at less cost.
        epochs = args.epochs or 180
        options["epochs"] = epochs
        options["batch_size"] = 128
        options["config"] = {
            "backbone": "cifar_resnet32",
            "self_distillation": True,
            "learning_rate": 0.1,
            "weight_decay": 1e-4,
            "lr_milestones": (epochs // 2, 3 * epochs // 4),
        }
    run = keras_ssl.run.train(
        "sla", args.output, dataset=args.dataset, seed=args.seed, **options
    )
    metrics = run.metrics
    print(json.dumps(metrics, indent=2))
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", "sla")
    )
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
