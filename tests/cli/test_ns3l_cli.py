import json

import pytest

from keras_ssl import cli


def ns3l_args(run_dir, *extra):
    return cli._parser().parse_args(
        ["train", "ns3l", "--epochs", "1", "--output", str(run_dir)]
        + ["--verbose", "0", *extra]
    )


def test_train_ns3l_writes_family_metrics_and_plots(tmp_path):
    # The export, `.keras` and replica paths are the contract's
    # (tests/semi_supervised/test_ns3l.py); here the command line.
    run_dir = tmp_path / "run"
    assert cli.train(ns3l_args(run_dir, "--set", "labels_per_class=3")) == 0
    run = json.loads((run_dir / "run.json").read_text())
    assert run["method"] == "ns3l" and run["dataset"] == "digits"
    assert run["global_batch"] == 128  # the unlabeled batch
    config = run["config"]
    assert config["labels_per_class"] == 3
    assert config["ramp_up_steps"] == 400  # the digits default
    assert (config["threshold"], config["weight"]) == (0.04, 1.0)
    assert set(run["final_logs"]) == {
        "loss",
        "supervised",
        "negative_sampling",
        "ramp_up",
        "accuracy",
    }
    metrics = run["metrics"]
    assert {"accuracy", "ece", "nll", "labeled_only_accuracy"} <= set(metrics)
    for key in ("accuracy", "labeled_only_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    for plot in (
        "learning_curves",
        "confusion_matrix",
        "labeled_only_confusion_matrix",
    ):
        assert (run_dir / "plots" / f"{plot}.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "setting, match", [("threshold=0", "threshold"), ("weight=-1", "weight")]
)
def test_bad_settings_stop_before_anything_is_written(tmp_path, setting, match):
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=match):
        cli.train(ns3l_args(run_dir, "--set", setting))
    assert not run_dir.exists()
