"""PGA: an autoencoder you can sample from, next to a plain autoencoder.

Zhang, Zhang, Li, Bengio & Paull, "Perceptual Generative Autoencoders"
(ICML 2020). The encoder maps both the data and the decoded prior samples
`D(z)`, `z ~ N(0, I)`, into the latent space; matching them there (a
latent reconstruction loss, plus a likelihood term with a stochastic
log-determinant for LPGA or a VAE objective in latent space for VPGA)
makes the decoded prior match the data. The encoder and the decoder are
updated with different losses, as in the official code.

The script trains PGA and a plain autoencoder with the same networks,
initial weights, optimizer and steps, prints the generative figures of
both (reconstruction error, Fréchet distances of N(0, I) samples in
pixels and in a small classifier's features, the statistics of the
codes), draws the sample grid beside real images and the
reconstructions, and exports a SavedModel with `sample` (codes in),
`encode` and `reconstruct` endpoints.

    python examples/pga.py                          # LPGA on digits
    python examples/pga.py --variant vpga           # VPGA on digits
    python examples/pga.py --dataset mnist --data-dir ~/tensorflow_datasets
    python examples/pga.py --dataset celeb_a --max-examples 20000

`mnist`, `cifar10` and `celeb_a` use the official networks and settings
of each dataset (README commands of `zj10/PGA`, see `OFFICIAL`); the set
must already be prepared for TensorFlow Datasets on this machine (nothing
is downloaded). CelebA is centre-cropped to 108x108 and resized to 64x64
(bicubic), as the official code does; it has no class labels, so its run
reports no feature distance.
"""

import argparse
import json
import os

import keras_ssl
from keras_ssl.recipes import get_recipe

# The official settings (`zj10/PGA` README commands and script defaults)
# by dataset, then by variant. Every dataset uses the conv networks.
OFFICIAL = {
    "mnist": {
        "shared": {"network": "conv", "learning_rate": 0.1},
        "lpga": {"latent_dim": 12, "init_steps": 3000, "epochs": 600},
        "vpga": {"latent_dim": 32, "epochs": 600},
    },
    "cifar10": {
        "shared": {
            "network": "conv",
            "use_batch_norm": True,
            "latent_dim": 128,
            "learning_rate": 0.2,
            "latent_weight": 3e-2,
        },
        "lpga": {"init_steps": 3000, "epochs": 400},
        "vpga": {
            "vae_reconstruction_weight": 5e-3,
            "kl_weight": 3e-2,
            "epochs": 400,
        },
    },
    "celeb_a": {
        "shared": {
            "network": "conv",
            "use_batch_norm": True,
            "latent_dim": 128,
            "learning_rate": 0.4,
            "latent_weight": 3e-2,
            "code_weight": 1e-2,
        },
        "lpga": {"nll_weight": 1e-2, "init_steps": 3000, "epochs": 100},
        "vpga": {"kl_weight": 2e-3, "epochs": 60},
    },
}


def load_celeb_a(data_dir, max_examples):
    """CelebA's train and test images as the official code prepares them:
    the central 108x108 crop of the 218x178 image, resized to 64x64
    (bicubic), in [-1, 1]."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_datasets as tfds

    builder = tfds.builder("celeb_a", data_dir=data_dir)
    if not builder.is_prepared():
        raise ValueError(
            f"data set 'celeb_a' is not prepared in {builder.data_dir!r}"
        )

    def images(split):
        dataset = builder.as_dataset(split=split, shuffle_files=False)
        if max_examples:
            dataset = dataset.take(max_examples)

        def crop(example):
            image = tf.image.crop_to_bounding_box(
                example["image"], (218 - 108) // 2, (178 - 108) // 2, 108, 108
            )
            image = tf.image.resize(image, (64, 64), method="bicubic")
            return tf.clip_by_value(image, 0.0, 255.0) / 127.5 - 1.0

        batches = dataset.map(crop).batch(1024).as_numpy_iterator()
        return np.concatenate(list(batches)).astype("float32")

    x = images("train")
    return {
        "kind": "image",
        "x_train": x,
        "x_test": images("test"),
        "input_shape": x.shape[1:],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", default="digits", choices=("digits", *OFFICIAL)
    )
    parser.add_argument("--variant", default="lpga", choices=("lpga", "vpga"))
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="default: the recipe's 250 on digits, the official elsewhere",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-pga")
    args = parser.parse_args()

    recipe = get_recipe("pga")
    config = {"variant": args.variant}
    options = {}
    if args.dataset != "digits":
        official = OFFICIAL[args.dataset]
        settings = {**official["shared"], **official[args.variant]}
        options["epochs"] = settings.pop("epochs")
        config.update(settings)
        try:
            if args.dataset == "celeb_a":
                options["data"] = load_celeb_a(args.data_dir, args.max_examples)
            else:
                options["data"] = recipe.tfds_data(
                    args.dataset,
                    data_dir=args.data_dir,
                    max_examples=args.max_examples,
                )
        except ValueError as error:  # a TFDS set not prepared here
            parser.error(
                f"{error}\n--dataset {args.dataset} needs the TFDS set "
                f"{args.dataset!r} prepared locally"
            )
    if args.epochs is not None:
        options["epochs"] = args.epochs
    # What `keras-ssl train pga` does: PGA, then the autoencoder control
    # and the figures of both (see keras_ssl/recipes/generative_recipe.py).
    run = keras_ssl.run.train(
        "pga",
        args.output,
        dataset=args.dataset,
        seed=args.seed,
        config=config,
        **options,
    )
    print(json.dumps(run.metrics, indent=2))
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", "pga")
    )
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
