import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_ssl import cli

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "keras_ssl.cli", *args],
        capture_output=True,
        text=True,
        env=ENV,
    )


def train_args(run_dir, *extra, epochs=4, dataset="two_moons"):
    return cli._parser().parse_args(
        [
            "train",
            "softmax",
            "--dataset",
            dataset,
            "--epochs",
            str(epochs),
            "--batch-size",
            "64",
            "--output",
            str(run_dir),
            "--verbose",
            "0",
            *extra,
        ]
    )


def test_list_names_the_methods():
    result = run_cli("list")
    assert result.returncode == 0
    assert "softmax" in result.stdout and "uncertainty" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "nope", "--output", "{d}"], "unknown method 'nope'"),
        (
            ["train", "softmax", "--dataset", "cifar99", "--output", "{d}"],
            "does not train on dataset 'cifar99'",
        ),
        (
            ["train", "softmax", "--set", "lr=0.1", "--output", "{d}"],
            "unknown --set key(s) for softmax: lr",
        ),
        (
            [
                "train",
                "softmax",
                "--set",
                "learning_rate=fast",
                "--output",
                "{d}",
            ],
            "expected float",
        ),
        (
            ["train", "softmax", "--epochs", "0", "--output", "{d}"],
            "epochs (--epochs) must be a positive integer",
        ),
        (
            [
                "train",
                "softmax",
                "--batch-size",
                "63",
                "--replicas",
                "2",
                "--output",
                "{d}",
            ],
            "must be divisible by replicas (--replicas) 2",
        ),
        (["train", "softmax", "--output", "{full}"], "exists and is not empty"),
        (
            ["train", "softmax", "--resume", "--output", "{full}"],
            "holds no interrupted keras-ssl run",
        ),
        (["evaluate", "{d}"], "not a finished keras-ssl run"),
    ],
)
def test_bad_arguments_fail_before_training(tmp_path, args, message):
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("my notes")
    fresh = tmp_path / "fresh"
    args = [a.format(d=fresh, full=full) for a in args]
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Epoch 1" not in result.stdout
    assert not fresh.exists() or not os.listdir(fresh)
    assert os.listdir(full) == ["notes.txt"]


def test_train_evaluate_export_on_two_moons(tmp_path):
    run_dir = tmp_path / "run"
    assert cli.train(train_args(run_dir, epochs=3)) == 0
    run = json.loads((run_dir / "run.json").read_text())
    for key in (
        "method",
        "dataset",
        "config",
        "seed",
        "versions",
        "replicas",
        "global_batch",
        "train_seconds",
        "metrics",
    ):
        assert key in run
    assert run["config"] == {
        "in_classes": [0, 1, 2, 3, 4],
        "channels": 1,
        "optimizer": "adam",
        "learning_rate": 0.001,
        "image_size": 16,
        "width": "wide",
    }
    metrics = run["metrics"]
    assert 0.5 < metrics["accuracy"] <= 1.0
    for key in ("ece", "nll", "brier"):
        assert metrics[key] >= 0
    assert set(metrics["ood"]["far"]) >= {
        "auroc",
        "aupr_in",
        "aupr_out",
        "fpr_at_95_tpr",
        "detection_accuracy",
    }
    for plot in ("reliability_diagram", "ood_histograms", "certainty_map"):
        assert (run_dir / "plots" / f"{plot}.png").stat().st_size > 1000
    assert list((run_dir / "logs").glob("train/events.out.tfevents*"))

    result = run_cli("evaluate", str(run_dir))
    assert result.returncode == 0, result.stderr
    again = json.loads((run_dir / "evaluation.json").read_text())["metrics"]
    assert again["accuracy"] == pytest.approx(metrics["accuracy"])
    assert again["ood"]["far"]["auroc"] == pytest.approx(
        metrics["ood"]["far"]["auroc"]
    )

    target = tmp_path / "saved_models" / "moons"
    result = run_cli("export", str(run_dir), "--to", str(target))
    assert result.returncode == 0, result.stderr
    assert (target / "1" / "saved_model.pb").exists()
    result = run_cli("export", str(run_dir), "--to", str(target))
    assert (target / "2" / "saved_model.pb").exists()
    result = run_cli(
        "export", str(run_dir), "--to", str(target), "--version", "1"
    )
    assert result.returncode == 2 and "never overwritten" in result.stderr


def test_digits_export_takes_raw_images(tmp_path):
    import tensorflow as tf

    from keras_ssl import data

    run_dir = tmp_path / "run"
    assert cli.train(train_args(run_dir, epochs=1, dataset="digits")) == 0
    assert (
        run_cli(
            "export", str(run_dir), "--to", str(tmp_path / "sm" / "d")
        ).returncode
        == 0
    )
    raw, _ = data.raw_digits()
    loaded = tf.saved_model.load(str(tmp_path / "sm" / "d" / "1"))
    out = loaded.signatures["serving_default"](inputs=tf.constant(raw[:5]))
    model = keras.saving.load_model(str(run_dir / "model.keras"))
    images = data.digits_preprocessing(image_size=16)(raw[:5])
    np.testing.assert_allclose(
        out["probs"], model.classify(images)["probs"], atol=1e-5
    )


class StopAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.stop_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.stop_epoch:
            raise KeyboardInterrupt("simulated interruption")


