"""One split of a TensorFlow Datasets image set, digits-style."""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import is_integer


def load_tfds(
    name,
    split="train",
    image_size=None,
    channels=None,
    data_dir=None,
    as_numpy=True,
    max_examples=None,
    builder=None,
    download=False,
):
    """Reads one split of a TensorFlow Datasets image set as `(x, y)`.

    The TFDS reader of keras_ssl: one split in, one `(x, y)` pair (or
    `tf.data.Dataset`) out. To get a train and a test split by a single
    name, built-in sets included, use `load_dataset`, which calls this for
    TFDS names.

    Works for any image classification builder with an `"image"` and a
    `"label"` feature (MNIST, Fashion-MNIST, CIFAR-10, SVHN, ...). Images
    become float32 in `[0, 1]` (`tf.image.convert_image_dtype`), are
    optionally resized bilinearly (then clipped to `[0, 1]`) and converted
    between gray and RGB (`tf.image.grayscale_to_rgb` /
    `tf.image.rgb_to_grayscale`); labels become int32. Files are read in
    their stored order (`shuffle_files=False`), so results are
    deterministic.

    Nothing is downloaded unless `download=True`: a data set that is not
    prepared in `data_dir` raises an error that says how to get it.

    Args:
        name: a TFDS builder name, for example `"mnist"` or
            `"cifar10:3.0.2"`. Ignored when `builder` is given.
        split: the TFDS split, for example `"train"`, `"test"` or
            `"train[:10%]"`.
        image_size: optional size to resize to: an int (square) or a
            `(height, width)` pair. Needed for `as_numpy=True` when the
            images differ in size.
        channels: optional number of output channels, `1` or `3`. An alpha
            channel is dropped.
        data_dir: TFDS data directory (default `~/tensorflow_datasets`).
        as_numpy: return NumPy arrays `(x, y)` if True, else an unbatched
            `tf.data.Dataset` of `(x, y)`.
        max_examples: optional cap on the number of examples read.
        builder: an existing `tfds.core.DatasetBuilder` to read from
            (tests and custom data sets use it instead of `name`).
        download: download and prepare the data set if it is missing.

    Returns:
        `(x, y)` NumPy arrays (float32 images of shape
        `(n, height, width, channels)`, int32 labels) or a
        `tf.data.Dataset` with the same element layout.

    Raises:
        ValueError: if `name` is unknown, the builder has no image/label
            features, the data set is not prepared and `download=False`,
            or `image_size`, `channels` or `max_examples` is invalid.

    Example:

    ```python
    from keras_ssl.data import load_tfds

    # Once, on a machine with network access:
    #   tfds.builder("mnist").download_and_prepare()
    x_train, y_train = load_tfds("mnist", split="train", image_size=32)
    x_test, y_test = load_tfds("mnist", split="test", image_size=32)
    ```

    Reference:
        TensorFlow Datasets, https://www.tensorflow.org/datasets.
    """
    if image_size is not None:
        if is_integer(image_size, 1):
            image_size = (int(image_size), int(image_size))
        elif (
            isinstance(image_size, (tuple, list))
            and len(image_size) == 2
            and all(is_integer(size, 1) for size in image_size)
        ):
            image_size = tuple(int(size) for size in image_size)
        else:
            raise ValueError(
                "image_size must be None, an integer >= 1 or a (height, "
                f"width) pair of integers >= 1; got {image_size!r}"
            )
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be None, 1 or 3; got {channels!r}")
    if max_examples is not None:
        max_examples = check_integer(max_examples, 1, "max_examples")
    if builder is None:
        try:
            builder = tfds.builder(name, data_dir=data_dir)
        except tfds.core.registered.DatasetNotFoundError as error:
            raise ValueError(
                f"{name!r} is not a TensorFlow Datasets builder; see "
                "https://www.tensorflow.org/datasets/catalog"
            ) from error
    if not builder.is_prepared():
        if not download:
            raise ValueError(
                f"data set {builder.name!r} is not prepared in "
                f"{builder.data_dir!r} and download=False. Get it once on "
                "a machine with network access with "
                f"`tfds.builder({builder.name!r}).download_and_prepare()` "
                "(or pass download=True), then copy the data directory "
                "and pass data_dir."
            )
        builder.download_and_prepare()
    features = builder.info.features
    if "image" not in features or "label" not in features:
        raise ValueError(
            f"data set {builder.name!r} needs an 'image' and a 'label' "
            f"feature; it has {sorted(features.keys())}"
        )

    dataset = builder.as_dataset(split=split, shuffle_files=False)
    if max_examples is not None:
        dataset = dataset.take(max_examples)

    def convert(example):
        image = tf.image.convert_image_dtype(example["image"], tf.float32)
        if image_size is not None:
            image = tf.image.resize(image, image_size, method="bilinear")
            image = tf.clip_by_value(image, 0.0, 1.0)
        if channels is not None:
            image = _convert_channels(image, channels)
        return image, tf.cast(example["label"], tf.int32)

    dataset = dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    if not as_numpy:
        return dataset
    shape = dataset.element_spec[0].shape
    if not shape[:-1].is_fully_defined():
        raise ValueError(
            f"the images of {builder.name!r} differ in size ({shape}); pass "
            "image_size to return NumPy arrays"
        )
    images, labels = [], []
    for x, y in dataset.batch(1024).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    if not images:
        raise ValueError(f"split {split!r} of {builder.name!r} is empty")
    return np.concatenate(images), np.concatenate(labels)


def _convert_channels(image, channels):
    """Gray <-> RGB conversion of one image (alpha dropped)."""
    have = image.shape[-1]
    if have == 4:
        image, have = image[..., :3], 3
    if have == channels:
        return image
    if have == 1 and channels == 3:
        return tf.image.grayscale_to_rgb(image)
    if have == 3 and channels == 1:
        return tf.image.rgb_to_grayscale(image)
    raise ValueError(
        f"cannot convert images with {have} channels to {channels} channels"
    )
