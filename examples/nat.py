"""Noise As Targets: learn image features without labels, probe, export.

Bojanowski & Joulin, "Unsupervised Learning by Predicting Noise" (ICML
2017). Every training image owns a fixed random target on the unit sphere;
the network learns to map images onto their targets while the targets are
re-permuted inside each batch (Hungarian algorithm) every third epoch.

The script trains on scikit-learn's bundled digits by default, or on any
TensorFlow Datasets image set that is already prepared on this machine
(nothing is downloaded), then reports a linear probe and kNN accuracy of
the frozen features against the same encoder at random init, draws a PCA
map of the embeddings and exports the encoder with an `embed` endpoint.

    python examples/nat.py                                  # digits
    python examples/nat.py --dataset mnist --image-size 16 --max-examples 5000
"""

import argparse
import json
import os

import keras_ssl
from keras_ssl import data


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", default="digits", help="digits or a TFDS name"
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--reassign-every", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-nat")
    args = parser.parse_args()

    options = {}
    if args.dataset != "digits":
        try:
            options["data"] = data.tfds_split(
                args.dataset,
                image_size=args.image_size,
                channels=1,
                data_dir=args.data_dir,
                max_examples=args.max_examples,
            )
        except ValueError as error:  # e.g. a TFDS set not prepared here
            parser.error(str(error))
    # What `keras-ssl train nat` does: shifts and noise in tf.data, the
    # probes of the frozen features before and after training, a map.
    run = keras_ssl.run.train(
        "nat",
        args.output,
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        config={
            "image_size": args.image_size,
            "reassign_every": args.reassign_every,
        },
        **options,
    )
    print(json.dumps(run.metrics, indent=2))
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", "nat")
    )
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
