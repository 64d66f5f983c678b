"""A TensorFlow Datasets image set's train and test splits, as a data dict."""

from keras_ssl.data.image_data import image_data
from keras_ssl.data.load_tfds import load_tfds


def tfds_split(
    name,
    image_size=None,
    channels=None,
    data_dir=None,
    max_examples=None,
    train_split="train",
    test_split="test",
    builder=None,
):
    """Reads a prepared TFDS image set in the recipes' data format.

    The dict that `keras_ssl.run.train(..., data=...)` takes and every
    recipe's `load_data` returns, for the paper data sets of the examples
    and of the recipes' `tfds_data`: `load_tfds` reads `train_split` and
    `test_split` with the same options (nothing is downloaded), and the
    dict holds

    - `"kind"`: `"image"`;
    - `"x_train"`, `"y_train"`, `"x_test"`, `"y_test"`: float32 images in
      `[0, 1]` of shape `(n, height, width, channels)`, int32 labels;
    - `"num_classes"`: the largest training label + 1;
    - `"input_shape"`: the shape of one image.

    A recipe or an example adds what its method needs on top of it (OOD
    sets, a labeled / unlabeled split, a rescaling, a planted marker).

    Args:
        name: a TFDS builder name, for example `"cifar10"`. Ignored when
            `builder` is given.
        image_size: optional size to resize to, an int (square) or a
            `(height, width)` pair (see `load_tfds`).
        channels: optional number of output channels, `1` or `3`.
        data_dir: TFDS data directory (default `~/tensorflow_datasets`).
        max_examples: optional cap on the examples read from each split.
        train_split: the TFDS split to train on.
        test_split: the TFDS split to test on; must differ from
            `train_split`.
        builder: an existing `tfds.core.DatasetBuilder` to read from
            instead of `name` (tests and custom data sets).

    Returns:
        The data dict described above.

    Raises:
        ValueError: if `name` is not a non-empty string (and no `builder`
            is given), a split is not a non-empty string or both splits
            are the same, or `load_tfds` rejects the set or an option
            (the set is not prepared in `data_dir`, is unknown or has no
            image / label features; `image_size`, `channels` or
            `max_examples` is invalid).

    Example:

    ```python
    import numpy as np
    import tensorflow_datasets as tfds
    from keras_ssl.data import tfds_split

    # A 2-class set of 4x4 gray images, prepared on the spot (and kept
    # out of the TFDS registry); a real set is prepared once with
    # `tfds.builder(name).download_and_prepare()` and read by name.
    class TinyImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(4, 4, 1)),
                    "label": tfds.features.ClassLabel(num_classes=2),
                })
            )

        def _split_generators(self, dl_manager):
            return {
                "train": self._generate_examples(12),
                "test": self._generate_examples(4),
            }

        def _generate_examples(self, count):
            for i in range(count):
                image = np.full((4, 4, 1), 20 * i, dtype="uint8")
                yield i, {"image": image, "label": i % 2}

    builder = TinyImages(data_dir="tfds")
    builder.download_and_prepare()
    data = tfds_split(None, image_size=8, channels=3, builder=builder)
    assert data["x_train"].shape == (12, 8, 8, 3)
    assert data["input_shape"] == (8, 8, 3) and data["num_classes"] == 2
    ```
    """
    if builder is None and not (isinstance(name, str) and name):
        raise ValueError(
            "name must be a TensorFlow Datasets builder name such as "
            f"'cifar10' (or pass builder); got {name!r}"
        )
    for argument, split in (
        ("train_split", train_split),
        ("test_split", test_split),
    ):
        if not (isinstance(split, str) and split):
            raise ValueError(
                f"{argument} must be a non-empty TFDS split name such as "
                f"'train' or 'train[:90%]'; got {split!r}"
            )
    if train_split == test_split:
        raise ValueError(
            "train_split and test_split must differ (a model would be "
            f"tested on its training data); both are {train_split!r}"
        )
    options = dict(
        image_size=image_size,
        channels=channels,
        data_dir=data_dir,
        max_examples=max_examples,
        builder=builder,
    )
    x, y = load_tfds(name, train_split, **options)
    x_test, y_test = load_tfds(name, test_split, **options)
    return image_data((x, y), (x_test, y_test), num_classes=int(y.max()) + 1)
