import json

import keras
import numpy as np
import tensorflow as tf

from keras_ssl import cli
from keras_ssl import data
from keras_ssl.uncertainty import SDENet
from tests.cli.test_cli import train_args

SCORES = {
    "ood_score",
    "diffusion",
    "ood_score_sigma_5",
    "ood_score_sigma_20",
    "ood_score_sigma_50",
}


def test_train_sdenet_on_digits_writes_every_score_plots_and_exports(
    tmp_path,
):
    run_dir = tmp_path / "run"
    args = train_args(run_dir, epochs=2, dataset="digits")
    args.method = "sdenet"
    assert cli.train(args) == 0
    run = json.loads((run_dir / "run.json").read_text())
    assert run["method"] == "sdenet" and run["dataset"] == "digits"
    config = run["config"]
    assert (config["sigma_train"], config["sigma_test"]) == (1.0, 50.0)
    assert (config["network"], config["image_size"]) == ("mlp", 8)
    assert set(run["final_logs"]) == set(SDENet.tracked_names)
    metrics = run["metrics"]
    assert set(metrics["ood_by_score"]) == SCORES
    for sets in metrics["ood_by_score"].values():
        assert set(sets) == {"digits_5_9", "uniform_noise"}
        for values in sets.values():
            assert 0.0 <= values["auroc"] <= 1.0
    assert metrics["ood"] == metrics["ood_by_score"]["ood_score"]
    assert set(metrics["mean_certainty"]) == {
        "test",
        "digits_5_9",
        "uniform_noise",
    }
    for plot in (
        "reliability_diagram",
        "ood_histograms",
        "diffusion_histograms",
    ):
        assert (run_dir / "plots" / f"{plot}.png").stat().st_size > 1000

    export_args = cli._parser().parse_args(
        ["export", str(run_dir), "--to", str(tmp_path / "sdenet")]
    )
    assert cli.export(export_args) == 0
    loaded = tf.saved_model.load(str(tmp_path / "sdenet" / "1"))
    assert set(loaded.signatures) == {"classify", "serving_default"}
    model = keras.saving.load_model(str(run_dir / "model.keras"))
    raw = data.raw_digits()[0][:6]  # the export takes raw 8x8 digits
    out = loaded.signatures["classify"](inputs=tf.constant(raw))
    expected = model.classify(data.digits_preprocessing(image_size=8)(raw))
    assert set(out) == set(expected) >= SCORES | {"probs", "entropy"}
    # The 10 passes run in the exported graph, with the same noise.
    for key, value in expected.items():
        np.testing.assert_allclose(out[key], value, atol=1e-5)
