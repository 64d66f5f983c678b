import os
import subprocess

import keras
import numpy as np
import pytest

from keras_ssl.export import export_saved_model
from keras_ssl.testing import run_signatures
from keras_ssl.uncertainty.softmax_classifier import SoftmaxClassifier


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(5, activation="relu")(x)
    model = SoftmaxClassifier(keras.Model(inputs, x), num_classes=3)
    model.build((None, 4, 4, 1))
    return model


def _doubling():
    return keras.Sequential(
        [keras.Input((2, 2, 1)), keras.layers.Resizing(4, 4)], name="prep"
    )


def test_export_loads_in_fresh_process_without_keras_ssl(tmp_path):
    model = _model()
    path = export_saved_model(model, str(tmp_path), "clf")
    assert path == os.path.join(str(tmp_path), "clf", "1")
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    x = np.random.default_rng(0).random((3, 4, 4, 1)).astype("float32")
    out = run_signatures(path, x, tmp_path)
    assert out["keras_ssl_imported"] is False
    assert set(out["signatures"]) >= {"classify", "embed", "serving_default"}
    expected = model.classify(x)
    for key in ("probs", "certainty", "ood_score"):
        np.testing.assert_allclose(
            out["classify"][key], np.asarray(expected[key]), atol=1e-6
        )
    # The first endpoint is also the default signature.
    assert out["serving_default"].keys() == out["classify"].keys()
    np.testing.assert_allclose(
        out["embed"]["embedding"],
        np.asarray(model.embed(x)["embedding"]),
        atol=1e-6,
    )


def test_saved_model_cli_lists_serving_default(tmp_path):
    path = export_saved_model(_model(), str(tmp_path), "clf")
    result = subprocess.run(
        ["saved_model_cli", "show", "--dir", path, "--all"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "signature_def['serving_default']" in result.stdout
    assert "signature_def['classify']" in result.stdout
    assert "outputs['ood_score']" in result.stdout


def test_version_auto_increments_and_never_overwrites(tmp_path):
    model = _model()
    first = export_saved_model(model, str(tmp_path), "clf")
    marker = os.path.join(first, "saved_model.pb")
    before = os.path.getmtime(marker)
    second = export_saved_model(model, str(tmp_path), "clf")
    assert os.path.basename(second) == "2"
    with pytest.raises(FileExistsError, match="never overwritten"):
        export_saved_model(model, str(tmp_path), "clf", version=1)
    assert os.path.getmtime(marker) == before
    assert (
        os.path.basename(
            export_saved_model(model, str(tmp_path), "clf", version=7)
        )
        == "7"
    )
    assert (
        os.path.basename(export_saved_model(model, str(tmp_path), "clf")) == "8"
    )


def test_preprocessing_runs_inside_the_graph(tmp_path):
    import tensorflow as tf

    model = _model()
    prep = _doubling()
    path = export_saved_model(
        model, str(tmp_path), "clf", preprocessing=prep, input_shape=(2, 2, 1)
    )
    loaded = tf.saved_model.load(path)
    raw = np.random.default_rng(1).random((2, 2, 2, 1)).astype("float32")
    out = loaded.signatures["classify"](inputs=tf.constant(raw))
    expected = model.classify(prep(raw))["probs"]
    np.testing.assert_allclose(out["probs"], expected, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "bad name"}, "name must be"),
        ({"name": "ok", "version": 0}, "version must be"),
        ({"name": "ok", "version": "3"}, "version must be"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        export_saved_model(_model(), str(tmp_path), **kwargs)
