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

import keras
import tensorflow as tf

import keras_ssl
from keras_ssl import augment
from keras_ssl import data
from keras_ssl import evaluation
from keras_ssl.recipes.representation_recipe import probe_metrics


def load(args):
    if args.dataset == "digits":
        return data.digits(image_size=args.image_size, seed=args.seed)
    options = dict(
        image_size=args.image_size, channels=1, data_dir=args.data_dir
    )
    train = data.load(
        args.dataset, "train", max_examples=args.max_examples, **options
    )
    test = data.load(
        args.dataset, "test", max_examples=args.max_examples, **options
    )
    return train, test


def pipeline(x, batch_size, seed):
    """(image, index) batches, shuffled and augmented in tf.data."""

    def shift_and_noise(seed_pair, batch):
        images, index = batch
        seeds = tf.random.experimental.stateless_split(seed_pair, 2)
        images = augment.random_shift(images, 2, seeds[0])
        return augment.random_noise(images, 0.05, seeds[1]), index

    # Fresh stateless seeds for every batch of every epoch.
    seeds = tf.data.Dataset.random(seed, rerandomize_each_iteration=True)
    batches = data.with_index(x, batch_size=batch_size, shuffle=True, seed=seed)
    return tf.data.Dataset.zip(seeds.batch(2), batches).map(
        shift_and_noise, num_parallel_calls=tf.data.AUTOTUNE
    )


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

    keras.utils.set_random_seed(args.seed)
    try:
        (x, y), (x_test, y_test) = load(args)
    except ValueError as error:  # e.g. a TFDS set not prepared here
        parser.error(str(error))
    encoder = keras_ssl.backbones.small_cnn(x.shape[1:], preset="narrow")
    model = keras_ssl.representation.NAT(
        encoder,
        num_samples=len(x),
        target_dim=32,
        reassign_every=args.reassign_every,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model(x[:1])
    # The probes of `keras-ssl train nat`: logistic regression and kNN on
    # the frozen features, before and after training.
    splits = {"x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test}
    random_init, _ = probe_metrics(model, splits)

    model.fit(pipeline(x, args.batch_size, args.seed), epochs=args.epochs)

    metrics, features = probe_metrics(model, splits)
    metrics.update({f"random_init_{k}": v for k, v in random_init.items()})
    print(json.dumps(metrics, indent=2))
    os.makedirs(args.output, exist_ok=True)
    evaluation.embedding_map(
        features,
        y_test,
        path=os.path.join(args.output, "embedding_map.png"),
        title="NAT: test embeddings (PCA)",
    )
    path = keras_ssl.export.export_saved_model(
        model, os.path.join(args.output, "saved_models"), "nat"
    )
    print(f"plot in {args.output}, SavedModel in {path}")


if __name__ == "__main__":
    main()
