"""`keras_ssl.data.image_data`: the recipes' data dict, built once."""

import numpy as np
import pytest

from keras_ssl import data as ssl_data
from keras_ssl.recipes import get_recipe


def _split(n, size=4):
    x = np.arange(n * size * size, dtype="float32").reshape(n, size, size, 1)
    return x, np.arange(n) % 3


def test_the_dict_holds_both_splits_and_the_extra_entries():
    train, test = _split(6), _split(2)
    data = ssl_data.image_data(train, test, num_classes=3, marker="m")
    assert data["kind"] == "image"
    assert data["x_train"] is train[0] and data["y_test"] is test[1]
    assert data["input_shape"] == (4, 4, 1)
    assert data["num_classes"] == 3 and data["marker"] == "m"
    assert "num_classes" not in ssl_data.image_data(train, test)


@pytest.mark.parametrize(
    "train, test, extra, message",
    [
        (np.zeros((2, 4, 4, 1)), _split(2), {}, "train must be an"),
        (_split(2), (np.zeros((2, 4)), np.zeros(2)), {}, "test must hold"),
        ((np.zeros((3, 4, 4)), np.zeros(2)), _split(2), {}, "train must hold"),
        (_split(2), _split(2), {"x_train": 1}, "must not repeat"),
    ],
)
def test_bad_splits_and_repeated_keys_are_refused(train, test, extra, message):
    with pytest.raises(ValueError, match=message):
        ssl_data.image_data(train, test, **extra)


def test_the_recipes_digits_dicts_are_unchanged():
    # The keys and shapes the recipes returned before they shared it.
    expected = {
        "rotnet": {
            "x_clean_test",
            "marker",
            "preprocessing",
            "raw_input_shape",
        },
        "nat": {"preprocessing", "raw_input_shape"},
        "duq": {"num_classes", "ood", "preprocessing", "raw_input_shape"},
        "sla": {"num_classes", "preprocessing", "raw_input_shape"},
        "pga": {"seed", "preprocessing", "raw_input_shape"},
    }
    base = {"kind", "x_train", "y_train", "x_test", "y_test", "input_shape"}
    for name, keys in expected.items():
        recipe = get_recipe(name)
        config = recipe.resolve_config({}, "digits")
        data = recipe.load_data("digits", config, 0)
        assert set(data) == base | keys, name
        assert data["input_shape"] == data["x_train"].shape[1:], name
        assert len(data["x_test"]) == len(data["y_test"]), name
