"""Digits with a synthetic rotation shortcut (the Lens fixture)."""

from keras_ssl.data.add_shortcut_marker import SHORTCUT_MARKER
from keras_ssl.data.add_shortcut_marker import add_shortcut_marker
from keras_ssl.data.digits import digits


def shortcut_digits(
    image_size=16, channels=1, test_size=797, seed=0, marker=SHORTCUT_MARKER
):
    """The bundled digits with a bright block drawn into every image.

    The data set that shows what automatic shortcut removal is for: a
    rotation pretext trained on these images (rotated *after* the block
    is drawn) reads the rotation off the corner where the block lands and
    learns little about the digits. Images are `digits(image_size,
    channels, test_size, seed)` (pixels / 16, resized bilinearly), then
    `add_shortcut_marker(images, marker)` sets the block to 1.0. The
    default split and marker are the Lens method note's experiment: 1,000
    training and 797 test images at 16x16, a 3x2 block at rows 1-3 and
    columns 1-2. `marker=None` gives the same split without the marker
    (the clean images a shortcut-free rotation accuracy is measured on).

    Args:
        image_size: 8, 16 or 32.
        channels: 1 or 3.
        test_size: test images (an int) or their fraction (a float).
        seed: the split's random state.
        marker: `(top, bottom, left, right)` of the block (see
            `add_shortcut_marker`), or `None` for clean images.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, float32 images in
        `[0, 1]` and int32 digit labels.

    Example:

    ```python
    from keras_ssl.data import shortcut_digits

    (x, y), (x_test, y_test) = shortcut_digits()
    x.shape, x_test.shape  # ((1000, 16, 16, 1), (797, 16, 16, 1))
    float(x[:, 1:4, 1:3].min())  # 1.0
    ```
    """
    (x, y), (x_test, y_test) = digits(
        image_size=image_size, channels=channels, test_size=test_size, seed=seed
    )
    if marker is not None:
        x = add_shortcut_marker(x, marker)
        x_test = add_shortcut_marker(x_test, marker)
    return (x, y), (x_test, y_test)
