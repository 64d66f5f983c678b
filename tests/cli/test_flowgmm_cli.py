import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import cli
from keras_ssl import data
from keras_ssl.semi_supervised import FlowGMM

TINY = ("hidden_units=16", "num_couplings=2", "jit_compile=false")


def flowgmm_args(run_dir, dataset, *sets, epochs=1):
    extra = [item for s in (*TINY, *sets) for item in ("--set", s)]
    return cli._parser().parse_args(
        [
            "train",
            "flowgmm",
            "--dataset",
            dataset,
            "--epochs",
            str(epochs),
            "--output",
            str(run_dir),
            "--verbose",
            "0",
            *extra,
        ]
    )


def test_train_two_moons_writes_metrics_plots_control_and_exports(tmp_path):
    run_dir = tmp_path / "run"
    assert cli.train(flowgmm_args(run_dir, "two_moons", epochs=2)) == 0
    run = json.loads((run_dir / "run.json").read_text())
    assert run["dataset"] == "two_moons" and run["global_batch"] == 10
    assert run["config"]["means"] == [[-3.5, -3.5], [3.5, 3.5]]
    metrics = run["metrics"]
    assert set(metrics) == {
        "accuracy",
        "ece",
        "nll",
        "test_log_likelihood",
        "logistic_regression_accuracy",
        "labeled_only_accuracy",
        "labeled_only_ece",
        "labeled_only_nll",
        "labeled_only_train_seconds",
        "labeled_only_test_log_likelihood",
    }
    for key in ("accuracy", "labeled_only_accuracy", "ece"):
        assert 0.0 <= metrics[key] <= 1.0
    assert np.isfinite(metrics["test_log_likelihood"])
    for plot in (
        "learning_curves",
        "confusion_matrix",
        "labeled_only_confusion_matrix",
        "test_log_likelihood",
        "decision_regions",
        "latent_space",
        "class_samples",
    ):
        assert (run_dir / "plots" / f"{plot}.png").stat().st_size > 1000
    history = json.loads((run_dir / "history.json").read_text())["history"]
    assert len(history["test_log_likelihood"]) == 2
    control = keras.saving.load_model(str(run_dir / "labeled_only/model.keras"))
    assert isinstance(control, FlowGMM) and control.unlabeled_weight == 0.0

    target = tmp_path / "saved_models" / "flowgmm"
    export = cli._parser().parse_args(
        ["export", str(run_dir), "--to", str(target)]
    )
    assert cli.export(export) == 0
    served = tf.saved_model.load(str(target / "1"))
    assert {"classify", "log_prob"} <= set(served.signatures)
    trained = keras.saving.load_model(str(run_dir / "model.keras"))
    x = data.two_moons(20, noise=0.05, seed=3)[0][0]
    out = served.signatures["log_prob"](inputs=tf.constant(x))
    expected = trained.log_prob(x)
    for key in ("log_prob", "class_log_prob", "latent"):
        np.testing.assert_allclose(out[key], expected[key], atol=1e-4)


def test_tabular_export_takes_raw_features(tmp_path):
    run_dir = tmp_path / "run"
    assert cli.train(flowgmm_args(run_dir, "wine", "labels_per_class=3")) == 0
    run = json.loads((run_dir / "run.json").read_text())
    assert 0.0 <= run["metrics"]["logistic_regression_accuracy"] <= 1.0
    assert run["config"]["cov_std"] == pytest.approx(1.3133, abs=1e-4)
    target = tmp_path / "export"
    export = cli._parser().parse_args(
        ["export", str(run_dir), "--to", str(target)]
    )
    assert cli.export(export) == 0
    served = tf.saved_model.load(str(target / "1"))
    raw = data.raw_tabular("wine")[0][:6]
    out = served.signatures["classify"](inputs=tf.constant(raw))
    trained = keras.saving.load_model(str(run_dir / "model.keras"))
    expected = trained.classify(data.tabular_preprocessing("wine")(raw))
    np.testing.assert_allclose(out["probs"], expected["probs"], atol=1e-5)


@pytest.mark.parametrize(
    "sets, match",
    [
        (["labels_per_class=6"], "labels_per_class must be 1..5"),
        (["num_couplings=0"], "num_couplings"),
        (["cov_std=0"], "cov_std"),
    ],
)
def test_bad_settings_stop_before_anything_is_written(tmp_path, sets, match):
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=match):
        cli.train(flowgmm_args(run_dir, "two_moons", *sets))
    assert not run_dir.exists()
