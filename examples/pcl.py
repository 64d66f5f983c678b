"""PCL: prototypical contrastive learning, with MoCo as its control.

Li, Zhou, Xiong & Hoi, "Prototypical Contrastive Learning of Unsupervised
Representations" (ICLR 2021). MoCo contrasts each image's query with its
key (another view of the same image) and a queue of other images' keys;
PCL adds, every epoch after a warm-up, a k-means E-step on the momentum
features and a ProtoNCE term that pulls each query towards its cluster's
prototype with a per-cluster temperature.

The script trains PCL (or MoCo with `--method moco`) on scikit-learn's
bundled digits by default, or on any TensorFlow Datasets image set that
is already prepared on this machine (nothing is downloaded), then reports
a linear probe and kNN accuracy of the frozen features against the same
encoder at random init, Acc@Proto and the clusters' adjusted mutual
information with the labels, draws embedding maps (by label, by cluster)
and exports the encoder with an `embed` endpoint.

    python examples/pcl.py                           # digits, PCL v1
    python examples/pcl.py --method moco             # the control
    python examples/pcl.py --channels 3 --mlp --aug-plus --cos   # v2 options
    python examples/pcl.py --dataset cifar10 --image-size 32 --channels 3 \\
        --mlp --aug-plus --cos --num-clusters 1000 2000 4000 --negatives 512 \\
        --queue-size 512 --batch-size 256 --epochs 200 --warmup-epochs 20

(`r` = 512 and k = 1000/2000/4000 are those of a CIFAR-10 reproduction
in the official repository's issue 7, with a ResNet-18 there; the small
CNN stands in here.)

PCL v2 is PCL with the three v2 options of the official code: `--mlp`
(an MLP projection head), `--aug-plus` (MoCo v2 augmentation: random
resized crop, colour jitter with p 0.8, grayscale, Gaussian blur, flip)
and `--cos` (cosine learning-rate decay per epoch). RGB images without
`--aug-plus` get the v1 augmentation (crop, grayscale, jitter, flip); gray
images get the digits augmentation (shift, erasing, noise).
"""

import argparse
import json
import math
import os

import keras

import keras_ssl
from keras_ssl import data


def load_data(args):
    """Digits (any channel count) or a prepared TFDS set, recipe format."""
    if args.dataset == "digits":
        (x, y), (x_test, y_test) = data.digits(
            image_size=args.image_size, channels=args.channels, seed=args.seed
        )
        preprocessing = data.digits_preprocessing(
            image_size=args.image_size, channels=args.channels
        )
        return data.image_data(
            (x, y),
            (x_test, y_test),
            preprocessing=preprocessing,
            raw_input_shape=(8, 8, 1),
        )
    return data.tfds_split(
        args.dataset,
        image_size=args.image_size,
        channels=args.channels,
        data_dir=args.data_dir,
        max_examples=args.max_examples,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", default="pcl", choices=("pcl", "moco"))
    parser.add_argument(
        "--dataset", default="digits", help="digits or a TFDS name"
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--channels", type=int, default=1, choices=(1, 3))
    # Flags left out keep the recipe's digits settings (40 epochs, batch
    # 100, lr 0.03, queue 400, k = 120/160/240, 20 negatives, warm-up 5).
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--queue-size", type=int, default=None)
    parser.add_argument("--num-clusters", type=int, nargs="+", default=None)
    parser.add_argument("--negatives", type=int, default=None)
    parser.add_argument("--warmup-epochs", type=int, default=None)
    parser.add_argument("--mlp", action="store_true", help="MLP head (v2)")
    parser.add_argument(
        "--aug-plus", action="store_true", help="MoCo v2 augmentation (v2)"
    )
    parser.add_argument("--cos", action="store_true", help="cosine lr (v2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/example-pcl")
    args = parser.parse_args()
    if args.aug_plus and args.channels != 3:
        parser.error("--aug-plus (colour jitter, grayscale) needs --channels 3")

    try:
        dataset = load_data(args)
    except ValueError as error:  # e.g. a TFDS set not prepared here
        parser.error(str(error))
    recipe = keras_ssl.recipes.get_recipe(args.method)
    given = {"learning_rate": args.learning_rate, "queue_size": args.queue_size}
    if args.method == "pcl":
        given.update(
            num_clusters=args.num_clusters and tuple(args.num_clusters),
            num_negative_prototypes=args.negatives,
            warmup_epochs=args.warmup_epochs,
        )
    config = {key: value for key, value in given.items() if value is not None}
    if args.channels == 1:
        augmentation = "digits"
    else:
        augmentation = "v2" if args.aug_plus else "v1"
    config.update(
        image_size=args.image_size,
        mlp_head=args.mlp,
        augmentation=augmentation,
    )
    callbacks = []
    if args.cos:
        # The official --cos: lr * 0.5 * (1 + cos(pi * epoch / epochs)),
        # set at the start of every epoch.
        rate = recipe.resolve_config(config)["learning_rate"]
        epochs = args.epochs or recipe.training_defaults(args.dataset)[0]

        def cosine(epoch):
            return rate * 0.5 * (1 + math.cos(math.pi * epoch / epochs))

        callbacks.append(keras.callbacks.LearningRateScheduler(cosine))
    run = keras_ssl.run.train(
        args.method,
        args.output,
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        config=config,
        callbacks=callbacks,
        data=dataset,
    )
    print(json.dumps(run.metrics, indent=2))
    path = keras_ssl.run.export(
        run.run_dir, os.path.join(args.output, "saved_models", args.method)
    )
    print(f"plots in {args.output}/plots, SavedModel in {path}")


if __name__ == "__main__":
    main()
