"""The raw scikit-learn digits, as exported models expect them."""

import numpy as np
from sklearn.datasets import load_digits


def raw_digits():
    """Returns all 1,797 bundled digits with their raw 0..16 pixel values.

    scikit-learn ships the UCI "Optical Recognition of Handwritten Digits"
    test set: 8x8 grayscale images whose pixels count the "on" cells of a
    4x4 block, so they range over the integers 0..16. No download is needed.

    These are the inputs that `digits_preprocessing` and the exported
    SavedModels take; `digits()` gives the same images already scaled to
    `[0, 1]`.

    Returns:
        Tuple `(images, labels)`: `images` is a float32 array of shape
        `(1797, 8, 8, 1)` with values in `[0, 16]`, `labels` an int32 array
        of shape `(1797,)` with values in `0..9`.

    Example:

    ```python
    from keras_ssl.data import raw_digits

    images, labels = raw_digits()
    images.shape, images.max()  # ((1797, 8, 8, 1), 16.0)
    ```

    Reference:
        Alpaydin & Kaynak, "Optical Recognition of Handwritten Digits",
        UCI Machine Learning Repository (1998);
        `sklearn.datasets.load_digits`.
    """
    bunch = load_digits()
    images = bunch.images.astype("float32")[..., np.newaxis]
    labels = bunch.target.astype("int32")
    return images, labels
