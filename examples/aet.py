"""Auto-Encoding Transformations: learn features by predicting a warp.

Zhang, Qi, Wang & Luo, "AET vs. AED: Unsupervised Representation
Learning by Auto-Encoding Transformations rather than Data" (CVPR 2019).
Every image x is paired with a randomly warped copy t(x); one encoder
embeds both and a linear decoder on the two feature vectors regresses the
normalised parameters of t (affine: rotation, translation, scale, shear;
or projective: the 8 homography coefficients).

The script trains on scikit-learn's bundled digits by default (the
settings of `keras-ssl train aet`: AET-affine, a small CNN, 16x16, Adam,
100 epochs), or on CIFAR-10 from TensorFlow Datasets with the official
setup: the 4-block Network-in-Network encoder probed at block 2, crop
(pad 4) and flip pre-augmentation, a gray fill and the official 32 px
ranges and targets. CIFAR-10 must already be prepared in `--data-dir`
(nothing is downloaded). It reports the pretext error against the trivial
predictor, linear-probe and kNN accuracy of the frozen block-2 (and
final) features against the same encoder at random init, plots predicted
against true parameters and a grid of x / t(x) pairs, and exports the
model with `embed` and `predict_transform` endpoints.

    python examples/aet.py                                   # digits
    python examples/aet.py --transform projective
    python examples/aet.py --dataset cifar10 --epochs 1500 --batch-size 512 \
        --max-examples 50000
"""

import argparse
import json
import os

import keras_ssl
from keras_ssl import data
from keras_ssl.representation.aet import sampler_defaults

# The official CIFAR-10 setup (method note; official code).
CIFAR = {
    "image_size": 32,
    "backbone": "network_in_network",
    "feature_layer": "block2_output",
    "max_shift": 4,
    "flip": True,
    # The samplers' defaults are the official CIFAR ranges, targets and
    # gray fill; the digits recipe rescales them to 16 px.
    **sampler_defaults("affine"),
    **sampler_defaults("projective"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", default="digits", choices=["digits", "cifar10"]
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument(
        "--transform", default="affine", choices=["affine", "projective"]
    )
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-aet")
    args = parser.parse_args()

    config = {"transform": args.transform}
    options = {}
    if args.dataset == "cifar10":
        try:
            options["data"] = data.tfds_split(
                "cifar10",
                image_size=32,
                channels=3,
                data_dir=args.data_dir,
                max_examples=args.max_examples,
            )
        except ValueError as error:  # CIFAR-10 not prepared here
            parser.error(str(error))
        config.update(CIFAR)
    # What `keras-ssl train aet` does: pairs and targets made in tf.data,
    # the pretext error on held-out pairs, the probes, the plots.
    run = keras_ssl.run.train(
        "aet",
        args.output,
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        config=config,
        **options,
    )
    print(json.dumps(run.metrics, indent=2))
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", "aet")
    )
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
