import json

import keras
import numpy as np
import pytest

from keras_ssl import cli
from keras_ssl.recipes import get_recipe
from keras_ssl.supervised.sla import transformed_copies
from tests.cli.test_cli import train_args


def test_train_sla_reports_every_head_and_the_baseline(tmp_path):
    run_dir = tmp_path / "run"
    args = train_args(run_dir, "--set", "width=narrow", epochs=2)
    args.method, args.dataset, args.batch_size = "sla", "digits", 50
    assert cli.train(args) == 0
    run = json.loads((run_dir / "run.json").read_text())
    # The recipe's digits settings: 20 labels per class, the SD head.
    assert run["config"]["labels_per_class"] == 20
    assert run["config"]["self_distillation"] is True
    assert "sd_loss" in run["final_logs"]
    metrics = run["metrics"]
    for head in ("ag", "si", "sd", "baseline"):
        assert set(metrics[head]) == {"accuracy", "ece", "nll"}
        assert 0.0 <= metrics[head]["ece"] <= 1.0
    assert metrics["baseline_train_seconds"] > 0
    # The baseline: the same network with one transform (plain CE).
    baseline = keras.saving.load_model(run_dir / "baseline" / "model.keras")
    assert baseline.num_transforms == 1 and baseline.sd_head is None
    model = keras.saving.load_model(run_dir / "model.keras")
    assert model.num_transforms == 4
    assert len(baseline.encoder.weights) == len(model.encoder.weights)
    for plot in (
        "sla_ag_confusion_matrix",
        "baseline_confusion_matrix",
        "reliability_diagram",
        "learning_curves",
    ):
        assert (run_dir / "plots" / f"{plot}.png").stat().st_size > 1000


def test_sla_recipe_expands_batches_into_contiguous_copies():
    recipe = get_recipe("sla")
    config = recipe.resolve_config({}, "digits")
    data = recipe.load_data("digits", config, seed=0)
    assert len(data["x_train"]) == 200
    assert np.all(np.bincount(data["y_train"]) == 20)
    batches, steps = recipe.train_dataset(data, 50, 0, 0, 1, config)
    assert steps == 4
    x, y = next(iter(batches))
    assert x.shape == (200, 16, 16, 1)
    images = x.numpy()[::4]
    np.testing.assert_array_equal(y.numpy(), np.repeat(y.numpy()[::4], 4))
    np.testing.assert_allclose(x.numpy(), transformed_copies(images))


def test_sla_recipe_rejects_an_unknown_backbone():
    with pytest.raises(ValueError, match="backbone"):
        get_recipe("sla").check_settings(
            get_recipe("sla").resolve_config({"backbone": "vgg"}, "digits")
        )
