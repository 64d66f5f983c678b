import numpy as np
import pytest

from keras_ssl.data import SHORTCUT_MARKER
from keras_ssl.data import add_shortcut_marker
from keras_ssl.data import digits
from keras_ssl.data import shortcut_digits


def test_shortcut_digits_are_the_notes_split_with_a_marker():
    (x, y), (x_test, y_test) = shortcut_digits()
    (clean, y_clean), (clean_test, _) = shortcut_digits(marker=None)
    (reference, _), _ = digits(image_size=16, test_size=797, seed=0)
    assert x.shape == (1000, 16, 16, 1) and x_test.shape == (797, 16, 16, 1)
    np.testing.assert_array_equal(y, y_clean)
    np.testing.assert_array_equal(clean, reference)
    assert SHORTCUT_MARKER == (1, 4, 1, 3)
    inside = np.zeros((16, 16), bool)
    inside[1:4, 1:3] = True
    # The marker is 1.0 everywhere, and nothing else changed.
    assert np.all(x[:, inside] == 1.0) and np.all(x_test[:, inside] == 1.0)
    np.testing.assert_array_equal(x[:, ~inside], clean[:, ~inside])
    np.testing.assert_array_equal(x_test[:, ~inside], clean_test[:, ~inside])
    # Most digits were dark there: the marker really is new information.
    assert clean[:, inside].mean() < 0.1


def test_add_shortcut_marker_copies_and_checks_its_box():
    images = np.zeros((2, 5, 5, 3))
    marked = add_shortcut_marker(images, (0, 2, 3, 5), value=0.5)
    assert marked.dtype == np.float32 and images.sum() == 0
    assert marked.sum() == pytest.approx(2 * 2 * 2 * 3 * 0.5)
    assert np.all(marked[:, :2, 3:] == 0.5)
    for box in [(0, 6, 0, 1), (2, 2, 0, 1), (0, 1, 0), (0, 1, -1, 1)]:
        with pytest.raises(ValueError, match="box must be"):
            add_shortcut_marker(images, box)
    with pytest.raises(ValueError, match="images must have shape"):
        add_shortcut_marker(np.zeros((5, 5, 3)))
