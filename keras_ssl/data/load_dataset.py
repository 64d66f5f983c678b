"""One entry point from a data set name to train and test arrays."""

import tensorflow_datasets as tfds

from keras_ssl.data.digits import digits
from keras_ssl.data.load_tfds import load_tfds
from keras_ssl.data.tabular import TABULAR_DATASETS
from keras_ssl.data.tabular import tabular
from keras_ssl.data.two_moons import two_moons

DATASETS = ("digits", "two_moons", *TABULAR_DATASETS)


def load_dataset(name, **kwargs):
    """Loads a data set by name as `((x_train, y_train), (x_test, y_test))`.

    One name in, both splits out: the built-in sets of `DATASETS` and, for
    any other name, TensorFlow Datasets (`load_tfds` reads a single TFDS
    split; this function calls it once per split):

    - `"digits"`: `digits(**kwargs)`, bundled with scikit-learn;
    - `"two_moons"`: `two_moons(**kwargs)`;
    - `"wine"`, `"breast_cancer"`: `tabular(name, **kwargs)`, bundled
      with scikit-learn;
    - any other name: a TensorFlow Datasets builder, read with
      `load_tfds(name, split="train", **kwargs)` and
      `load_tfds(name, split="test", **kwargs)` (no download unless
      `download=True`).

    Args:
        name: `"digits"`, `"two_moons"` or a TFDS builder name such as
            `"mnist"`.
        **kwargs: passed on to `digits`, `two_moons` or `load_tfds`.

    Returns:
        `((x_train, y_train), (x_test, y_test))` as NumPy arrays.

    Raises:
        ValueError: if `name` is neither built in nor a TFDS builder
            (the message lists the built-in names).

    Example:

    ```python
    from keras_ssl.data import load_dataset

    (x_train, y_train), (x_test, y_test) = load_dataset(
        "digits", image_size=16
    )
    ```
    """
    if name == "digits":
        return digits(**kwargs)
    if name == "two_moons":
        return two_moons(**kwargs)
    if name in TABULAR_DATASETS:
        return tabular(name, **kwargs)
    builder = kwargs.pop("builder", None)
    if builder is None:
        try:
            builder = tfds.builder(name, data_dir=kwargs.get("data_dir"))
        except tfds.core.registered.DatasetNotFoundError as error:
            raise ValueError(
                f"unknown data set {name!r}; built-in data sets are "
                f"{DATASETS}, other names must be TensorFlow Datasets "
                "builders (https://www.tensorflow.org/datasets/catalog)"
            ) from error
    train = load_tfds(name, split="train", builder=builder, **kwargs)
    test = load_tfds(name, split="test", builder=builder, **kwargs)
    return train, test
