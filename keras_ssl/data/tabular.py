"""scikit-learn's bundled tabular sets (wine, breast cancer), standardized."""

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

from keras_ssl.data.digits import _check_test_size

TABULAR_DATASETS = {"wine": load_wine, "breast_cancer": load_breast_cancer}


def raw_tabular(name):
    """One of scikit-learn's bundled tabular sets, features as they ship.

    - `"wine"`: 178 wines of 3 cultivars, 13 chemical measurements (UCI
      Wine);
    - `"breast_cancer"`: 569 tumours, malignant (0) or benign (1), 30
      features of the cell nuclei (UCI Breast Cancer Wisconsin,
      diagnostic).

    Nothing is downloaded. These are the inputs that
    `tabular_preprocessing` and the exported SavedModels take.

    Args:
        name: a key of `TABULAR_DATASETS`.

    Returns:
        `(x, y)`: float32 features `(n, d)` and int32 labels.

    Raises:
        ValueError: for an unknown name.

    Example:

    ```python
    from keras_ssl.data import raw_tabular

    x, y = raw_tabular("wine")
    x.shape, y.max()  # ((178, 13), 2)
    ```
    """
    if name not in TABULAR_DATASETS:
        raise ValueError(
            f"name must be one of {sorted(TABULAR_DATASETS)}; got {name!r}"
        )
    bunch = TABULAR_DATASETS[name]()
    return bunch.data.astype("float32"), bunch.target.astype("int32")


def tabular(name, test_size=0.3, seed=0):
    """A bundled tabular set as a stratified, standardized train/test split.

    The split is stratified by class and depends only on `seed`; every
    feature is then standardized with the mean and standard deviation of
    the *training* split (the test split uses the same statistics), the
    usual preprocessing of flows and MLPs on tabular data.
    `tabular_preprocessing(name, test_size, seed)` applied to the raw
    features gives the same arrays; exported models use it.

    Args:
        name: `"wine"` or `"breast_cancer"` (see `raw_tabular`).
        test_size: fraction of the rows in the test split (a float in
            `(0, 1)`) or their number (an int).
        seed: random state of the split (`train_test_split(random_state=)`).

    Returns:
        `((x_train, y_train), (x_test, y_test))`: float32 standardized
        features and int32 labels.

    Raises:
        ValueError: for an unknown name or a bad `test_size`.

    Example:

    ```python
    from keras_ssl.data import tabular

    (x_train, y_train), (x_test, y_test) = tabular("breast_cancer")
    x_train.shape, x_test.shape  # ((398, 30), (171, 30))
    ```

    Reference:
        `sklearn.datasets.load_wine`, `sklearn.datasets.load_breast_cancer`;
        `sklearn.model_selection.train_test_split` with `stratify`.
    """
    (x_train, y_train), (x_test, y_test) = _split(name, test_size, seed)
    mean, std = _statistics(x_train)
    return (
        ((x_train - mean) / std).astype("float32"),
        y_train,
    ), (((x_test - mean) / std).astype("float32"), y_test)


def tabular_preprocessing(name, test_size=0.3, seed=0):
    """The in-graph standardization of `tabular(name, test_size, seed)`.

    A `keras.Sequential` of one `keras.layers.Normalization` with the
    training split's mean and variance, so a model exported with it takes
    the raw features of `raw_tabular(name)`.

    Example:

    ```python
    from keras_ssl.data import raw_tabular, tabular_preprocessing

    x, _ = raw_tabular("wine")
    standardized = tabular_preprocessing("wine")(x[:4])  # (4, 13)
    ```
    """
    import keras

    (x_train, _), _ = _split(name, test_size, seed)
    mean, std = _statistics(x_train)
    scaling = keras.layers.Normalization(
        mean=mean.tolist(), variance=(std**2).tolist(), name="standardize"
    )
    return keras.Sequential(
        [keras.Input((len(mean),)), scaling], name=f"{name}_scaling"
    )


def _split(name, test_size, seed):
    x, y = raw_tabular(name)
    _check_test_size(test_size)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    return (x_train, y_train), (x_test, y_test)


def _statistics(x_train):
    x_train = x_train.astype("float64")
    return x_train.mean(axis=0), np.maximum(x_train.std(axis=0), 1e-12)
