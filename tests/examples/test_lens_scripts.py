import argparse
import json
import os
import runpy

import numpy as np
import pytest

from tests.data.test_load_tfds import SIZES
from tests.data.test_load_tfds import KerasSslFakeRgb
from tests.examples.test_examples import ROOT
from tests.examples.test_pcl_scripts import run_script

LENS_METRICS = {
    "lensed_rotation_accuracy",
    "lensed_clean_rotation_accuracy",
    "lens_mean_change",
    "lens_marker_change",
    "lens_background_change",
    "lens_marker_change_ratio",
}
ROTNET_METRICS = {
    "linear_probe_accuracy",
    "knn_accuracy",
    "linear_probe_5_accuracy",
    "random_init_linear_probe_accuracy",
    "random_init_knn_accuracy",
    "random_init_linear_probe_5_accuracy",
    "rotation_accuracy",
    "clean_rotation_accuracy",
}


def test_lens_example_trains_the_control_and_the_lens(tmp_path):
    result = run_script(
        "examples/lens.py",
        *"--epochs 1 --batch-size 500 --width narrow --output".split(),
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = result.stdout
    metrics = json.loads(printed[printed.index("{") : printed.rindex("}") + 1])
    assert set(metrics["rotnet"]) == ROTNET_METRICS
    assert set(metrics["lens"]) == ROTNET_METRICS | LENS_METRICS
    assert 0.0 <= metrics["lens"]["lens_marker_change"] <= 1.0
    plots = tmp_path / "lens" / "plots"
    for plot in ("lens.png", "embedding_map.png"):
        assert (plots / plot).stat().st_size > 1000
    run = json.loads((tmp_path / "lens" / "run.json").read_text())
    assert run["config"]["lens_widths"] == [16, 32, 64]
    assert run["dataset"] == "shortcut_digits"
    assert (
        tmp_path / "saved_models" / "lens" / "1" / "saved_model.pb"
    ).exists()


def test_lens_example_explains_a_missing_tfds_dataset(tmp_path):
    result = run_script(
        "examples/lens.py", "--dataset", "cifar10", "--data-dir", str(tmp_path)
    )
    assert result.returncode == 2
    assert "cifar10" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("marker", [False, True])
def test_lens_example_plants_the_marker_in_a_tfds_set(tmp_path, marker):
    # The script's TFDS loader on a set prepared in the test: the recipes'
    # dict from `tfds_split`, the clean test images and, with --marker,
    # the block scaled to the image size in train and test images only.
    KerasSslFakeRgb(data_dir=str(tmp_path)).download_and_prepare()
    script = runpy.run_path(os.path.join(ROOT, "examples", "lens.py"))
    args = argparse.Namespace(
        dataset="keras_ssl_fake_rgb",
        image_size=32,
        data_dir=str(tmp_path),
        max_examples=None,
        marker=marker,
    )
    data = script["load_tfds"](args)
    assert data["x_train"].shape == (SIZES["train"], 32, 32, 3)
    assert data["input_shape"] == (32, 32, 3) and data["num_classes"] == 3
    clean = data["x_clean_test"]
    assert clean.shape == data["x_test"].shape
    if not marker:
        assert data["marker"] is None
        np.testing.assert_array_equal(data["x_test"], clean)
        return
    assert data["marker"] == (2, 8, 2, 6)  # (1, 4, 1, 3) at 32 / 16 = 2
    for key in ("x_train", "x_test"):
        np.testing.assert_array_equal(data[key][:, 2:8, 2:6], 1.0)
    assert not np.all(clean[:, 2:8, 2:6] == 1.0)
    outside = np.ones((32, 32), bool)
    outside[2:8, 2:6] = False
    np.testing.assert_array_equal(data["x_test"][:, outside], clean[:, outside])


def test_lens_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "lens_step.json"
    result = run_script(
        os.path.join("benchmarks", "lens_step.py"),
        *"--settings narrow --batch-size 8 --warmup 1 --steps 2".split(),
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs rotnet" in result.stdout
    rows = json.loads(output.read_text())["results"]
    assert [r["model"] for r in rows] == ["rotnet", "lens", "lens_lensed_only"]
    assert rows[0]["vs_rotnet"] == 1.0 and rows[0]["batch_size"] == 32
    for row in rows:
        assert row["vs_rotnet"] == pytest.approx(
            row["samples_per_s"] / rows[0]["samples_per_s"], rel=0.01
        )
