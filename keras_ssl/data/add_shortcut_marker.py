"""A synthetic shortcut: a bright block drawn into every image."""

import numpy as np

from keras_ssl.core._checks import check_number
from keras_ssl.core._checks import is_integer

# Rows 1-3 and columns 1-2 (a 3x2 block near the top-left corner), the
# marker of the Lens method note's digits experiment at 16x16.
SHORTCUT_MARKER = (1, 4, 1, 3)


def add_shortcut_marker(images, box=SHORTCUT_MARKER, value=1.0):
    """Draws a constant block into every image: a shortcut for a pretext.

    The fixture of automatic shortcut removal (Minderer et al., ICML
    2020): drawn *before* the rotations of a rotation pretext, the block
    turns with the image and lands in a different corner for each
    rotation, so a network can read the rotation off a corner instead of
    learning what the image shows. (The paper's version of this
    experiment draws an arrow into CIFAR-10 images; the block is the
    method note's digits variant.)

    Args:
        images: array `(batch, height, width, channels)`.
        box: `(top, bottom, left, right)`, the block's rows
            `top .. bottom - 1` and columns `left .. right - 1`, inside the
            image.
        value: the block's intensity (all channels); the default 1.0 is
            the maximum of images in `[0, 1]`.

    Returns:
        A float32 copy of `images` with the block drawn in.

    Raises:
        ValueError: for images that are not 4-D or a box outside them.

    Example:

    ```python
    import numpy as np
    from keras_ssl.data import add_shortcut_marker

    marked = add_shortcut_marker(np.zeros((2, 16, 16, 1)))
    int(marked.sum())  # 12: two images with a 3x2 block each
    ```
    """
    images = np.array(images, dtype="float32")
    if images.ndim != 4:
        raise ValueError(
            "images must have shape (batch, height, width, channels); got "
            f"shape {images.shape}"
        )
    height, width = images.shape[1:3]
    valid = (
        isinstance(box, tuple | list)
        and len(box) == 4
        and all(is_integer(v, 0) for v in box)
        and box[0] < box[1] <= height
        and box[2] < box[3] <= width
    )
    if not valid:
        raise ValueError(
            "box must be (top, bottom, left, right) integers with top < "
            f"bottom <= {height} and left < right <= {width}; got {box!r}"
        )
    value = check_number(value, "value", ">= 0")
    top, bottom, left, right = (int(v) for v in box)
    images[:, top:bottom, left:right, :] = value
    return images
