import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import cli
from keras_ssl import data
from keras_ssl import run as ssl_run
from keras_ssl.recipes import get_recipe
from keras_ssl.semi_supervised import StabilityME
from keras_ssl.semi_supervised import Supervised


def tsme_args(run_dir, *extra, epochs=1):
    return cli._parser().parse_args(
        [
            "train",
            "tsme",
            "--epochs",
            str(epochs),
            "--output",
            str(run_dir),
            "--verbose",
            "0",
            *extra,
        ]
    )


def test_train_tsme_writes_family_metrics_plots_control_and_exports(tmp_path):
    run_dir = tmp_path / "run"
    args = tsme_args(run_dir, "--set", "labels_per_class=3")
    assert cli.train(args) == 0
    run = json.loads((run_dir / "run.json").read_text())
    assert run["method"] == "tsme" and run["dataset"] == "digits"
    assert run["global_batch"] == 128  # the unlabeled batch
    assert run["config"]["labels_per_class"] == 3
    assert run["config"]["ramp_up_steps"] == 400  # the digits default
    assert set(run["final_logs"]) == {
        "loss",
        "supervised",
        "stability",
        "mutual_exclusivity",
        "negative_sampling",
        "ramp_up",
        "accuracy",
    }
    metrics = run["metrics"]
    assert set(metrics) == {
        "accuracy",
        "ece",
        "nll",
        "labeled_only_accuracy",
        "labeled_only_ece",
        "labeled_only_nll",
        "labeled_only_train_seconds",
    }
    for key in ("accuracy", "labeled_only_accuracy", "ece"):
        assert 0.0 <= metrics[key] <= 1.0
    for plot in (
        "learning_curves",
        "confusion_matrix",
        "labeled_only_confusion_matrix",
    ):
        assert (run_dir / "plots" / f"{plot}.png").stat().st_size > 1000
    # The control ran as long as the method, from the same initial weights.
    control = json.loads(
        (run_dir / "labeled_only" / "history.json").read_text()
    )
    assert control["epochs"] == [0]
    recipe = get_recipe("tsme")
    config = recipe.resolve_config({"labels_per_class": 3}, "digits")
    loaded = recipe.load_data("digits", config, seed=0)
    initial = str(run_dir / ssl_run.INITIAL_WEIGHTS)
    method = recipe.build_model(loaded, config)
    twin = recipe.build_control(loaded, config)
    for model in (method, twin):
        model(loaded["x_train"][:2])
        model.load_weights(initial)
    for a, b in zip(method.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert isinstance(twin, Supervised) and twin.dropout == method.dropout

    # `evaluate` reuses the stored control and gives the same metrics.
    stamp = os.path.getmtime(run_dir / "labeled_only" / "model.keras")
    again = ssl_run.evaluate(str(run_dir))
    assert os.path.getmtime(run_dir / "labeled_only" / "model.keras") == stamp
    for key, value in metrics.items():
        assert again[key] == pytest.approx(value, abs=1e-6)

    # The export's `classify` takes raw 8x8 digits (values 0-16).
    target = tmp_path / "saved_models" / "tsme"
    export = cli._parser().parse_args(
        ["export", str(run_dir), "--to", str(target)]
    )
    assert cli.export(export) == 0
    served = tf.saved_model.load(str(target / "1"))
    assert {"classify", "embed", "serving_default"} <= set(served.signatures)
    raw = data.raw_digits()[0][:5]
    out = served.signatures["classify"](inputs=tf.constant(raw))
    trained = keras.saving.load_model(str(run_dir / "model.keras"))
    assert isinstance(trained, StabilityME)
    expected = trained.classify(data.digits_preprocessing(image_size=8)(raw))
    np.testing.assert_allclose(out["probs"], expected["probs"], atol=1e-5)
    np.testing.assert_array_equal(out["prediction"], expected["prediction"])


@pytest.mark.parametrize(
    "sets, match",
    [
        (["labels_per_class=200"], "labels_per_class=200 is larger"),
        (["num_passes=1"], "num_passes"),
    ],
)
def test_bad_settings_stop_before_anything_is_written(tmp_path, sets, match):
    run_dir = tmp_path / "run"
    extra = [item for s in sets for item in ("--set", s)]
    with pytest.raises(ValueError, match=match):
        cli.train(tsme_args(run_dir, *extra))
    assert not run_dir.exists()


def test_user_data_missing_a_class_stops_before_anything_is_written(tmp_path):
    recipe = get_recipe("tsme")
    config = recipe.resolve_config({}, "digits")
    loaded = recipe.load_data("digits", config, seed=0)
    keep = loaded["y_labeled"] != 3
    loaded["x_labeled"] = loaded["x_labeled"][keep]
    loaded["y_labeled"] = loaded["y_labeled"][keep]
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=r"no labeled samples of .*\[3\]"):
        ssl_run.train("tsme", str(run_dir), data=loaded, verbose=0)
    assert not run_dir.exists()
