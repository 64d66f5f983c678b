import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from keras_ssl.data import digits
from keras_ssl.data import digits_preprocessing
from keras_ssl.data import raw_digits


def _bilinear_reference(images, size):
    """Half-pixel-centre bilinear resize in NumPy (tf.image.resize rule)."""
    n = images.shape[1]
    coords = (np.arange(size) + 0.5) * n / size - 0.5
    coords = np.clip(coords, 0, n - 1)
    low = np.floor(coords).astype(int)
    high = np.minimum(low + 1, n - 1)
    frac = coords - low
    rows = (
        images[:, low] * (1 - frac)[None, :, None, None]
        + images[:, high] * frac[None, :, None, None]
    )
    return (
        rows[:, :, low] * (1 - frac)[None, None, :, None]
        + rows[:, :, high] * frac[None, None, :, None]
    )


def _split_rows(test_size=0.3, seed=0):
    labels = load_digits().target
    return train_test_split(
        np.arange(len(labels)),
        test_size=test_size,
        random_state=seed,
        stratify=labels,
    )


def test_raw_digits_are_sklearn_digits():
    images, labels = raw_digits()
    bunch = load_digits()
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.float32
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(images[..., 0], bunch.images)
    np.testing.assert_array_equal(labels, bunch.target)
    assert images.min() == 0 and images.max() == 16


def test_default_digits_are_raw_over_16_in_a_stratified_split():
    (x_train, y_train), (x_test, y_test) = digits()
    raw, labels = raw_digits()
    train_rows, test_rows = _split_rows()
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    np.testing.assert_array_equal(x_train, raw[train_rows] / 16.0)
    np.testing.assert_array_equal(x_test, raw[test_rows] / 16.0)
    np.testing.assert_array_equal(y_train, labels[train_rows])
    np.testing.assert_array_equal(y_test, labels[test_rows])
    assert x_train.min() == 0.0 and x_train.max() == 1.0


def test_split_is_stratified():
    (_, y_train), (_, y_test) = digits(test_size=0.3)
    _, labels = raw_digits()
    per_class = np.bincount(labels)
    assert len(y_test) == int(np.ceil(0.3 * 1797))
    # Every class is split in the overall proportion, to one example.
    assert np.all(np.abs(np.bincount(y_test) - 0.3 * per_class) <= 1)
    assert np.all(np.abs(np.bincount(y_train) - 0.7 * per_class) <= 1)


def test_split_is_deterministic_and_depends_on_seed():
    (a, ya), (at, _) = digits(seed=3)
    (b, yb), (bt, _) = digits(seed=3)
    (c, _), _ = digits(seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(at, bt)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("image_size", [16, 32])
def test_resize_matches_numpy_bilinear(image_size):
    (x_train, _), _ = digits(image_size=image_size)
    raw, _ = raw_digits()
    train_rows, _ = _split_rows()
    expected = _bilinear_reference(raw[train_rows] / 16.0, image_size)
    assert x_train.shape == (1257, image_size, image_size, 1)
    np.testing.assert_allclose(x_train, np.clip(expected, 0, 1), atol=1e-6)
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0


def test_three_channels_repeat_the_gray_channel():
    (x1, _), _ = digits(image_size=16, channels=1)
    (x3, _), _ = digits(image_size=16, channels=3)
    assert x3.shape == x1.shape[:-1] + (3,)
    for channel in range(3):
        np.testing.assert_array_equal(x3[..., channel], x1[..., 0])


def test_classes_filter_and_remap_in_given_order():
    (x_train, y_train), (x_test, y_test) = digits(classes=[7, 2])
    raw, labels = raw_digits()
    kept = np.isin(labels, [7, 2])
    assert len(y_train) + len(y_test) == kept.sum()
    assert set(np.unique(y_train)) == {0, 1}
    # Label 0 is digit 7: its images are images of sevens.
    sevens = {img.tobytes() for img in raw[labels == 7] / 16.0}
    assert all(img.tobytes() in sevens for img in x_train[y_train == 0])
    counts = np.array([(labels == 7).sum(), (labels == 2).sum()])
    assert np.all(np.abs(np.bincount(y_test) - 0.3 * counts) <= 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_size": 12}, "image_size"),
        ({"channels": 2}, "channels"),
        ({"test_size": 1.5}, "test_size"),
        ({"test_size": 0}, "test_size"),
        ({"classes": []}, "classes"),
        ({"classes": [1, 1]}, "classes"),
        ({"classes": [10]}, "classes"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        digits(**kwargs)


@pytest.mark.parametrize("image_size", [8, 16, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_preprocessing_model_equals_digits(image_size, channels):
    raw, _ = raw_digits()
    train_rows, test_rows = _split_rows()
    (x_train, _), (x_test, _) = digits(image_size=image_size, channels=channels)
    preprocess = digits_preprocessing(image_size, channels)
    out = keras.ops.convert_to_numpy(preprocess(raw))
    assert out.shape == (1797, image_size, image_size, channels)
    np.testing.assert_allclose(out[train_rows], x_train, atol=1e-6, rtol=0)
    np.testing.assert_allclose(out[test_rows], x_test, atol=1e-6, rtol=0)


def test_preprocessing_model_round_trips_without_custom_objects(tmp_path):
    preprocess = digits_preprocessing(32, 3)
    path = str(tmp_path / "preprocess.keras")
    preprocess.save(path)
    restored = keras.saving.load_model(path)
    raw, _ = raw_digits()
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored(raw[:16])),
        keras.ops.convert_to_numpy(preprocess(raw[:16])),
    )


def test_preprocessing_rejects_bad_arguments():
    with pytest.raises(ValueError, match="image_size"):
        digits_preprocessing(image_size=28)
    with pytest.raises(ValueError, match="channels"):
        digits_preprocessing(channels=4)
