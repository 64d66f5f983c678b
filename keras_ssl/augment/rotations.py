import tensorflow as tf

from keras_ssl.augment._images import check_images
from keras_ssl.core._checks import check_integer

NUM_ROTATIONS = (1, 2, 4)


def rotations(images, num_rotations=4):
    """Expands a batch into its rotated copies, with rotation labels.

    The rotation pretext of RotNet (Gidaris et al., ICLR 2018), of
    automatic shortcut removal and of SLA: every image is followed by its
    copies rotated counter-clockwise by `j * 360 / num_rotations` degrees,
    `j = 0 .. num_rotations - 1`, contiguous and image-major, so
    `copies[i * M + j]` is image `i` rotated `j` times and `labels[i * M
    + j] = j` (`M = num_rotations`). With 4 rotations these are 0, 90,
    180 and 270 degrees (SLA's `rotation`), with 2 they are 0 and 180
    (SLA's `rotation2`); the rotations are exact (`tf.image.rot90`, the
    same as `np.rot90` and SLA's `torch.rot90(x, k, (2, 3))`). Square
    images only, so every copy has the input's shape.

    Deterministic and plain TensorFlow: use it in a `tf.data` map (the
    batch grows `M`-fold) or inside a graph (an exported endpoint that
    aggregates over the rotations).

    Args:
        images: `(batch, size, size, channels)` tensor.
        num_rotations: 1, 2 or 4.

    Returns:
        `(copies, labels)`: a `(batch * M, size, size, channels)` tensor of
        the input's dtype, and int32 rotation labels of shape
        `(batch * M,)`.

    Raises:
        ValueError: for images that are not a square 4-D batch, or another
            `num_rotations`.

    Example:

    ```python
    import numpy as np
    from keras_ssl.augment import rotations

    images = np.arange(2 * 3 * 3, dtype="float32").reshape(2, 3, 3, 1)
    copies, labels = rotations(images)
    copies.shape, labels.numpy().tolist()[:5]  # (8, 3, 3, 1), [0, 1, 2, 3, 0]
    first = np.rot90(images[0, ..., 0])
    np.testing.assert_array_equal(copies[1, ..., 0], first)
    ```
    """
    images = check_images(images)
    num_rotations = check_integer(num_rotations, 1, "num_rotations")
    if num_rotations not in NUM_ROTATIONS:
        raise ValueError(
            f"num_rotations must be one of {NUM_ROTATIONS}; got {num_rotations}"
        )
    height, width = images.shape[1], images.shape[2]
    if height is not None and width is not None and height != width:
        raise ValueError(
            "rotations need square images (a rotated copy keeps the shape); "
            f"got images of shape {images.shape}"
        )
    quarter_turns = 4 // num_rotations
    copies = tf.stack(
        [
            tf.image.rot90(images, k * quarter_turns)
            for k in range(num_rotations)
        ],
        axis=1,
    )
    copies = tf.reshape(copies, (-1, *images.shape[1:]))
    labels = tf.tile(
        tf.range(num_rotations, dtype=tf.int32), tf.shape(images)[:1]
    )
    return copies, labels
