"""The recipes' data dict of an image set's train and test splits."""


def image_data(train, test, num_classes=None, **extra):
    """Builds the data dict that recipes return and `run.train` takes.

    Every image recipe's `load_data` (and `keras_ssl.data.tfds_split`)
    starts from the same dict; this is it, once:

    - `"kind"`: `"image"`;
    - `"x_train"`, `"y_train"`, `"x_test"`, `"y_test"`: the two splits;
    - `"num_classes"`: when given;
    - `"input_shape"`: the shape of one training image;
    - then `extra` (preprocessing, OOD sets, markers, ...).

    Args:
        train: `(x_train, y_train)`, images `(n, height, width, channels)`
            and their labels.
        test: `(x_test, y_test)`, the same for the test split.
        num_classes: optional number of classes, stored as an int.
        **extra: more entries of the dict (they may not repeat the keys
            above).

    Returns:
        The data dict.

    Raises:
        ValueError: if a split is not an `(x, y)` pair of equal lengths,
            the images are not at least 2-D per sample or `extra` repeats
            a key of the dict.

    Example:

    ```python
    import keras_ssl

    train, test = keras_ssl.data.digits()
    data = keras_ssl.data.image_data(train, test, num_classes=10)
    assert data["input_shape"] == (8, 8, 1)
    ```
    """
    splits = {}
    for name, split in (("train", train), ("test", test)):
        if not (isinstance(split, (tuple, list)) and len(split) == 2):
            raise ValueError(
                f"{name} must be an (x, y) pair of arrays; got "
                f"{type(split).__name__}"
            )
        x, y = split
        if len(getattr(x, "shape", ())) < 3 or len(x) != len(y):
            raise ValueError(
                f"{name} must hold images (n, height, width[, channels]) "
                f"and n labels; got shapes {getattr(x, 'shape', None)} and "
                f"{getattr(y, 'shape', None)}"
            )
        splits[name] = (x, y)
    (x, y), (x_test, y_test) = splits["train"], splits["test"]
    data = {
        "kind": "image",
        "x_train": x,
        "y_train": y,
        "x_test": x_test,
        "y_test": y_test,
    }
    if num_classes is not None:
        data["num_classes"] = int(num_classes)
    data["input_shape"] = tuple(x.shape[1:])
    repeated = sorted(set(extra) & set(data))
    if repeated:
        raise ValueError(
            f"extra entries must not repeat the dict's own keys; got {repeated}"
        )
    data.update(extra)
    return data
