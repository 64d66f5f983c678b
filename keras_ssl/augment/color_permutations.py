import tensorflow as tf

from keras_ssl.augment._images import check_images
from keras_ssl.core._checks import check_integer

# SLA's `augmentations.py` (official code): the order of the copies.
PERMUTATIONS = {
    6: ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)),
    3: ((0, 1, 2), (1, 2, 0), (2, 0, 1)),
    1: ((0, 1, 2),),
}


def color_permutations(images, num_permutations=6):
    """Expands an RGB batch into its channel-permuted copies, with labels.

    SLA's colour-permutation transforms (Lee et al., ICML 2020; official
    `augmentations.py`): with 6, every permutation of the three channels,
    in the order `RGB, RBG, GRB, GBR, BRG, BGR` (`color_perm`); with 3,
    the cyclic ones `RGB, GBR, BRG` (`color_perm3`). Copies are contiguous
    and image-major, as in `keras_ssl.augment.rotations`:
    `copies[i * M + j]` is image `i` under permutation `j` and
    `labels[i * M + j] = j`. Applied to the output of `rotations` it
    gives SLA's combined transforms in the official order (rotation-major,
    then permutation: `rot_color_perm12` is 4 rotations then 3 cyclic
    permutations).

    Args:
        images: `(batch, height, width, 3)` tensor.
        num_permutations: 1, 3 or 6.

    Returns:
        `(copies, labels)`: a `(batch * M, height, width, 3)` tensor and
        int32 labels of shape `(batch * M,)`.

    Raises:
        ValueError: for images that are not a 4-D RGB batch, or another
            `num_permutations`.

    Example:

    ```python
    import numpy as np
    from keras_ssl.augment import color_permutations

    images = np.random.default_rng(0).random((2, 4, 4, 3), "float32")
    copies, labels = color_permutations(images, 3)
    np.testing.assert_array_equal(copies[1], images[0][..., [1, 2, 0]])
    ```
    """
    images = check_images(images, channels=3)
    num_permutations = check_integer(num_permutations, 1, "num_permutations")
    if num_permutations not in PERMUTATIONS:
        raise ValueError(
            f"num_permutations must be one of {sorted(PERMUTATIONS)}; got "
            f"{num_permutations}"
        )
    copies = tf.stack(
        [
            tf.gather(images, list(order), axis=-1)
            for order in PERMUTATIONS[num_permutations]
        ],
        axis=1,
    )
    copies = tf.reshape(copies, (-1, *images.shape[1:]))
    labels = tf.tile(
        tf.range(num_permutations, dtype=tf.int32), tf.shape(images)[:1]
    )
    return copies, labels
