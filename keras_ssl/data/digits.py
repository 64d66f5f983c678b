"""scikit-learn's bundled handwritten digits as a train/test split."""

import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

from keras_ssl.data.digits_preprocessing import check_image_options
from keras_ssl.data.raw_digits import raw_digits


def digits(image_size=8, channels=1, test_size=0.3, seed=0, classes=None):
    """Loads the bundled 8x8 digits as a stratified train/test split.

    The default data set of keras_ssl: 1,797 real handwritten digits that
    ship with scikit-learn, so nothing is downloaded. Pixels are divided by
    16 to lie in `[0, 1]`; images can be resized bilinearly to 16 or 32
    pixels (`tf.image.resize`, then clipped to `[0, 1]`) and repeated to 3
    channels for backbones that expect RGB. The split is stratified by
    class and depends only on `seed`.

    `digits_preprocessing(image_size, channels)` applied to the raw images
    of `raw_digits()` gives the same arrays; exported models use it.

    Args:
        image_size: height and width of the images, one of `(8, 16, 32)`.
        channels: `1` (gray) or `3` (gray repeated three times).
        test_size: fraction of the images in the test split (a float in
            `(0, 1)`) or their number (an int).
        seed: random state of the split (`train_test_split(random_state=)`).
        classes: optional list of digit classes (`0..9`) to keep. Labels
            are remapped to `0..len(classes) - 1` in the order given, so
            `classes=[3, 5]` makes every 3 a `0` and every 5 a `1`.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: float32 images of shape
        `(n, image_size, image_size, channels)` in `[0, 1]` and int32
        labels.

    Raises:
        ValueError: if `image_size`, `channels`, `test_size` or `classes`
            is invalid.

    Example:

    ```python
    from keras_ssl.data import digits

    (x_train, y_train), (x_test, y_test) = digits(image_size=16)
    x_train.shape, x_test.shape  # ((1257, 16, 16, 1), (540, 16, 16, 1))
    ```

    Reference:
        `sklearn.datasets.load_digits`; `sklearn.model_selection.
        train_test_split` with `stratify`.
    """
    check_image_options(image_size, channels)
    _check_test_size(test_size)
    images, labels = raw_digits()
    if classes is not None:
        classes = _check_classes(classes)
        keep = np.isin(labels, classes)
        new_label = np.full(10, -1, dtype="int32")
        new_label[classes] = np.arange(len(classes), dtype="int32")
        images, labels = images[keep], new_label[labels[keep]]
    x = images / 16.0
    if image_size != 8:
        x = tf.image.resize(x, (image_size, image_size), method="bilinear")
        x = np.clip(x.numpy(), 0.0, 1.0)
    if channels == 3:
        x = np.repeat(x, 3, axis=-1)
    x = x.astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    return (x_train, y_train), (x_test, y_test)


def _check_test_size(test_size):
    is_int = isinstance(test_size, (int, np.integer))
    is_float = isinstance(test_size, (float, np.floating))
    if isinstance(test_size, bool) or not (is_int or is_float):
        ok = False
    else:
        ok = test_size > 0 if is_int else 0 < test_size < 1
    if not ok:
        raise ValueError(
            "test_size must be a float in (0, 1) or a positive int; "
            f"got {test_size!r}"
        )


def _check_classes(classes):
    values = list(classes)
    if not values:
        raise ValueError("classes must list at least one digit; got []")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"classes must be ints in 0..9; got {classes!r}")
        if not 0 <= value <= 9:
            raise ValueError(f"classes must be ints in 0..9; got {classes!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"classes must not repeat a digit; got {classes!r}")
    return np.asarray(values, dtype="int64")
