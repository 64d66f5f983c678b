import json

import pytest

from keras_ssl import cli


def ds3l_args(run_dir, *extra):
    return cli._parser().parse_args(
        ["train", "ds3l", "--epochs", "1", "--output", str(run_dir)]
        + ["--verbose", "0", *extra]
    )


def test_train_ds3l_writes_weight_metrics_and_histograms(tmp_path):
    # The export, `.keras` and replica paths are the contract's
    # (tests/semi_supervised/test_ds3l.py); here the command line and
    # the class-mismatch split it trains on.
    run_dir = tmp_path / "run"
    settings = ("labels_per_class=3", "mismatch=0.75", "num_unlabeled=128")
    args = [item for s in settings for item in ("--set", s)]
    assert cli.train(ds3l_args(run_dir, *args)) == 0
    run = json.loads((run_dir / "run.json").read_text())
    assert run["method"] == "ds3l" and run["dataset"] == "digits"
    assert run["global_batch"] == 64  # the unlabeled batch
    config = run["config"]
    assert (config["mismatch"], config["num_unlabeled"]) == (0.75, 128)
    assert (config["meta_lr"], config["ramp_up_steps"]) == (0.1, 840)
    assert set(run["final_logs"]) == {
        "loss",
        "supervised",
        "consistency",
        "weighted_consistency",
        "meta",
        "weight",
        "ramp_up",
        "accuracy",
    }
    metrics = run["metrics"]
    assert {"accuracy", "ece", "nll", "labeled_only_accuracy"} <= set(metrics)
    for key in ("mean_weight_seen", "mean_weight_unseen", "weight_auroc"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["weight_ratio_unseen_to_seen"] == pytest.approx(
        metrics["mean_weight_unseen"] / metrics["mean_weight_seen"]
    )
    for plot in ("learning_curves", "confusion_matrix", "weight_histograms"):
        assert (run_dir / "plots" / f"{plot}.png").stat().st_size > 1000


def test_without_unseen_classes_the_unseen_weight_is_none(tmp_path):
    run_dir = tmp_path / "run"
    args = ("--set", "mismatch=0", "--set", "num_unlabeled=64")
    extra = ("--set", "labels_per_class=2")
    assert cli.train(ds3l_args(run_dir, *args, *extra)) == 0
    metrics = json.loads((run_dir / "run.json").read_text())["metrics"]
    assert metrics["mean_weight_unseen"] is None
    assert metrics["weight_auroc"] is None
    assert 0.0 < metrics["mean_weight_seen"] < 1.0


@pytest.mark.parametrize(
    "setting, match",
    [
        ("seen_classes=10", "seen_classes"),
        ("meta_lr=0", "meta_lr"),
        ("weight_learning_rate=0", "weight_learning_rate"),
        ("num_unlabeled=0", "num_unlabeled"),
    ],
)
def test_bad_settings_stop_before_anything_is_written(tmp_path, setting, match):
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=match):
        cli.train(ds3l_args(run_dir, "--set", setting))
    assert not run_dir.exists()