def method_args(method, dataset, run_dir, *extra, epochs=4):
    args = train_args(run_dir, *extra, epochs=epochs, dataset=dataset)
    args.method = method
    args.batch_size = None  # the recipe's own
    return args


@pytest.mark.parametrize(
    "method, dataset",
    [("softmax", "two_moons"), ("duq", "two_moons"), ("nat", "digits")],
)
def test_resume_gives_the_uninterrupted_result(tmp_path, method, dataset):
    straight = tmp_path / "straight"
    cli.train(method_args(method, dataset, straight))
    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        cli.train(
            method_args(method, dataset, resumed), callbacks=[StopAfter(2)]
        )
    assert not (resumed / "run.json").exists()
    with pytest.raises(FileExistsError):
        cli.train(method_args(method, dataset, resumed))
    cli.train(method_args(method, dataset, resumed, "--resume"))
    a = json.loads((straight / "run.json").read_text())
    b = json.loads((resumed / "run.json").read_text())
    assert b["epochs_this_session"] == 2
    assert a["final_logs"] == pytest.approx(b["final_logs"], rel=1e-5)
    flat = {k: v for k, v in a["metrics"].items() if not isinstance(v, dict)}
    assert flat == pytest.approx({k: b["metrics"][k] for k in flat}, rel=1e-5)
    ma = keras.saving.load_model(str(straight / "model.keras"))
    mb = keras.saving.load_model(str(resumed / "model.keras"))
    # Every weight, method state included (DUQ's centroids; NAT's table,
    # which epoch 3 reassigns: the epoch counter and the augmentation
    # seeds must survive the interruption).
    for wa, wb in zip(ma.weights, mb.weights, strict=True):
        np.testing.assert_allclose(wa, wb, atol=1e-5, err_msg=wa.path)


def test_export_uses_only_the_run_directory(tmp_path, monkeypatch):
    from keras_ssl.recipes import get_recipe

    run_dir = tmp_path / "run"
    cli.train(train_args(run_dir, epochs=1, dataset="digits"))

    def no_data(*args, **kwargs):
        raise AssertionError("export must not rebuild the data")

    monkeypatch.setattr(type(get_recipe("softmax")), "load_data", no_data)
    args = cli._parser().parse_args(
        ["export", str(run_dir), "--to", str(tmp_path / "sm" / "d")]
    )
    assert cli.export(args) == 0
    assert (tmp_path / "sm" / "d" / "1" / "saved_model.pb").exists()


def test_resume_rejects_changed_arguments(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        cli.train(train_args(run_dir), callbacks=[StopAfter(1)])
    with pytest.raises(ValueError, match="different seed"):
        cli.train(train_args(run_dir, "--resume", "--seed", "3"))


@pytest.mark.parametrize(
    "method, extra",
    [
        # Adam's first steps are about lr * sign(gradient): a gradient that
        # rounds to +-1e-9 moves a weight by +-lr. SGD shows exactness.
        ("softmax", ("--set", "optimizer=sgd", "--set", "learning_rate=0.05")),
        ("duq", ()),
        # NAT's recipe builds the same small_cnn (synchronized BatchNorm)
        # as DUQ's digits recipe, so the DUQ case covers it; NAT itself is
        # checked on 2 replicas by its contract test. A 2-step NAT run is
        # not a usable check here: the first step agrees to 1.4e-5, but the
        # second (57 images, 28/29 per replica) amplifies that to 3e-4 ..
        # 9e-4, varying from run to run.
    ],
)
def test_two_replicas_from_the_command_line_equal_one_device(
    tmp_path, method, extra
):
    # Large batches keep the epoch to 2 steps: each step agrees to float
    # rounding, but over many steps SGD amplifies rounding differences
    # (DUQ's sigma = 0.1 kernels most of all), which would hide what this
    # test is for: a recipe component that is not replica-exact (such as
    # per-replica BatchNorm) differs by orders of magnitude more.
    flags = [method, "--dataset", "digits", "--epochs", "1", *extra]
    flags += ["--batch-size", "320"]
    flags += ["--verbose", "0", "--output"]
    args = cli._parser().parse_args(["train", *flags, str(tmp_path / "r1")])
    assert cli.train(args) == 0
    result = run_cli("train", *flags, str(tmp_path / "r2"), "--replicas", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    one = json.loads((tmp_path / "r1" / "run.json").read_text())
    two = json.loads((tmp_path / "r2" / "run.json").read_text())
    assert two["replicas"] == 2 and two["global_batch"] == one["global_batch"]
    assert two["final_logs"] == pytest.approx(one["final_logs"], rel=1e-4)
    # Metrics on 540 (or 271) test images: a weight that differs by float
    # rounding may flip one prediction (0.0019 of accuracy).
    flat = {k: v for k, v in one["metrics"].items() if not isinstance(v, dict)}
    assert {k: two["metrics"][k] for k in flat} == pytest.approx(flat, abs=5e-3)
    a = keras.saving.load_model(str(tmp_path / "r1" / "model.keras"))
    b = keras.saving.load_model(str(tmp_path / "r2" / "model.keras"))
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_allclose(
            wa, wb, rtol=1e-4, atol=1e-4, err_msg=wa.path
        )
